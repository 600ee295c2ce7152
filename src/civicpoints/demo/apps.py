from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "civicpoints.demo"
    verbose_name = "演示数据"
