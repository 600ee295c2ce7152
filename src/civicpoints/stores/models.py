"""Love supermarkets (爱心超市): products priced in points, stock, counter redemptions, app
orders (holds), deliveries of large items and ceremony batches.

Points move only through ``ledger.services``; stock moves only through ``stores.services``.
Stock never goes below zero: a CHECK in the database backs the guarded ``UPDATE`` the services
use, so two clerks selling the last unit cannot both succeed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicpoints.schemes.fields import SchemeOneToOneField, unique_with_scheme


class StoreKind(models.TextChoices):
    LOVE = "love", _("爱心超市")
    POINTS = "points", _("积分超市")


class WindowKind(models.TextChoices):
    ALWAYS = "always", _("每天开放")
    WEEKDAYS = "weekdays", _("每周固定日")
    DATES = "dates", _("指定日期")


class Store(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    # A village's store, a township's (every village under it is served) or the county's.
    region = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="stores", verbose_name=_("所属县/乡镇/村")
    )
    # A county store may serve chosen townships only (e.g. for a county ceremony); none chosen
    # means its whole region. Which households a store serves: ``stores.selectors.served_paths``.
    served_townships = models.ManyToManyField(
        "schemes.Region",
        blank=True,
        related_name="stores_serving",
        verbose_name=_("服务的乡镇"),
    )
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(
        _("类型"), max_length=10, choices=StoreKind.choices, default=StoreKind.LOVE
    )
    address = models.CharField(_("地址"), max_length=200, blank=True)
    return_days = models.PositiveSmallIntegerField(_("可退货天数"), default=7)
    window_kind = models.CharField(
        _("兑换时间"), max_length=10, choices=WindowKind.choices, default=WindowKind.ALWAYS
    )
    # ISO weekdays 1..7 ("1,3,5") for WEEKDAYS; ISO dates for DATES (a yearly exchange day).
    window_weekdays = models.CharField(_("开放的星期"), max_length=20, blank=True)
    window_dates = models.JSONField(_("开放的日期"), default=list, blank=True)
    order_hold_days = models.PositiveSmallIntegerField(_("订单保留天数"), default=7)
    active = models.BooleanField(_("营业中"), default=True)
    clerks = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="stores", verbose_name=_("店员")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("超市")
        verbose_name_plural = _("超市")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class LimitPeriod(models.TextChoices):
    NONE = "none", _("不限")
    DAY = "day", _("每天")
    WEEK = "week", _("每周")
    MONTH = "month", _("每月")
    YEAR = "year", _("每年")


# A product's unit is data the store types (件, 斤, 袋); this is the one most goods take.
DEFAULT_UNIT = "件"


class Product(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    store = models.ForeignKey(Store, models.PROTECT, related_name="products")
    name = models.CharField(_("商品名称"), max_length=100)
    unit = models.CharField(_("单位"), max_length=10, default=DEFAULT_UNIT)
    price = models.BigIntegerField(_("积分价格(百分之一积分)"))
    photo = models.CharField(max_length=200, blank=True)  # relative to settings.EVIDENCE_ROOT
    limit_quantity = models.PositiveIntegerField(_("每户限兑数量"), null=True, blank=True)
    limit_period = models.CharField(
        _("限兑周期"), max_length=10, choices=LimitPeriod.choices, default=LimitPeriod.NONE
    )
    stock = models.IntegerField(_("库存"), default=0)
    low_stock_at = models.PositiveIntegerField(_("低库存提醒"), default=5)
    large_item = models.BooleanField(_("大件（可送货上门）"), default=False)
    active = models.BooleanField(_("上架"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("商品")
        verbose_name_plural = _("商品")
        ordering = ["store", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_not_negative"),
            models.CheckConstraint(condition=Q(price__gt=0), name="product_price_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def low_stock(self) -> bool:
        return self.stock <= self.low_stock_at


class StockMoveKind(models.TextChoices):
    PURCHASE = "purchase", _("采购入库")
    DONATION = "donation", _("捐赠入库")
    STOCKTAKE = "stocktake", _("盘点调整")
    REDEMPTION = "redemption", _("兑换出库")
    RETURN = "return", _("退货入库")
    ORDER = "order", _("订单预留")
    ORDER_RELEASE = "order_release", _("订单取消退回")
    # An offline sale refused at sync whose goods stayed with the household (stores/offline.py).
    OFFLINE_CASH = "offline_cash", _("离线兑换冲突：现金结清")
    WRITE_OFF = "write_off", _("离线兑换冲突：核销")


class StockMove(models.Model):
    """Every change of a product's stock, with why: the stock column is their running sum."""

    # No database keys to rows that every sale shares (the scheme, the store, a product that
    # every sale of it updates, the clerk): a key check share-locks the row in each sale's
    # transaction (docs/performance.md, counter). Such rows are never deleted (PROTECT).
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    store = models.ForeignKey(
        Store, models.PROTECT, related_name="stock_moves", db_constraint=False
    )
    product = models.ForeignKey(Product, models.PROTECT, related_name="moves", db_constraint=False)
    kind = models.CharField(max_length=15, choices=StockMoveKind.choices)
    quantity = models.IntegerField()  # + in, - out
    value_fen = models.BigIntegerField(_("金额(分)"), null=True, blank=True)
    donor = models.CharField(_("捐赠人"), max_length=100, blank=True)
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    redemption = models.ForeignKey(
        "Redemption", models.PROTECT, null=True, blank=True, related_name="stock_moves"
    )
    order = models.ForeignKey(
        "Order", models.PROTECT, null=True, blank=True, related_name="stock_moves"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, db_constraint=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("库存变动")
        verbose_name_plural = _("库存变动")
        constraints = [models.CheckConstraint(condition=~Q(quantity=0), name="stock_move_nonzero")]


class RedemptionMode(models.TextChoices):
    PIN = "pin", _("农户输入密码")
    ASSISTED = "assisted", _("代办")
    APP = "app", _("线上订单")
    # The PIN was checked on the counter's device while the network was down (its check value).
    OFFLINE = "offline", _("离线时输入密码")


class RedemptionSource(models.TextChoices):
    COUNTER = "counter", _("柜台兑换")
    ORDER = "order", _("线上订单")
    CEREMONY = "ceremony", _("表彰现场")
    OFFLINE = "offline", _("断网时柜台兑换")


class Redemption(models.Model):
    """Goods handed over for points: one posting household -> store, stock out, a receipt."""

    # No database keys to the rows every sale shares (see StockMove).
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    store = models.ForeignKey(
        Store, models.PROTECT, related_name="redemptions", db_constraint=False
    )
    household = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="redemptions"
    )
    posting = SchemeOneToOneField(
        "ledger.Posting", models.PROTECT, null=True, blank=True, related_name="redemption"
    )
    return_posting = SchemeOneToOneField(
        "ledger.Posting", models.PROTECT, null=True, blank=True, related_name="redemption_return"
    )
    points = models.BigIntegerField()  # hundredths, paid in points
    cash_fen = models.BigIntegerField(default=0)  # a shortfall paid in cash (not in points)
    mode = models.CharField(max_length=10, choices=RedemptionMode.choices)
    assisted_reason = models.CharField(max_length=200, blank=True)
    source = models.CharField(
        max_length=10, choices=RedemptionSource.choices, default=RedemptionSource.COUNTER
    )
    ceremony = models.ForeignKey(
        "Ceremony", models.PROTECT, null=True, blank=True, related_name="redemptions"
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, db_constraint=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    returned_at = models.DateTimeField(null=True, blank=True)
    return_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("兑换记录")
        verbose_name_plural = _("兑换记录")
        constraints = [
            unique_with_scheme("posting"),
            unique_with_scheme("return_posting"),
            models.UniqueConstraint(
                fields=["scheme", "idempotency_key"], name="redemption_idempotency_unique"
            ),
            models.CheckConstraint(
                condition=Q(points__gte=0, cash_fen__gte=0), name="redemption_amounts_positive"
            ),
        ]
        indexes = [models.Index(fields=["household", "created_at"])]

    @property
    def receipt_no(self) -> str:
        # The local business date (Asia/Shanghai), not UTC's: a 07:00 sale is today's.
        return f"R{timezone.localtime(self.created_at):%Y%m%d}{self.pk:06d}"


class RedemptionLine(models.Model):
    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    redemption = models.ForeignKey(Redemption, models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, models.PROTECT, related_name="redemption_lines", db_constraint=False
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_qty_positive")
        ]

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


class OrderStatus(models.TextChoices):
    HELD = "held", _("待取货")
    PICKED_UP = "picked_up", _("已取货")
    CANCELLED = "cancelled", _("已取消")
    EXPIRED = "expired", _("已过期")


class Order(models.Model):
    """A resident's app order: points held, goods set aside, until pickup or cancel/expiry."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    store = models.ForeignKey(Store, models.PROTECT, related_name="orders")
    household = models.ForeignKey("households.Household", models.PROTECT, related_name="orders")
    hold = SchemeOneToOneField("ledger.Hold", models.PROTECT, related_name="order")
    points = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=OrderStatus.choices, default="held")
    delivery = models.BooleanField(default=False)
    address = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    redemption = SchemeOneToOneField(
        Redemption, models.PROTECT, null=True, blank=True, related_name="order"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("订单")
        verbose_name_plural = _("订单")
        constraints = [
            unique_with_scheme("hold"),
            unique_with_scheme("redemption"),
            models.UniqueConstraint(
                fields=["scheme", "idempotency_key"], name="order_idempotency_unique"
            ),
        ]

    @property
    def order_no(self) -> str:
        return f"D{timezone.localtime(self.created_at):%Y%m%d}{self.pk:06d}"


class OrderLine(models.Model):
    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    order = models.ForeignKey(Order, models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField()
    unit_price = models.BigIntegerField()


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待配送")
    OUT = "out", _("配送中")
    DELIVERED = "delivered", _("已送达")
    FAILED = "failed", _("配送失败")


class Delivery(models.Model):
    """Home delivery of large items (送货上门) for a redemption."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    store = models.ForeignKey(Store, models.PROTECT, related_name="deliveries", db_constraint=False)
    redemption = SchemeOneToOneField(Redemption, models.PROTECT, related_name="delivery")
    address = models.CharField(_("送货地址"), max_length=200)
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default="pending")
    courier = models.CharField(_("送货人"), max_length=40, blank=True)
    proof_path = models.CharField(max_length=200, blank=True)  # photo or signature image
    proof_type = models.CharField(max_length=40, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    out_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            unique_with_scheme("redemption"),
        ]
        verbose_name = _("送货上门")
        verbose_name_plural = _("送货上门")


class Ceremony(models.Model):
    """A commendation event (评比表彰现场) where staff redeem for many households at once."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    store = models.ForeignKey(Store, models.PROTECT, related_name="ceremonies")
    title = models.CharField(_("活动名称"), max_length=100)
    held_on = models.DateField(_("日期"))
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("表彰兑换")
        verbose_name_plural = _("表彰兑换")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "idempotency_key"], name="ceremony_idempotency_unique"
            )
        ]


class DeviceStatus(models.TextChoices):
    PENDING = "pending", _("待启用")
    ACTIVE = "active", _("使用中")
    REVOKED = "revoked", _("已停用")


class CounterDevice(models.Model):
    """A counter's computer or tablet that may sell offline: registered for one store by a
    county admin, enrolled once with a one-time code, revoked when lost (stores/offline.py).

    Only hashes of the enrolment code and of the device's secret are kept."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    store = models.ForeignKey(Store, models.PROTECT, related_name="devices")
    name = models.CharField(_("设备名称"), max_length=40)
    status = models.CharField(max_length=10, choices=DeviceStatus.choices)
    enrol_code_hash = models.CharField(max_length=64, blank=True)
    enrol_expires_at = models.DateTimeField(null=True, blank=True)
    secret_hash = models.CharField(max_length=64, blank=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    enrolled_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=200, blank=True)
    # What the device last said about its queue (while online, every minute and at each sync).
    reported_queued = models.PositiveIntegerField(default=0)
    reported_max_seq = models.PositiveBigIntegerField(default=0)
    reported_oldest_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("离线柜台设备")
        verbose_name_plural = _("离线柜台设备")
        indexes = [models.Index(fields=["store", "status"], name="counter_device_store_idx")]

    def __str__(self) -> str:
        return self.name


class OfflineStatus(models.TextChoices):
    SYNCED = "synced", _("已入账")
    CONFLICT = "conflict", _("待处理冲突")
    WRITE_OFF_PENDING = "write_off", _("核销待复核")
    RESOLVED = "resolved", _("冲突已处理")
    REVOKED = "revoked", _("设备已停用，未入账")


class OfflineResolution(models.TextChoices):
    COLLECTED = "collected", _("商品已追回")
    CASH = "cash", _("现金结清")
    REDEEMED = "redeemed", _("重新兑换")
    WRITTEN_OFF = "written_off", _("核销")


class OfflineSale(models.Model):
    """One sale made at a counter while its network was down, as it reached the server: synced
    (``redemption`` set), refused at sync (a conflict, until resolved), or sent by a revoked
    device (listed, never booked). Its ``key`` is the redemption's idempotency key."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    device = models.ForeignKey(CounterDevice, models.PROTECT, related_name="sales")
    seq = models.PositiveBigIntegerField()
    key = models.CharField(max_length=200)
    store = models.ForeignKey(Store, models.PROTECT, related_name="offline_sales")
    household = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="offline_sales"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    offline_at = models.DateTimeField()
    points = models.BigIntegerField()  # hundredths, what the device took in points
    cash_fen = models.BigIntegerField(default=0)
    items = models.JSONField()  # [[product id, quantity], ...]
    status = models.CharField(max_length=10, choices=OfflineStatus.choices)
    redemption = SchemeOneToOneField(
        Redemption, models.PROTECT, null=True, blank=True, related_name="offline_sale"
    )
    reason_code = models.CharField(max_length=40, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)
    synced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(max_length=12, choices=OfflineResolution.choices, blank=True)
    resolution_cash_fen = models.BigIntegerField(default=0)
    resolution_note = models.CharField(max_length=200, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_redemption = SchemeOneToOneField(
        Redemption, models.PROTECT, null=True, blank=True, related_name="offline_resolution"
    )
    write_off_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    write_off_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("离线兑换")
        verbose_name_plural = _("离线兑换")
        constraints = [
            models.UniqueConstraint(
                fields=["device", "seq", "scheme"], name="offline_sale_device_seq_unique"
            ),
            models.UniqueConstraint(fields=["key", "scheme"], name="offline_sale_key_unique"),
            unique_with_scheme("redemption"),
            unique_with_scheme("resolved_redemption"),
            models.CheckConstraint(
                condition=Q(points__gte=0, cash_fen__gte=0, resolution_cash_fen__gte=0),
                name="offline_sale_amounts_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["household", "offline_at"], name="offline_sale_household_idx"),
            models.Index(fields=["store", "status"], name="offline_sale_store_status_idx"),
        ]
