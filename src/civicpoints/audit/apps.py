from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "civicpoints.audit"
    verbose_name = "审计日志"
