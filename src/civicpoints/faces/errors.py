"""The page faces' one handler for refusals (``ApplicationError``), as ``api.main`` is the API's.

A view parses, calls a service or selector and renders what went right; a refusal raised on
the way becomes a page here (``PageErrors.process_exception``):

- after ``refusals_return_to(request, url)``: the message, in the view's words, above the page
  at ``url`` (a redirect, so reloading never asks to send the form again);
- else NOT_FOUND: the face's not-found page (404), never saying whether the object exists;
- else the face's refusal page with the message, at the code's status (403, 409 ...).

An htmx request gets the message alone (a fragment) at the same status. A view that shows a
refusal at a field of the form it renders again catches it itself (``field_errors``): that is
a form, not an error page. Nothing else is caught, and nothing outside the page faces (the
API's errors are JSON, answered by the API itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from civicpoints.errors import ApplicationError, ErrorCode

Words = Callable[[ApplicationError], str]


@dataclass(frozen=True)
class Face:
    """The pages one face shows for a refusal (each template takes ``text``)."""

    not_found: str
    refused: str
    not_found_text: str | Promise = ""


FACES = {
    "backoffice": Face("backoffice/not_found.html", "backoffice/refused.html"),
    "counter": Face(
        "counter/refused.html", "counter/refused.html", gettext_lazy("没有找到，或您无权查看")
    ),
    "portal": Face("portal/not_found.html", "portal/refused.html"),
    # The village's public page: no namespace, no login, its own not-found words.
    "open_village": Face("portal/open_not_found.html", "portal/refused.html"),
    "certificate_check": Face(
        "portal/certificate_check.html", "portal/refused.html", gettext_lazy("没有这张证书")
    ),
    "statement_check": Face(
        "portal/statement_check.html", "portal/refused.html", gettext_lazy("没有这份报告")
    ),
}
FRAGMENT = "_refusal.html"


@dataclass(frozen=True)
class ReturnTo:
    url: str
    words: Words | None


_RETURN_TO = "_civicpoints_refusals_return_to"


def refusals_return_to(request: HttpRequest, url: str, *, words: Words | None = None) -> str:
    """From here on, a refusal in this request is told above the page at ``url`` (a path or a
    URL name; in
    ``words(exc)`` when given, else its message) instead of on the face's refusal page.

    Call it after the lookups whose NOT_FOUND must stay a 404 (the object of the URL) and
    before the action; it returns ``url`` for the view's own redirect when all went well.
    """
    setattr(request, _RETURN_TO, ReturnTo(url, words))
    return url


def field_errors(exc: ApplicationError, default: str = "form") -> dict[str, str]:
    """A refusal as the errors of a form shown again: the message at the field it names."""
    return {str(exc.detail.get("field") or default): exc.message}


def face_of(request: HttpRequest) -> Face | None:
    match = request.resolver_match
    if match is None:
        return None
    return FACES.get(match.namespace or match.url_name or "")


def refusal_response(request: HttpRequest, exc: ApplicationError, face: Face) -> HttpResponse:
    """The page for a refusal on one of ``face``'s URLs (see the module's docstring)."""
    back: ReturnTo | None = getattr(request, _RETURN_TO, None)
    text = back.words(exc) if back and back.words else exc.message
    if back is None and exc.code == ErrorCode.NOT_FOUND:
        template, text, status = face.not_found, str(face.not_found_text or text), 404
    else:
        template, status = face.refused, exc.status
    response: HttpResponse
    if request.headers.get("HX-Request"):
        response = render(request, FRAGMENT, {"text": text}, status=status)
    elif back is not None:
        messages.error(request, text)
        response = redirect(back.url)
    else:
        response = render(request, template, {"text": text}, status=status)
    add_never_cache_headers(response)  # a refusal depends on the moment: never cached
    return response


class PageErrors:
    """Middleware: ``ApplicationError`` out of a page view -> ``refusal_response``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, ApplicationError):
            return None
        face = face_of(request)
        return refusal_response(request, exc, face) if face is not None else None
