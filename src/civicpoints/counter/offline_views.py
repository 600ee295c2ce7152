"""The offline counter's pages and calls (docs/offline-counter.md).

- ``store_offline``: the shell the service worker keeps, which sells from the snapshot while
  the network is down (static/js/counter-offline.js does the work; this only renders texts);
- ``device_enrol``, ``offline_snapshot``, ``offline_status``: JSON for that script, on the
  clerk's session (and CSRF for the writes); the device proves itself with
  ``X-Counter-Device``. The sync itself goes through the API's redemption call;
- ``service_worker`` and ``manifest``: what makes the page installable and work offline;
- ``store_conflicts``: sales refused at sync, and what to do with each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from civicpoints.counter.common import KEYS, error_text, parse_yuan
from civicpoints.errors import ApplicationError, invalid
from civicpoints.faces.errors import refusals_return_to
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import OfflineResolution, OfflineStatus
from civicpoints.stores.selectors import (
    offline_goods,
    offline_sale_for,
    offline_sales_of_store,
    store_for,
)
from civicpoints.stores.services import require_counter
from civicpoints.stores.services.offline import (
    device_enrol,
    device_for_token,
    device_report,
    offline_resolve,
    offline_resolve_redeem,
    offline_snapshot,
)

# What the shell needs offline besides itself (the service worker's cache, filled by the page):
# files the pages name, by their static URL (hashed in production) ...
SHELL_ASSETS = (
    "css/app.css",
    "css/counter.css",
    "css/print58.css",
    "js/counter-offline.js",
    "vendor/qr-scanner/qr-scanner.min.js",  # the camera scanner (camera_scan.html)
)
# ... and files a script imports by a relative path, which the browser asks for under their
# own name (production keeps it beside the hashed copy): the camera scanner's module and the
# scanner library's decoder.
SHELL_IMPORTS = ("js/camera-scan.js", "vendor/qr-scanner/qr-scanner-worker.min.js")


def _assets() -> list[str]:
    named = [static(a) for a in SHELL_ASSETS]
    imported = [settings.STATIC_URL + a for a in SHELL_IMPORTS]
    return list(dict.fromkeys(named + imported))


def offline_context() -> dict[str, str]:
    """What the status bar needs on both counter pages: the cache to fill and what goes in."""
    assets = _assets()
    version = hashlib.sha256("\n".join(assets).encode()).hexdigest()[:12]
    return {"offline_cache": f"cp-counter-{version}", "offline_assets": json.dumps(assets)}


def _json_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The script's calls answer refusals as the API does: JSON, never a page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            return JsonResponse(exc.as_json(), status=exc.status)

    return wrapped


def _counter_store(request: HttpRequest, store_id: int) -> Any:
    actor = actor_for_user(request.user)
    store = store_for(actor, store_id)
    require_counter(actor, store)
    return actor, store


@never_cache
@login_required
def store_offline(request: HttpRequest, store_id: int) -> HttpResponse:
    _actor, store = _counter_store(request, store_id)
    return render(
        request,
        "counter/offline.html",
        {
            "store": store,
            "online_url": reverse("counter:store", args=[store.pk]),
            **offline_context(),
        },
    )


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise invalid(_("请求格式不对"), field="body")
    return data


@login_required
@require_POST
@_json_errors
def store_device_enrol(request: HttpRequest, store_id: int) -> HttpResponse:
    actor, store = _counter_store(request, store_id)
    code = _body(request).get("code")
    device, token = device_enrol(
        actor=actor, store=store, code=code if isinstance(code, str) else ""
    )
    return JsonResponse({"device": device.pk, "name": device.name, "token": token}, status=201)


@never_cache
@login_required
@require_GET
@_json_errors
def store_offline_snapshot(request: HttpRequest, store_id: int) -> HttpResponse:
    _actor, store = _counter_store(request, store_id)
    device = device_for_token(store, request.headers.get("X-Counter-Device"))
    return JsonResponse(offline_snapshot(store=store, device=device))


@login_required
@require_POST
@_json_errors
def store_offline_status(request: HttpRequest, store_id: int) -> HttpResponse:
    _actor, store = _counter_store(request, store_id)
    device = device_for_token(store, request.headers.get("X-Counter-Device"))
    data = _body(request)
    queued, max_seq = data.get("queued"), data.get("max_seq")
    oldest = data.get("oldest_at")
    oldest_at = parse_datetime(oldest) if isinstance(oldest, str) and len(oldest) < 40 else None
    if not (isinstance(queued, int) and isinstance(max_seq, int)) or queued < 0 or max_seq < 0:
        raise invalid(_("请求格式不对"), field="queued")
    device_report(device=device, queued=queued, max_seq=max_seq, oldest_at=oldest_at)
    return JsonResponse({"device": device.pk, "status": device.status})


def service_worker(request: HttpRequest) -> HttpResponse:
    """Scope /counter/: a counter page from the network, its cached shell when that fails;
    static files from the cache first. API calls, writes and the snapshot are never touched."""
    response = render(
        request,
        "counter/sw.js",
        {"cache": offline_context()["offline_cache"], "static_prefix": settings.STATIC_URL},
        content_type="text/javascript; charset=utf-8",
    )
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/counter/"
    return response


@login_required
def store_manifest(request: HttpRequest, store_id: int) -> HttpResponse:
    _actor, store = _counter_store(request, store_id)
    body = {
        "name": f"{store.name} · {_('柜台')}",
        "short_name": store.name[:12],
        "start_url": reverse("counter:store", args=[store.pk]),
        "scope": "/counter/",
        "display": "standalone",
        "lang": "zh-CN",
        "background_color": "#ffffff",
        "theme_color": "#b91c1c",
        "icons": [
            {"src": static("img/counter-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/counter-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    }
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response


# --- conflicts ---------------------------------------------------------------------------------


@never_cache
@login_required
def store_conflicts(request: HttpRequest, store_id: int) -> HttpResponse:
    _actor, store = _counter_store(request, store_id)
    sales = offline_sales_of_store(store)
    names = dict(store.products.values_list("pk", "name"))
    for sale in sales:
        sale.goods = offline_goods(sale, names)  # type: ignore[attr-defined]
    return render(
        request,
        "counter/conflicts.html",
        {
            "store": store,
            "open": [s for s in sales if s.status == OfflineStatus.CONFLICT],
            "pending": [s for s in sales if s.status == OfflineStatus.WRITE_OFF_PENDING],
            "done": [s for s in sales if s.status == OfflineStatus.RESOLVED][:50],
            "revoked": [s for s in sales if s.status == OfflineStatus.REVOKED],
            "key": KEYS.new(),
        },
    )


@login_required
@require_POST
def store_conflict_resolve(request: HttpRequest, store_id: int, sale_id: int) -> HttpResponse:
    actor, store = _counter_store(request, store_id)
    sale = offline_sale_for(store, sale_id)
    back = refusals_return_to(
        request, reverse("counter:store_conflicts", args=[store.pk]), words=error_text
    )
    post = request.POST
    how = post.get("resolution", "")
    note = post.get("note", "").strip()[:200]
    if how == OfflineResolution.REDEEMED:
        redemption = offline_resolve_redeem(
            actor=actor,
            sale=sale,
            pin=post.get("pin", "").strip()[:12],
            cash_fen=parse_yuan(post.get("cash")),
        )
        return redirect("counter:store_receipt", store_id=store.pk, redemption_id=redemption.pk)
    offline_resolve(
        actor=actor,
        sale=sale,
        resolution=how,
        note=note,
        cash_fen=parse_yuan(post.get("cash")) if how == OfflineResolution.CASH else 0,
    )
    messages.success(
        request,
        _("已处理：%(name)s 的离线兑换（%(how)s）")
        % {"name": sale.household.head_name, "how": OfflineResolution(how).label},
    )
    return redirect(back)
