"""The SMS gateway's webhook for residents' text commands (积分 / JF, 明细): thin, the checks
and the reply are in ``notifications.inbound``."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from civicpoints.notifications.inbound import Outcome, sms_inbound

STATUS = {
    Outcome.REPLIED: 200,
    Outcome.DUPLICATE: 200,
    # Accepted and dropped: a gateway retrying a number we do not know would change nothing.
    Outcome.UNKNOWN_PHONE: 202,
    Outcome.BAD_REQUEST: 400,
    Outcome.BAD_SIGNATURE: 401,
    Outcome.STALE: 401,
    Outcome.RATE_LIMITED: 429,
    Outcome.NOT_CONFIGURED: 503,
}


@csrf_exempt  # signed by the gateway (HMAC of the body), not a browser form
@require_POST
def inbound(request: HttpRequest) -> JsonResponse:
    outcome = sms_inbound(body=request.body, signature=request.headers.get("X-Signature", ""))
    return JsonResponse({"status": outcome.value}, status=STATUS[outcome])
