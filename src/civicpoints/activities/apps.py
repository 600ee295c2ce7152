from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    name = "civicpoints.activities"
    verbose_name = _("志愿活动")
