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
    SELF_APPROVAL = "self_approval"
    ACTIVITY_NOT_OPEN = "activity_not_open"
    ACTIVITY_FULL = "activity_full"
    OUTSIDE_CHECKIN_WINDOW = "outside_checkin_window"
    ALREADY_CHECKED_IN = "already_checked_in"
    ALREADY_CHECKED_OUT = "already_checked_out"
    NOT_CHECKED_IN = "not_checked_in"
    OPEN_ATTENDANCE = "open_attendance"
    OUT_OF_STOCK = "out_of_stock"
    STORE_CLOSED = "store_closed"
    PURCHASE_LIMIT = "purchase_limit_exceeded"
    PIN_REQUIRED = "pin_required"
    PIN_INCORRECT = "pin_incorrect"
    NOT_SERVED = "household_not_served"
    RETURN_WINDOW_CLOSED = "return_window_closed"
    ALREADY_RETURNED = "already_returned"
    ORDER_NOT_OPEN = "order_not_open"
    CEREMONY_INVALID = "ceremony_invalid"
    MERCHANT_NOT_ACTIVE = "merchant_not_active"
    PAYMENT_CODE_INVALID = "payment_code_invalid"
    PAYMENT_CODE_EXPIRED = "payment_code_expired"
    PAYMENT_CODE_USED = "payment_code_used"
    PAYMENT_CODE_OTHER_SCHEME = "payment_code_other_scheme"
    TOO_MANY_INVALID_CODES = "too_many_invalid_codes"
    REFUND_WINDOW_CLOSED = "refund_window_closed"
    REFUND_EXCEEDS_PAYMENT = "refund_exceeds_payment"
    DAY_NOT_OVER = "business_day_not_over"
    ALREADY_PAID = "statement_already_paid"
    VOTE_NOT_OPEN = "vote_not_open"
    ALREADY_VOTED = "already_voted"
    OFFLINE_DISABLED = "offline_disabled"
    DEVICE_UNKNOWN = "device_unknown"
    DEVICE_REVOKED = "device_revoked"
    ENROL_CODE_INVALID = "enrol_code_invalid"
    OFFLINE_SEQ_REUSED = "offline_seq_reused"
    OFFLINE_ALLOWANCE = "offline_allowance_exceeded"
    OFFLINE_CONFLICT = "offline_conflict"
    OFFLINE_PIN_UNCONFIRMED = "offline_pin_unconfirmed"
    SIGNING_UNAVAILABLE = "signing_unavailable"
    RATE_LIMITED = "rate_limited"
    SERVICE_UNAVAILABLE = "service_unavailable"
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
    ErrorCode.SELF_APPROVAL: 403,
    ErrorCode.ACTIVITY_NOT_OPEN: 409,
    ErrorCode.ACTIVITY_FULL: 409,
    ErrorCode.OUTSIDE_CHECKIN_WINDOW: 409,
    ErrorCode.ALREADY_CHECKED_IN: 409,
    ErrorCode.ALREADY_CHECKED_OUT: 409,
    ErrorCode.NOT_CHECKED_IN: 409,
    ErrorCode.OPEN_ATTENDANCE: 409,
    ErrorCode.OUT_OF_STOCK: 409,
    ErrorCode.STORE_CLOSED: 409,
    ErrorCode.PURCHASE_LIMIT: 409,
    ErrorCode.PIN_REQUIRED: 422,
    ErrorCode.PIN_INCORRECT: 422,
    ErrorCode.NOT_SERVED: 409,
    ErrorCode.RETURN_WINDOW_CLOSED: 409,
    ErrorCode.ALREADY_RETURNED: 409,
    ErrorCode.ORDER_NOT_OPEN: 409,
    ErrorCode.CEREMONY_INVALID: 422,
    ErrorCode.MERCHANT_NOT_ACTIVE: 409,
    ErrorCode.PAYMENT_CODE_INVALID: 422,
    ErrorCode.PAYMENT_CODE_EXPIRED: 409,
    ErrorCode.PAYMENT_CODE_USED: 409,
    ErrorCode.PAYMENT_CODE_OTHER_SCHEME: 409,
    ErrorCode.TOO_MANY_INVALID_CODES: 429,
    ErrorCode.REFUND_WINDOW_CLOSED: 409,
    ErrorCode.REFUND_EXCEEDS_PAYMENT: 409,
    ErrorCode.OFFLINE_DISABLED: 409,
    ErrorCode.DEVICE_UNKNOWN: 403,
    ErrorCode.DEVICE_REVOKED: 403,
    ErrorCode.ENROL_CODE_INVALID: 422,
    ErrorCode.OFFLINE_SEQ_REUSED: 422,
    ErrorCode.OFFLINE_ALLOWANCE: 409,
    ErrorCode.OFFLINE_CONFLICT: 409,
    ErrorCode.OFFLINE_PIN_UNCONFIRMED: 409,
    ErrorCode.DAY_NOT_OVER: 409,
    ErrorCode.ALREADY_PAID: 409,
    ErrorCode.VOTE_NOT_OPEN: 409,
    ErrorCode.ALREADY_VOTED: 409,
    ErrorCode.SIGNING_UNAVAILABLE: 503,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
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
    ErrorCode.SELF_APPROVAL: _("不能复核自己提出的申请，须由另一位县级管理员复核"),
    ErrorCode.ACTIVITY_NOT_OPEN: _("活动未发布、已结束或已取消"),
    ErrorCode.ACTIVITY_FULL: _("活动名额已满"),
    ErrorCode.OUTSIDE_CHECKIN_WINDOW: _("不在签到时间内"),
    ErrorCode.ALREADY_CHECKED_IN: _("已签到，请勿重复签到"),
    ErrorCode.ALREADY_CHECKED_OUT: _("已签退"),
    ErrorCode.NOT_CHECKED_IN: _("尚未签到，不能签退"),
    ErrorCode.OPEN_ATTENDANCE: _("还有人未签退，请先签退或由工作人员补签退"),
    ErrorCode.OUT_OF_STOCK: _("库存不足"),
    ErrorCode.STORE_CLOSED: _("今天不是本超市的兑换日"),
    ErrorCode.PURCHASE_LIMIT: _("超过该商品每户限兑数量"),
    ErrorCode.PIN_REQUIRED: _("请农户输入6位密码，或由工作人员代办并填写原因"),
    ErrorCode.PIN_INCORRECT: _("密码不对"),
    ErrorCode.NOT_SERVED: _("该户不在本店的服务范围内"),
    ErrorCode.RETURN_WINDOW_CLOSED: _("已超过退货期限"),
    ErrorCode.ALREADY_RETURNED: _("该笔兑换已退货"),
    ErrorCode.ORDER_NOT_OPEN: _("订单已取货、取消或过期"),
    ErrorCode.CEREMONY_INVALID: _("批量兑换有错误，未兑换任何一户"),
    ErrorCode.MERCHANT_NOT_ACTIVE: _("该商家已暂停或解约，不能收款"),
    ErrorCode.PAYMENT_CODE_INVALID: _("付款码无效，请让农户刷新后重新出示"),
    ErrorCode.PAYMENT_CODE_EXPIRED: _("付款码已过期，请让农户刷新后重新出示"),
    ErrorCode.PAYMENT_CODE_USED: _("付款码已使用过，请让农户刷新后重新出示"),
    ErrorCode.PAYMENT_CODE_OTHER_SCHEME: _("这是其他地区的付款码，本店不能收"),
    ErrorCode.TOO_MANY_INVALID_CODES: _("无效付款码或卡号输入次数过多，请稍后再试"),
    ErrorCode.REFUND_WINDOW_CLOSED: _("已超过退款期限"),
    ErrorCode.REFUND_EXCEEDS_PAYMENT: _("退款不能超过这笔收款的剩余金额"),
    ErrorCode.DAY_NOT_OVER: _("该营业日还没有结束，不能结算"),
    ErrorCode.ALREADY_PAID: _("该结算单已付款"),
    ErrorCode.VOTE_NOT_OPEN: _("不在投票时间内"),
    ErrorCode.ALREADY_VOTED: _("这位家庭成员已经投过票了，每人只能投一次"),
    ErrorCode.OFFLINE_DISABLED: _("本方案没有开放断网兑换"),
    ErrorCode.DEVICE_UNKNOWN: _("这台设备没有登记为本店的离线柜台，请重新启用离线兑换"),
    ErrorCode.DEVICE_REVOKED: _("这台设备已被县里停用，不能再离线兑换或同步"),
    ErrorCode.ENROL_CODE_INVALID: _("启用码不对或已过期，请向县管理员重新获取"),
    ErrorCode.OFFLINE_SEQ_REUSED: _("这台设备的离线流水号已用于另一笔兑换"),
    ErrorCode.OFFLINE_ALLOWANCE: _("超过该户本周期的离线兑换额度"),
    ErrorCode.OFFLINE_CONFLICT: _("这笔离线兑换未能入账，已记为待处理冲突"),
    ErrorCode.OFFLINE_PIN_UNCONFIRMED: _("联网核对时农户离线输入的密码不符（或没有随单带来）"),
    ErrorCode.SIGNING_UNAVAILABLE: _("报告签名密钥暂不可用，暂时不能出具签名报告，请稍后再试"),
    ErrorCode.RATE_LIMITED: _("请求太频繁，请稍后再试"),
    ErrorCode.SERVICE_UNAVAILABLE: _("系统暂时不可用（数据库重启或维护中），请稍后再试"),
    ErrorCode.INTERNAL_ERROR: _("系统出错了，已记录，请稍后再试"),
}


class ApplicationError(Exception):
    """A refusal the user can understand; never a bug."""

    # Seconds until trying again can succeed; the faces send it as ``Retry-After``.
    retry_after: int | None = None

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


class LockedOut(ApplicationError):
    """A login refused for now (an address throttled, an account or a name locked)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(ErrorCode.LOCKED_OUT)
        self.retry_after = max(1, retry_after)


def invalid(message: str, **detail: Any) -> ApplicationError:
    return ApplicationError(ErrorCode.INVALID_INPUT, message, detail)
