"""Reads, restricted to what the user may see: planners their departments, staff their own shifts."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, Q, QuerySet

from smartcare.accounts.choices import Role
from smartcare.core import clock
from smartcare.core.errors import NotFound, PermissionDenied
from smartcare.core.permissions import has_capability, require_capability
from smartcare.organization.models import Department, Practitioner
from smartcare.workforce.choices import METRICS, RosterStatus, StaffGroup
from smartcare.workforce.models import (
    Assignment,
    ForecastPoint,
    ForecastRun,
    Roster,
    RosterMember,
    RosterPolicy,
    RosterRequirement,
    ShiftFeedback,
    Suggestion,
    WorkloadRecord,
)

ROSTERED_ROLES = (Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)


def plannable_departments(user: Any) -> QuerySet[Department]:
    """Departments the user plans: all for operations managers, their own for department heads."""
    if not has_capability(user, "workforce.plan"):
        return Department.objects.none()
    active = Department.objects.filter(is_active=True).select_related("national_code")
    if user.role == Role.OPERATIONS_MANAGER:
        return active
    practitioner = Practitioner.objects.filter(user=user).first()
    if practitioner is None:
        return Department.objects.none()
    return active.filter(pk=practitioner.department_id)


def department_for_planner(user: Any, department: int | str | Department) -> Department:
    """The department, if the user may plan it (CORE-403 when not a planner, CORE-404 otherwise)."""
    require_capability(user, "workforce.plan")
    rows = plannable_departments(user)
    # A number is a primary key; text is a national code (codes such as "07" are digits too).
    if isinstance(department, Department):
        found = rows.filter(pk=department.pk).first()
    elif isinstance(department, int):
        found = rows.filter(pk=department).first()
    else:
        found = rows.filter(national_code_id=str(department)).first()
    if found is None:
        raise NotFound()
    return found


def roster_for_planner(user: Any, roster_id: int) -> Roster:
    require_capability(user, "workforce.plan")
    roster = (
        Roster.objects.select_related("department", "created_by", "published_by")
        .filter(pk=roster_id, department__in=plannable_departments(user))
        .first()
    )
    if roster is None:
        raise NotFound()
    return roster


def own_practitioner(user: Any) -> Practitioner:
    require_capability(user, "workforce.own_shifts")
    practitioner = Practitioner.objects.select_related("department").filter(user=user).first()
    if practitioner is None:
        raise PermissionDenied()
    return practitioner


def group_of(practitioner: Practitioner) -> str:
    return StaffGroup.NURSE if practitioner.user.role == Role.NURSE else StaffGroup.DOCTOR


def policy_for(department: Department) -> RosterPolicy:
    policy = RosterPolicy.objects.filter(department=department).first()
    return policy or RosterPolicy(department=department)


def rosters_of(user: Any, department: Department | None = None) -> QuerySet[Roster]:
    rows = Roster.objects.filter(department__in=plannable_departments(user)).select_related("department")
    if department is not None:
        rows = rows.filter(department=department)
    return rows.annotate(shift_count=Count("assignments"))


def my_assignments(user: Any, first: dt.date, last: dt.date) -> QuerySet[Assignment]:
    """The user's shifts in published rosters between two dates."""
    practitioner = own_practitioner(user)
    return (
        Assignment.objects.filter(
            practitioner=practitioner,
            roster__status=RosterStatus.PUBLISHED,
            date__gte=first,
            date__lte=last,
        )
        .select_related("shift_type", "roster__department")
        .prefetch_related("feedback")
        .order_by("date", "shift_type__start_time")
    )


def workload(department: Department, first: dt.date, last: dt.date) -> QuerySet[WorkloadRecord]:
    return WorkloadRecord.objects.filter(department=department, date__gte=first, date__lte=last).order_by(
        "date", "half_day"
    )


def latest_runs(department: Department) -> dict[str, ForecastRun]:
    """The newest forecast of each workload kind."""
    runs: dict[str, ForecastRun] = {}
    for run in ForecastRun.objects.filter(department=department).order_by("-created_at", "-pk"):
        runs.setdefault(run.metric, run)
    return {metric: runs[metric] for metric in METRICS if metric in runs}


def forecast_values(
    department: Department, metric: str, first: dt.date, last: dt.date
) -> dict[tuple[dt.date, str], float]:
    """Forecast per (date, half-day): from the newest run that covers each half-day."""
    values: dict[tuple[dt.date, str], float] = {}
    points = (
        ForecastPoint.objects.filter(
            run__department=department, run__metric=metric, date__gte=first, date__lte=last
        )
        .order_by("run__created_at", "run_id")
        .values_list("date", "half_day", "value")
    )
    for date, half, value in points:
        values[(date, half)] = value  # newer runs overwrite older ones
    return values


def staff_satisfaction_rate(
    first: dt.date, last: dt.date, department: Department | None = None
) -> dict[str, Any]:
    """Share of shift ratings of 4 or 5 (out of 5) for shifts worked between two dates: the staff
    satisfaction indicator (target: at least 85 %). ``rate`` is None without ratings."""
    rows = ShiftFeedback.objects.filter(assignment__date__gte=first, assignment__date__lte=last)
    if department is not None:
        rows = rows.filter(assignment__roster__department=department)
    totals = rows.aggregate(ratings=Count("pk"), satisfied=Count("pk", filter=Q(rating__gte=4)))
    ratings, satisfied = totals["ratings"] or 0, totals["satisfied"] or 0
    return {
        "first": first,
        "last": last,
        "ratings": ratings,
        "satisfied": satisfied,
        "rate": round(satisfied / ratings, 4) if ratings else None,
        "target": 0.85,
    }


def load_rate(first: dt.date, last: dt.date, department: Department | int | None = None) -> dict[str, Any]:
    """The staff load indicator (target 80-90 %) between two dates: forecast demand (in people)
    over people rostered, summed over the shifts of published rosters that have a forecast demand
    (the department figure of the load page, over any period). ``rate`` is None without such shifts."""
    department_id: Any = getattr(department, "pk", department)
    requirements = RosterRequirement.objects.filter(
        roster__status=RosterStatus.PUBLISHED,
        skill__isnull=True,
        demand__gt=0,
        date__gte=first,
        date__lte=last,
    )
    assignments = Assignment.objects.filter(
        roster__status=RosterStatus.PUBLISHED, date__gte=first, date__lte=last
    )
    if department_id is not None:
        requirements = requirements.filter(roster__department_id=department_id)
        assignments = assignments.filter(roster__department_id=department_id)
    groups = {
        (roster_id, practitioner_id): group
        for roster_id, practitioner_id, group in RosterMember.objects.filter(
            roster__in=requirements.values("roster_id")
        ).values_list("roster_id", "practitioner_id", "group")
    }
    present: dict[tuple[int, dt.date, int, str], int] = defaultdict(int)
    for roster_id, practitioner_id, date, shift_type_id in assignments.values_list(
        "roster_id", "practitioner_id", "date", "shift_type_id"
    ):
        present[(roster_id, date, shift_type_id, groups.get((roster_id, practitioner_id), ""))] += 1
    demand = staffed = 0.0
    for roster_id, date, shift_type_id, group, value in requirements.values_list(
        "roster_id", "date", "shift_type_id", "group", "demand"
    ):
        demand += value
        staffed += present.get((roster_id, date, shift_type_id, group), 0)
    return {
        "first": first,
        "last": last,
        "demand": round(demand, 3),
        "staffed": staffed,
        "rate": round(demand / staffed, 4) if staffed else None,
        "low": 0.80,
        "high": 0.90,
    }


def pending_suggestions(user: Any) -> QuerySet[Suggestion]:
    return (
        Suggestion.objects.filter(summary__department__in=plannable_departments(user))
        .select_related("summary__department", "ratio__shift_type", "ratio__skill")
        .order_by("status", "-created_at")
    )


def roster_grid(roster: Roster) -> dict[str, Any]:
    """The roster as a calendar: by person (rows) and by day (shifts with required and present)."""
    dates = roster.dates()
    members = list(
        roster.members.select_related("practitioner__user").order_by(
            "group", "practitioner__user__display_name"
        )
    )
    cells: dict[tuple[int, dt.date], Assignment] = {}
    for a in roster.assignments.select_related("shift_type", "practitioner__user"):
        cells[(a.practitioner_id, a.date)] = a
    by_person = []
    for member in members:
        row = [cells.get((member.practitioner_id, d)) for d in dates]
        by_person.append(
            {
                "member": member,
                "cells": list(zip(dates, row, strict=True)),
                "shifts": sum(1 for a in row if a),
                "hours": sum(a.shift_type.hours for a in row if a),
                "nights": sum(1 for a in row if a and a.shift_type.is_night),
            }
        )
    requirement_rows = roster.requirements.select_related("shift_type", "skill")
    required: dict[tuple[dt.date, int], list[Any]] = defaultdict(list)
    for r in requirement_rows:
        required[(r.date, r.shift_type_id)].append(r)
    on_shift: dict[tuple[dt.date, int], list[Assignment]] = defaultdict(list)
    for a in cells.values():
        on_shift[(a.date, a.shift_type_id)].append(a)
    shift_types = list(roster.department.shift_types.filter(is_active=True).order_by("start_time", "code"))
    by_day = []
    for d in dates:
        shifts = []
        for st in shift_types:
            people = sorted(on_shift.get((d, st.pk), []), key=lambda a: a.practitioner.user.display_name)
            shifts.append({"shift": st, "people": people, "requirements": required.get((d, st.pk), [])})
        by_day.append({"date": d, "weekday": d.weekday(), "shifts": shifts})
    return {"dates": dates, "by_person": by_person, "by_day": by_day, "shift_types": shift_types}


def today() -> dt.date:
    return clock.today()


def doctors_on_duty(department_id: int, at: dt.datetime) -> list[Any]:
    """The doctors on a shift of the department's published rosters at a moment (a night shift
    that started the day before included): the duty doctors monitoring escalates alerts to."""
    from django.utils import timezone

    local = timezone.localtime(at)
    rows = Assignment.objects.filter(
        roster__department_id=department_id,
        roster__status=RosterStatus.PUBLISHED,
        date__in=[local.date(), local.date() - dt.timedelta(days=1)],
        shift_type__group__in=[StaffGroup.DOCTOR, ""],
        practitioner__user__role__in=[Role.DOCTOR, Role.DEPARTMENT_HEAD],
    ).select_related("shift_type", "practitioner__user")
    on_duty = []
    for row in rows:
        start = timezone.make_aware(dt.datetime.combine(row.date, row.shift_type.start_time))
        end = start + dt.timedelta(minutes=row.shift_type.minutes)
        if start <= at < end and row.practitioner.user.is_active:
            on_duty.append(row.practitioner.user)
    return on_duty
