from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "civicpoints.ledger"
    verbose_name = _("积分账本")
