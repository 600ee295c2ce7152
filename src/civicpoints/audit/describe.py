"""Audit events in words: who (a name), what (the action's label), on what (the object's kind
and name) and the detail as "label: value" pairs, for the pages and the exports.

Codes never reach a reader: statuses become their labels, hundredths become points, fen become
yuan, ids of households, products, activities and staff become names (one query per kind for a
whole page). Reads only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.ledger.amounts import format_points

KEY_LABELS: dict[str, Any] = {
    "reason": gettext_lazy("原因"),
    "household": gettext_lazy("农户"),
    "households": gettext_lazy("农户"),
    "helper": gettext_lazy("帮助人"),
    "helped": gettext_lazy("受助人"),
    "activity": gettext_lazy("活动"),
    "product": gettext_lazy("商品"),
    "user": gettext_lazy("工作人员"),
    "claim": gettext_lazy("申报"),
    "payment": gettext_lazy("收款"),
    "reply": gettext_lazy("回复"),
    "previous": gettext_lazy("上一版本"),
    "village": gettext_lazy("村"),
    "region": gettext_lazy("区域"),
    "served_townships": gettext_lazy("服务乡镇"),
    "from": gettext_lazy("原来"),
    "to": gettext_lazy("改为"),
    "before": gettext_lazy("修改前"),
    "status": gettext_lazy("状态"),
    "changes": gettext_lazy("修改内容"),
    "kind": gettext_lazy("类型"),
    "mode": gettext_lazy("方式"),
    "format": gettext_lazy("格式"),
    "rows": gettext_lazy("行数"),
    "table": gettext_lazy("表格"),
    "search": gettext_lazy("查找"),
    "store": gettext_lazy("超市"),
    "full_ids": gettext_lazy("含完整身份证号的行数"),
    "month": gettext_lazy("月份"),
    "year": gettext_lazy("年度"),
    "date": gettext_lazy("日期"),
    "since": gettext_lazy("起始日期"),
    "until": gettext_lazy("截止"),
    "locked_until": gettext_lazy("锁定至"),
    "checked_out_at": gettext_lazy("签退时间"),
    "published_at": gettext_lazy("发布时间"),
    "points": gettext_lazy("积分"),
    "amount": gettext_lazy("积分"),
    "price": gettext_lazy("价格（积分）"),
    "amount_fen": gettext_lazy("金额"),
    "cash_fen": gettext_lazy("现金补差"),
    "device": gettext_lazy("设备"),
    "seq": gettext_lazy("设备流水号"),
    "resolution": gettext_lazy("处理方式"),
    "offline_at": gettext_lazy("离线兑换时间"),
    "refundable": gettext_lazy("可退积分"),
    "quantity": gettext_lazy("数量"),
    "hours": gettext_lazy("小时数"),
    "claims": gettext_lazy("申报条数"),
    "skipped": gettext_lazy("跳过"),
    "statements": gettext_lazy("结算单"),
    "carried_forward": gettext_lazy("结转下期的商家"),
    "cards": gettext_lazy("卡片数"),
    "cards_renewed": gettext_lazy("补发卡片的农户"),
    "new_pins": gettext_lazy("新设密码数"),
    "failures": gettext_lazy("连续失败次数"),
    "title": gettext_lazy("标题"),
    "body": gettext_lazy("内容"),
    "name": gettext_lazy("名称"),
    "pinned": gettext_lazy("置顶"),
    "active": gettext_lazy("上架"),
    "photo": gettext_lazy("有照片"),
    "walk_in": gettext_lazy("现场报名"),
    "self": gettext_lazy("本人操作"),
    "by_helped": gettext_lazy("由受助人确认"),
    "approved": gettext_lazy("直接通过"),
    "rule": gettext_lazy("积分细则"),
    "file": gettext_lazy("文件"),
    "sha256": gettext_lazy("文件指纹"),
    "bytes": gettext_lazy("大小（字节）"),
    "bank_reference": gettext_lazy("银行流水号"),
    "origin_ref": gettext_lazy("来源"),
    "errors": gettext_lazy("错误"),
    "action": gettext_lazy("操作"),
    "scheme": gettext_lazy("方案"),
    "stock": gettext_lazy("库存"),
    # payment-code guessing (merchant.code_guessing, merchant.guess_limits)
    "merchant": gettext_lazy("商家"),
    "cashier": gettext_lazy("收银员"),
    "scope": gettext_lazy("超限范围"),
    "count": gettext_lazy("无效次数"),
    "window_seconds": gettext_lazy("统计时长（秒）"),
    "per_cashier": gettext_lazy("每名收银员上限"),
    "per_merchant": gettext_lazy("每个商家上限"),
    "window_minutes": gettext_lazy("统计时长（分钟）"),
    # notice.finalize
    "by": gettext_lazy("运行方"),
    "at": gettext_lazy("入账截至"),
    "posted": gettext_lazy("入账条数"),
    "owed": gettext_lazy("记为欠扣的积分"),
    "first_claim": gettext_lazy("第一条申报"),
    "last_claim": gettext_lazy("最后一条申报"),
    # credit statements (credit.*, lender.*)
    "kid": gettext_lazy("密钥编号"),
    "event": gettext_lazy("变更"),
    "code": gettext_lazy("统一社会信用代码"),
    "prefix": gettext_lazy("密钥前缀"),
    "lender": gettext_lazy("合作机构"),
    "statement": gettext_lazy("报告编号"),
    "how": gettext_lazy("方式"),
}
# Values that are codes of one key only, in words.
VALUE_WORDS: dict[str, dict[str, Any]] = {
    "scope": {"cashier": gettext_lazy("单个收银员"), "merchant": gettext_lazy("整个商家")},
    "by": {"system": gettext_lazy("定时任务"), "api": gettext_lazy("接口调用")},
    "event": {
        "keygen": gettext_lazy("生成密钥"),
        "rotate": gettext_lazy("轮换密钥"),
        "compromised": gettext_lazy("宣布密钥泄露"),
    },
    "how": {"download": gettext_lazy("下载文件"), "print": gettext_lazy("打印页")},
}
# Keys whose value is the id of a row with a name, and where to find the name.
NAMED = {
    "household": ("households.Household", "head_name"),
    "households": ("households.Household", "head_name"),
    "helper": ("households.Household", "head_name"),
    "helped": ("households.Household", "head_name"),
    "cards_renewed": ("households.Household", "head_name"),
    "product": ("stores.Product", "name"),
    "activity": ("activities.Activity", "title"),
    "user": ("schemes.User", "display_name"),
    "served_townships": ("schemes.Region", "name"),
    "carried_forward": ("merchants.Merchant", "shop_name"),
    "merchant": ("merchants.Merchant", "shop_name"),
    "cashier": ("schemes.User", "display_name"),
    "store": ("stores.Store", "name"),
    "device": ("stores.CounterDevice", "name"),
    "scheme": ("schemes.Scheme", "name"),
    "lender": ("credit.Lender", "name"),
}
ID_KEYS = {
    "claim",
    "payment",
    "reply",
    "previous",
    "first_claim",
    "last_claim",
}  # ids shown as "12号"
BY_CODE = {"village", "region"}  # region division codes -> names
YUAN = {"amount_fen", "cash_fen"}
HUNDREDTHS = {"amount"}  # hundredths of a point (ledger adjustments)
POINTS = {"points", "price", "refundable"}
WHEN = {"date", "since", "until", "locked_until", "checked_out_at", "published_at", "at"}
STATUS_KEYS = {"from", "to", "status", "before", "kind", "mode"}
HIDDEN = {"sha256"}  # a fingerprint helps nobody reading the page; the export keeps it
NAME_FIELDS = ("head_name", "title", "shop_name", "name")


def _choice_labels() -> dict[str, dict[str, str]]:
    """For each app, every stored value of its choices -> label (statuses, kinds, modes)."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for model in apps.get_models():
        if not model.__module__.startswith("civicpoints"):
            continue
        for f in model._meta.get_fields():
            if isinstance(f, models.Field) and f.choices and f.name != "action":
                for value, label in f.flatchoices:
                    if isinstance(value, str) and value:
                        found[model._meta.app_label].setdefault(value, str(label))
                        found[""].setdefault(value, str(label))
    return found


# The app whose choices explain an action's statuses (merchant.status -> merchants).
ACTION_APP = {
    "claim": "awards",
    "budget": "awards",
    "household": "households",
    "merchant": "merchants",
    "settlement": "merchants",
    "feedback": "community",
    "announcement": "community",
    "activity": "activities",
    "mutual_help": "activities",
    "store": "stores",
    "stock": "stores",
    "order": "stores",
    "delivery": "stores",
    "product": "stores",
    "credit": "credit",
    "lender": "credit",
}


def _models_by_name() -> dict[str, type[models.Model]]:
    return {m.__name__: m for m in apps.get_models() if m.__module__.startswith("civicpoints")}


@dataclass(frozen=True)
class EventLine:
    event: AuditEvent
    when: dt.datetime
    who: str
    what: str
    target: str
    region: str
    detail: list[tuple[str, str]]

    @property
    def detail_text(self) -> str:
        return _("；").join(
            _("%(label)s：%(value)s") % {"label": label, "value": value} if value else label
            for label, value in self.detail
        )


class Describer:
    """Words for a batch of events; names are looked up once per kind for the whole batch."""

    def __init__(self, events: Iterable[AuditEvent]) -> None:
        self.events = list(events)
        self.labels = _choice_labels()
        # (get_action_display() rebuilds and hashes all the lazy labels on every call)
        self.actions = {value: str(label) for value, label in AuditAction.choices}
        self.keys = {key: str(label) for key, label in KEY_LABELS.items()}
        self.models = _models_by_name()
        self.names: dict[tuple[str, int], str] = {}
        self.regions: dict[str, str] = {}
        self._load()

    # --- batch lookups ---------------------------------------------------------------------

    def _load(self) -> None:
        wanted: dict[str, set[int]] = defaultdict(set)
        codes: set[str] = set()
        objects: dict[str, set[int]] = defaultdict(set)
        for e in self.events:
            if e.object_type in self.models and e.object_id.isdigit():
                objects[e.object_type].add(int(e.object_id))
            for key, value in (e.detail or {}).items():
                if key in NAMED:
                    for pk in value if isinstance(value, list) else [value]:
                        if isinstance(pk, int) and not isinstance(pk, bool):
                            wanted[NAMED[key][0]].add(pk)
                elif key in BY_CODE and isinstance(value, str):
                    codes.add(value)
        for label, ids in wanted.items():
            model = apps.get_model(label)
            field = dict(NAMED.values())[label]
            for pk, name in model.objects.filter(pk__in=ids).values_list("pk", field):
                self.names[(label, pk)] = name
            if label == "schemes.User":
                for pk, username in model.objects.filter(pk__in=ids).values_list("pk", "username"):
                    self.names[(label, pk)] = self.names.get((label, pk)) or username
        Region = apps.get_model("schemes.Region")
        self.regions = dict(Region.objects.filter(code__in=codes).values_list("code", "name"))
        for type_name, ids in objects.items():
            model = self.models[type_name]
            name_field = self._name_field(model)
            if name_field is None:
                continue
            rows = model._default_manager.filter(pk__in=ids).values_list("pk", name_field)
            for pk, name in rows:
                self.names[(type_name, pk)] = str(name or "")

    @staticmethod
    def _name_field(model: type[models.Model]) -> str | None:
        names = {f.name for f in model._meta.get_fields()}
        for field in NAME_FIELDS:
            if field in names:
                return field
        if "household" in names:
            return "household__head_name"
        if "merchant" in names:
            return "merchant__shop_name"
        if "store" in names:
            return "store__name"
        return None

    # --- words -----------------------------------------------------------------------------

    def lines(self) -> Iterator[EventLine]:
        for e in self.events:
            yield self.line(e)

    def line(self, e: AuditEvent) -> EventLine:
        return EventLine(
            event=e,
            when=timezone.localtime(e.created_at),
            who=self.who(e),
            what=self.actions.get(e.action, _("其他操作")),
            target=self.target(e),
            region=e.region.name if e.region_id is not None and e.region else "",
            detail=self.detail(e),
        )

    @staticmethod
    def who(e: AuditEvent) -> str:
        user = e.actor
        if user is None:
            return _("系统或村民本人")
        return user.display_name or user.username

    def target(self, e: AuditEvent) -> str:
        if not e.object_type:
            return ""
        model = self.models.get(e.object_type)
        kind = str(model._meta.verbose_name) if model is not None else _("记录")
        if model is not None and model._meta.label == "schemes.Region":
            return self.names.get((e.object_type, int(e.object_id)), kind)
        name = (
            self.names.get((e.object_type, int(e.object_id)), "") if e.object_id.isdigit() else ""
        )
        what = _("%(kind)s %(id)s号") % {"kind": kind, "id": e.object_id}
        return what + (_("（%(name)s）") % {"name": name} if name else "")

    def detail(self, e: AuditEvent) -> list[tuple[str, str]]:
        app = ACTION_APP.get(e.action.split(".")[0], "")
        model = self.models.get(e.object_type)
        out = []
        for key, value in (e.detail or {}).items():
            if key in HIDDEN:
                continue
            label = self._label(key, model)
            out.append((label, self._value(key, value, app, model)))
        return out

    def _label(self, key: str, model: type[models.Model] | None) -> str:
        if key in self.keys:
            return self.keys[key]
        if model is not None:
            try:
                return str(model._meta.get_field(key).verbose_name)  # type: ignore[union-attr]
            except FieldDoesNotExist:
                pass
        return _("其他")

    def _value(self, key: str, value: Any, app: str, model: type[models.Model] | None) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return _("是") if value else _("否")
        if isinstance(value, dict):
            return _("，").join(
                f"{self._label(k, model)} {self._value(k, v, app, model)}" for k, v in value.items()
            )
        if value == []:
            return _("无")
        if key in VALUE_WORDS and isinstance(value, str) and value in VALUE_WORDS[key]:
            return str(VALUE_WORDS[key][value])
        if key == "action" and value in self.actions:
            return self.actions[value]
        if key in ID_KEYS and isinstance(value, int):
            return _("%(id)s号") % {"id": value}
        if key in NAMED:
            label = NAMED[key][0]
            ids = value if isinstance(value, list) else [value]
            shown = [self.names.get((label, pk)) or _("%(id)s号") % {"id": pk} for pk in ids]
            if len(shown) > 10:
                return _("%(first)s 等 %(count)s 个") % {
                    "first": _("、").join(shown[:10]),
                    "count": len(shown),
                }
            return _("、").join(shown)
        if isinstance(value, list):
            if len(value) > 10:
                return _("共 %(count)s 项") % {"count": len(value)}
            return _("、").join(self._value("", v, app, model) for v in value)
        if key in BY_CODE and isinstance(value, str):
            return self.regions.get(value, value)
        if key in YUAN and isinstance(value, int):
            return _("%(yuan)s 元") % {"yuan": f"{value / 100:.2f}"}
        if key in HUNDREDTHS and isinstance(value, int):
            return format_points(value)
        if key in POINTS and isinstance(value, int | float) and key != "points":
            return f"{value:g}"
        if key == "points" and isinstance(value, int):
            return format_points(value)
        if key in WHEN and isinstance(value, str):
            return _when(value)
        if isinstance(value, str) and (key in STATUS_KEYS or not value.isascii()):
            labels = self.labels.get(app, {})
            return labels.get(value) or self.labels[""].get(value, value)
        if isinstance(value, str):
            return self.labels[""].get(value, value)
        return str(value)


def _when(text: str) -> str:
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if len(text) <= 10:
        return f"{parsed:%Y-%m-%d}"
    if timezone.is_aware(parsed):
        parsed = timezone.localtime(parsed)
    return f"{parsed:%Y-%m-%d %H:%M}"


def describe(events: Iterable[AuditEvent]) -> list[EventLine]:
    return list(Describer(events).lines())
