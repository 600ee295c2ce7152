"""The confirmation step before an irreversible staff action (pay, settle, cancel, end).

The first POST renders a page that says what will happen and posts the same fields again with
``confirmed=1``; only that second POST calls the service. Nothing is written in between.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

SKIPPED = {"csrfmiddlewaretoken", "confirmed"}


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirmed") == "1"


def confirm_page(
    request: HttpRequest,
    *,
    title: str,
    lines: Sequence[str],
    button: str,
    back: str,
    danger: bool = False,
) -> HttpResponse:
    """Ask once more; the form re-posts every field of this request to the same URL."""
    fields = [
        (name, value)
        for name in request.POST
        if name not in SKIPPED
        for value in request.POST.getlist(name)
    ]
    return render(
        request,
        "backoffice/confirm.html",
        {
            "title": title,
            "lines": lines,
            "button": button,
            "back": back,
            "danger": danger,
            "fields": fields,
            "action": request.path,
        },
    )
