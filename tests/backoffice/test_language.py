"""The in-page language switch (中文 / English) on staff and resident pages: Django's
``set_language`` stores the choice in a cookie that LocaleMiddleware reads on every later
request, so it is remembered without any Accept-Language header."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def _lang(response) -> str:
    html = response.content.decode()
    start = html.index("<html lang=") + len('<html lang="')
    return html[start : html.index('"', start)]


def test_staff_pages_offer_both_languages_and_remember_the_choice(world):
    client = Client()  # no Accept-Language header at all
    page = client.get("/login/")
    assert _lang(page) == "zh-Hans"
    html = page.content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert 'name="language" value="en"' in html and ">English</button>" in html
    assert 'name="next" value="/login/"' in html

    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert switched.status_code == 302 and switched["Location"] == "/login/"
    later = client.get("/login/")
    assert _lang(later) == "en"
    assert later["Content-Language"] == "en"
    assert 'value="en" lang="en" aria-pressed="true"' in later.content.decode()

    # A later page, after logging in, is still in English; switching back is remembered too.
    staff = make_staff("v-admin", "village_admin", world.village_a1, world.scheme)
    client.force_login(staff)
    assert _lang(client.get("/households/")) == "en"
    counter = client.get("/counter/")  # the counter pages carry the same switch
    assert _lang(counter) == "en" and 'action="/i18n/setlang/"' in counter.content.decode()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert _lang(client.get("/households/")) == "zh-Hans"


def test_an_unknown_language_changes_nothing(world):
    client = Client()
    client.post("/i18n/setlang/", {"language": "xx", "next": "/login/"})
    assert _lang(client.get("/login/")) == "zh-Hans"


def test_resident_pages_offer_the_other_language_and_remember_it(world):
    client = Client()
    page = client.get("/m/login/")
    assert _lang(page) == "zh-Hans"
    html = page.content.decode()
    assert '<button type="submit" name="language" value="en" lang="en">English</button>' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/m/login/"})
    later = client.get("/m/login/")
    assert _lang(later) == "en"
    assert '<button type="submit" name="language" value="zh-hans" lang="zh-Hans">中文</button>' in (
        later.content.decode()
    )
