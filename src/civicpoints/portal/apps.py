from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "civicpoints.portal"
    verbose_name = _("村民页面")
