"""The staff menu as data, and what a person may use (``Can``): one place for both.

Every menu entry names a page (a URL name) and a test on ``Can``; the menu shows an entry only
when the test holds, so nobody is offered a page that answers 403 or 404. ``Can`` asks the same
selectors and role sets the pages and services use; it never grants anything by itself (the
services still check every write). To add a page to the menu, add a ``NavItem`` to ``NAV``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise, SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from civicpoints.awards.selectors import CLAIM_READERS
from civicpoints.awards.services.claims import PROPOSERS
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import ADMIN_ROLES, HOUSEHOLD_READERS, Actor, actor_for_user


class Can:
    """What one person may use, worked out lazily (each answer at most once per request)."""

    def __init__(self, user: Any, actor: Actor | None = None) -> None:
        self.user = user
        self.actor = actor if actor is not None else actor_for_user(user)

    def _any(self, roles: frozenset[str] | set[str]) -> bool:
        return bool(self.actor.grants_for(roles))

    @cached_property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.actor.grants)

    @cached_property
    def read_only(self) -> bool:
        """An auditor (and nothing else): sees, never acts."""
        return bool(self.roles) and self.roles <= {Role.AUDITOR}

    @cached_property
    def counter_only(self) -> bool:
        """Store clerks and merchant cashiers: their work is at the counter."""
        return bool(self.roles) and self.roles <= {Role.STORE_CLERK, Role.MERCHANT_CLERK}

    # --- households and earning ------------------------------------------------------------

    @cached_property
    def households(self) -> bool:
        return self._any(HOUSEHOLD_READERS)

    @cached_property
    def household_import(self) -> bool:
        return self._any(ADMIN_ROLES)

    @cached_property
    def claims(self) -> bool:
        return self._any(CLAIM_READERS)

    @cached_property
    def claim_propose(self) -> bool:
        return self._any(PROPOSERS)

    @cached_property
    def claim_review(self) -> bool:
        return self._any(ADMIN_ROLES)

    @cached_property
    def township_review(self) -> bool:
        """The second stage (乡镇复核): township and county admins."""
        from civicpoints.awards.services.claims import TOWNSHIP_REVIEWERS

        return self._any(TOWNSHIP_REVIEWERS)

    @cached_property
    def claim_object(self) -> bool:
        """Staff objections on the notice board (auditors read; residents object on /m/)."""
        return self._any(PROPOSERS)

    @cached_property
    def notices(self) -> bool:
        return self._any(CLAIM_READERS)

    @cached_property
    def activities(self) -> bool:
        from civicpoints.activities.selectors import ACTIVITY_READERS

        return self._any(ACTIVITY_READERS)

    @cached_property
    def activity_door(self) -> bool:
        from civicpoints.activities.selectors import CHECKERS

        return self._any(CHECKERS)

    @cached_property
    def mutual_help(self) -> bool:
        """The mutual-help list: staff who read activities (buttons only where they decide)."""
        return self.activities

    @cached_property
    def mutual_help_pending(self) -> int:
        from civicpoints.activities.selectors import mutual_helps_to_decide

        return mutual_helps_to_decide(self.actor).count() if self.activity_door else 0

    @cached_property
    def budget(self) -> bool:
        from civicpoints.schemes.selectors import schemes_governed

        roles = [Role.COUNTY_ADMIN, Role.AUDITOR]
        return self._any(set(roles)) and bool(schemes_governed(self.actor, roles))

    @cached_property
    def stats(self) -> bool:
        """The dashboard's figures: admins of a region and auditors."""
        from civicpoints.reports.stats import STATS_READERS

        return self._any(STATS_READERS)

    @cached_property
    def outcomes(self) -> bool:
        """Entering villages' monthly outcome indicators: admins."""
        from civicpoints.schemes.scope import ADMIN_ROLES

        return self._any(ADMIN_ROLES)

    @cached_property
    def budget_write(self) -> bool:
        from civicpoints.awards.services.budget import BUDGET_ROLES

        return self.budget and self._any(BUDGET_ROLES)

    # --- spending ----------------------------------------------------------------------------

    @cached_property
    def counter(self) -> bool:
        from civicpoints.merchants.selectors import counter_merchants

        # Only staff who can hold a counter are asked (no query for a grid worker or auditor).
        return self.stores_run or (
            self._any({Role.MERCHANT_CLERK}) and counter_merchants(self.actor).exists()
        )

    @cached_property
    def offline_conflicts(self) -> bool:
        """Admins over a village and up, in a scheme whose counters may sell offline."""
        from civicpoints.schemes.models import Scheme

        schemes = {g.scheme_id for g in self.actor.grants_for(ADMIN_ROLES)}
        return bool(schemes) and (
            Scheme.objects.filter(pk__in=schemes, offline_allowance__gt=0).exists()
        )

    @cached_property
    def stores_run(self) -> bool:
        """Works the counter of at least one store (its clerk, or an admin over it)."""
        from civicpoints.stores.selectors import counter_stores

        if not self._any(ADMIN_ROLES | {Role.STORE_CLERK}):
            return False
        return counter_stores(self.actor).exists()

    @cached_property
    def stores(self) -> bool:
        from civicpoints.backoffice.store_views import store_staff

        if not self._any(ADMIN_ROLES | {Role.AUDITOR, Role.STORE_CLERK}):
            return False  # stores are for admins, auditors and the clerks listed on them
        return store_staff(self.actor)

    @cached_property
    def merchants(self) -> bool:
        from civicpoints.backoffice.merchant_views import readable_schemes
        from civicpoints.merchants.selectors import MERCHANT_READERS

        return self._any(set(MERCHANT_READERS)) and bool(readable_schemes(self.actor))

    @cached_property
    def overdue(self) -> int:
        from civicpoints.merchants.selectors import statements_overdue_count

        return statements_overdue_count(self.actor) if self.merchants else 0

    @cached_property
    def credit(self) -> bool:
        """文明积分贷: county admins (register lenders, issue keys) and auditors (read)."""
        from civicpoints.credit.lenders import LENDER_READERS, lender_schemes

        return self._any(set(LENDER_READERS)) and bool(lender_schemes(self.actor))

    # --- village life ------------------------------------------------------------------------

    @cached_property
    def community(self) -> bool:
        """村务信息 and 投诉建议: admins over a village, and auditors (read-only)."""
        from civicpoints.community.selectors import community_staff

        return community_staff(self.actor)

    @cached_property
    def feedback_open(self) -> int:
        from civicpoints.community.selectors import feedback_open_count

        return feedback_open_count(self.actor) if self.community else 0

    # --- oversight ----------------------------------------------------------------------------

    @cached_property
    def audit_log(self) -> bool:
        """审计日志: county admins and auditors (read-only)."""
        from civicpoints.audit.selectors import may_read_audit

        return may_read_audit(self.actor)

    # --- four eyes ---------------------------------------------------------------------------

    @cached_property
    def approvals(self) -> bool:
        """调整复核: county admins file adjustments and approve each other's."""
        from civicpoints.ledger.adjustments import APPROVERS

        return self._any(set(APPROVERS))

    @cached_property
    def approvals_pending(self) -> int:
        from civicpoints.ledger.adjustments import pending_count

        return pending_count(self.actor) if self.approvals else 0

    @cached_property
    def risk(self) -> bool:
        """风险提示: auditors and county admins (they review, note, resolve and dismiss)."""
        from civicpoints.risk.services import RISK_REVIEWERS

        return self._any(RISK_REVIEWERS)

    @cached_property
    def admin(self) -> bool:
        return bool(getattr(self.user, "is_staff", False))


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    shown: Callable[[Can], bool]
    badge: Callable[[Can], int] | None = None
    badge_title: str | Promise = ""
    query: str = ""  # e.g. "?status=on_notice"


NAV: list[NavItem] = [
    NavItem(_("农户"), "backoffice:households", lambda c: c.households),
    NavItem(_("申报审核"), "backoffice:claims", lambda c: c.claims),
    NavItem(_("公示"), "backoffice:notices", lambda c: c.notices),
    NavItem(_("志愿活动"), "backoffice:activities", lambda c: c.activities),
    NavItem(
        _("邻里互助"),
        "backoffice:mutual_help",
        lambda c: c.mutual_help,
        badge=lambda c: c.mutual_help_pending,
        badge_title=_("等待核实确认的互助"),
    ),
    # Not for counter staff: their work is at the counter (the page still answers them).
    NavItem(_("数据大屏"), "backoffice:dashboard", lambda c: c.stats),
    NavItem(_("治理指标"), "backoffice:outcomes", lambda c: c.outcomes),
    NavItem(_("排行榜"), "backoffice:rankings", lambda c: c.households and not c.counter_only),
    NavItem(_("评比表彰"), "backoffice:campaigns", lambda c: c.households and not c.counter_only),
    # County admins and auditors: the scheme-wide honours and the expiry of points.
    NavItem(_("星级文明户"), "backoffice:stars", lambda c: c.budget),
    NavItem(_("积分到期"), "backoffice:expiry", lambda c: c.budget),
    NavItem(_("资金"), "backoffice:budget", lambda c: c.budget),
    NavItem(_("柜台"), "counter:index", lambda c: c.counter),
    NavItem(_("超市"), "backoffice:stores", lambda c: c.stores),
    NavItem(_("订单"), "backoffice:orders", lambda c: c.stores),
    NavItem(_("送货"), "backoffice:deliveries", lambda c: c.stores),
    NavItem(_("离线冲突"), "backoffice:offline_conflicts", lambda c: c.offline_conflicts),
    NavItem(_("商家"), "backoffice:merchants", lambda c: c.merchants),
    NavItem(
        _("结算"),
        "backoffice:settlement",
        lambda c: c.merchants,
        badge=lambda c: c.overdue,
        badge_title=_("逾期未付款的结算单"),
    ),
    NavItem(_("文明积分贷"), "backoffice:credit_lenders", lambda c: c.credit),
    NavItem(_("村务信息"), "backoffice:announcements", lambda c: c.community),
    NavItem(
        _("投诉建议"),
        "backoffice:feedback_list",
        lambda c: c.community,
        badge=lambda c: c.feedback_open,
        badge_title=_("待处理和处理中的投诉建议"),
    ),
    NavItem(_("审计日志"), "backoffice:audit_log", lambda c: c.audit_log),
    NavItem(_("风险提示"), "backoffice:risk_flags", lambda c: c.risk),
    NavItem(
        _("调整复核"),
        "backoffice:approvals",
        lambda c: c.approvals,
        badge=lambda c: c.approvals_pending,
        badge_title=_("等待复核的人工调整和冲正"),
        query="?status=pending",
    ),
    NavItem(_("系统管理"), "admin:index", lambda c: c.admin),
]


@dataclass(frozen=True)
class Shown:
    label: str | Promise
    url: str
    current: bool
    badge: int
    badge_title: str | Promise


def can_for(request: HttpRequest) -> Can:
    """The request's ``Can``, made once per request."""
    found = getattr(request, "_can", None)
    if found is None:
        found = Can(request.user)
        request._can = found  # type: ignore[attr-defined]
    return found


def nav_for(request: HttpRequest) -> list[Shown]:
    if not request.user.is_authenticated:
        return []
    can = can_for(request)
    shown = []
    for item in NAV:
        if not item.shown(can):
            continue
        url = reverse(item.url_name)
        shown.append(
            Shown(
                label=item.label,
                url=url + item.query,
                current=url != "/" and request.path.startswith(url),
                badge=item.badge(can) if item.badge else 0,
                badge_title=item.badge_title,
            )
        )
    return shown


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: ``can`` and ``staff_nav``, both worked out only if used."""
    return {
        "can": SimpleLazyObject(lambda: can_for(request)),
        "staff_nav": SimpleLazyObject(lambda: nav_for(request)),
    }
