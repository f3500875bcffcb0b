"""The indicator registry: every indicator of the operations plan, with its definition, unit,
direction, default target and how it is computed from the platform's own data.

Every indicator is a ratio of sums: for a period and a department (or the whole hospital) it has
a numerator and a denominator, and its value is ``numerator / denominator * scale``. That makes
daily facts additive: a month is the sum of its days (see ``smartcare.kpi.facts``). An indicator
without data for the period (no rows, or the module that holds them is not there) has no value:
it shows "no data", never a made-up figure.

Where another app already computes a figure (satisfaction, risk reduction, equipment,
teleconsultation, staff satisfaction, record writing time, decision-support usage, research
projects), its selector is called; the queries written here only read models of apps that have
no selector for the figure (appointments, stays, beds, bills, exam orders, care tasks)."""

from __future__ import annotations

import datetime as dt
import importlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from smartcare.kpi.errors import UnknownIndicator

Key = tuple[dt.date, int | None]  # (local date, department id or None for the hospital)
Rows = dict[Key, list[float]]  # [numerator, denominator]


class Group:
    EXPERIENCE = "experience"
    EFFICIENCY = "efficiency"
    RESOURCES = "resources"
    DATA = "data"


GROUPS: dict[str, Promise] = {
    Group.EXPERIENCE: _("Patient experience"),
    Group.EFFICIENCY: _("Efficiency"),
    Group.RESOURCES: _("Resources"),
    Group.DATA: _("Data value"),
}

UNITS: dict[str, Promise] = {
    "share": _("percent"),
    "minutes": _("minutes"),
    "days": _("days"),
    "per_month": _("per month"),
    "per_year": _("per year"),
    "per_bed_month": _("discharges per bed per month"),
    "yuan": _("yuan"),
}


def zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Aware datetimes of local midnight at ``start`` and after ``end``."""
    tz = zone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def local_date(at: Any) -> dt.date:
    """The local date of an aware datetime (rows read with ``values_list`` are typed loosely)."""
    return at.astimezone(zone()).date()


def seconds_between(start: Any, end: Any) -> float:
    """Seconds from ``start`` to ``end``, never negative."""
    return max(0.0, (end - start).total_seconds())


def days_of(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    for i in range((end - start).days + 1):
        yield start + dt.timedelta(days=i)


def department_ids() -> list[int]:
    from smartcare.organization.models import Department

    return list(Department.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


def _add(rows: Rows, day: dt.date, department_id: int | None, numerator: float, denominator: float) -> None:
    """Add to the department's row and to the hospital's row of the day."""
    if department_id is not None:
        row = rows.setdefault((day, department_id), [0.0, 0.0])
        row[0] += numerator
        row[1] += denominator
    row = rows.setdefault((day, None), [0.0, 0.0])
    row[0] += numerator
    row[1] += denominator


@dataclass(frozen=True)
class Indicator:
    code: str
    name: Promise
    group: str
    definition: Promise
    unit: str
    direction: str  # "higher", "lower" or "range" (between target and target_high)
    target: float | None  # default target (or, with ``baseline_change``, none: it comes from the baseline)
    module: str  # the app whose data it reads
    target_high: float | None = None
    margin: float = 0.05  # at risk within 5 % (relative) of the target
    scale: float = 1.0
    baseline_change: float | None = None  # e.g. -0.10: target is 10 % below the baseline year
    by_department: bool = True  # False: hospital-wide only
    plan_target: bool = True  # False: the plan names no figure; the default is a starting value
    drilldowns: tuple[str, ...] = ("department",)
    # (start, end) -> rows for every day and department; or (start, end, department id) -> [n, d]
    daily_rows: Callable[[dt.date, dt.date], Rows | None] | None = None
    measure_period: Callable[[dt.date, dt.date, int | None], tuple[float, float] | None] | None = None

    def daily(self, start: dt.date, end: dt.date) -> Rows | None:
        """Numerator and denominator per (day, department) and per day for the hospital; None
        when the module with the data is missing."""
        if self.daily_rows is not None:
            return self.daily_rows(start, end)
        assert self.measure_period is not None
        rows: Rows = {}
        departments: list[int | None] = [None, *department_ids()] if self.by_department else [None]
        for department_id in departments:
            # One call over the whole range first: most departments have no data for most
            # indicators, and their days need no call at all.
            total = self.measure_period(start, end, department_id)
            if total is None:
                if department_id is None:
                    return None
                continue
            if not (total[0] or total[1]):
                continue
            if start == end:
                rows[(start, department_id)] = [total[0], total[1]]
                continue
            for day in days_of(start, end):
                measured = self.measure_period(day, day, department_id)
                if measured and (measured[0] or measured[1]):
                    rows[(day, department_id)] = [measured[0], measured[1]]
        return rows

    def measure(
        self, start: dt.date, end: dt.date, department_id: int | None = None
    ) -> tuple[float, float] | None:
        """Numerator and denominator over the whole period, computed from the source data."""
        if department_id is not None and not self.by_department:
            return None
        if self.measure_period is not None:
            return self.measure_period(start, end, department_id)
        rows = self.daily(start, end)
        if rows is None:
            return None
        numerator = denominator = 0.0
        for (_day, dep), (n, d) in rows.items():
            if dep == department_id:
                numerator += n
                denominator += d
        return numerator, denominator

    def value_of(self, numerator: float, denominator: float) -> float | None:
        if not denominator:
            return None
        return numerator / denominator * self.scale


# --- Patient experience ---------------------------------------------------------------------------


def _booking_success(start: dt.date, end: dt.date) -> Rows:
    from smartcare.scheduling.choices import AppointmentStatus, SessionStatus
    from smartcare.scheduling.models import Appointment

    rows: Rows = {}
    kept = (AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_CONSULTATION, AppointmentStatus.COMPLETED)
    for day, department_id, status, session_status in Appointment.objects.filter(
        date__gte=start, date__lte=end
    ).values_list("date", "department_id", "status", "session__status"):
        if status in kept:
            _add(rows, day, department_id, 1, 1)
        elif status == AppointmentStatus.NO_SHOW or (
            status == AppointmentStatus.CANCELLED and session_status == SessionStatus.STOPPED
        ):
            _add(rows, day, department_id, 0, 1)
    return rows


def _arrival_wait(start: dt.date, end: dt.date) -> Rows:
    from smartcare.scheduling.models import Appointment

    since, until = day_bounds(start, end)
    rows: Rows = {}
    for department_id, arrived, called in Appointment.objects.filter(
        checked_in_at__gte=since, checked_in_at__lt=until, called_at__isnull=False
    ).values_list("department_id", "checked_in_at", "called_at"):
        minutes = seconds_between(arrived, called) / 60
        _add(rows, local_date(arrived), department_id, minutes, 1)
    return rows


def _satisfaction(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float]:
    from smartcare.followup.selectors import satisfaction_indicator

    result = satisfaction_indicator(start, end, department_id)
    return float(result.satisfied), float(result.responses)


def _booking_lead(start: dt.date, end: dt.date) -> Rows:
    """Days from booking to the visit, for appointments that took place (by visit date)."""
    from smartcare.scheduling.choices import AppointmentStatus
    from smartcare.scheduling.models import Appointment

    rows: Rows = {}
    kept = (AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_CONSULTATION, AppointmentStatus.COMPLETED)
    for day, department_id, booked in Appointment.objects.filter(
        date__gte=start, date__lte=end, status__in=kept
    ).values_list("date", "department_id", "created_at"):
        _add(rows, day, department_id, max(0, (day - local_date(booked)).days), 1)
    return rows


def _followup_completion(start: dt.date, end: dt.date) -> Rows:
    from smartcare.followup.choices import TaskStatus
    from smartcare.followup.models import CareTask

    rows: Rows = {}
    for day, department_id, status in CareTask.objects.filter(
        due_on__gte=start, due_on__lte=end, status__in=(TaskStatus.DONE, TaskStatus.MISSED)
    ).values_list("due_on", "department_id", "status"):
        _add(rows, day, department_id, 1 if status == TaskStatus.DONE else 0, 1)
    return rows


# --- Efficiency ------------------------------------------------------------------------------------


def _writing_time(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float]:
    from smartcare.emr.selectors import writing_time

    since, until = day_bounds(start, end)
    result = writing_time(department=department_id, since=since, until=until)
    return result.total_seconds / 60, float(result.notes)


REPEAT_EXAM_DAYS = 7  # the decision-support repeated-exam rule's default window


def _repeat_exams(start: dt.date, end: dt.date) -> Rows:
    """Exam orders (lab and imaging, signed) for which the same patient had the same exam signed
    within the previous ``SMARTCARE_KPI_REPEAT_EXAM_DAYS`` days (7)."""
    from smartcare.emr.choices import OrderKind, OrderStatus
    from smartcare.emr.models import Order

    window = dt.timedelta(days=int(getattr(settings, "SMARTCARE_KPI_REPEAT_EXAM_DAYS", REPEAT_EXAM_DAYS)))
    since, until = day_bounds(start, end)
    orders = (
        Order.objects.filter(
            kind__in=(OrderKind.LAB, OrderKind.IMAGING),
            signed_at__gte=since - window,
            signed_at__lt=until,
        )
        .exclude(status=OrderStatus.CANCELLED)
        .order_by("patient_id", "signed_at", "pk")
        .values_list("patient_id", "item", "code", "name", "signed_at", "encounter__department_id")
    )
    last_seen: dict[tuple[int, str], Any] = {}
    rows: Rows = {}
    order: Any
    for order in orders:
        patient_id, item, code, name, signed_at, department_id = order
        key = (patient_id, item or code or name)
        previous = last_seen.get(key)
        last_seen[key] = signed_at
        if signed_at < since:
            continue
        repeated = previous is not None and signed_at - previous <= window
        _add(rows, local_date(signed_at), department_id, 1 if repeated else 0, 1)
    return rows


def _length_of_stay(start: dt.date, end: dt.date) -> Rows:
    from smartcare.emr.choices import EncounterKind
    from smartcare.emr.models import Encounter

    since, until = day_bounds(start, end)
    rows: Rows = {}
    for department_id, admitted, discharged in Encounter.objects.filter(
        kind=EncounterKind.INPATIENT,
        discharged_at__gte=since,
        discharged_at__lt=until,
        admitted_at__isnull=False,
    ).values_list("department_id", "admitted_at", "discharged_at"):
        days = seconds_between(admitted, discharged) / 86400
        _add(rows, local_date(discharged), department_id, days, 1)
    return rows


def _cdss_by_doctor(start: dt.date, end: dt.date) -> dict[tuple[dt.date, int | None, str], list[float]]:
    """Per day and doctor: outpatient encounters, and those in which decision support was
    consulted and showed a card (``cdss.selectors.decision_support_usage``)."""
    from smartcare.cdss.selectors import decision_support_usage
    from smartcare.emr.choices import EncounterKind, EncounterStatus
    from smartcare.emr.models import Encounter

    since, until = day_bounds(start, end)
    by_day: dict[dt.date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    department_of: dict[int, int] = {}
    for user_id, department_id, started in (
        Encounter.objects.filter(
            kind=EncounterKind.OUTPATIENT,
            started_at__gte=since,
            started_at__lt=until,
            attending__isnull=False,
        )
        .exclude(status=EncounterStatus.CANCELLED)
        .values_list("attending__user_id", "department_id", "started_at")
    ):
        by_day[local_date(started)][user_id] += 1
        department_of[user_id] = department_id
    result: dict[tuple[dt.date, int | None, str], list[float]] = {}
    for day, counts in sorted(by_day.items()):
        begin, finish = day_bounds(day, day)
        for usage in decision_support_usage(begin, finish, encounters_by_doctor=counts):
            if usage.user_id not in counts:
                continue  # decision support used outside an outpatient encounter
            result[(day, department_of.get(usage.user_id), str(usage.user_id))] = [
                float(min(usage.with_cards, usage.encounters)),
                float(usage.encounters),
            ]
    return result


def _cdss_usage(start: dt.date, end: dt.date) -> Rows:
    rows: Rows = {}
    for (day, department_id, _doctor), (n, d) in _cdss_by_doctor(start, end).items():
        _add(rows, day, department_id, n, d)
    return rows


def _tele_within_24h(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float] | None:
    from smartcare.telemedicine.selectors import indicators

    if department_id is not None:
        return None
    result = indicators(start, end)
    answered = result["answered"]
    share = result["answered_within_24h"]
    return (round(share * answered) if share is not None else 0.0), float(answered)


# --- Resources -------------------------------------------------------------------------------------


def _staff_load(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float]:
    from smartcare.workforce.selectors import load_rate

    result = load_rate(start, end, department_id)
    return float(result["demand"]), float(result["staffed"])


def _equipment(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float] | None:
    from smartcare.equipment.selectors import indicators

    if department_id is not None:
        return None
    result = indicators(start, end)
    busy, available = result["busy_hours"], result["available_hours"]
    return min(busy, available), available


def _beds_by_department() -> dict[int | None, int]:
    from smartcare.organization.models import Bed

    counts: dict[int | None, int] = defaultdict(int)
    for department_id in Bed.objects.values_list("room__department_id", flat=True):
        counts[department_id] += 1
    return counts


def _bed_occupancy(start: dt.date, end: dt.date) -> Rows:
    """Occupied beds at local midnight ending each day (the midnight census) over beds."""
    from smartcare.emr.choices import EncounterKind
    from smartcare.emr.models import Encounter

    beds = _beds_by_department()
    if not sum(beds.values()):
        return {}
    since, until = day_bounds(start, end)
    stays = list(
        Encounter.objects.filter(
            kind=EncounterKind.INPATIENT, admitted_at__isnull=False, admitted_at__lt=until
        )
        .filter(Q(discharged_at__isnull=True) | Q(discharged_at__gte=since))
        .values_list("department_id", "admitted_at", "discharged_at")
    )
    if not stays:
        return {}  # no inpatient stay recorded on the platform: no data, not an empty hospital
    rows: Rows = {}
    for day in days_of(start, end):
        _begin, midnight = day_bounds(day, day)
        census: dict[Any, int] = defaultdict(int)
        stay: Any
        for stay in stays:
            department_id, admitted, discharged = stay
            if admitted < midnight and (discharged is None or discharged >= midnight):
                census[department_id] += 1
        for department_id, count in beds.items():
            if department_id is not None and count:
                _add(rows, day, department_id, census.get(department_id, 0), count)
    return rows


def _bed_turnover(start: dt.date, end: dt.date) -> Rows:
    """Discharges over available bed-days, times 30: discharges per bed per month."""
    from smartcare.emr.choices import EncounterKind
    from smartcare.emr.models import Encounter

    beds = _beds_by_department()
    if not sum(beds.values()):
        return {}
    since, until = day_bounds(start, end)
    discharges: dict[Any, int] = defaultdict(int)
    for stay_department, discharged in Encounter.objects.filter(
        kind=EncounterKind.INPATIENT, discharged_at__gte=since, discharged_at__lt=until
    ).values_list("department_id", "discharged_at"):
        discharges[(local_date(discharged), stay_department)] += 1
    if not discharges:
        return {}  # no discharge recorded on the platform: no data
    rows: Rows = {}
    for day in days_of(start, end):
        for department_id, count in beds.items():
            if department_id is not None and count:
                discharged_today = discharges.get((day, department_id), 0)
                _add(rows, day, department_id, discharged_today, count)
    return rows


def _staff_satisfaction(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float]:
    from smartcare.workforce.selectors import staff_satisfaction_rate

    department = None
    if department_id is not None:
        from smartcare.organization.models import Department

        department = Department.objects.filter(pk=department_id).first()
    result = staff_satisfaction_rate(start, end, department)
    return float(result["satisfied"]), float(result["ratings"])


# --- Data value ------------------------------------------------------------------------------------


def _research_projects(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float] | None:
    """New research projects registered in the period (annualised); no data while the research
    module has no ``projects_registered`` selector."""
    if department_id is not None:
        return None
    try:
        selectors = importlib.import_module("smartcare.research.selectors")
    except ImportError:
        return None
    projects_registered = getattr(selectors, "projects_registered", None)
    if projects_registered is None:
        return None
    result = projects_registered(start, end)
    count = result if isinstance(result, int) else len(result)
    return float(count), float((end - start).days + 1)


def _risk_reduction(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float]:
    from smartcare.health.selectors import risk_reduction_indicator

    result = risk_reduction_indicator(start, end, department_id)
    return float(result.reduced), float(result.evaluated)


def _risk_reduction_daily(start: dt.date, end: dt.date) -> Rows:
    from smartcare.health.selectors import risk_reduction_by_day

    rows: Rows = {}
    for (day, department_id), (reduced, evaluated) in risk_reduction_by_day(start, end).items():
        _add(rows, day, department_id, reduced, evaluated)
    return rows


def _cost_per_case(start: dt.date, end: dt.date) -> Rows:
    """Charges (with their corrections) of the bills opened in the period, per bill: one bill is
    one outpatient visit or one inpatient stay."""
    from django.db.models import Sum

    from smartcare.billing.choices import ChargeStatus
    from smartcare.billing.models import Bill

    since, until = day_bounds(start, end)
    rows: Rows = {}
    for department_id, opened, total in (
        Bill.objects.filter(opened_at__gte=since, opened_at__lt=until)
        .annotate(total=Sum("charges__amount", filter=~Q(charges__status=ChargeStatus.CANCELLED)))
        .values_list("department_id", "opened_at", "total")
    ):
        if total is None:
            continue  # a bill with no charge yet is not a case to cost
        _add(rows, local_date(opened), department_id, float(total), 1)
    return rows


def _tele_volume(start: dt.date, end: dt.date, department_id: int | None) -> tuple[float, float] | None:
    from smartcare.telemedicine.selectors import indicators

    if department_id is not None:
        return None
    return float(indicators(start, end)["requests"]), float((end - start).days + 1)


REGISTRY: dict[str, Indicator] = {}


def _register(indicator: Indicator) -> None:
    REGISTRY[indicator.code] = indicator


_register(
    Indicator(
        "booking_success",
        _("Appointment success rate"),
        Group.EXPERIENCE,
        _(
            "Appointments due in the period that ended in a visit (the patient checked in), over those "
            "that ended in a visit, a no-show or a cancellation because the hospital stopped the clinic "
            "session. Cancellations by the patient are not failures."
        ),
        "share",
        "higher",
        0.95,
        "scheduling",
        drilldowns=("department", "channel", "cases"),
        daily_rows=_booking_success,
    )
)
_register(
    Indicator(
        "arrival_wait",
        _("Wait from arrival to doctor"),
        Group.EXPERIENCE,
        _(
            "Mean minutes from check-in on arrival to being called by the doctor, over the visits called in the period."
        ),
        "minutes",
        "lower",
        30,
        "scheduling",
        drilldowns=("department", "hour", "doctor", "cases"),
        daily_rows=_arrival_wait,
    )
)
_register(
    Indicator(
        "patient_satisfaction",
        _("Patient satisfaction"),
        Group.EXPERIENCE,
        _(
            "Satisfaction survey answers that count as satisfied over all answers submitted in the "
            "period (follow-up module)."
        ),
        "share",
        "higher",
        0.90,
        "followup",
        measure_period=_satisfaction,
    )
)
_register(
    Indicator(
        "booking_lead_days",
        _("Time from booking to visit"),
        Group.EXPERIENCE,
        _(
            "Mean days from making the appointment to the visit, over the visits that took place in the period."
        ),
        "days",
        "lower",
        7,
        "scheduling",
        plan_target=False,
        daily_rows=_booking_lead,
    )
)
_register(
    Indicator(
        "followup_completion",
        _("Follow-up completion"),
        Group.EXPERIENCE,
        _("Follow-up tasks due in the period that were done, over those done or missed."),
        "share",
        "higher",
        0.90,
        "followup",
        plan_target=False,
        daily_rows=_followup_completion,
    )
)
_register(
    Indicator(
        "note_writing_minutes",
        _("Record writing time"),
        Group.EFFICIENCY,
        _("Mean minutes from opening a note to signing it, over the notes signed in the period (EMR)."),
        "minutes",
        "lower",
        10,
        "emr",
        drilldowns=("department",),
        measure_period=_writing_time,
    )
)
_register(
    Indicator(
        "repeat_exam_rate",
        _("Repeat exam rate"),
        Group.EFFICIENCY,
        _(
            "Signed lab and imaging orders for which the same patient had the same exam ordered in the "
            "previous 7 days, over all signed lab and imaging orders in the period."
        ),
        "share",
        "lower",
        0.10,
        "emr",
        daily_rows=_repeat_exams,
    )
)
_register(
    Indicator(
        "length_of_stay",
        _("Average length of stay"),
        Group.EFFICIENCY,
        _(
            "Mean days from admission to discharge of the inpatient stays that ended in the period. "
            "Target: 10 percent shorter than the baseline year."
        ),
        "days",
        "lower",
        None,
        "emr",
        baseline_change=-0.10,
        daily_rows=_length_of_stay,
    )
)
_register(
    Indicator(
        "cdss_usage",
        _("Decision-support usage"),
        Group.EFFICIENCY,
        _(
            "Outpatient encounters in which the doctor consulted decision support and saw its advice, "
            "over all outpatient encounters in the period."
        ),
        "share",
        "higher",
        0.80,
        "cdss",
        drilldowns=("department", "doctor"),
        daily_rows=_cdss_usage,
    )
)
_register(
    Indicator(
        "tele_answered_24h",
        _("Teleconsultations answered within 24 hours"),
        Group.EFFICIENCY,
        _(
            "Teleconsultation requests answered within 24 hours of the request, over those answered in the period."
        ),
        "share",
        "higher",
        0.90,
        "telemedicine",
        by_department=False,
        plan_target=False,
        drilldowns=(),
        measure_period=_tele_within_24h,
    )
)
_register(
    Indicator(
        "staff_load",
        _("Staff load rate"),
        Group.RESOURCES,
        _(
            "Forecast demand (in people) over people rostered, over the shifts with a forecast demand "
            "in published rosters. Target: between 80 and 90 percent."
        ),
        "share",
        "range",
        0.80,
        "workforce",
        target_high=0.90,
        measure_period=_staff_load,
    )
)
_register(
    Indicator(
        "equipment_utilization",
        _("Equipment utilization"),
        Group.RESOURCES,
        _("Busy hours over service hours of the equipment that serves exams (equipment module)."),
        "share",
        "higher",
        0.85,
        "equipment",
        by_department=False,
        drilldowns=(),
        measure_period=_equipment,
    )
)
_register(
    Indicator(
        "bed_occupancy",
        _("Bed occupancy"),
        Group.RESOURCES,
        _(
            "Beds occupied at midnight over beds, summed over the days of the period. Target: 15 percent "
            "higher than the baseline year."
        ),
        "share",
        "higher",
        None,
        "emr",
        baseline_change=0.15,
        daily_rows=_bed_occupancy,
    )
)
_register(
    Indicator(
        "bed_turnover",
        _("Bed turnover"),
        Group.RESOURCES,
        _("Discharges per bed per month (30 days). Target: 15 percent higher than the baseline year."),
        "per_bed_month",
        "higher",
        None,
        "emr",
        scale=30.0,
        baseline_change=0.15,
        daily_rows=_bed_turnover,
    )
)
_register(
    Indicator(
        "staff_satisfaction",
        _("Staff satisfaction with rosters"),
        Group.RESOURCES,
        _("Shift ratings of 4 or 5 (out of 5) over all ratings of shifts worked in the period."),
        "share",
        "higher",
        0.85,
        "workforce",
        measure_period=_staff_satisfaction,
    )
)
_register(
    Indicator(
        "research_projects",
        _("New research projects"),
        Group.DATA,
        _("Research projects registered in the period, annualised (per 365 days)."),
        "per_year",
        "higher",
        10,
        "research",
        scale=365.0,
        by_department=False,
        drilldowns=(),
        measure_period=_research_projects,
    )
)
_register(
    Indicator(
        "risk_reduction",
        _("Intervention patients with risk reduced"),
        Group.DATA,
        _(
            "Patients enrolled in a health programme whose follow-up assessment fell in the period and "
            "whose risk fell by at least 25 percent, over all such patients."
        ),
        "share",
        "higher",
        0.50,
        "health",
        plan_target=False,
        measure_period=_risk_reduction,
        daily_rows=_risk_reduction_daily,
    )
)
_register(
    Indicator(
        "cost_per_case",
        _("Cost per case"),
        Group.DATA,
        _(
            "Charges of the bills opened in the period (visits and stays) per bill. Target: 5 percent "
            "lower than the baseline year."
        ),
        "yuan",
        "lower",
        None,
        "billing",
        baseline_change=-0.05,
        daily_rows=_cost_per_case,
    )
)
_register(
    Indicator(
        "tele_volume",
        _("Teleconsultation volume"),
        Group.DATA,
        _("Teleconsultation requests per month (30 days) in the period."),
        "per_month",
        "higher",
        30,
        "telemedicine",
        scale=30.0,
        by_department=False,
        plan_target=False,
        drilldowns=(),
        measure_period=_tele_volume,
    )
)

# --- Breakdowns (pre-aggregated like the daily facts) ---------------------------------------------

BreakdownRows = dict[tuple[dt.date, int | None, str], list[float]]  # (day, department, key) -> [n, d]


def _waits_by(start: dt.date, end: dt.date, dimension: str) -> BreakdownRows:
    from smartcare.scheduling.models import Appointment

    since, until = day_bounds(start, end)
    tz = zone()
    rows: BreakdownRows = {}
    for department_id, user_id, arrived, called in Appointment.objects.filter(
        checked_in_at__gte=since, checked_in_at__lt=until, called_at__isnull=False
    ).values_list("department_id", "session__practitioner__user_id", "checked_in_at", "called_at"):
        local = arrived.astimezone(tz) if arrived else None
        if local is None:
            continue
        key = f"{local.hour:02d}" if dimension == "hour" else str(user_id or "")
        row = rows.setdefault((local.date(), department_id, key), [0.0, 0.0])
        row[0] += seconds_between(arrived, called) / 60
        row[1] += 1
    return rows


def _no_shows_by_channel(start: dt.date, end: dt.date) -> BreakdownRows:
    """Per booking channel: no-shows (numerator) over appointments due (denominator)."""
    from django.db.models import Count

    from smartcare.scheduling.choices import AppointmentStatus
    from smartcare.scheduling.models import Appointment

    rows: BreakdownRows = {}
    for row in (
        Appointment.objects.filter(date__gte=start, date__lte=end)
        .values("date", "department_id", "channel")
        .annotate(n=Count("pk"), no_show=Count("pk", filter=Q(status=AppointmentStatus.NO_SHOW)))
    ):
        rows[(row["date"], row["department_id"], row["channel"])] = [float(row["no_show"]), float(row["n"])]
    return rows


BREAKDOWNS: dict[tuple[str, str], Callable[[dt.date, dt.date], BreakdownRows]] = {
    ("arrival_wait", "hour"): lambda start, end: _waits_by(start, end, "hour"),
    ("arrival_wait", "doctor"): lambda start, end: _waits_by(start, end, "doctor"),
    ("booking_success", "channel"): _no_shows_by_channel,
    ("cdss_usage", "doctor"): _cdss_by_doctor,
}

# The plan's weighted performance score (defaults; the operations manager may change them).
SCORE_WEIGHTS: dict[str, float] = {
    "patient_satisfaction": 0.30,
    "cdss_usage": 0.20,
    "tele_volume": 0.20,
    "equipment_utilization": 0.15,
    "research_projects": 0.15,
}


def all_indicators() -> list[Indicator]:
    return list(REGISTRY.values())


def get(code: str) -> Indicator:
    indicator = REGISTRY.get(code)
    if indicator is None:
        raise UnknownIndicator(code=str(code)[:40])
    return indicator
