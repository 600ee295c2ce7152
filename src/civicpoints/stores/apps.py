from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StoresConfig(AppConfig):
    name = "civicpoints.stores"
    verbose_name = _("爱心超市")
