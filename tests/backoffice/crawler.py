"""A crawler for the staff pages with Django's test client (no browser): it logs in as one
person, starts at the home page, follows every same-site link (``href``, ``hx-get``, ``src``)
and every GET form, and tries every POST form once per kind, each inside a savepoint that is
rolled back, so no button's action changes the world the rest of the crawl sees.

A POST is tried with the fields the page offers (hidden values, the selected option, a
checked box) and plausible text where the field is empty and required; a confirmation page
is confirmed; a redirect is followed. Whatever answers 403, 404 or 5xx, or says "没有权限",
is a problem: the person was offered something they cannot use.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import Resolver404, resolve

# 1x1 PNG: what a "photo" field gets (the services check images by content).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2f3d4e30000000049454e44ae426082"
)
SKIPPED = re.compile(r"^/(.*/)?logout/|^/(i18n/|static/|admin/.)")
REFUSED = "没有权限"
PER_KIND = 3  # pages per (URL name, query keys); forms per (action name, field names)
MAX_CHOICES = 12  # a GET form's select is tried option by option up to this many options


@dataclass
class Form:
    method: str
    action: str
    fields: list[tuple[str, str, str, bool, bool]] = field(default_factory=list)
    # (name, type, value, checked, required)
    selects: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    submit: tuple[str, str] | None = None


class Page(HTMLParser):
    """Links, forms and the visible text of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self.text: list[str] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._option: tuple[str, bool] | None = None
        self._hidden = 0  # inside <script> or <style>
        self._textarea: tuple[str, bool] | None = None
        # What a Content-Security-Policy without 'unsafe-inline' would refuse on this page.
        self.inline: list[str] = []
        self.policy = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        for name in ("href", "hx-get", "src"):
            if a.get(name) and tag != "link" and tag != "script":
                self.links.append(a[name])
        if tag == "style" or (
            tag == "script" and not a.get("src") and "json" not in a.get("type", "")
        ):
            self.inline.append(f"<{tag}>")
        self.inline += [f"<{tag} {k}=...>" for k in a if k.startswith("on") or k == "style"]
        self.inline += [f"<{tag} {k}=...>" for k in a if k.startswith(("hx-on", "data-hx-on"))]
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag == "form":
            self._form = Form(
                method=(a.get("method") or "get").lower(),
                action=a.get("action") or a.get("hx-post") or "",
            )
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind == "file":
                self._form.files.append(a.get("name", ""))
            elif kind == "submit":
                if a.get("name") and self._form.submit is None:
                    self._form.submit = (a["name"], a.get("value", ""))
            elif a.get("name"):
                self._form.fields.append(
                    (a["name"], kind, a.get("value", ""), "checked" in a, "required" in a)
                )
        elif tag == "button" and a.get("name") and self._form.submit is None:
            if (a.get("type") or "submit") == "submit":
                self._form.submit = (a["name"], a.get("value", ""))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form.selects[self._select] = []
        elif tag == "option" and self._select:
            self._option = (a.get("value", ""), "selected" in a)
            self._form.selects[self._select].append(self._option)
        elif tag == "textarea" and a.get("name"):
            self._textarea = (a["name"], "required" in a)
            self._form.fields.append((a["name"], "textarea", "", False, "required" in a))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(self._hidden - 1, 0)
        elif tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)

    @property
    def visible_text(self) -> str:
        return " ".join(t.strip() for t in self.text if t.strip())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def _guess(name: str, kind: str) -> str:
    """A plausible value for an empty field the page requires."""
    if kind == "date":
        return dt.date.today().isoformat()
    if kind == "month":
        return dt.date.today().strftime("%Y-%m")
    if name in ("reason", "note", "courier", "name", "source", "donor", "title", "text"):
        return "爬虫检查"
    if name == "bank_reference":
        return "CRAWL-1"
    return "1"


def _fill(form: Form) -> tuple[dict[str, list[str]], dict[str, SimpleUploadedFile]]:
    data: dict[str, list[str]] = {}
    radios_done: set[str] = set()
    for name, kind, value, checked, required in form.fields:
        if kind == "checkbox":
            if checked or required:
                data.setdefault(name, []).append(value or "on")
        elif kind == "radio":
            if name not in radios_done and (checked or name not in data):
                data[name] = [value]
                radios_done.add(name) if checked else None
        else:
            data.setdefault(name, []).append(value or (_guess(name, kind) if required else ""))
    for name, options in form.selects.items():
        chosen = [v for v, sel in options if sel] or [v for v, _sel in options[:1]]
        data[name] = chosen[:1]
    if form.submit:
        data.setdefault(form.submit[0], []).append(form.submit[1])
    files = {n: SimpleUploadedFile("crawl.png", PNG, content_type="image/png") for n in form.files}
    return data, files


def _query(data: dict[str, list[str]]) -> str:
    return urlencode([(k, v) for k, vs in data.items() for v in vs])


def _kind(path: str, keys: list[str]) -> tuple[str, ...]:
    try:
        name = resolve(path).view_name
    except Resolver404:
        name = path
    return (name, *sorted(keys))


@dataclass
class Problem:
    role: str
    page: str
    link: str
    status: int
    note: str = ""

    def __str__(self) -> str:
        return f"{self.role}: {self.page} -> {self.link} answered {self.status} {self.note}"


@dataclass
class Crawl:
    """Everything one person was offered, and what it answered."""

    role: str
    client: Client
    max_pages: int = 300
    pages: dict[str, Page] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)
    _kinds: Counter = field(default_factory=Counter)

    def run(self, start: str = "/") -> Crawl:
        queue: list[tuple[str, str]] = [("", start)]
        seen = {start}
        while queue and len(self.statuses) < self.max_pages:
            source, url = queue.pop(0)
            response = self.client.get(url)
            self.statuses[url] = response.status_code
            if response.status_code in (301, 302):
                target = urljoin(url, response["Location"])
                if target not in seen and not SKIPPED.match(urlsplit(target).path):
                    seen.add(target)
                    queue.append((url, target))
                continue
            if response.status_code != 200:
                self.problems.append(Problem(self.role, source, url, response.status_code))
                continue
            if "text/html" not in response.get("Content-Type", ""):
                continue
            page = parse(response.content.decode())
            page.policy = response.get("Content-Security-Policy", "")
            self.pages[url] = page
            for found in self._offered(url, page):
                if found not in seen:
                    seen.add(found)
                    queue.append((url, found))
            for form in page.forms:
                if form.method == "post":
                    self._try_post(url, form)
        return self

    def _local(self, base: str, href: str, variant: str = "") -> str | None:
        if href.startswith(("#", "javascript:", "mailto:", "data:", "tel:")):
            return None
        parts = urlsplit(urljoin("http://testserver" + base, href))
        if parts.netloc != "testserver" or SKIPPED.match(parts.path):
            return None
        url = parts.path + (f"?{parts.query}" if parts.query else "")
        kind = (*_kind(parts.path, [k for k, _v in parse_qsl(parts.query)]), variant)
        if self._kinds[kind] >= PER_KIND:
            return None
        self._kinds[kind] += 1
        return url

    def _offered(self, url: str, page: Page) -> list[str]:
        found = [self._local(url, href) for href in page.links]
        for form in page.forms:
            if form.method != "get":
                continue
            data, _files = _fill(form)
            target = form.action or url.split("?")[0]
            found.append(self._local(url, target + "?" + _query(data)))
            # Each choice of a short filter once (a status, a store), the rest as offered; long
            # lists (every village of a county) are choices of data, not of pages.
            for name, options in form.selects.items():
                for value, _selected in options if len(options) <= MAX_CHOICES else ():
                    query = _query({**data, name: [value]})
                    found.append(self._local(url, target + "?" + query, f"{name}={value}"))
        return [f for f in found if f]

    def _try_post(self, url: str, form: Form) -> None:
        action = urljoin(url, form.action) if form.action else url
        path = urlsplit(action).path
        if SKIPPED.match(path):
            return
        data, files = _fill(form)
        kind = ("POST", *_kind(path, list(data) + list(files)))
        if self._kinds[kind] >= PER_KIND - 1:
            return
        self._kinds[kind] += 1
        self.posted.append(action)
        block = transaction.atomic()
        # The services open durable blocks; like Django's TestCase, this savepoint tells them
        # it is the test's own, so they nest (and everything is rolled back afterwards).
        block._from_testcase = True  # type: ignore[attr-defined]
        with block:
            self._post_and_follow(url, action, {**data, **files})
            transaction.set_rollback(True)

    def _post_and_follow(self, url: str, action: str, body: dict) -> None:
        response = self.client.post(action, body)
        for _step in range(3):
            status = response.status_code
            if status in (403, 404) or status >= 500:
                self.problems.append(Problem(self.role, url, f"POST {action}", status))
                return
            if status in (301, 302):
                response = self.client.get(urljoin(action, response["Location"]))
                continue
            html = response.content.decode(errors="replace")
            if "text/html" not in response.get("Content-Type", ""):
                return
            page = parse(html)
            if REFUSED in page.visible_text:
                self.problems.append(
                    Problem(self.role, url, f"POST {action}", status, "(没有权限)")
                )
                return
            confirm = [f for f in page.forms if any(n == "confirmed" for n, *_ in f.fields)]
            if not confirm:
                return
            data, _files = _fill(confirm[0])
            response = self.client.post(urljoin(action, confirm[0].action or action), data)
