from __future__ import annotations

from django_tasks import task

from smartcare.notifications.services import attempt_delivery


@task()
def deliver(delivery_id: int) -> str:
    return attempt_delivery(delivery_id)
