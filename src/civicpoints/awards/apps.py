from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AwardsConfig(AppConfig):
    name = "civicpoints.awards"
    verbose_name = _("积分申报")
