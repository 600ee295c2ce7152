"""``/healthz`` for load balancers, and the benchmark floor.

``healthz`` needs no login and shows no private data (ops/health.py): 200 with the report
when healthy, 503 when the database is away or the scheduler's heartbeat is too old.

The benchmark floor: the cheapest page a logged-in member of staff can ask for.

``civicpoints bench pages`` measures the everyday pages against this view on the same server:
it goes through the whole middleware stack and loads the session and the user (what every
staff page costs before its own work) and returns two bytes; with ``?layout=1`` it renders an
empty page in the staff layout (``base.html``: menu, counts in the menu), the fixed cost of
every staff page. It answers 404 unless the server runs with ``CIVICPOINTS_BENCH=1``, so a
deployment exposes nothing new.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from civicpoints.ops.health import health
from civicpoints.ops.unavailable import RETRY_AFTER_SECONDS


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    ok, report = health()
    response = JsonResponse(report, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    if not ok:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        # A load balancer asks every few seconds: one 503 is not an error line each time.
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def bench_floor(request: HttpRequest) -> HttpResponse:
    if not settings.BENCH_FLOOR:
        raise Http404
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.GET.get("layout"):
        return render(request, "ops/bench_layout.html")
    return HttpResponse(b"ok", content_type="text/plain")
