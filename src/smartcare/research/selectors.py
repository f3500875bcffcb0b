"""Reads of the research platform for other apps (the KPI cockpit)."""

from __future__ import annotations

import datetime as dt

from smartcare.core import clock
from smartcare.research.models import ProjectStatus, ResearchProject


def projects_registered(start: dt.date, end: dt.date) -> int:
    """New research projects approved between ``start`` and ``end`` (both included, in the
    hospital's time zone). A project approved and later closed still counts for its year."""
    if end < start:
        return 0
    tz = clock.local_now().tzinfo
    since = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return ResearchProject.objects.filter(
        status__in=[ProjectStatus.APPROVED, ProjectStatus.CLOSED],
        decided_at__gte=since,
        decided_at__lt=until,
    ).count()
