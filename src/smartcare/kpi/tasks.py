"""Background work of the cockpit: recomputing the daily facts of the last days (late check-ins,
signatures and discharges are recorded afterwards)."""

from __future__ import annotations

import datetime as dt
import logging

from django_tasks import task

from smartcare.core import clock

logger = logging.getLogger("smartcare.kpi")

RECENT_DAYS = 3


@task()
def compute_recent_facts() -> int:
    """Recompute the facts of today and the three days before."""
    from smartcare.kpi import facts

    today = clock.today()
    return facts.build_facts(today - dt.timedelta(days=RECENT_DAYS), today)


@task()
def backfill_facts(start: str, end: str) -> int:
    """Recompute the facts of a date range (ISO dates), as ``smartcare kpi backfill`` does."""
    from smartcare.kpi import services

    return services.backfill(None, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
