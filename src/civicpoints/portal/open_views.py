"""A village's public page, for anyone and without a login: ``/open/<12-digit village code>/``.

What the village publishes: its points month by month, the claims on notice with names masked
as the scheme's policy says, and the ledger's chain head with how anyone can check it. Thin:
every figure comes from ``community.transparency``; nothing here is staff-only.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from civicpoints.community.transparency import (
    display_name,
    monthly_totals,
    open_village,
    public_notice,
    published_head,
)
from civicpoints.credit.keys import jwks, scheme_keys
from civicpoints.credit.signing import fingerprint
from civicpoints.credit.statements import code_display, local_time
from civicpoints.credit.statements import statement_check as check_statement
from civicpoints.honours.ceremonies import certificate_valid
from civicpoints.honours.selectors import certificate_by_code
from civicpoints.schemes.throttle import client_address


@require_GET
def village_open(request: HttpRequest, code: str) -> HttpResponse:
    found = open_village(code)  # not there: the page's own 404 (civicpoints.faces.errors)
    village, scheme = found.village, found.scheme
    head = published_head(scheme_id=scheme.pk)
    check_url = request.build_absolute_uri(reverse("api:verify_published_head"))
    response = render(
        request,
        "portal/open.html",
        {
            "village": village,
            "scheme": scheme,
            "months": monthly_totals(scheme_id=scheme.pk, village_id=village.pk),
            "notice": public_notice(village_id=village.pk, policy=scheme.notice_name_display),
            "head": head,
            "check_url": f"{check_url}?{urlencode({'seq': head.seq, 'hash': head.hash})}",
            "now": timezone.localtime(),
            "signing_keys": [
                {"key": k, "fingerprint": fingerprint(bytes(k.public_key))}
                for k in scheme_keys(scheme_id=scheme.pk)
            ],
            "keys_url": request.build_absolute_uri(reverse("open_keys")),
        },
    )
    response["Cache-Control"] = "public, max-age=60"
    return response


@require_GET
def signing_keys(request: HttpRequest) -> JsonResponse:
    """报告签名公钥: every scheme's statement-signing public keys (RFC 8037 JWK set, with PEM),
    so a lender can verify a credit statement offline (docs/credit.md). No private material."""
    response = JsonResponse(jwks(), json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def certificate_check(request: HttpRequest, code: str) -> HttpResponse:
    """证书核验: what the certificate says (the name as the scheme's notice policy writes it)
    and whether the title still stands."""
    certificate = certificate_by_code(code)
    scheme = certificate.nominee.campaign.scheme
    return render(
        request,
        "portal/certificate_check.html",
        {
            "cert": certificate,
            "name": display_name(certificate.name, scheme.notice_name_display),
            "valid": certificate_valid(certificate),
        },
    )


@require_GET
def statement_check(request: HttpRequest, code: str) -> HttpResponse:
    """报告核验, behind the QR of a printed credit statement: is it genuine (the stored file
    verifies under the published keys), who issued it to whom, for whom (the head's name
    masked as the scheme's notice policy says), its key and SHA-256, and whether its consent
    is still live. The yearly totals only while it is. Each check is in the household's
    history (throttled per viewer); never cached."""
    checked = check_statement(code=code, viewer=client_address(request))
    payload = checked.payload
    response = render(
        request,
        "portal/statement_check.html",
        {
            "st": checked.statement,
            "code": code_display(checked.statement.code),
            "genuine": checked.genuine,
            "live": checked.live,
            "issuer": payload.get("issuer", {}).get("name", ""),
            "lender": payload.get("lender", {}).get("name", ""),
            "head": display_name(
                str(payload.get("household", {}).get("head_name", "")), checked.notice_policy
            ),
            "village": payload.get("household", {}).get("village", {}).get("name", ""),
            "issued_at": local_time(payload.get("issued_at", "")),
            "ledger_seq": payload.get("ledger", {}).get("seq"),
            "years": (
                [(y["year"], y["net_total"]) for y in payload.get("years", [])]
                if checked.live
                else []
            ),
        },
    )
    response["Cache-Control"] = "no-store"
    return response
