from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CreditConfig(AppConfig):
    name = "civicpoints.credit"
    verbose_name = _("文明积分贷")
