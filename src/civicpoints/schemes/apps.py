from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchemesConfig(AppConfig):
    name = "civicpoints.schemes"
    verbose_name = _("行政区划与积分方案")

    def ready(self) -> None:
        from civicpoints.schemes import token_hooks

        token_hooks.connect()
