from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "civicpoints.reports"
    verbose_name = _("统计")

    def ready(self) -> None:
        from civicpoints.ledger.chain import follower_register
        from civicpoints.reports.rollups import rollups_follow

        follower_register(rollups_follow)
