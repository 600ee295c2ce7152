from django.apps import AppConfig


class AwardsConfig(AppConfig):
    name = "civicpoints.awards"
    verbose_name = "积分申报"
