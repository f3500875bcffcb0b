from __future__ import annotations

from django_tasks import task

from smartcare.scheduling import reminders, services


@task()
def send_reminder(appointment_id: int, kind: str) -> str:
    return reminders.send_reminder(appointment_id, kind)


@task()
def expire_waitlist_offer(entry_id: int) -> bool:
    return services.expire_offer(entry_id)


@task()
def offer_freed_place(slot_id: int) -> bool:
    return services.offer_freed_place(slot_id) is not None
