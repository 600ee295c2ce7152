"""The background task that texts recorded notifications (run by ``civicpoints db_worker``)."""

from __future__ import annotations

from django_tasks import task

from civicpoints.notifications.services import deliver


@task()
def send_notifications(ids: list[int]) -> int:
    return deliver(ids=ids)
