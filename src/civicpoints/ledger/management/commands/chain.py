"""``civicpoints chain``: run the journal follower once for every scheme."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from civicpoints.ledger.chain import chain_follow
from civicpoints.schemes.models import Scheme


class Command(BaseCommand):
    help = "把已提交的记账追加到哈希链"

    def handle(self, *args: Any, **opts: Any) -> None:
        for scheme in Scheme.objects.order_by("pk"):
            added = chain_follow(scheme_id=scheme.pk, sweep=True)
            self.stdout.write(
                _("%(scheme)s: 新入链 %(count)s 笔") % {"scheme": scheme.name, "count": added}
            )
