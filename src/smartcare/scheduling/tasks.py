from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django_tasks import task

from smartcare.scheduling import reminders, services

logger = logging.getLogger("smartcare.scheduling")


def enqueue_at(deferred: Any, at: dt.datetime, *args: Any) -> bool:
    """Enqueue ``deferred`` to run at ``at``. The inline backend (tests, SMARTCARE_TASKS_IMMEDIATE)
    cannot defer and would raise after the booking has committed; there the work is left out."""
    if not deferred.get_backend().supports_defer:
        logger.info("task %s at %s left out: the task backend cannot defer", deferred.name, at)
        return False
    deferred.using(run_after=at).enqueue(*args)
    return True


@task()
def send_reminder(appointment_id: int, kind: str) -> str:
    return reminders.send_reminder(appointment_id, kind)


@task()
def expire_waitlist_offer(entry_id: int) -> bool:
    return services.expire_offer(entry_id)


@task()
def offer_freed_place(slot_id: int) -> bool:
    return services.offer_freed_place(slot_id) is not None


@task()
def maintain_schedules() -> dict[str, int]:
    """Keep sessions materialised for the coming weeks and mark missed appointments."""
    from smartcare.core import clock

    created = services.generate_sessions(clock.today(), 22)
    return {"sessions_created": created, "no_shows": services.mark_no_shows()}
