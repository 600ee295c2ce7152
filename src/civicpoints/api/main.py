"""The API: one NinjaAPI, bearer tokens, and one error format for every failure.

Routers are thin: parse, call one service or selector, render. OpenAPI at /api/openapi.json,
docs at /api/docs (served from ninja's bundled static files, no CDN).
"""

from __future__ import annotations

import logging
from typing import Any

from csp.decorators import csp_update
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from civicpoints.api.schemas import document_common_errors
from civicpoints.api.security import BearerToken
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ops.unavailable import unavailable_response

log = logging.getLogger(__name__)


class CivicPointsAPI(NinjaAPI):
    """The schema also documents the answers every operation can give (400, 401, 413, 422)."""

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        return document_common_errors(super().get_openapi_schema(**kwargs))


api = CivicPointsAPI(
    title="civicpoints API",
    version="1",
    description="文明积分 API。金额为积分，最多两位小数；错误格式见 ErrorOut。",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    # Swagger UI (ninja's bundled copy, already without inline script) sets inline styles in
    # the markup it renders: allowed on this one page only, never on the app's own pages.
    docs_decorator=csp_update({"style-src": ["'unsafe-inline'"]}),
    auth=BearerToken(),
)


def error_response(code: ErrorCode, message: str | None = None, detail: Any = None) -> JsonResponse:
    error = ApplicationError(code, message, detail)
    return JsonResponse(error.as_json(), status=error.status)


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, exc: ApplicationError) -> JsonResponse:
    response = JsonResponse(exc.as_json(), status=exc.status)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def _field(loc: Any) -> str:
    """``("body", "body", "points")`` -> ``"points"``; ``("query", "limit")`` -> ``"limit"``."""
    parts = [str(p) for p in loc]
    # Body errors carry the handler's parameter name after "body"; clients know only fields.
    parts = parts[2:] if parts[:1] == ["body"] else parts[1:]
    return ".".join(parts) or "body"


# Pydantic's messages are English; residents' cadres read Chinese.
_PYDANTIC_MESSAGES = {
    "missing": gettext_lazy("必填"),
    "string_too_long": gettext_lazy("太长（最多 {max_length} 个字符）"),
    "string_too_short": gettext_lazy("不能为空"),
    "string_type": gettext_lazy("应为文字"),
    "int_type": gettext_lazy("应为整数"),
    "int_parsing": gettext_lazy("应为整数"),
    "int_from_float": gettext_lazy("应为整数"),
    "bool_type": gettext_lazy("应为 true 或 false"),
    "greater_than_equal": gettext_lazy("不能小于 {ge}"),
    "less_than_equal": gettext_lazy("不能大于 {le}"),
    "enum": gettext_lazy("不是允许的值（{expected}）"),
    "literal_error": gettext_lazy("不是允许的值（{expected}）"),
    "json_invalid": gettext_lazy("不是有效的 JSON"),
    "model_type": gettext_lazy("应为 JSON 对象"),
    "model_attributes_type": gettext_lazy("应为 JSON 对象"),
    "dict_type": gettext_lazy("应为 JSON 对象"),
    "list_type": gettext_lazy("应为列表"),
}


def _message(error: dict[str, Any]) -> str:
    template = _PYDANTIC_MESSAGES.get(str(error.get("type", "")))
    if template is None:
        return str(error.get("msg", "")).removeprefix("Value error, ")
    try:
        return str(template).format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return str(error.get("msg", ""))


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> JsonResponse:
    problems = [{"field": _field(e.get("loc", ())), "message": _message(e)} for e in exc.errors]
    first = f"{problems[0]['field']} {problems[0]['message']}" if problems else ""
    message = _("输入有误：%(problem)s") % {"problem": first}
    return error_response(ErrorCode.INVALID_INPUT, message, {"errors": problems})


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> JsonResponse:
    return error_response(ErrorCode.NOT_AUTHENTICATED)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> JsonResponse:
    return error_response(ErrorCode.NOT_FOUND)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> JsonResponse:
    response = error_response(
        ErrorCode.INVALID_INPUT, _("请求无效：%(reason)s") % {"reason": exc.message}
    )
    response.status_code = exc.status_code if 400 <= exc.status_code < 500 else 400
    return response


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> JsonResponse:
    # Django would answer these with an HTML 400 page; API clients get the error JSON.
    log.warning("suspicious API request %s: %s", request.path, type(exc).__name__)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        response = error_response(ErrorCode.INVALID_INPUT, _("请求体太大"), {"max_bytes": limit})
        response.status_code = 413
        return response
    response = error_response(ErrorCode.INVALID_INPUT, _("请求无效"))
    response.status_code = 400
    return response


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> JsonResponse:
    # A multipart body without a usable boundary: the client's fault, not ours (was a 500).
    response = error_response(
        ErrorCode.INVALID_INPUT, _("请求体格式有误：multipart 缺少有效的 boundary")
    )
    response.status_code = 400
    return response


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_away(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The database is restarting or away: 503 with Retry-After, not a 500 (issue 9 item 9).
    return unavailable_response(request)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> JsonResponse:
    """A bug, not bad input: logged with its traceback; the client still gets the error JSON."""
    log.exception("unexpected error in %s %s", request.method, request.path)
    error = ApplicationError(ErrorCode.INTERNAL_ERROR)
    return JsonResponse(error.as_json(), status=500)


def _register() -> None:
    from civicpoints.api import (
        activities,
        auth,
        bench,
        budget,
        campaigns,
        claims,
        households,
        ledger,
        lender,
        merchants,
        notices,
        rankings,
        regions,
        rules,
        settlements,
        stats,
        stores,
    )

    api.add_router("/v1/auth/", auth.router)
    api.add_router("/v1/regions", regions.router)
    api.add_router("/v1/households", households.router)
    api.add_router("/v1/ledger/", ledger.router)
    api.add_router("/v1/households", budget.sanctions_router)
    api.add_router("/v1/rules", rules.router)
    api.add_router("/v1/claims", claims.router)
    api.add_router("/v1/photos", claims.photos_router)
    api.add_router("/v1/notices", notices.router)
    api.add_router("/v1/budget", budget.router)
    api.add_router("/v1/activities", activities.router)
    api.add_router("/v1/mutual-help", activities.mutual_help_router)
    api.add_router("/v1/stores", stores.catalogue.router)
    api.add_router("/v1/stores", stores.counter.router)
    api.add_router("/v1/stores", stores.orders.store_router)
    api.add_router("/v1/orders", stores.orders.router)
    api.add_router("/v1/deliveries", stores.orders.deliveries_router)
    api.add_router("/v1/merchants", merchants.router)
    api.add_router("/v1/households", merchants.payment_codes_router)
    api.add_router("/v1/settlements", settlements.router)
    api.add_router("/v1/rankings", rankings.router)
    api.add_router("/v1/honours", rankings.stars_router)
    api.add_router("/v1/honours", campaigns.router)
    api.add_router("/v1/stats", stats.router)
    api.add_router("/v1/lender", lender.router)
    api.add_router("/v1/bench", bench.router)  # 404 unless CIVICPOINTS_BENCH=1


_register()
