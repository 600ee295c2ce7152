from django.apps import AppConfig


class HouseholdsConfig(AppConfig):
    name = "civicpoints.households"
    verbose_name = "农户"
