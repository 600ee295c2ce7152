"""The counter's front door: after staff login, the stores and shops this person works at."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from civicpoints.merchants.selectors import counter_merchants
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.selectors import counter_stores
from civicpoints.stores.services import store_open_on


@never_cache
@login_required
def index(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    today = timezone.localdate()
    stores = [(s, store_open_on(s, today)) for s in counter_stores(actor).order_by("pk")]
    return render(
        request,
        "counter/index.html",
        {"stores": stores, "merchants": list(counter_merchants(actor).order_by("pk"))},
    )
