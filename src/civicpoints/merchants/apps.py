from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MerchantsConfig(AppConfig):
    name = "civicpoints.merchants"
    verbose_name = _("签约商家")
