"""One tree of application errors.

Services raise ``ApplicationError`` with a code from ``ErrorCode``; the API turns it into
``{"error": {"code", "message", "detail"}}`` and pages into a message. Nothing here knows HTTP
beyond the status each code maps to.
"""

from __future__ import annotations

import enum
from typing import Any

from django.utils.translation import gettext_lazy as _


class ErrorCode(enum.StrEnum):
    INVALID_INPUT = "invalid_input"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    NOT_AUTHENTICATED = "not_authenticated"
    LOGIN_FAILED = "login_failed"
    LOCKED_OUT = "locked_out"
    INSUFFICIENT_POINTS = "insufficient_points"
    UNBALANCED_POSTING = "unbalanced_posting"
    ALREADY_REVERSED = "already_reversed"
    HOLD_NOT_ACTIVE = "hold_not_active"
    IDEMPOTENCY_KEY_MISSING = "idempotency_key_missing"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_IN_FLIGHT = "idempotency_in_flight"
    DUPLICATE = "duplicate"
    HOUSEHOLD_CLOSED = "household_closed"
    IMPORT_INVALID = "import_invalid"
    IMPORT_IN_PROGRESS = "import_in_progress"
    CAP_EXCEEDED = "cap_exceeded"
    DUPLICATE_CLAIM = "duplicate_claim"
    QUOTA_EXCEEDED = "quota_exceeded"
    DISQUALIFIED = "disqualified"
    INVALID_TRANSITION = "invalid_transition"
    EVIDENCE_REQUIRED = "evidence_required"
    SAME_APPROVER = "same_approver"
    ACTIVITY_NOT_OPEN = "activity_not_open"
    ACTIVITY_FULL = "activity_full"
    OUTSIDE_CHECKIN_WINDOW = "outside_checkin_window"
    ALREADY_CHECKED_IN = "already_checked_in"
    ALREADY_CHECKED_OUT = "already_checked_out"
    NOT_CHECKED_IN = "not_checked_in"
    OPEN_ATTENDANCE = "open_attendance"
    INTERNAL_ERROR = "internal_error"


STATUS = {
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.LOGIN_FAILED: 401,
    ErrorCode.LOCKED_OUT: 429,
    ErrorCode.INSUFFICIENT_POINTS: 409,
    ErrorCode.UNBALANCED_POSTING: 422,
    ErrorCode.ALREADY_REVERSED: 409,
    ErrorCode.HOLD_NOT_ACTIVE: 409,
    ErrorCode.IDEMPOTENCY_KEY_MISSING: 400,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.IDEMPOTENCY_IN_FLIGHT: 409,
    ErrorCode.DUPLICATE: 409,
    ErrorCode.HOUSEHOLD_CLOSED: 409,
    ErrorCode.IMPORT_INVALID: 422,
    ErrorCode.IMPORT_IN_PROGRESS: 409,
    ErrorCode.CAP_EXCEEDED: 409,
    ErrorCode.DUPLICATE_CLAIM: 409,
    ErrorCode.QUOTA_EXCEEDED: 409,
    ErrorCode.DISQUALIFIED: 409,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.EVIDENCE_REQUIRED: 422,
    ErrorCode.SAME_APPROVER: 409,
    ErrorCode.ACTIVITY_NOT_OPEN: 409,
    ErrorCode.ACTIVITY_FULL: 409,
    ErrorCode.OUTSIDE_CHECKIN_WINDOW: 409,
    ErrorCode.ALREADY_CHECKED_IN: 409,
    ErrorCode.ALREADY_CHECKED_OUT: 409,
    ErrorCode.NOT_CHECKED_IN: 409,
    ErrorCode.OPEN_ATTENDANCE: 409,
    ErrorCode.INTERNAL_ERROR: 500,
}

DEFAULT_MESSAGES = {
    ErrorCode.INVALID_INPUT: _("输入有误"),
    ErrorCode.NOT_FOUND: _("未找到"),
    ErrorCode.PERMISSION_DENIED: _("没有权限执行此操作"),
    ErrorCode.NOT_AUTHENTICATED: _("请先登录"),
    ErrorCode.LOGIN_FAILED: _("用户名或密码错误"),
    ErrorCode.LOCKED_OUT: _("登录失败次数过多，请稍后再试或联系管理员解锁"),
    ErrorCode.INSUFFICIENT_POINTS: _("可用积分不足"),
    ErrorCode.UNBALANCED_POSTING: _("记账分录借贷不平"),
    ErrorCode.ALREADY_REVERSED: _("该笔记账已被冲正"),
    ErrorCode.HOLD_NOT_ACTIVE: _("该笔冻结已处理"),
    ErrorCode.IDEMPOTENCY_KEY_MISSING: _("缺少 Idempotency-Key 请求头"),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: _("该 Idempotency-Key 已用于另一个不同的请求"),
    ErrorCode.IDEMPOTENCY_IN_FLIGHT: _("同一请求正在处理中，请稍后重试"),
    ErrorCode.DUPLICATE: _("记录重复"),
    ErrorCode.HOUSEHOLD_CLOSED: _("该户已注销"),
    ErrorCode.IMPORT_INVALID: _("文件有错误，未导入任何数据"),
    ErrorCode.IMPORT_IN_PROGRESS: _("这份文件正在导入，请稍候"),
    ErrorCode.CAP_EXCEEDED: _("超过该细则的积分上限"),
    ErrorCode.DUPLICATE_CLAIM: _("同一户同一天已有该细则的申报"),
    ErrorCode.QUOTA_EXCEEDED: _("超过本村年度积分额度"),
    ErrorCode.DISQUALIFIED: _("该户处于一票否决期内"),
    ErrorCode.INVALID_TRANSITION: _("申报当前状态不允许此操作"),
    ErrorCode.EVIDENCE_REQUIRED: _("该细则需要提供证明材料"),
    ErrorCode.SAME_APPROVER: _("乡镇复核须由另一人完成"),
    ErrorCode.ACTIVITY_NOT_OPEN: _("活动未发布、已结束或已取消"),
    ErrorCode.ACTIVITY_FULL: _("活动名额已满"),
    ErrorCode.OUTSIDE_CHECKIN_WINDOW: _("不在签到时间内"),
    ErrorCode.ALREADY_CHECKED_IN: _("已签到，请勿重复签到"),
    ErrorCode.ALREADY_CHECKED_OUT: _("已签退"),
    ErrorCode.NOT_CHECKED_IN: _("尚未签到，不能签退"),
    ErrorCode.OPEN_ATTENDANCE: _("还有人未签退，请先签退或由工作人员补签退"),
    ErrorCode.INTERNAL_ERROR: _("系统出错了，已记录，请稍后再试"),
}


class ApplicationError(Exception):
    """A refusal the user can understand; never a bug."""

    def __init__(
        self, code: ErrorCode, message: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.message = str(message if message is not None else DEFAULT_MESSAGES[code])
        self.detail = detail or {}
        super().__init__(f"{code}: {self.message}")

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def as_json(self) -> dict[str, Any]:
        return {"error": {"code": str(self.code), "message": self.message, "detail": self.detail}}


class NotFound(ApplicationError):
    """Outside the actor's scope or not there at all: the two look the same (ASVS 8.4.1)."""

    def __init__(self, what: str = "") -> None:
        super().__init__(ErrorCode.NOT_FOUND, detail={"object": what} if what else None)


class PermissionDenied(ApplicationError):
    def __init__(self, action: str = "") -> None:
        super().__init__(ErrorCode.PERMISSION_DENIED, detail={"action": action} if action else None)


def invalid(message: str, **detail: Any) -> ApplicationError:
    return ApplicationError(ErrorCode.INVALID_INPUT, message, detail)
