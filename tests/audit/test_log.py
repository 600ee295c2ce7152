"""The audit log: actions as an enum, who reads which events, the pages and their exports."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.audit.selectors import audit_visible
from civicpoints.audit.services import audit_record
from civicpoints.awards.services import claim_approve, claim_submit
from civicpoints.rules.services import rule_create
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_household, make_staff

SRC = Path(__file__).resolve().parents[2] / "src" / "civicpoints"


def audit_action_offenders(source: str, *, lookups: bool = False) -> list[int]:
    """Lines where an audit action is a string: a literal or f-string passed as ``action`` to
    ``audit_record``, or a member looked up from a string (``AuditAction("claim." + verb)``).
    Members are named (``AuditAction.CLAIM_SUBMIT``) or taken from a map of them; only
    ``audit/`` itself (``lookups``) turns stored codes and filter input back into members."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        if getattr(node.func, "id", "") == "AuditAction" and not lookups:
            lines.append(node.lineno)
        if getattr(node.func, "id", "") == "audit_record":
            for kw in node.keywords:
                values = [kw.value]
                if isinstance(kw.value, ast.IfExp):
                    values = [kw.value.body, kw.value.orelse]
                if kw.arg == "action" and any(
                    isinstance(v, ast.Constant | ast.JoinedStr | ast.BinOp) for v in values
                ):
                    lines.append(node.lineno)
    return sorted(lines)


PLANTED_ACTIONS = """
audit_record(actor_id=1, scheme_id=1, action="claim.submit")
audit_record(actor_id=1, scheme_id=1, action=f"{kind}.approve" if second else "x.post")
audit_record(actor_id=1, scheme_id=1, action=AuditAction(f"risk.{verb}"))
audit_record(actor_id=1, scheme_id=1, action=AuditAction.CLAIM_SUBMIT)
audit_record(actor_id=1, scheme_id=1, action=CLAIM_AUDIT[verb])
"""


def test_every_audit_record_call_passes_an_audit_action_member() -> None:
    assert audit_action_offenders(PLANTED_ACTIONS) == [2, 3, 4]  # the rule fires
    offenders = []
    for path in SRC.rglob("*.py"):
        lookups = path.relative_to(SRC).parts[0] == "audit"
        lines = audit_action_offenders(path.read_text(), lookups=lookups)
        offenders += [f"{path.relative_to(SRC)}:{n}" for n in lines]
    assert offenders == []
    field = AuditEvent._meta.get_field("action")
    assert list(field.choices) == list(AuditAction.choices)
    assert all(label and not str(label).isascii() for _v, label in AuditAction.choices)


@pytest.mark.django_db
def test_an_unknown_action_is_refused(world) -> None:
    with pytest.raises(ValueError):
        audit_record(actor_id=None, scheme_id=world.scheme.pk, action="claim.teleport")  # type: ignore[arg-type]
    assert AuditEvent.objects.count() == 0


class Log:
    def __init__(self, world) -> None:
        self.world = world
        s = world.scheme
        self.county_auditor = make_staff("shenji", Role.AUDITOR, world.county, s)
        self.county_admin = make_staff("xian", Role.COUNTY_ADMIN, world.county, s)
        self.township_auditor = make_staff("zhen-shenji", Role.AUDITOR, world.township_a, s)
        self.village_admin = make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, s)
        self.village_admin.display_name = "@SUM(1)"
        self.village_admin.save(update_fields=["display_name"])
        self.other_auditor = make_staff(
            "other", Role.AUDITOR, world.other_county, world.other_scheme
        )
        self.home_a1 = make_household(s, world.village_a1, '=HYPERLINK("x")')
        self.home_b1 = make_household(s, world.village_b1, "李四")
        self.other_home = make_household(world.other_scheme, world.other_village, "王五")
        self.rule = rule_create(
            actor_id=self.county_admin.pk,
            scheme=s,
            code="T01",
            category="测试",
            name="测试细则",
            unit="occurrence",
            points_per_unit=1000,
            sign="award",
        )
        audit_record(actor_id=self.village_admin.pk, scheme_id=None, action=AuditAction.STAFF_LOGIN)
        audit_record(actor_id=self.other_auditor.pk, scheme_id=None, action=AuditAction.STAFF_LOGIN)

    def client(self, user: User) -> Client:
        c = Client()
        c.force_login(user)
        return c


@pytest.fixture
def log(world) -> Log:
    return Log(world)


def _events(user: User) -> set[tuple[str, str]]:
    return {
        (e.action, e.object_id)
        for e in audit_visible(actor_for_user(user)).exclude(action=AuditAction.AUDIT_EXPORT)
    }


@pytest.mark.django_db
def test_each_reader_sees_their_scheme_and_region_only(log) -> None:
    a1, b1 = str(log.home_a1.pk), str(log.home_b1.pk)
    everything = {
        ("household.create", a1),
        ("household.create", b1),
        ("rule.create", str(log.rule.pk)),
        ("staff.login", ""),
    }
    assert _events(log.county_auditor) == everything
    assert _events(log.county_admin) == everything
    # a township's auditor: its villages and its staff's logins; not the scheme-wide rule
    assert _events(log.township_auditor) == {("household.create", a1), ("staff.login", "")}
    assert _events(log.other_auditor) == {
        ("household.create", str(log.other_home.pk)),
        ("staff.login", ""),
    }
    assert _events(log.village_admin) == set()
    # the region was taken from the object (the household's village)
    event = AuditEvent.objects.get(action="household.create", object_id=a1)
    assert event.region_id == log.world.village_a1.pk


@pytest.mark.django_db
def test_village_admins_get_no_page_and_no_menu_item(log) -> None:
    client = log.client(log.village_admin)
    assert client.get("/audit/").status_code == 404
    assert client.get("/audit/log.csv").status_code == 404
    assert "/audit/" not in client.get("/").content.decode()
    auditor = log.client(log.county_auditor)
    assert 'href="/audit/"' in auditor.get("/").content.decode()


@pytest.mark.django_db
def test_the_page_filters_and_speaks_chinese(earning) -> None:
    w = earning.world
    auditor = make_staff("shenji", Role.AUDITOR, w.county, w.scheme)
    home = make_household(w.scheme, w.village_a1, "张三")
    claim = claim_submit(
        actor=earning.grid_worker,
        household=home,
        rule_id=earning.rules["V02"].pk,
        quantity=1,
        occurred_on=timezone.localdate(),
    )
    claim_approve(actor=earning.village_admin, claim=claim)
    client = Client()
    client.force_login(auditor)

    page = client.get("/audit/", {"action": "claim.approve"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "审核通过申报" in html and "待审核" in html  # the action's label, the status's
    assert "claim.approve" not in html.split("<tbody>")[1]  # no code in the rows
    assert "submitted" not in html and "&quot;from&quot;" not in html
    assert f"积分申报 {claim.pk}号（张三）" in html
    assert html.count('id="audit-') == 1

    cun = User.objects.get(pk=earning.village_admin.user_id)
    assert client.get("/audit/", {"actor": cun.pk}).content.decode().count('id="audit-') == 1
    by_region = client.get("/audit/", {"region": w.village_b1.code}).content.decode()
    assert by_region.count('id="audit-') == 0
    today = timezone.localdate()
    in_range = client.get("/audit/", {"from": today.isoformat(), "to": today.isoformat()})
    assert in_range.content.decode().count('id="audit-') == AuditEvent.objects.count()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert client.get("/audit/", {"from": tomorrow}).content.decode().count('id="audit-') == 0

    for bad, message in [
        ({"action": "claim.teleport"}, "没有这种操作"),
        ({"region": w.other_village.code}, "管辖范围"),
        ({"from": "2026-13-01"}, "日期"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "开始日期不能晚于结束日期"),
        ({"actor": "１２"}, "操作人无效"),
    ]:
        refused = client.get("/audit/", bad)
        assert refused.status_code == 400 and message in refused.content.decode()


@pytest.mark.django_db
def test_the_log_pages_fifty_at_a_time(log) -> None:
    for n in range(60):
        audit_record(
            actor_id=log.county_admin.pk,
            scheme_id=log.world.scheme.pk,
            action=AuditAction.BUDGET_FUND,
            detail={"amount_fen": 100 * n, "kind": "grant"},
        )
    client = log.client(log.county_auditor)
    first = client.get("/audit/", {"action": "budget.fund"}).content.decode()
    second = client.get("/audit/", {"action": "budget.fund", "page": 2}).content.decode()
    assert first.count('id="audit-') == 50 and second.count('id="audit-') == 10
    assert "共 60 条" in first and "59.00 元" in first


@pytest.mark.django_db
def test_exports_are_neutralised_scoped_and_audited(log) -> None:
    client = log.client(log.township_auditor)
    response = client.get("/audit/log.csv")
    assert response.status_code == 200 and response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["时间", "操作人", "操作", "对象", "区域", "详情", "记录号"]
    assert sorted(r[2] for r in rows[1:]) == ["工作人员登录", "新建农户"]
    login = next(r for r in rows[1:] if r[2] == "工作人员登录")
    assert login[1] == "'@SUM(1)"  # a formula-looking name comes out as text
    assert response["X-Rows"] == "2"

    xlsx = client.get("/audit/log.xlsx", {"action": "household.create"})
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(cells) == 1 and cells[0][3] == f'农户 {log.home_a1.pk}号（=HYPERLINK("x")）'
    assert isinstance(cells[0][0], dt.datetime) and isinstance(cells[0][6], int)

    exports = AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORT).order_by("pk")
    assert [(e.actor_id, e.detail["format"], e.detail["rows"]) for e in exports] == [
        (log.township_auditor.pk, "csv", 2),
        (log.township_auditor.pk, "xlsx", 1),
    ]
    # the auditor's own export shows in words on the page
    page = client.get("/audit/", {"action": "audit.export"}).content.decode()
    assert "导出审计日志" in page and "格式：xlsx" in page and "操作：新建农户" in page


@pytest.mark.django_db
def test_the_region_comes_from_what_is_loaded_never_from_a_query(
    world, django_assert_num_queries
) -> None:
    from civicpoints.audit.services import region_of
    from civicpoints.households.models import Member

    home = make_household(world.scheme, world.village_b1, "赵六")
    member = Member.objects.select_related("household").filter(household=home).first()
    bare = Member.objects.filter(household=home).first()
    with django_assert_num_queries(0):
        assert region_of(member) == world.village_b1.pk
        assert region_of(bare) is None  # not loaded: the event is filed scheme-wide
        assert region_of(world.township_a) == world.township_a.pk


@pytest.mark.django_db
def test_an_xlsx_too_big_is_refused_with_the_way_out(log, monkeypatch) -> None:
    from civicpoints.audit import export

    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 1)
    client = log.client(log.county_auditor)
    refused = client.get("/audit/log.xlsx")
    assert refused.status_code == 400 and "导出 CSV" in refused.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORT).exists()
