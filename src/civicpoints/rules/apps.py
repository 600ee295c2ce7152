from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    name = "civicpoints.rules"
    verbose_name = _("积分细则")
