"""Staff pages for residents' access: reset a household's PIN (shown once, or a sealed PIN
letter), print its card (a reprint revokes the old code), and a village's letters and card
sheets in one go (choose, confirm, print).

Thin: every rule and write is in ``households.pins``. Pages that show a PIN are never cached
and the PIN is not kept anywhere: reloading cannot show it again.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.errors import ApplicationError
from civicpoints.faces.errors import refusals_return_to
from civicpoints.honours.stars import stars_of_many
from civicpoints.households.cards import print_qr_svg
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.pins import (
    Letter,
    household_access_for,
    household_card_issue,
    household_pin_reset,
    village_for_letters,
    village_households,
    village_letters_issue,
    village_letters_plan,
    villages_for_letters,
)
from civicpoints.schemes.models import Region
from civicpoints.schemes.scope import actor_for_user

BATCH_KEY = "letters_batches"  # session: the batch keys of confirmation pages not yet used
CARDS_PER_PAGE = 8


@login_required
@require_GET
def household_access(request: HttpRequest, household_id: int) -> HttpResponse:
    """What resetting the PIN or printing the card does, with the buttons to do it."""
    household = household_access_for(actor_for_user(request.user), household_id)
    return render(request, "backoffice/household_access.html", {"h": household})


def _sheets(letters: Sequence[Letter]) -> list[list[dict[str, object]]]:
    """Cards 8 to an A4 sheet, each with its QR code (quiet zone of 4 modules) and the
    household's latest stars (星级文明户)."""
    stars = stars_of_many(letter.household.pk for letter in letters)
    cards: list[dict[str, object]] = [
        {
            "h": letter.household,
            "qr": mark_safe(print_qr_svg(letter.household.card_code)),  # noqa: S308 (our SVG)
            "stars": stars.get(letter.household.pk),
        }
        for letter in letters
    ]
    return [cards[i : i + CARDS_PER_PAGE] for i in range(0, len(cards), CARDS_PER_PAGE)]


def _printout(
    request: HttpRequest, letters: Sequence[Letter], *, title: str, back: str, cards: bool
) -> HttpResponse:
    response = render(
        request,
        "backoffice/letters_print.html",
        {
            "title": title,
            "letters": [letter for letter in letters if letter.pin],
            "sheets": _sheets(letters) if cards else [],
            "login_url": request.build_absolute_uri(reverse("portal:login")),
            "portal_url": request.build_absolute_uri(reverse("portal:home")),
            "back": back,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
@require_POST
def household_pin_reset_view(request: HttpRequest, household_id: int) -> HttpResponse:
    """A new random PIN: shown once on screen (how=show) or on a sealed letter (how=letter)."""
    actor = actor_for_user(request.user)
    household = household_access_for(actor, household_id)
    how = request.POST.get("how")
    if how not in {"show", "letter"}:
        messages.error(request, _("请选择显示新密码还是打印密码信"))
        return redirect("backoffice:household_access", household.pk)
    pin = household_pin_reset(actor=actor, household=household)
    back = reverse("backoffice:household", args=[household.pk])
    if how == "letter":
        return _printout(
            request,
            [Letter(household=household, pin=pin)],
            title=_("密码信"),
            back=back,
            cards=False,
        )
    response = render(request, "backoffice/pin_shown.html", {"h": household, "pin": pin})
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
@require_POST
def household_card_issue_view(request: HttpRequest, household_id: int) -> HttpResponse:
    """Print the household's card; a reprint gives it a new code and the old card stops working."""
    actor = actor_for_user(request.user)
    household = household_access_for(actor, household_id)
    household = household_card_issue(actor=actor, household=household)
    return _printout(
        request,
        [Letter(household=household, pin=None)],
        title=_("积分卡"),
        back=reverse("backoffice:household", args=[household.pk]),
        cards=True,
    )


@login_required
@require_GET
def letters_villages(request: HttpRequest) -> HttpResponse:
    """The villages whose letters and cards this person may print, with household counts."""
    actor = actor_for_user(request.user)
    # Only the households of the actor's own schemes (another scheme may share the region).
    mine = Q(households__scheme_id__in=actor.scheme_ids) & ~Q(
        households__status=HouseholdStatus.CLOSED
    )
    villages = (
        villages_for_letters(actor)
        .annotate(
            open_households=Count("households", filter=mine),
            never_printed=Count(
                "households", filter=mine & Q(households__card_issued_at__isnull=True)
            ),
        )
        .order_by("parent__name", "name")
    )
    return render(request, "backoffice/letters_villages.html", {"villages": villages})


def _batch_key(request: HttpRequest) -> str:
    key = secrets.token_urlsafe(16)
    keys = [*request.session.get(BATCH_KEY, [])[-9:], key]
    request.session[BATCH_KEY] = keys
    return key


def _letters_form(
    request: HttpRequest,
    village: Region,
    households: list[Household],
    *,
    errors: dict[str, str] | None = None,
    chosen: set[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "backoffice/letters_village.html",
        {
            "village": village,
            "households": households,
            "errors": errors or {},
            "chosen": chosen,
            "pins": request.method != "POST" or bool(request.POST.get("pins")),
            "cards": request.method != "POST" or bool(request.POST.get("cards")),
            "batch": request.POST.get("batch") or _batch_key(request),
        },
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def letters_village(request: HttpRequest, village_id: int) -> HttpResponse:
    """Choose households and what to print -> confirm (irreversible) -> the printout."""
    actor = actor_for_user(request.user)
    village = village_for_letters(actor, village_id)
    households = list(village_households(actor, village))
    if request.method == "GET":
        return _letters_form(request, village, households)
    chosen = request.POST.getlist("households")
    pins, cards = bool(request.POST.get("pins")), bool(request.POST.get("cards"))
    try:
        plan = village_letters_plan(
            actor=actor, village=village, household_ids=chosen, pins=pins, cards=cards
        )
    except ApplicationError as exc:
        field = str(exc.detail.get("field", "households"))
        return _letters_form(
            request,
            village,
            households,
            errors={field: exc.message},
            chosen={str(c) for c in chosen},
            status=exc.status,
        )
    if not confirmed(request):
        lines = []
        if pins:
            lines.append(
                _(
                    "为 %(n)d 户生成新密码并打印密码信。这些户原来的密码立即失效，已登录的手机会退出。"
                )
                % {"n": plan.households}
            )
        if cards:
            lines.append(_("打印 %(n)d 户的积分卡（每张A4纸8张）。") % {"n": plan.households})
            if plan.cards_renewed:
                lines.append(
                    _("其中 %(n)d 户以前发过卡，将换新卡号：旧卡在柜台和登录时都不能再用。")
                    % {"n": plan.cards_renewed}
                )
        return confirm_page(
            request,
            title=_("确认打印 %(village)s 的密码信和积分卡") % {"village": village.name},
            lines=lines,
            button=_("确认并打印"),
            back=reverse("backoffice:letters_village", args=[village.pk]),
            danger=True,
        )
    batch = request.POST.get("batch", "")
    keys = request.session.get(BATCH_KEY, [])
    if batch not in keys:
        # A second submit of the same confirmation would make the first printout's PINs wrong.
        messages.error(request, _("这一批已经打印过了。如需重印，请重新选择（会再次生成新密码）。"))
        return redirect("backoffice:letters_village", village.pk)
    request.session[BATCH_KEY] = [k for k in keys if k != batch]
    request.session.save()  # before the PINs are made: a second submit finds the key gone
    refusals_return_to(request, reverse("backoffice:letters_village", args=[village.pk]))
    try:
        letters = village_letters_issue(
            actor=actor, village=village, household_ids=chosen, pins=pins, cards=cards
        )
    except ApplicationError:  # nothing was written; the same choice may be sent again
        request.session[BATCH_KEY] = [*request.session.get(BATCH_KEY, []), batch]
        raise
    return _printout(
        request,
        letters,
        title=_("%(village)s 密码信和积分卡") % {"village": village.name},
        back=reverse("backoffice:letters_village", args=[village.pk]),
        cards=cards,
    )
