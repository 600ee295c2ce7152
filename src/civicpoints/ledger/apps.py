from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "civicpoints.ledger"
    verbose_name = "积分账本"
