"""The demo hospital's workforce: two years of workload history for every department (the
hospital's records before smartcare, with weekday, seasonal and holiday patterns), shift types and
staffing ratios for four departments, staff profiles with preferences, wishes and leave, forecasts
trained and backtested, rosters solved with CP-SAT (short time limits) and published, shift
ratings with overload flags, and the weekly summaries with their suggestions.

Rosters go through the real services (requirements from the forecasts, the solver, the checker,
publishing with notifications); the history and the ratings are bulk-written.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.core import clock
from smartcare.organization.models import Department, Practitioner, Skill
from smartcare.simulation.registry import DemoContext, register_generator
from smartcare.simulation.workload_patterns import generate
from smartcare.workforce import services
from smartcare.workforce.calendar import WorkingCalendar
from smartcare.workforce.choices import (
    LeaveKind,
    LeaveStatus,
    Metric,
    RequestKind,
    RosterStatus,
    StaffGroup,
    SuggestionStatus,
    WorkloadSource,
)
from smartcare.workforce.models import (
    Assignment,
    Leave,
    RosterPolicy,
    RosterRequirement,
    ShiftFeedback,
    ShiftRequest,
    ShiftType,
    StaffingRatio,
    StaffProfile,
    Suggestion,
    WorkloadRecord,
)

HISTORY_DAYS = 730
ROSTER_DAYS = 28
SOLVE_SECONDS = 3
PLANNER = "manager"


@dataclass(frozen=True)
class ShiftPlan:
    code: str
    zh: str
    en: str
    start: int  # hour
    end: int
    group: str
    night: bool = False


WARD_SHIFTS = (
    ShiftPlan("A", "白班", "Day", 8, 16, StaffGroup.NURSE),
    ShiftPlan("P", "小夜班", "Evening", 16, 24, StaffGroup.NURSE),
    ShiftPlan("N", "大夜班", "Night", 0, 8, StaffGroup.NURSE, night=True),
    ShiftPlan("D", "医生白班", "Doctor day", 8, 17, StaffGroup.DOCTOR),
    ShiftPlan("Z", "医生值班", "Doctor on call", 17, 8, StaffGroup.DOCTOR, night=True),
)
TWELVE_HOUR_SHIFTS = (
    ShiftPlan("D", "白班", "Day", 8, 20, ""),
    ShiftPlan("N", "夜班", "Night", 20, 8, "", night=True),
)

# (shift, group, metric, workload per person, minimum, skill)
Ratio = tuple[str, str, str, str | None, int, str | None]
SETUP: dict[str, tuple[tuple[ShiftPlan, ...], list[Ratio]]] = {
    "03.04": (
        WARD_SHIFTS,
        [
            ("A", StaffGroup.NURSE, Metric.INPATIENTS, "16", 2, None),
            ("P", StaffGroup.NURSE, Metric.INPATIENTS, "30", 1, None),
            ("N", StaffGroup.NURSE, Metric.INPATIENTS, "40", 1, None),
            ("D", StaffGroup.DOCTOR, Metric.OUTPATIENT_VISITS, "25", 2, None),
            ("Z", StaffGroup.DOCTOR, "", None, 1, None),
        ],
    ),
    "07": (
        WARD_SHIFTS,
        [
            ("A", StaffGroup.NURSE, Metric.INPATIENTS, "16", 2, None),
            ("P", StaffGroup.NURSE, "", None, 1, None),
            ("N", StaffGroup.NURSE, "", None, 1, "pediatric_nursing"),
            ("D", StaffGroup.DOCTOR, Metric.OUTPATIENT_VISITS, "30", 2, None),
            ("Z", StaffGroup.DOCTOR, "", None, 1, None),
        ],
    ),
    "20": (
        TWELVE_HOUR_SHIFTS,
        [
            ("D", StaffGroup.NURSE, Metric.OUTPATIENT_VISITS, "40", 2, None),
            ("D", StaffGroup.NURSE, "", None, 1, "triage"),
            ("N", StaffGroup.NURSE, Metric.OUTPATIENT_VISITS, "60", 1, None),
            ("D", StaffGroup.DOCTOR, Metric.OUTPATIENT_VISITS, "45", 1, None),
            ("N", StaffGroup.DOCTOR, "", None, 1, None),
        ],
    ),
    "28": (
        TWELVE_HOUR_SHIFTS,
        [
            ("D", StaffGroup.NURSE, Metric.INPATIENTS, "5", 2, None),
            ("N", StaffGroup.NURSE, Metric.INPATIENTS, "8", 1, "icu"),
            ("D", StaffGroup.DOCTOR, "", None, 1, None),
            ("N", StaffGroup.DOCTOR, "", None, 1, None),
        ],
    ),
}


def _history(ctx: DemoContext, departments: list[Department], today: dt.date) -> int:
    calendar = WorkingCalendar()
    first = today - dt.timedelta(days=HISTORY_DAYS)
    last = today - dt.timedelta(days=1)
    now = clock.now()
    rows = []
    for department in departments:
        for row in generate(department.code, first, last, ctx.rng, calendar):
            rows.append(
                WorkloadRecord(department=department, source=WorkloadSource.IMPORTED, updated_at=now, **row)
            )
    WorkloadRecord.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def _shifts_and_ratios(department: Department, plans: tuple[ShiftPlan, ...], ratios: list[Ratio]) -> None:
    created = {}
    for plan in plans:
        created[plan.code] = ShiftType.objects.create(
            department=department,
            code=plan.code,
            name_zh=plan.zh,
            name_en=plan.en,
            group=plan.group,
            start_time=dt.time(plan.start % 24),
            end_time=dt.time(plan.end % 24),
            is_night=plan.night,
        )
    # No day shift straight after a night that ends in the morning (the minimum rest forbids it
    # too; the explicit sequence keeps it even if the department shortens its rest rule).
    for plan in plans:
        if plan.night and plan.end < plan.start:
            for other in plans:
                if not other.night and other.group == plan.group:
                    created[plan.code].cannot_follow.add(created[other.code])
    skills = {s.code: s for s in Skill.objects.all()}
    for code, group, metric, per_staff, minimum, skill in ratios:
        StaffingRatio.objects.create(
            shift_type=created[code],
            group=group,
            metric=metric,
            per_staff=Decimal(per_staff) if per_staff else None,
            minimum=minimum,
            skill=skills.get(skill) if skill else None,
        )
    RosterPolicy.objects.create(department=department)


def _people(ctx: DemoContext, department: Department, start: dt.date) -> None:
    """Profiles (contract hours, nights, preferred shifts), some wishes and some leave."""
    rng = ctx.rng
    shifts = list(ShiftType.objects.filter(department=department))
    practitioners = list(
        Practitioner.objects.filter(
            department=department, user__role__in=[Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD]
        )
        .select_related("user")
        .order_by("pk")
    )
    for person in practitioners:
        group = StaffGroup.NURSE if person.user.role == Role.NURSE else StaffGroup.DOCTOR
        profile = StaffProfile.objects.create(
            practitioner=person,
            contract_hours_per_week=Decimal("40.0"),
            max_hours_per_week=Decimal("48.0"),
            min_hours_per_week=Decimal("24.0"),
        )
        own = [s for s in shifts if s.group in ("", group)]
        day_shifts = [s for s in own if not s.is_night]
        if rng.random() < 0.35 and day_shifts:
            profile.preferred_shift_types.add(rng.choice(day_shifts))
        # Wishes over the coming roster periods (the past ones were taken into account then).
        for _n in range(rng.choice([0, 1, 1, 2])):
            day = start + dt.timedelta(days=rng.randrange(ROSTER_DAYS * 3))
            kind = RequestKind.OFF if rng.random() < 0.75 else RequestKind.ON
            shift = rng.choice(own) if kind == RequestKind.ON and own else None
            ShiftRequest.objects.get_or_create(
                practitioner=person,
                date=day,
                defaults={"kind": kind, "shift_type": shift, "weight": rng.choice([1, 1, 2, 3])},
            )
    # A few people on leave: approved ones the solver must respect, one waiting for a decision.
    for n, person in enumerate(rng.sample(practitioners, k=min(3, len(practitioners)))):
        first = start + dt.timedelta(days=rng.randrange(5, ROSTER_DAYS * 2))
        Leave.objects.create(
            practitioner=person,
            kind=LeaveKind.ANNUAL if n else LeaveKind.STUDY,
            start_date=first,
            end_date=first + dt.timedelta(days=rng.randrange(1, 4)),
            status=LeaveStatus.REQUESTED if n == 2 else LeaveStatus.APPROVED,
        )


def _ratings(ctx: DemoContext, department: Department, first: dt.date, today: dt.date) -> int:
    """Ratings of worked shifts: most staff content, nights, weekends and understaffed shifts less so."""
    rng = ctx.rng
    now = clock.now()
    short = {
        (r.date, r.shift_type_id)
        for r in RosterRequirement.objects.filter(
            roster__department=department, date__gte=first, date__lt=today
        )
        if r.band_low and r.band_low > r.required
    }
    rows = []
    for a in Assignment.objects.filter(
        roster__department=department, roster__status=RosterStatus.PUBLISHED, date__gte=first, date__lt=today
    ).select_related("shift_type"):
        if rng.random() > 0.62:
            continue
        heavy = (a.date, a.shift_type_id) in short and rng.random() < 0.45
        content = 0.92
        if a.shift_type.is_night:
            content -= 0.14
        if a.date.weekday() >= 5:
            content -= 0.06
        if heavy:
            content -= 0.25
        rating = rng.choice([4, 5, 5]) if rng.random() < content else rng.choice([1, 2, 3, 3])
        rows.append(
            ShiftFeedback(
                assignment=a,
                rating=rating,
                overload=heavy or (rating <= 2 and rng.random() < 0.5),
                created_at=now,
            )
        )
    ShiftFeedback.objects.bulk_create(rows)
    return len(rows)


def build_workforce(ctx: DemoContext) -> None:
    started = time.monotonic()
    today = clock.today()
    departments = list(Department.objects.filter(is_active=True).order_by("national_code_id"))
    history_rows = _history(ctx, departments, today)
    planner = User.objects.get(username=PLANNER)
    monday = today - dt.timedelta(days=today.weekday())
    past_start = monday - dt.timedelta(days=ROSTER_DAYS)
    current_start = monday
    next_start = monday + dt.timedelta(days=ROSTER_DAYS)
    planned = [d for d in departments if d.code in SETUP]
    forecasts = 0
    for department in planned:
        plans, ratios = SETUP[department.code]
        _shifts_and_ratios(department, plans, ratios)
        _people(ctx, department, current_start)
        metrics = sorted({m for _s, _g, m, per, _min, _sk in ratios if m and per})
        for metric in metrics:
            services.train_forecast(planner, department, metric, horizon_days=ROSTER_DAYS * 2, folds=3)
            forecasts += 1
    solved: list[Any] = []
    for department in planned:
        for start, publish in (
            (past_start, True),
            (current_start, True),
            (next_start, department.code == "03.04"),
        ):
            roster = services.create_roster(
                planner,
                department,
                start,
                start + dt.timedelta(days=ROSTER_DAYS - 1),
                time_limit=SOLVE_SECONDS,
                solve=False,
            )
            roster = services.solve_roster(roster.pk)
            if roster.status == RosterStatus.SOLVED and publish:
                roster = services.publish_roster(planner, roster.pk)
            solved.append(roster)
    ratings = 0
    for department in planned:
        ratings += _ratings(ctx, department, past_start, today)
        for week in range(4, 0, -1):
            services.summarize_week(department, monday - dt.timedelta(days=7 * week))
    # The planner has already decided on a few of last month's suggestions.
    for n, suggestion in enumerate(
        Suggestion.objects.filter(
            status=SuggestionStatus.PENDING, summary__week_start__lt=monday - dt.timedelta(days=7)
        ).order_by("pk")[:4]
    ):
        services.decide_suggestion(planner, suggestion.pk, accept=n % 2 == 0)
    ctx.state["workforce_rosters"] = [r.pk for r in solved]
    failed = [r for r in solved if r.status != RosterStatus.SOLVED and r.status != RosterStatus.PUBLISHED]
    published = sum(1 for r in solved if r.status == RosterStatus.PUBLISHED)
    ctx.log(
        f"workforce: {history_rows} workload rows, {forecasts} forecasts, {len(solved)} rosters "
        f"({published} published, {len(failed)} without a solution), {ratings} shift ratings "
        f"in {time.monotonic() - started:.1f}s"
    )


register_generator("workforce", build_workforce, order=70)
