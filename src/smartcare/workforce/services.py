"""Every write of the workforce module. Each service is atomic, checks who may do it, writes its
audit event, and starts background work (solving, notifications) only after commit.

- workload history: counted from the platform's own records, or imported from CSV;
- forecasts: trained and backtested per department and kind of workload;
- rosters: created and solved in the background, edited by hand (every edit re-checked),
  published to the staff;
- wishes and leave: shift-on/off requests, leave requests and their approval;
- feedback: shift ratings and overload flags, the weekly summary and its suggestions.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from smartcare.accounts.choices import Role
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
from smartcare.core.permissions import require_capability
from smartcare.emr.choices import EncounterKind, MovementKind, OrderKind, OrderStatus
from smartcare.emr.models import Encounter, EncounterMovement, Order
from smartcare.notifications.services import notify
from smartcare.organization.models import Department, Practitioner
from smartcare.scheduling.choices import AppointmentStatus, Period
from smartcare.scheduling.models import Appointment
from smartcare.workforce import planning, selectors
from smartcare.workforce.calendar import WorkingCalendar
from smartcare.workforce.choices import (
    EDITABLE_STATUSES,
    METRICS,
    WEIGHT_FIELDS,
    AssignmentSource,
    ForecastMethod,
    LeaveKind,
    LeaveStatus,
    RequestKind,
    RosterStatus,
    SuggestionKind,
    SuggestionStatus,
    WorkloadSource,
)
from smartcare.workforce.engine import checker, explain
from smartcare.workforce.errors import (
    AlreadyDecided,
    FeedbackTooEarly,
    InvalidPeriod,
    InvalidStaffRequest,
    InvalidWorkloadFile,
    NotEnoughHistory,
    NothingToRoster,
    NotInRoster,
    RosterBreaksRules,
    RosterNotEditable,
    RosterOverlaps,
)
from smartcare.workforce.models import (
    Assignment,
    ForecastPoint,
    ForecastRun,
    Leave,
    Roster,
    RosterEdit,
    RosterMember,
    RosterPolicy,
    ShiftFeedback,
    ShiftRequest,
    ShiftType,
    StaffingRatio,
    StaffProfile,
    Suggestion,
    WeeklySummary,
    WorkloadRecord,
)

SYSTEM_ACTOR = "workforce"
MAX_ROSTER_DAYS = 62
MAX_IMPORT_ROWS = 200_000
MAX_REPORTED_ERRORS = 20
DEFAULT_WORKERS = 2


def _audit(user: Any, action: str, obj: Any, detail: dict[str, Any]) -> None:
    record(user, action, obj=obj, detail=detail, actor_username=SYSTEM_ACTOR if user is None else "")


# --- Workload history ---------------------------------------------------------------------------


def _half_day(moment: dt.datetime) -> tuple[dt.date, str]:
    local = timezone.localtime(moment)
    return local.date(), "am" if local.hour < 12 else "pm"


def count_platform_workload(first: dt.date, last: dt.date) -> dict[tuple[int, dt.date, str], Counter[str]]:
    """Workload per (department, date, half-day) counted from smartcare's own records.

    - outpatient visits: doctor appointments that were attended (checked in, in consultation,
      completed), by session period, plus walk-in and emergency encounters without a booking;
    - exams: attended exam appointments (by the performing department) and lab and imaging
      orders signed in an encounter (by the ordering department);
    - surgeries: procedure orders signed in an encounter;
    - admissions: admissions and transfers in, by the receiving department;
    - occupied beds: inpatient stays open at 00:00 (AM) and 12:00 (PM).
    """
    counts: dict[tuple[int, dt.date, str], Counter[str]] = defaultdict(Counter)
    attended = [AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_CONSULTATION, AppointmentStatus.COMPLETED]
    appointments = Appointment.objects.filter(
        date__gte=first, date__lte=last, status__in=attended
    ).values_list("department_id", "date", "period", "session__exam_type_id")
    for department_id, date, period, exam_type_id in appointments.iterator(chunk_size=5000):
        half = "am" if period == Period.MORNING else "pm"
        counts[(department_id, date, half)]["exams" if exam_type_id else "outpatient_visits"] += 1

    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    walk_ins = Encounter.objects.filter(
        kind__in=[EncounterKind.OUTPATIENT, EncounterKind.EMERGENCY],
        appointment__isnull=True,
        started_at__gte=start,
        started_at__lt=end,
    ).values_list("department_id", "started_at")
    for department_id, started in walk_ins.iterator(chunk_size=5000):
        if started is None:
            continue
        date, half = _half_day(started)
        counts[(department_id, date, half)]["outpatient_visits"] += 1

    signed = [OrderStatus.SIGNED, OrderStatus.ACTIVE, OrderStatus.COMPLETED]
    orders = Order.objects.filter(
        status__in=signed,
        kind__in=[OrderKind.LAB, OrderKind.IMAGING, OrderKind.PROCEDURE],
        signed_at__gte=start,
        signed_at__lt=end,
    ).values_list("encounter__department_id", "kind", "signed_at")
    for department_id, kind, signed_at in orders.iterator(chunk_size=5000):
        if signed_at is None:
            continue
        date, half = _half_day(signed_at)
        counts[(department_id, date, half)]["surgeries" if kind == OrderKind.PROCEDURE else "exams"] += 1

    movements = EncounterMovement.objects.filter(
        kind__in=[MovementKind.ADMISSION, MovementKind.TRANSFER],
        to_department__isnull=False,
        at__gte=start,
        at__lt=end,
    ).values_list("to_department_id", "at")
    for department_id, at in movements.iterator(chunk_size=5000):
        date, half = _half_day(at)
        counts[(department_id, date, half)]["admissions"] += 1

    stays = Encounter.objects.filter(
        kind=EncounterKind.INPATIENT, admitted_at__isnull=False, admitted_at__lt=end
    ).filter(Q(discharged_at__isnull=True) | Q(discharged_at__gte=start))
    for department_id, admitted, discharged in stays.values_list(
        "department_id", "admitted_at", "discharged_at"
    ):
        if admitted is None:
            continue
        day = max(first, timezone.localtime(admitted).date())
        final = min(last, timezone.localtime(discharged).date() if discharged else last)
        while day <= final:
            for half, hour in (("am", 0), ("pm", 12)):
                moment = dt.datetime.combine(day, dt.time(hour), tzinfo=tz)
                if admitted <= moment and (discharged is None or discharged > moment):
                    counts[(department_id, day, half)]["inpatients"] += 1
            day += dt.timedelta(days=1)
    return counts


@transaction.atomic
def collect_workload(user: Any, first: dt.date, last: dt.date) -> int:
    """Count the platform's workload for every department and half-day from ``first`` to
    ``last`` and store it. Imported rows are the hospital's own record of those half-days and are
    kept; rows counted earlier are recounted. Returns the number of rows written."""
    if user is not None:
        require_capability(user, "workforce.plan")
    if first > last or (last - first).days > 400:
        raise InvalidPeriod(problem=_("from must be before until, at most 400 days apart"))
    counts = count_platform_workload(first, last)
    departments = list(Department.objects.filter(is_active=True).values_list("pk", flat=True))
    if user is not None and user.role != Role.OPERATIONS_MANAGER:
        departments = list(selectors.plannable_departments(user).values_list("pk", flat=True))
    imported = set(
        WorkloadRecord.objects.filter(
            source=WorkloadSource.IMPORTED, date__gte=first, date__lte=last, department_id__in=departments
        ).values_list("department_id", "date", "half_day")
    )
    now = clock.now()
    rows = []
    day = first
    while day <= last:
        for department_id in departments:
            for half in ("am", "pm"):
                if (department_id, day, half) in imported:
                    continue
                values = counts.get((department_id, day, half), Counter())
                rows.append(
                    WorkloadRecord(
                        department_id=department_id,
                        date=day,
                        half_day=half,
                        source=WorkloadSource.PLATFORM,
                        updated_at=now,
                        **{metric: values.get(metric, 0) for metric in METRICS},
                    )
                )
        day += dt.timedelta(days=1)
    WorkloadRecord.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["department", "date", "half_day"],
        update_fields=[*METRICS, "source", "updated_at"],
    )
    _audit(
        user,
        AuditAction.CREATE,
        ("workload", f"{first}..{last}"),
        {"event": "workload counted", "rows": len(rows)},
    )
    return len(rows)


@dataclass
class ImportResult:
    rows: int
    departments: list[str] = field(default_factory=list)
    first: dt.date | None = None
    last: dt.date | None = None


CSV_REQUIRED = ("department", "date", "half_day")


def import_workload_csv(user: Any, text: str, filename: str = "") -> ImportResult:
    """Import workload history from CSV: ``department`` (national code), ``date`` (YYYY-MM-DD),
    ``half_day`` (am/pm) and any of the workload columns (missing ones count 0). Every row is
    checked first; any problem raises WORK-001 listing the lines, and nothing is written."""
    require_capability(user, "workforce.plan")
    allowed = {d.code: d.pk for d in selectors.plannable_departments(user)}
    known = dict(Department.objects.values_list("national_code_id", "pk"))
    errors: dict[str, list[str]] = {}

    def problem(line: int, message: str) -> None:
        if len(errors) < MAX_REPORTED_ERRORS:
            errors.setdefault(_("line %(line)s") % {"line": line}, []).append(message)

    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_REQUIRED if c not in header]
    unknown = [c for c in header if c not in CSV_REQUIRED and c not in METRICS]
    if missing or unknown or not any(m in header for m in METRICS):
        raise InvalidWorkloadFile(
            errors={
                "header": [
                    _("The header needs department, date, half_day and at least one of: %(metrics)s.")
                    % {"metrics": ", ".join(METRICS)}
                ]
                + ([_("Unknown columns: %(columns)s") % {"columns": ", ".join(unknown)}] if unknown else [])
            }
        )
    metrics = [m for m in METRICS if m in header]
    parsed: dict[tuple[int, dt.date, str], dict[str, int]] = {}
    count = 0
    for count, raw in enumerate(reader, start=1):
        line = count + 1
        if count > MAX_IMPORT_ROWS:
            problem(line, _("more than %(limit)s rows") % {"limit": MAX_IMPORT_ROWS})
            break
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        code = row.get("department", "")
        if code not in known:
            problem(line, _("unknown department code %(code)s") % {"code": code})
            continue
        if code not in allowed:
            problem(line, _("you do not plan department %(code)s") % {"code": code})
            continue
        try:
            date = dt.date.fromisoformat(row.get("date", ""))
        except ValueError:
            problem(line, _("date must be YYYY-MM-DD"))
            continue
        half = row.get("half_day", "").lower()
        if half not in ("am", "pm"):
            problem(line, _("half_day must be am or pm"))
            continue
        values: dict[str, int] = {}
        for metric in metrics:
            cell = row.get(metric, "") or "0"
            if not cell.isdigit():
                problem(line, _("%(column)s must be a whole number of at least 0") % {"column": metric})
                break
            values[metric] = int(cell)
        else:
            key = (known[code], date, half)
            if key in parsed:
                problem(line, _("the same department, date and half-day appear twice"))
                continue
            parsed[key] = values
    if not count:
        errors.setdefault("file", []).append(_("The file has no data rows."))
    if errors:
        raise InvalidWorkloadFile(errors=errors)
    now = clock.now()
    records = [
        WorkloadRecord(
            department_id=department_id,
            date=date,
            half_day=half,
            source=WorkloadSource.IMPORTED,
            updated_at=now,
            **{m: values.get(m, 0) for m in METRICS},
        )
        for (department_id, date, half), values in parsed.items()
    ]
    with transaction.atomic():
        WorkloadRecord.objects.bulk_create(
            records,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["department", "date", "half_day"],
            update_fields=[*METRICS, "source", "updated_at"],
        )
        codes = sorted({code for code, pk in known.items() if pk in {k[0] for k in parsed}})
        dates = [k[1] for k in parsed]
        _audit(
            user,
            AuditAction.CREATE,
            ("workload import", filename[:100] or "csv"),
            {"event": "workload imported", "rows": len(records), "departments": codes},
        )
    return ImportResult(len(records), codes, min(dates), max(dates))


# --- Forecasts ----------------------------------------------------------------------------------


def _history(department: Department, metric: str) -> dict[tuple[dt.date, str], float]:
    rows = WorkloadRecord.objects.filter(department=department).values_list("date", "half_day", metric)
    return {(date, half): float(value) for date, half, value in rows}


def train_forecast(
    user: Any, department: Department, metric: str, horizon_days: int = 28, folds: int = 4
) -> ForecastRun:
    """Train, backtest against the seasonal naive baseline, and store the next ``horizon_days``.

    The stored forecast is the model's where its backtest MAPE beats the baseline's, otherwise
    the baseline's. Raises WORK-003 with less than ``forecasting.MIN_HISTORY_DAYS`` of history."""
    # numpy, pandas and scikit-learn load on first use, not with every page of the site.
    from smartcare.workforce import forecasting

    if user is not None:
        department = selectors.department_for_planner(user, department)
    if metric not in METRICS:
        raise InvalidInput(field="metric")
    if not 7 <= horizon_days <= 92 or not 1 <= folds <= 8:
        raise InvalidInput(_("The horizon is 7 to 92 days and the folds 1 to 8."), field="horizon_days")
    history = _history(department, metric)
    if not history:
        raise NotEnoughHistory(department=str(department), days=0, needed=forecasting.MIN_HISTORY_DAYS)
    first = min(d for d, _h in history)
    last = max(d for d, _h in history)
    days = (last - first).days + 1
    needed = max(forecasting.MIN_HISTORY_DAYS, horizon_days * (folds + 2))
    if days < needed:
        raise NotEnoughHistory(department=str(department), days=days, needed=needed)
    frame = forecasting.grid(history, first, last)
    calendar = WorkingCalendar.from_database()
    result = forecasting.backtest(frame, calendar, horizon_days, folds)
    prediction = forecasting.forecast(frame, calendar, horizon_days, result.use_model)
    with transaction.atomic():
        run = ForecastRun.objects.create(
            department=department,
            metric=metric,
            trained_by=user,
            history_from=first,
            history_to=last,
            horizon_days=horizon_days,
            folds=folds,
            mape_model=None if result.mape_model is None else round(result.mape_model, 2),
            mape_baseline=None if result.mape_baseline is None else round(result.mape_baseline, 2),
            method=ForecastMethod.MODEL if result.use_model else ForecastMethod.BASELINE,
            details={"folds": result.folds, "features": list(forecasting.FEATURES)},
        )
        ForecastPoint.objects.bulk_create(
            [
                ForecastPoint(run=run, date=d, half_day=h, value=v, model_value=m, baseline_value=b)
                for d, h, v, m, b in zip(
                    prediction.dates,
                    prediction.half_days,
                    prediction.values,
                    prediction.model,
                    prediction.baseline,
                    strict=True,
                )
            ]
        )
        _audit(
            user,
            AuditAction.CREATE,
            run,
            {"event": "forecast trained", "metric": metric, "method": run.method},
        )
    return run


def ensure_forecasts(roster: Roster) -> list[str]:
    """Train the forecasts a roster's ratios need when none covers its period. Returns the kinds
    of workload that could not be forecast (too little history): their requirement falls back to
    the recent history and the ratios' minimum."""
    metrics = set(
        StaffingRatio.objects.filter(shift_type__department=roster.department, per_staff__isnull=False)
        .exclude(metric="")
        .values_list("metric", flat=True)
    )
    missing = []
    for metric in sorted(metrics):
        covered = ForecastPoint.objects.filter(
            run__department=roster.department, run__metric=metric, date=roster.end_date
        ).exists()
        if covered:
            continue
        history_to = (
            WorkloadRecord.objects.filter(department=roster.department)
            .order_by("-date")
            .values_list("date", flat=True)
            .first()
        )
        horizon = (roster.end_date - history_to).days + 2 if history_to else 0
        if history_to is None or not 1 <= horizon <= 92:
            missing.append(metric)
            continue
        try:
            train_forecast(None, roster.department, metric, horizon_days=max(7, horizon), folds=3)
        except NotEnoughHistory:
            missing.append(metric)
    return missing


# --- Rosters ------------------------------------------------------------------------------------


def _check_period(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise InvalidPeriod(problem=_("the first day is after the last"), field="end_date")
    if (end - start).days + 1 > MAX_ROSTER_DAYS:
        raise InvalidPeriod(problem=_("a roster covers at most %(days)s days") % {"days": MAX_ROSTER_DAYS})


def ensure_profile(practitioner: Practitioner) -> StaffProfile:
    profile, _created = StaffProfile.objects.get_or_create(practitioner=practitioner)
    return profile


@transaction.atomic
def create_roster(
    user: Any,
    department: Department | int | str,
    start_date: dt.date,
    end_date: dt.date,
    *,
    time_limit: int = 30,
    solve: bool = True,
) -> Roster:
    """A draft roster for the department's doctors and nurses over the period, solved in the
    background (after commit) within ``time_limit`` seconds."""
    found = selectors.department_for_planner(user, department)
    _check_period(start_date, end_date)
    if not 1 <= time_limit <= 600:
        raise InvalidInput(_("The time limit is 1 to 600 seconds."), field="time_limit")
    if not ShiftType.objects.filter(department=found, is_active=True).exists():
        raise NothingToRoster(missing=gettext_lazy("shift types"))
    practitioners = list(
        Practitioner.objects.filter(
            department=found, user__is_active=True, user__role__in=selectors.ROSTERED_ROLES
        ).select_related("user")
    )
    if not practitioners:
        raise NothingToRoster(missing=gettext_lazy("doctors or nurses"))
    roster = Roster.objects.create(
        department=found,
        start_date=start_date,
        end_date=end_date,
        created_by=user,
        time_limit_seconds=time_limit,
        status=RosterStatus.SOLVING if solve else RosterStatus.DRAFT,
    )
    RosterMember.objects.bulk_create(
        [RosterMember(roster=roster, practitioner=p, group=selectors.group_of(p)) for p in practitioners]
    )
    for p in practitioners:
        ensure_profile(p)
    _audit(user, AuditAction.CREATE, roster, {"event": "roster created", "days": roster.days})
    if solve:
        transaction.on_commit(partial(_enqueue_solve, roster.pk))
    return roster


def _enqueue_solve(roster_id: int) -> None:
    from smartcare.workforce.tasks import solve_roster

    solve_roster.enqueue(roster_id)


@transaction.atomic
def request_solve(user: Any, roster_id: int, time_limit: int | None = None) -> Roster:
    """Solve again in the background; cells edited by hand stay as they are."""
    roster = selectors.roster_for_planner(user, roster_id)
    roster = Roster.objects.select_for_update().get(pk=roster.pk)
    if roster.status in (RosterStatus.SOLVING, RosterStatus.PUBLISHED):
        raise RosterNotEditable(status=roster.get_status_display())
    if time_limit is not None:
        if not 1 <= time_limit <= 600:
            raise InvalidInput(_("The time limit is 1 to 600 seconds."), field="time_limit")
        roster.time_limit_seconds = time_limit
    roster.status = RosterStatus.SOLVING
    roster.save(update_fields=["status", "time_limit_seconds", "updated_at"])
    _audit(user, AuditAction.UPDATE, roster, {"event": "roster solve requested"})
    transaction.on_commit(partial(_enqueue_solve, roster.pk))
    return roster


def solve_roster(roster_id: int, workers: int | None = None) -> Roster:
    """Compute the requirements, solve with CP-SAT within the roster's time limit, store the
    assignments and the report (objective, broken soft rules and why). Runs in the worker."""
    from django.conf import settings

    from smartcare.workforce.engine import solver  # OR-Tools loads in the worker, on first use

    roster = Roster.objects.select_related("department").get(pk=roster_id)
    unforecast = ensure_forecasts(roster)
    with transaction.atomic():
        roster = Roster.objects.select_for_update().select_related("department").get(pk=roster_id)
        requirements = planning.compute_requirements(roster)
        roster.requirements.all().delete()
        planning.RosterRequirement.objects.bulk_create(requirements)
        problem = planning.build_problem(roster, requirements)
        manual = {
            (str(pid), (date - roster.start_date).days): code
            for pid, date, code in roster.assignments.filter(source=AssignmentSource.MANUAL).values_list(
                "practitioner_id", "date", "shift_type__code"
            )
        }
        hint = planning.assignments_of(roster)
    result = solver.solve(
        problem,
        time_limit=roster.time_limit_seconds,
        workers=workers or int(getattr(settings, "SMARTCARE_ROSTER_SOLVER_WORKERS", DEFAULT_WORKERS)),
        hint=hint or None,
        fixed=dict(manual) or None,
        first_feasible=True,
    )
    with transaction.atomic():
        roster = Roster.objects.select_for_update().get(pk=roster_id)
        roster.solver_status = result.status
        roster.solve_seconds = result.seconds
        roster.solved_at = clock.now()
        report: dict[str, Any] = {"unforecast": unforecast}
        if result.found:
            by_code = {st.code: st for st in ShiftType.objects.filter(department=roster.department)}
            roster.assignments.filter(source=AssignmentSource.SOLVER).delete()
            kept = set(manual)
            Assignment.objects.bulk_create(
                [
                    Assignment(
                        roster=roster,
                        practitioner_id=int(p),
                        date=roster.start_date + dt.timedelta(days=d),
                        shift_type=by_code[s],
                        source=AssignmentSource.SOLVER,
                    )
                    for p, d, s in result.assignments
                    if (p, d) not in kept
                ]
            )
            report.update(explain.report(problem, result.assignments))
            roster.objective = report["objective"]
            roster.best_bound = result.bound
            roster.status = RosterStatus.SOLVED
        else:
            report["conflicting"] = result.conflicting
            report["shortages"] = shortages(problem)
            roster.objective = None
            roster.best_bound = None
            roster.status = RosterStatus.FAILED
        roster.report = report
        roster.version += 1
        roster.save()
        _audit(
            None,
            AuditAction.UPDATE,
            roster,
            {"event": "roster solved", "status": result.status, "objective": roster.objective},
        )
    return roster


def shortages(problem: Any) -> list[dict[str, Any]]:
    """Shifts that need more qualified, available people than exist (an obvious reason for no roster)."""
    found = []
    for cover in problem.covers:
        if not cover.hard_min:
            continue
        available = sum(
            1
            for p in problem.staff
            if cover.day not in p.days_off
            and p.may_work(cover.shift)
            and (cover.group is None or cover.group in p.groups)
        )
        if available < cover.requirement:
            found.append(
                {
                    "day": cover.day,
                    "shift": cover.shift,
                    "group": cover.group,
                    "required": cover.requirement,
                    "available": available,
                }
            )
    return found[:50]


def evaluate_roster(roster: Roster) -> checker.Evaluation:
    return checker.evaluate(planning.build_problem(roster), planning.assignments_of(roster))


@dataclass
class EditResult:
    roster: Roster
    violations: list[dict[str, Any]]
    objective: int


@transaction.atomic
def edit_assignment(
    user: Any,
    roster_id: int,
    practitioner_id: int,
    date: dt.date,
    shift_type_id: int | None,
    reason: str = "",
) -> EditResult:
    """Put one person on one shift (or off) for one day, then check the whole roster again.
    The edit is kept and the broken hard rules are returned and stored with it; a published
    roster's edit is sent to the person."""
    roster = selectors.roster_for_planner(user, roster_id)
    roster = Roster.objects.select_for_update().select_related("department").get(pk=roster.pk)
    if roster.status not in EDITABLE_STATUSES:
        raise RosterNotEditable(status=roster.get_status_display())
    if not roster.start_date <= date <= roster.end_date:
        raise InvalidPeriod(problem=_("the day is outside the roster"), field="date")
    member = (
        roster.members.filter(practitioner_id=practitioner_id).select_related("practitioner__user").first()
    )
    shift = None
    if shift_type_id is not None:
        shift = ShiftType.objects.filter(
            pk=shift_type_id, department=roster.department, is_active=True
        ).first()
    if member is None or (shift_type_id is not None and shift is None):
        raise NotInRoster()
    current = (
        roster.assignments.filter(practitioner_id=practitioner_id, date=date)
        .select_related("shift_type")
        .first()
    )
    previous_code = current.shift_type.code if current else ""
    if shift is None:
        if current is not None:
            current.delete()
    elif current is None:
        Assignment.objects.create(
            roster=roster,
            practitioner_id=practitioner_id,
            date=date,
            shift_type=shift,
            source=AssignmentSource.MANUAL,
        )
    else:
        current.shift_type = shift
        current.source = AssignmentSource.MANUAL
        current.save(update_fields=["shift_type", "source"])
    problem = planning.build_problem(roster)
    assignments = planning.assignments_of(roster)
    evaluation = checker.evaluate(problem, assignments)
    violations = [v.as_dict() for v in evaluation.violations]
    RosterEdit.objects.create(
        roster=roster,
        practitioner_id=practitioner_id,
        date=date,
        previous=previous_code,
        current=shift.code if shift else "",
        edited_by=user,
        reason=reason[:300],
        violations=violations,
    )
    report = explain.report(problem, assignments, limit=20)
    report["unforecast"] = roster.report.get("unforecast", [])
    roster.report = report
    roster.objective = evaluation.objective
    roster.version += 1
    roster.save(update_fields=["report", "objective", "version", "updated_at"])
    _audit(
        user,
        AuditAction.UPDATE,
        roster,
        {
            "event": "roster edited",
            "practitioner": practitioner_id,
            "date": str(date),
            "from": previous_code,
            "to": shift.code if shift else "",
            "violations": len(violations),
        },
    )
    if roster.status == RosterStatus.PUBLISHED and previous_code != (shift.code if shift else ""):
        notify(
            member.practitioner.user,
            category="roster",
            subject=gettext_lazy("Your shift changed"),
            body=_("%(date)s: %(before)s → %(after)s")
            % {
                "date": date.isoformat(),
                "before": previous_code or _("off"),
                "after": shift.code if shift else _("off"),
            },
            link="/workforce/my-shifts/",
        )
    return EditResult(roster, violations, evaluation.objective)


@transaction.atomic
def publish_roster(user: Any, roster_id: int) -> Roster:
    """Publish a roster that keeps every hard rule and send each person their shifts."""
    roster = selectors.roster_for_planner(user, roster_id)
    roster = Roster.objects.select_for_update().select_related("department").get(pk=roster.pk)
    if roster.status not in (RosterStatus.SOLVED, RosterStatus.DRAFT):
        raise RosterNotEditable(status=roster.get_status_display())
    evaluation = evaluate_roster(roster)
    if evaluation.violations:
        raise RosterBreaksRules(count=len(evaluation.violations))
    clash = (
        Roster.objects.filter(
            department=roster.department,
            status=RosterStatus.PUBLISHED,
            start_date__lte=roster.end_date,
            end_date__gte=roster.start_date,
        )
        .exclude(pk=roster.pk)
        .first()
    )
    if clash is not None:
        raise RosterOverlaps(date=max(clash.start_date, roster.start_date).isoformat())
    roster.status = RosterStatus.PUBLISHED
    roster.published_at = clock.now()
    roster.published_by = user
    roster.save(update_fields=["status", "published_at", "published_by", "updated_at"])
    shifts: dict[int, list[str]] = defaultdict(list)
    for pid, code in roster.assignments.values_list("practitioner_id", "shift_type__code"):
        shifts[pid].append(code)
    for member in roster.members.select_related("practitioner__user"):
        codes = Counter(shifts.get(member.practitioner_id, []))
        summary = ", ".join(f"{code}×{n}" for code, n in sorted(codes.items())) or _("no shifts")
        notify(
            member.practitioner.user,
            category="roster",
            subject=_("Roster published: %(department)s %(start)s to %(end)s")
            % {
                "department": roster.department.name,
                "start": roster.start_date.isoformat(),
                "end": roster.end_date.isoformat(),
            },
            body=_("Your shifts: %(summary)s.") % {"summary": summary},
            link="/workforce/my-shifts/",
        )
    _audit(user, AuditAction.UPDATE, roster, {"event": "roster published", "people": roster.members.count()})
    return roster


# --- Wishes and leave ---------------------------------------------------------------------------


@transaction.atomic
def add_shift_request(
    user: Any,
    date: dt.date,
    kind: str,
    shift_type_id: int | None = None,
    weight: int = 1,
    note: str = "",
) -> ShiftRequest:
    """Wish to work (a shift) or to be off on a future day; a second wish for the day replaces it."""
    practitioner = selectors.own_practitioner(user)
    if kind not in RequestKind.values:
        raise InvalidStaffRequest(problem=_("kind must be on or off"), field="kind")
    if date < clock.today():
        raise InvalidStaffRequest(problem=_("the day has passed"), field="date")
    if not 1 <= weight <= 3:
        raise InvalidStaffRequest(problem=_("importance is 1 to 3"), field="weight")
    shift = None
    if shift_type_id is not None:
        shift = ShiftType.objects.filter(pk=shift_type_id, department=practitioner.department).first()
        if shift is None:
            raise InvalidStaffRequest(problem=_("unknown shift for your department"), field="shift_type")
    wish, _created = ShiftRequest.objects.update_or_create(
        practitioner=practitioner,
        date=date,
        defaults={"kind": kind, "shift_type": shift, "weight": weight, "note": note[:200]},
    )
    _audit(user, AuditAction.CREATE, wish, {"event": "shift request", "kind": kind})
    return wish


@transaction.atomic
def request_leave(user: Any, start_date: dt.date, end_date: dt.date, kind: str = LeaveKind.ANNUAL) -> Leave:
    practitioner = selectors.own_practitioner(user)
    if start_date > end_date or (end_date - start_date).days > 366:
        raise InvalidStaffRequest(problem=_("the leave's dates are not valid"), field="end_date")
    if kind not in LeaveKind.values:
        raise InvalidStaffRequest(problem=_("unknown kind of leave"), field="kind")
    leave = Leave.objects.create(
        practitioner=practitioner, start_date=start_date, end_date=end_date, kind=kind
    )
    _audit(user, AuditAction.CREATE, leave, {"event": "leave requested"})
    return leave


@transaction.atomic
def decide_leave(user: Any, leave_id: int, approve: bool) -> Leave:
    require_capability(user, "workforce.plan")
    leave = (
        Leave.objects.select_for_update()
        .filter(pk=leave_id, practitioner__department__in=selectors.plannable_departments(user))
        .first()
    )
    if leave is None:
        raise NotFound()
    if leave.status != LeaveStatus.REQUESTED:
        raise AlreadyDecided()
    leave.status = LeaveStatus.APPROVED if approve else LeaveStatus.REJECTED
    leave.decided_by = user
    leave.save(update_fields=["status", "decided_by", "updated_at"])
    _audit(user, AuditAction.UPDATE, leave, {"event": "leave decided", "status": leave.status})
    notify(
        leave.practitioner.user,
        category="roster",
        subject=_("Leave %(status)s") % {"status": leave.get_status_display()},
        body=f"{leave.start_date.isoformat()} – {leave.end_date.isoformat()}",
        link="/workforce/my-shifts/",
    )
    return leave


# --- Feedback -----------------------------------------------------------------------------------


@transaction.atomic
def rate_shift(
    user: Any, assignment_id: int, rating: int, overload: bool = False, comment: str = ""
) -> ShiftFeedback:
    """Rate one's own shift of a published roster (1-5) and say whether it was too heavy; a
    second rating of the same shift replaces the first."""
    practitioner = selectors.own_practitioner(user)
    assignment = (
        Assignment.objects.select_related("shift_type")
        .filter(pk=assignment_id, practitioner=practitioner, roster__status=RosterStatus.PUBLISHED)
        .first()
    )
    if assignment is None:
        raise NotFound()
    if not 1 <= int(rating) <= 5:
        raise InvalidInput(_("The rating is 1 to 5."), field="rating")
    starts = timezone.make_aware(assignment.shift_type.starts_on(assignment.date))
    if starts > clock.now():
        raise FeedbackTooEarly()
    feedback, _created = ShiftFeedback.objects.update_or_create(
        assignment=assignment,
        defaults={
            "rating": int(rating),
            "overload": bool(overload),
            "comment": comment[:500],
            "created_at": clock.now(),
        },
    )
    _audit(
        user,
        AuditAction.CREATE,
        feedback,
        {"event": "shift rated", "rating": int(rating), "overload": bool(overload)},
    )
    return feedback


OVERLOAD_SHARE = 0.25  # of a shift type's ratings in the week
LOW_SATISFACTION = 0.70
MIN_RATINGS = 3


def _week_feedback(department: Department, week_start: dt.date) -> list[ShiftFeedback]:
    return list(
        ShiftFeedback.objects.filter(
            assignment__roster__department=department,
            assignment__date__gte=week_start,
            assignment__date__lt=week_start + dt.timedelta(days=7),
        ).select_related("assignment__shift_type", "assignment__roster", "assignment__practitioner__user")
    )


@transaction.atomic
def summarize_week(department: Department, week_start: dt.date) -> WeeklySummary:
    """The week's ratings and overload flags, and suggestions for the planner:

    - coverage: a shift type flagged too heavy in at least a quarter of its ratings (and at least
      twice) gets one more person: the ratio's workload per person lowered by 10 %, or its
      minimum raised by one;
    - weights: nights or weekends rated satisfying less than 70 % of the time raise the weight of
      their fair spread by half; low ratings where requests went unmet raise the request weight.
    Pending suggestions of an earlier run for the same week are replaced."""
    week_start = week_start - dt.timedelta(days=week_start.weekday())
    feedback = _week_feedback(department, week_start)
    shifts = Assignment.objects.filter(
        roster__department=department,
        roster__status=RosterStatus.PUBLISHED,
        date__gte=week_start,
        date__lt=week_start + dt.timedelta(days=7),
    ).count()
    per_shift: dict[tuple[int, str], dict[str, int]] = defaultdict(
        lambda: {"ratings": 0, "satisfied": 0, "overload": 0}
    )
    nights = {"ratings": 0, "satisfied": 0}
    weekends = {"ratings": 0, "satisfied": 0}
    for item in feedback:
        group = selectors.group_of(item.assignment.practitioner)
        bucket = per_shift[(item.assignment.shift_type_id, group)]
        bucket["ratings"] += 1
        bucket["satisfied"] += int(item.satisfied)
        bucket["overload"] += int(item.overload)
        if item.assignment.shift_type.is_night:
            nights["ratings"] += 1
            nights["satisfied"] += int(item.satisfied)
        if item.assignment.date.weekday() >= 5:
            weekends["ratings"] += 1
            weekends["satisfied"] += int(item.satisfied)
    summary, _created = WeeklySummary.objects.update_or_create(
        department=department,
        week_start=week_start,
        defaults={
            "ratings": len(feedback),
            "satisfied": sum(1 for f in feedback if f.satisfied),
            "overload_flags": sum(1 for f in feedback if f.overload),
            "shifts": shifts,
            "details": {
                "per_shift": {f"{k[0]}:{k[1]}": v for k, v in per_shift.items()},
                "nights": nights,
                "weekends": weekends,
            },
        },
    )
    summary.suggestions.filter(status=SuggestionStatus.PENDING).delete()
    policy = selectors.policy_for(department)
    for (shift_type_id, group), bucket in per_shift.items():
        if bucket["overload"] >= 2 and bucket["overload"] >= OVERLOAD_SHARE * bucket["ratings"]:
            ratio = (
                StaffingRatio.objects.filter(shift_type_id=shift_type_id, group=group, skill__isnull=True)
                .order_by("-minimum", "pk")
                .first()
            )
            if ratio is None:
                continue
            if ratio.per_staff:
                field_name, current = "per_staff", ratio.per_staff
                proposed = max(Decimal("0.1"), (current * Decimal("0.9")).quantize(Decimal("0.1")))
            else:
                field_name, current = "minimum", Decimal(ratio.minimum)
                proposed = current + 1
            Suggestion.objects.create(
                summary=summary,
                kind=SuggestionKind.COVERAGE,
                ratio=ratio,
                field_name=field_name,
                current_value=current,
                proposed_value=proposed,
                reason={"shift": ratio.shift_type.code, "group": group, **bucket},
            )
    unmet_requests = _unmet_requests(department, week_start)
    checks = (
        ("weight_night_fairness", nights, {"nights": nights}),
        ("weight_weekend_fairness", weekends, {"weekends": weekends}),
    )
    for field_name, bucket, reason in checks:
        if bucket["ratings"] >= MIN_RATINGS and bucket["satisfied"] < LOW_SATISFACTION * bucket["ratings"]:
            _weight_suggestion(summary, policy, field_name, reason)
    low = sum(1 for f in feedback if not f.satisfied)
    if unmet_requests >= 2 and low >= MIN_RATINGS:
        _weight_suggestion(
            summary, policy, "weight_request", {"unmet_requests": unmet_requests, "low_ratings": low}
        )
    return summary


def _unmet_requests(department: Department, week_start: dt.date) -> int:
    week_end = week_start + dt.timedelta(days=6)
    count = 0
    for roster in Roster.objects.filter(
        department=department,
        status=RosterStatus.PUBLISHED,
        start_date__lte=week_end,
        end_date__gte=week_start,
    ):
        for item in roster.report.get("broken", []):
            if item.get("rule") in ("shift_on_request", "shift_off_request") and item.get("day") is not None:
                day = roster.start_date + dt.timedelta(days=int(item["day"]))
                if week_start <= day <= week_end:
                    count += 1
    return count


def _weight_suggestion(
    summary: WeeklySummary, policy: RosterPolicy, field_name: str, reason: dict[str, Any]
) -> None:
    current = Decimal(getattr(policy, field_name))
    proposed = min(Decimal(1000), max(current + 1, (current * Decimal("1.5")).quantize(Decimal("1"))))
    Suggestion.objects.create(
        summary=summary,
        kind=SuggestionKind.WEIGHT,
        field_name=field_name,
        current_value=current,
        proposed_value=proposed,
        reason=reason,
    )


@transaction.atomic
def decide_suggestion(user: Any, suggestion_id: int, accept: bool) -> Suggestion:
    """Accept (apply the change to the ratio or the policy) or reject a pending suggestion."""
    require_capability(user, "workforce.plan")
    suggestion = (
        Suggestion.objects.select_for_update()
        .select_related("summary__department")
        .filter(pk=suggestion_id, summary__department__in=selectors.plannable_departments(user))
        .first()
    )
    if suggestion is None:
        raise NotFound()
    if suggestion.status != SuggestionStatus.PENDING:
        raise AlreadyDecided()
    if accept:
        if suggestion.kind == SuggestionKind.COVERAGE:
            ratio = StaffingRatio.objects.select_for_update().get(pk=int(suggestion.ratio_id or 0))
            if suggestion.field_name == "per_staff":
                ratio.per_staff = suggestion.proposed_value
            else:
                ratio.minimum = int(suggestion.proposed_value)
            ratio.save(update_fields=[suggestion.field_name, "updated_at"])
        else:
            if suggestion.field_name not in WEIGHT_FIELDS:
                raise InvalidInput(field="field_name")
            policy, _created = RosterPolicy.objects.select_for_update().get_or_create(
                department=suggestion.summary.department
            )
            setattr(policy, suggestion.field_name, int(suggestion.proposed_value))
            policy.save(update_fields=[suggestion.field_name, "updated_at"])
    suggestion.status = SuggestionStatus.ACCEPTED if accept else SuggestionStatus.REJECTED
    suggestion.decided_by = user
    suggestion.decided_at = clock.now()
    suggestion.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    _audit(
        user,
        AuditAction.UPDATE,
        suggestion,
        {"event": "suggestion decided", "status": suggestion.status, "setting": suggestion.field_name},
    )
    return suggestion


def may_plan(user: Any, department: Department) -> bool:
    try:
        selectors.department_for_planner(user, department)
    except (NotFound, PermissionDenied):
        return False
    return True
