"""Who ran the end of notice (issue 9, item 7): every finalize run that posted something leaves
one ``notice.finalize`` audit row per scheme, naming the staff user (API) or the command (the
CLI with the login that ran it, the scheduler as "system"); a run that posted nothing, none."""

from __future__ import annotations

import datetime as dt
import getpass
from decimal import Decimal

from django.core.management import call_command

from civicpoints.audit.describe import describe
from civicpoints.audit.models import AuditEvent
from civicpoints.awards.services import claim_approve, notices_finalize
from civicpoints.awards.services.claims import NewClaim, claim_create
from civicpoints.ops.scheduler import run_jobs_once
from tests.awards.conftest import MONDAY
from tests.factories import api_client, fund, make_household


def _at(days: float) -> dt.datetime:
    return MONDAY + dt.timedelta(days=days)


def approved(earning, code: str = "V02", quantity: int = 1, *, household=None):
    household = household or make_household(earning.scheme, earning.world.village_a1)
    claim = claim_create(
        NewClaim(
            household=household,
            rule=earning.rules[code],
            quantity=Decimal(quantity),
            occurred_on=dt.date(2026, 11, 1),
            source="staff",
            note="办了三天流水席" if code.startswith("D") else "",
        )
    )
    return claim_approve(actor=earning.village_admin, claim=claim, at=_at(0))


def runs() -> list[tuple[int | None, int | None, dict]]:
    return list(
        AuditEvent.objects.filter(action="notice.finalize")
        .order_by("pk")
        .values_list("actor_id", "scheme_id", "detail")
    )


def test_the_command_records_itself_and_its_login(earning) -> None:
    first, second = approved(earning), approved(earning)

    call_command("finalize", "--at", "2026-11-05T08:59:00+08:00")  # notice not over: nothing
    call_command("finalize", "--at", "2026-11-05T09:00:00+08:00")
    call_command("finalize", "--at", "2026-11-06T09:00:00+08:00")  # nothing left

    assert runs() == [
        (
            None,
            earning.scheme.pk,
            {
                "by": f"civicpoints finalize ({getpass.getuser()})",
                "at": "2026-11-05T09:00:00+08:00",
                "posted": 2,
                "owed": "0",
                "first_claim": first.pk,
                "last_claim": second.pk,
            },
        )
    ]


def test_the_scheduler_runs_as_system_and_counts_what_stays_owed(earning) -> None:
    household = make_household(earning.scheme, earning.world.village_a1)
    fund(household, 3000)  # 30 points; the deduction takes 50
    claim = approved(earning, "D03", household=household)

    jobs = run_jobs_once()

    assert jobs["notices_finalize"] == 1
    [(actor, scheme, detail)] = runs()
    assert (actor, scheme, detail["by"], detail["posted"]) == (None, earning.scheme.pk, "system", 1)
    assert (detail["owed"], detail["first_claim"], detail["last_claim"]) == (
        "20",
        claim.pk,
        claim.pk,
    )
    [line] = describe(AuditEvent.objects.filter(action="notice.finalize"))
    assert line.what == "公示期满入账" and line.who == "系统或村民本人"
    words = dict(line.detail)  # (jsonb keeps its own key order)
    assert words.pop("入账截至").startswith("20")
    assert words == {
        "运行方": "定时任务",
        "入账条数": "1",
        "记为欠扣的积分": "20",
        "第一条申报": f"{claim.pk}号",
        "最后一条申报": f"{claim.pk}号",
    }


def test_the_api_records_the_county_admin(earning) -> None:
    from civicpoints.schemes.models import User

    approved(earning)
    admin = User.objects.get(pk=earning.county_admin.user_id)
    client = api_client(admin)

    response = client.post(
        "/api/v1/notices/finalize",
        {"at": _at(3).isoformat()},
        content_type="application/json",
    )

    assert response.status_code == 200 and response.json()["posted"] == 1
    [(actor, scheme, detail)] = runs()
    assert (actor, scheme, detail["by"], detail["posted"]) == (
        admin.pk,
        earning.scheme.pk,
        "api",
        1,
    )


def test_a_run_that_posts_nothing_writes_nothing(earning) -> None:
    approved(earning)

    assert notices_finalize(at=_at(1)).count == 0

    assert runs() == []
