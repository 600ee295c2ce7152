from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CounterConfig(AppConfig):
    name = "civicpoints.counter"
    verbose_name = _("柜台")
