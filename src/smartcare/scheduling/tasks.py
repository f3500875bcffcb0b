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
def expire_overdue_waitlist_offers() -> int:
    """Periodic: offers whose deferred expiry was lost (or never scheduled, on a backend that
    cannot defer) are expired and passed on all the same."""
    return services.expire_overdue_offers()


@task()
def maintain_schedules() -> dict[str, int]:
    """Keep sessions materialised for the coming weeks and mark missed appointments."""
    from smartcare.core import clock
    from smartcare.scheduling.models import SESSION_HORIZON_DAYS

    created = services.generate_sessions(clock.today(), SESSION_HORIZON_DAYS)
    return {"sessions_created": created, "no_shows": services.mark_no_shows()}
