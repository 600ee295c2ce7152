from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "civicpoints.backoffice"
    verbose_name = "后台"
