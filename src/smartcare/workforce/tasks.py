"""Background work: solving rosters, counting the platform's workload, weekly feedback summaries."""

from __future__ import annotations

import datetime as dt
import logging

from django_tasks import task

from smartcare.core import clock

logger = logging.getLogger("smartcare.workforce")


@task()
def solve_roster(roster_id: int) -> str:
    """Solve one roster within its time limit; a failure marks the roster as not solved."""
    from smartcare.workforce import services
    from smartcare.workforce.choices import RosterStatus
    from smartcare.workforce.models import Roster

    try:
        return services.solve_roster(roster_id).status
    except Exception:
        logger.exception("solving roster %s failed", roster_id)
        Roster.objects.filter(pk=roster_id, status=RosterStatus.SOLVING).update(
            status=RosterStatus.FAILED, solver_status="ERROR"
        )
        raise


@task()
def collect_recent_workload() -> int:
    """Recount the last three days (late check-ins and discharges are recorded afterwards)."""
    from smartcare.workforce import services

    today = clock.today()
    return services.collect_workload(None, today - dt.timedelta(days=3), today - dt.timedelta(days=1))


@task()
def summarize_last_week() -> int:
    """Summarise last week's feedback for every department with a published roster in it."""
    from smartcare.organization.models import Department
    from smartcare.workforce import services
    from smartcare.workforce.choices import RosterStatus

    today = clock.today()
    week_start = today - dt.timedelta(days=today.weekday() + 7)
    departments = Department.objects.filter(
        rosters__status=RosterStatus.PUBLISHED,
        rosters__start_date__lte=week_start + dt.timedelta(days=6),
        rosters__end_date__gte=week_start,
    ).distinct()
    count = 0
    for department in departments:
        services.summarize_week(department, week_start)
        count += 1
    return count
