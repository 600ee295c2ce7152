from django.apps import AppConfig


class SchemesConfig(AppConfig):
    name = "civicpoints.schemes"
    verbose_name = "行政区划与积分方案"
