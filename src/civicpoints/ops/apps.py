from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "civicpoints.ops"
    verbose_name = "运行"
