"""Staff pages for signed merchants: the list, signing a merchant, suspending or ending one
(settlement and payouts are in ``settlement_views``).

For county admins (who act) and auditors (who read) over the whole scheme; a merchant's own
cashier has counter pages, not these (404). Bank accounts are shown masked; only the payout
file (``settlement_views``, county admins only) carries them in full. Thin: every write is in
``merchants``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.backoffice.paging import paged
from civicpoints.backoffice.store_views import chosen_ids, clerk_choices
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.tables import Column, Table, points, table_export
from civicpoints.merchants.models import Merchant, MerchantStatus, Statement
from civicpoints.merchants.selectors import (
    MERCHANT_READERS,
    merchant_for,
    merchants_visible,
    statements_visible,
)
from civicpoints.merchants.services import MERCHANT_MANAGERS, merchant_create, merchant_set_status
from civicpoints.schemes.models import Region, RegionLevel, Role, Scheme
from civicpoints.schemes.scope import Actor, actor_for_user, parse_id, scope_q
from civicpoints.schemes.selectors import governs, regions_visible, schemes_governed


def readable_schemes(actor: Actor) -> list[Scheme]:
    """Schemes whose merchants and settlement this person reads (county admin, auditor)."""
    return schemes_governed(actor, MERCHANT_READERS)


def scheme_chosen(request: HttpRequest, actor: Actor) -> Scheme:
    """The scheme named by ``?scheme=`` (else the first) among those this person reads; 404
    for someone who reads none."""
    schemes = readable_schemes(actor)
    if not schemes:
        raise NotFound("scheme")
    wanted = parse_id(request.GET.get("scheme") or request.POST.get("scheme"))
    return next((s for s in schemes if s.pk == wanted), schemes[0])


def manages_scheme(actor: Actor, scheme: Scheme) -> bool:
    return governs(actor, scheme, MERCHANT_MANAGERS)


def scheme_merchants(actor: Actor, scheme: Scheme) -> QuerySet[Merchant]:
    """The scheme's merchants as a reader sees them (not a cashier's own shop)."""
    reader = scope_q(
        actor, region_path_field="scheme__operator_region__path", roles=MERCHANT_READERS
    )
    return merchants_visible(actor).filter(reader, scheme=scheme)


def scheme_statements(actor: Actor, scheme: Scheme) -> QuerySet[Statement]:
    return statements_visible(actor).filter(merchant__in=scheme_merchants(actor, scheme))


# --- merchants -------------------------------------------------------------------------------

MERCHANTS = Table(
    gettext_lazy("签约商家"),
    (
        Column(gettext_lazy("店名"), lambda m: m.shop_name, 18),
        Column(gettext_lazy("商户全称"), lambda m: m.legal_name, 24),
        Column(gettext_lazy("联系人"), lambda m: m.contact_name, 10),
        Column(gettext_lazy("联系电话"), lambda m: m.contact_phone, 14, text=True),
        Column(gettext_lazy("地址"), lambda m: m.address, 24),
        Column(gettext_lazy("收款户名"), lambda m: m.account_name, 20),
        Column(gettext_lazy("开户行"), lambda m: m.bank_name, 20),
        Column(gettext_lazy("收款账号后四位"), lambda m: m.bank_account_last4, 10, text=True),
        Column(
            gettext_lazy("服务区域"),
            lambda m: _("、").join(r.name for r in m.regions.all()),
            24,
        ),
        Column(
            gettext_lazy("收银员"), lambda m: _("、").join(u.username for u in m.clerks.all()), 16
        ),
        Column(gettext_lazy("状态"), lambda m: m.get_status_display(), 10),
    ),
)
STATEMENTS = Table(
    gettext_lazy("商家结算单"),
    (
        Column(gettext_lazy("营业日"), lambda s: s.business_date, 11),
        Column(gettext_lazy("店名"), lambda s: s.merchant.shop_name, 18),
        Column(gettext_lazy("收款笔数"), lambda s: s.payment_count, 8),
        Column(gettext_lazy("收款积分"), lambda s: points(s.gross), 10),
        Column(gettext_lazy("退款笔数"), lambda s: s.refund_count, 8),
        Column(gettext_lazy("退款积分"), lambda s: points(s.refunds_total), 10),
        Column(gettext_lazy("净额积分"), lambda s: points(s.net), 10),
        Column(gettext_lazy("应付金额(元)"), lambda s: points(s.amount_fen), 12),
        Column(gettext_lazy("状态"), lambda s: s.get_status_display(), 10),
        Column(gettext_lazy("付款时间"), lambda s: s.paid_at, 17),
        Column(gettext_lazy("银行流水号"), lambda s: s.bank_reference, 20, text=True),
        Column(gettext_lazy("参考号"), lambda s: s.reference, 22, text=True),
    ),
)


@login_required
@require_GET
def merchant_list(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    rows = scheme_merchants(actor, scheme).prefetch_related("regions", "clerks").order_by("pk")
    if export := table_export(request, actor, MERCHANTS, rows):
        return export
    page = paged(request, rows)
    return render(
        request,
        "backoffice/merchants.html",
        {
            "scheme": scheme,
            "rows": page.object_list,
            "page": page,
            "manages": manages_scheme(actor, scheme),
            "statuses": MerchantStatus.choices,
        },
    )


def _signable_regions(actor: Actor, scheme: Scheme) -> QuerySet[Region]:
    q = Q(pk__in=[])
    for g in actor.grants_for(MERCHANT_MANAGERS):
        if g.scheme_id == scheme.pk:
            q |= Q(path__startswith=g.region_path)
    levels = [RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
    return regions_visible(actor).filter(q, level__in=levels).select_related("parent")


@login_required
@require_http_methods(["GET", "POST"])
def merchant_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    if not manages_scheme(actor, scheme):
        raise NotFound("scheme")
    regions = _signable_regions(actor, scheme)
    clerks = [
        u
        for u in clerk_choices(actor, Role.MERCHANT_CLERK, MERCHANT_MANAGERS)
        if u.grants.filter(scheme=scheme).exists()
    ]
    form: Any = request.POST if request.method == "POST" else {}
    status = 200
    if request.method == "POST":
        wanted = {pk for pk in (parse_id(v) for v in form.getlist("regions")) if pk}
        try:
            merchant = merchant_create(
                actor=actor,
                scheme_id=scheme.pk,
                legal_name=form.get("legal_name", "")[:100],
                shop_name=form.get("shop_name", "")[:100],
                bank_name=form.get("bank_name", "")[:100],
                account_name=form.get("account_name", "")[:100],
                bank_account=form.get("bank_account", "")[:60],
                regions=list(regions.filter(pk__in=wanted)),
                contact_name=form.get("contact_name", "")[:40],
                contact_phone=form.get("contact_phone", "")[:20],
                address=form.get("address", "")[:200],
                clerk_ids=chosen_ids(form.getlist("clerks"), clerks),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = 422
        else:
            messages.success(
                request,
                _("已签约：%(shop)s（收款账号 **** %(last4)s）")
                % {"shop": merchant.shop_name, "last4": merchant.bank_account_last4},
            )
            return redirect(f"{reverse('backoffice:merchants')}?scheme={scheme.pk}")
    return render(
        request,
        "backoffice/merchant_new.html",
        {
            "scheme": scheme,
            "regions": regions[:1000],
            "clerks": clerks,
            "form": form,
            "chosen_regions": form.getlist("regions") if form else [],
            "chosen_clerks": form.getlist("clerks") if form else [],
        },
        status=status,
    )


@login_required
@require_POST
def merchant_status(request: HttpRequest, merchant_id: int) -> HttpResponse:
    """Suspend, end or resume a merchant, with a reason; asked once more first."""
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    merchant = merchant_for(actor, merchant_id)
    if not scheme_merchants(actor, scheme).filter(pk=merchant.pk).exists():
        raise NotFound("merchant")
    back = refusals_return_to(request, f"{reverse('backoffice:merchants')}?scheme={scheme.pk}")
    status = request.POST.get("status", "")
    reason = request.POST.get("reason", "")[:200]
    if status not in MerchantStatus.values or status == merchant.status:
        messages.error(request, _("请选择新的状态"))
        return redirect(back)
    if not reason.strip():
        messages.error(request, _("请填写原因"))
        return redirect(back)
    label = MerchantStatus(status).label
    if not confirmed(request):
        lines = [
            _("%(shop)s（%(legal)s）：%(old)s → %(new)s")
            % {
                "shop": merchant.shop_name,
                "legal": merchant.legal_name,
                "old": merchant.get_status_display(),
                "new": label,
            },
            _("原因：%(reason)s") % {"reason": reason},
        ]
        if status != MerchantStatus.ACTIVE:
            lines.append(_("此后该店不能再收积分；已收的积分照常结算付款。"))
        return confirm_page(
            request,
            title=_("确认更改商家状态"),
            lines=lines,
            button=_("确认%(status)s") % {"status": label},
            back=back,
            danger=status != MerchantStatus.ACTIVE,
        )
    merchant_set_status(actor=actor, merchant=merchant, status=status, reason=reason)
    messages.success(
        request, _("%(shop)s 已改为：%(status)s") % {"shop": merchant.shop_name, "status": label}
    )
    return redirect(back)
