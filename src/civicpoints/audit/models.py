"""The audit log: one row per staff action, written in the same transaction as the action.

``AuditAction`` is the one list of what can be recorded (value: the stored code, label: what
the audit pages show). A new kind of action is a new member here, never a free string.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    # staff accounts
    STAFF_LOGIN = "staff.login", _("工作人员登录")
    STAFF_LOGIN_FAILED = "staff.login_failed", _("登录失败")
    STAFF_LOCKED = "staff.locked", _("账号被锁定")
    STAFF_UNLOCK = "staff.unlock", _("解除登录锁定")
    STAFF_LOGOUT = "staff.logout", _("工作人员退出登录")
    STAFF_TOKENS_REVOKED = "staff.tokens_revoked", _("注销接口令牌")
    # households
    HOUSEHOLD_CREATE = "household.create", _("新建农户")
    HOUSEHOLD_BULK_CREATE = "household.bulk_create", _("批量新建农户")
    HOUSEHOLD_IMPORT = "household.import", _("导入农户")
    MEMBER_ADD = "member.add", _("添加家庭成员")
    HOUSEHOLD_SET_PIN = "household.set_pin", _("设置农户密码")
    HOUSEHOLD_PIN_RESET = "household.pin_reset", _("重置农户密码")
    HOUSEHOLD_PIN_FIRST_SET = "household.pin_first_set", _("农户首次设置密码")
    HOUSEHOLD_PIN_CHANGE = "household.pin_change", _("农户修改密码")
    HOUSEHOLD_CARD_ISSUE = "household.card_issue", _("发放积分卡")
    HOUSEHOLD_CARD_REISSUE = "household.card_reissue", _("补发积分卡")
    HOUSEHOLD_DISQUALIFY = "household.disqualify", _("暂停兑换资格")
    HOUSEHOLD_DISQUALIFY_LIFT = "household.disqualify_lift", _("恢复兑换资格")
    VILLAGE_LETTERS_PRINT = "village.letters_print", _("打印告知书")
    DEMO_HOUSEHOLDS = "demo.households", _("生成演示农户")
    # earning
    RULE_CREATE = "rule.create", _("新建积分细则")
    RULE_CHANGE = "rule.change", _("修改积分细则")
    RULE_RETIRE = "rule.retire", _("停用积分细则")
    CLAIM_SUBMIT = "claim.submit", _("提交申报")
    CLAIM_APPROVE = "claim.approve", _("审核通过申报")
    CLAIM_REJECT = "claim.reject", _("驳回申报")
    CLAIM_WITHDRAW = "claim.withdraw", _("撤回申报")
    CLAIM_OBJECT = "claim.object", _("对申报提出异议")
    CLAIM_EVIDENCE = "claim.evidence", _("上传申报照片")
    CLAIM_IMPORT = "claim.import", _("导入考评表")
    CLAIM_EXPORT = "claim.export", _("导出积分申报")
    NOTICE_FINALIZE = "notice.finalize", _("公示期满入账")
    BUDGET_FUND = "budget.fund", _("登记资金")
    BUDGET_QUOTA = "budget.quota", _("设置村积分额度")
    LEDGER_ADJUST = "ledger.adjust", _("手工调整积分")
    # four eyes (ledger.adjustments)
    ADJUSTMENT_REQUEST = "adjustment.request", _("申请人工调整积分")
    ADJUSTMENT_APPROVE = "adjustment.approve", _("复核通过人工调整并入账")
    ADJUSTMENT_REJECT = "adjustment.reject", _("驳回人工调整")
    ADJUSTMENT_WITHDRAW = "adjustment.withdraw", _("撤回人工调整申请")
    REVERSAL_REQUEST = "reversal.request", _("申请冲正")
    REVERSAL_APPROVE = "reversal.approve", _("复核通过冲正并入账")
    REVERSAL_POST = "reversal.post", _("冲正（未超过复核门槛，直接入账）")
    REVERSAL_REJECT = "reversal.reject", _("驳回冲正")
    REVERSAL_WITHDRAW = "reversal.withdraw", _("撤回冲正申请")
    # activities and mutual help
    ACTIVITY_CREATE = "activity.create", _("新建志愿活动")
    ACTIVITY_PUBLISH = "activity.publish", _("发布志愿活动")
    ACTIVITY_CANCEL = "activity.cancel", _("取消志愿活动")
    ACTIVITY_CLOSE = "activity.close", _("结束志愿活动")
    ACTIVITY_ENROL = "activity.enrol", _("活动报名")
    ACTIVITY_ENROL_CANCEL = "activity.enrol_cancel", _("取消活动报名")
    ACTIVITY_CHECK_IN = "activity.check_in", _("活动签到")
    ACTIVITY_CHECK_OUT = "activity.check_out", _("活动签退")
    ACTIVITY_SELF_CHECK_IN = "activity.self_check_in", _("村民自助签到")
    ACTIVITY_SELF_CHECK_OUT = "activity.self_check_out", _("村民自助签退")
    ACTIVITY_CLOSE_CHECKOUT = "activity.close_checkout", _("活动结束时统一签退")
    MUTUAL_HELP_REPORT = "mutual_help.report", _("登记邻里互助")
    MUTUAL_HELP_RECORD_RECEIVED = "mutual_help.record_received", _("登记受到的帮助")
    MUTUAL_HELP_CONFIRM = "mutual_help.confirm", _("确认邻里互助")
    MUTUAL_HELP_REJECT = "mutual_help.reject", _("否认邻里互助")
    # stores
    STORE_CREATE = "store.create", _("新建爱心超市")
    PRODUCT_CREATE = "product.create", _("新增商品")
    PRODUCT_UPDATE = "product.update", _("修改商品")
    STOCK_PURCHASE = "stock.purchase", _("采购入库")
    STOCK_DONATION = "stock.donation", _("捐赠入库")
    STOCK_STOCKTAKE = "stock.stocktake", _("盘点调整")
    STORE_REDEEM = "store.redeem", _("超市兑换")
    STORE_RETURN = "store.return", _("超市退货")
    DEVICE_REGISTER = "device.register", _("登记离线柜台设备")
    DEVICE_ENROL = "device.enrol", _("启用离线柜台设备")
    DEVICE_REVOKE = "device.revoke", _("停用离线柜台设备")
    OFFLINE_CONFLICT = "offline.conflict", _("离线兑换同步时被拒")
    OFFLINE_RESOLVE = "offline.resolve", _("处理离线兑换冲突")
    OFFLINE_WRITE_OFF_REQUEST = "offline.write_off_request", _("申请核销离线兑换")
    OFFLINE_WRITE_OFF = "offline.write_off", _("复核通过核销离线兑换")
    STORE_CEREMONY = "store.ceremony", _("表彰会集中兑换")
    ORDER_PLACE = "order.place", _("下单预留")
    ORDER_CANCEL = "order.cancel", _("取消订单")
    ORDER_EXPIRE = "order.expire", _("订单过期")
    DELIVERY_OUT = "delivery.out", _("送货出发")
    DELIVERY_DELIVERED = "delivery.delivered", _("送达")
    DELIVERY_FAILED = "delivery.failed", _("送货未成功")
    # merchants and settlement
    MERCHANT_CREATE = "merchant.create", _("签约商家")
    MERCHANT_STATUS = "merchant.status", _("变更商家状态")
    MERCHANT_PAYMENT = "merchant.payment", _("商家收款")
    MERCHANT_REFUND = "merchant.refund", _("商家退款")
    MERCHANT_CODE_GUESSING = "merchant.code_guessing", _("无效付款码过多")
    MERCHANT_GUESS_LIMITS = "merchant.guess_limits", _("设置付款码试错上限")
    SETTLEMENT_RUN = "settlement.run", _("生成结算单")
    SETTLEMENT_PAID = "settlement.paid", _("结算单标记已付款")
    SETTLEMENT_PAYOUT_FILE = "settlement.payout_file", _("下载付款清单")
    # village life
    ANNOUNCEMENT_POST = "announcement.post", _("发布村务信息")
    ANNOUNCEMENT_EDIT = "announcement.edit", _("修改村务信息")
    ANNOUNCEMENT_WITHDRAW = "announcement.withdraw", _("撤下村务信息")
    FEEDBACK_SUBMIT = "feedback.submit", _("提交投诉建议")
    FEEDBACK_REPLY = "feedback.reply", _("回复投诉建议")
    FEEDBACK_STATUS = "feedback.status", _("变更投诉建议状态")
    # the audit log itself
    AUDIT_EXPORT = "audit.export", _("导出审计日志")
    TABLE_EXPORT = "table.export", _("导出表格")
    # risk flags
    RISK_SCAN = "risk.scan", _("立即扫描风险")
    RISK_NOTE = "risk.note", _("风险提示备注")
    RISK_RESOLVE = "risk.resolve", _("风险提示处理完毕")
    RISK_DISMISS = "risk.dismiss", _("排除风险提示")
    RISK_SETTINGS = "risk.settings", _("修改风险规则设置")
    # honours
    STAR_LEVELS = "honours.star_levels", _("设置星级文明户标准")
    STARS_CHANGE = "honours.stars", _("星级文明户星级变化")
    CAMPAIGN = "honours.campaign", _("评比的设置、入围名单和投票时间")
    TALLY = "honours.tally", _("录入纸质票数")
    CAMPAIGN_PUBLISH = "honours.publish", _("公布评比结果")
    # reports
    OUTCOMES = "reports.outcomes", _("录入村月度治理指标")
    # credit statements (文明积分贷)
    CREDIT_SIGNING_KEY = "credit.signing_key", _("报告签名密钥变更")
    LENDER_CREATE = "lender.create", _("登记合作金融机构")
    LENDER_STATUS = "lender.status", _("变更合作金融机构状态")
    LENDER_KEY_ISSUE = "lender.key_issue", _("签发金融机构接口密钥")
    LENDER_KEY_REVOKE = "lender.key_revoke", _("注销金融机构接口密钥")
    CREDIT_CONSENT_GRANT = "credit.consent_grant", _("农户授权金融机构查询积分")
    CREDIT_CONSENT_REVOKE = "credit.consent_revoke", _("撤销信用授权")
    CREDIT_RECORD_FETCH = "credit.record_fetch", _("金融机构查询积分记录")
    CREDIT_STATEMENT_ISSUE = "credit.statement_issue", _("出具签名积分报告")
    CREDIT_STATEMENT_DOWNLOAD = "credit.statement_download", _("下载或打印签名积分报告")
    CREDIT_STATEMENT_CHECK = "credit.statement_check", _("扫码核验签名积分报告")


class AuditEvent(models.Model):
    # No database foreign keys: an audit row is written inside the transaction of the action
    # it records (a posting's among them), and a key check would lock the scheme, the acting
    # user and the region, rows that every such transaction shares (DESIGN.md section 5).
    scheme = models.ForeignKey(
        "schemes.Scheme",
        models.PROTECT,
        null=True,
        blank=True,
        db_constraint=False,
        verbose_name=_("方案"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        db_constraint=False,
        verbose_name=_("操作人"),
    )
    action = models.CharField(_("操作"), max_length=60, choices=AuditAction.choices)
    object_type = models.CharField(_("对象类型"), max_length=60, blank=True)
    object_id = models.CharField(_("对象"), max_length=60, blank=True)
    # The village (or township, store's region) the action touched; empty for an action on
    # the whole scheme, which only those over the scheme's own region see.
    region = models.ForeignKey(
        "schemes.Region",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        verbose_name=_("区域"),
    )
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        indexes = [models.Index(fields=["scheme", "created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_action_display()}"
