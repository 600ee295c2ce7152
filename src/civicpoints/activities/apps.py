from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "civicpoints.activities"
    verbose_name = "志愿活动"
