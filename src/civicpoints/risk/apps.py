from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskConfig(AppConfig):
    name = "civicpoints.risk"
    verbose_name = _("风险提示")
