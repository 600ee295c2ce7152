from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HonoursConfig(AppConfig):
    name = "civicpoints.honours"
    verbose_name = _("表彰")
