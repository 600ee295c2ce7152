from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "civicpoints.rules"
    verbose_name = "积分细则"
