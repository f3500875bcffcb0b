"""Reads of the operations cockpit: the indicators of a period with their targets and status, the
weighted performance score, trends and drill-downs, restricted to what the user may see
(operations managers: the hospital and every department; department heads: their department)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.accounts.choices import Role
from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.kpi import facts
from smartcare.kpi.errors import UnknownDepartment, UnknownDrillDown
from smartcare.kpi.indicators import SCORE_WEIGHTS, Indicator, all_indicators, get
from smartcare.kpi.models import (
    ActionStatus,
    IndicatorSetting,
    ManagementAction,
    QuarterlyReport,
    SettingChange,
)
from smartcare.kpi.periods import Period, parse_period
from smartcare.organization.models import Department, Practitioner

ON_TARGET = "on_target"
AT_RISK = "at_risk"
OFF_TARGET = "off_target"
NO_DATA = "no_data"
NO_TARGET = "no_target"

STATUS_LABELS = {
    ON_TARGET: _("On target"),
    AT_RISK: _("At risk"),
    OFF_TARGET: _("Off target"),
    NO_DATA: _("No data"),
    NO_TARGET: _("No baseline"),
}


# --- Who sees what ---------------------------------------------------------------------------------


def visible_departments(user: Any) -> list[Department]:
    """Operations managers: every active department; department heads: their own."""
    if not has_capability(user, "management.cockpit"):
        return []
    active = (
        Department.objects.filter(is_active=True).select_related("national_code").order_by("national_code_id")
    )
    if user.role == Role.OPERATIONS_MANAGER:
        return list(active)
    department_id = Practitioner.objects.filter(user=user).values_list("department_id", flat=True).first()
    return list(active.filter(pk=department_id)) if department_id else []


def sees_hospital(user: Any) -> bool:
    return has_capability(user, "management.cockpit") and user.role == Role.OPERATIONS_MANAGER


def scope_for(user: Any, department: str | int | None) -> Department | None:
    """The department to show (None: the hospital). Department heads always get their own;
    a department the user may not see is KPI-004."""
    require_capability(user, "management.cockpit")
    allowed = visible_departments(user)
    if department in (None, ""):
        if sees_hospital(user):
            return None
        if not allowed:
            raise NotFound()
        return allowed[0]
    text = str(department)
    for d in allowed:
        if text in (str(d.pk), d.national_code_id, getattr(d, "code", None)):
            return d
    raise UnknownDepartment(department=text[:40])


def department_by_code(text: str) -> Department:
    """For the command line (no user): a department by id or national code."""
    found = Department.objects.filter(
        Q(national_code_id=text) | Q(pk=int(text) if text.isdigit() else -1)
    ).first()
    if found is None:
        raise UnknownDepartment(department=text[:40])
    return found


# --- Settings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effective:
    target: float | None
    target_high: float | None
    margin: float
    weight: float
    baseline_year: int | None
    changed: bool


def effective_settings() -> dict[str, Effective]:
    """Each indicator's target, thresholds, weight and baseline year: the operations manager's
    settings over the plan's defaults."""
    saved = {s.code: s for s in IndicatorSetting.objects.all()}
    result = {}
    for indicator in all_indicators():
        s = saved.get(indicator.code)
        result[indicator.code] = Effective(
            target=s.target if s and s.target is not None else indicator.target,
            target_high=s.target_high if s and s.target_high is not None else indicator.target_high,
            margin=s.at_risk_margin if s and s.at_risk_margin is not None else indicator.margin,
            weight=s.weight if s and s.weight is not None else SCORE_WEIGHTS.get(indicator.code, 0.0),
            baseline_year=s.baseline_year if s else None,
            changed=s is not None,
        )
    return result


def setting_history(code: str | None = None, limit: int = 100) -> list[SettingChange]:
    rows = SettingChange.objects.select_related("changed_by")
    if code:
        rows = rows.filter(code=code)
    return list(rows[:limit])


# --- Values and status -----------------------------------------------------------------------------


def status_of(
    indicator: Indicator, value: float | None, target: float | None, high: float | None, margin: float
) -> str:
    if value is None:
        return NO_DATA
    if target is None:
        return NO_TARGET
    if indicator.direction == "lower":
        if value <= target:
            return ON_TARGET
        return AT_RISK if value <= target * (1 + margin) else OFF_TARGET
    if indicator.direction == "range" and high is not None:
        if target <= value <= high:
            return ON_TARGET
        return AT_RISK if target * (1 - margin) <= value <= high * (1 + margin) else OFF_TARGET
    if value >= target:
        return ON_TARGET
    return AT_RISK if value >= target * (1 - margin) else OFF_TARGET


@dataclass
class Result:
    indicator: Indicator
    numerator: float | None
    denominator: float | None
    value: float | None
    target: float | None
    target_high: float | None
    baseline: float | None
    baseline_year: int | None
    status: str
    weight: float
    trend: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.indicator.code

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": str(self.indicator.name),
            "group": self.indicator.group,
            "unit": self.indicator.unit,
            "direction": self.indicator.direction,
            "value": _round(self.value),
            "target": _round(self.target),
            "target_high": _round(self.target_high),
            "baseline": _round(self.baseline),
            "baseline_year": self.baseline_year,
            "status": self.status,
            "numerator": _round(self.numerator),
            "denominator": _round(self.denominator),
            "weight": self.weight,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass
class ScoreComponent:
    code: str
    name: str
    weight: float
    value: float | None
    target: float | None
    normalized: float | None  # 0..1, the value against its target (capped at 1)


@dataclass
class Score:
    value: float | None  # 0..100 over the components with data
    coverage: float  # share of the weight whose component has data
    components: list[ScoreComponent]

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": _round(self.value),
            "coverage": round(self.coverage, 4),
            "components": [
                {
                    "code": c.code,
                    "weight": c.weight,
                    "value": _round(c.value),
                    "target": _round(c.target),
                    "normalized": _round(c.normalized),
                }
                for c in self.components
            ],
        }


def normalized(
    indicator: Indicator, value: float | None, target: float | None, high: float | None
) -> float | None:
    """The value against its target on 0..1: reaching the target is 1."""
    if value is None or target is None:
        return None
    if indicator.direction == "lower":
        return 1.0 if value <= target else max(0.0, target / value)
    if indicator.direction == "range" and high is not None:
        if target <= value <= high:
            return 1.0
        return max(0.0, value / target) if value < target else max(0.0, high / value)
    if target <= 0:
        return 1.0
    return max(0.0, min(1.0, value / target))


def score_of(results: list[Result]) -> Score:
    components = []
    for r in results:
        if r.weight <= 0:
            continue
        components.append(
            ScoreComponent(
                r.code,
                str(r.indicator.name),
                r.weight,
                r.value,
                r.target,
                normalized(r.indicator, r.value, r.target, r.target_high),
            )
        )
    total = sum(c.weight for c in components)
    with_data = [c for c in components if c.normalized is not None]
    weight_with_data = sum(c.weight for c in with_data)
    value = (
        sum(c.weight * (c.normalized or 0.0) for c in with_data) / weight_with_data * 100
        if weight_with_data
        else None
    )
    return Score(value, weight_with_data / total if total else 0.0, components)


@dataclass
class Evaluation:
    period: Period
    department: Department | None
    results: list[Result]
    score: Score
    source: str  # "facts" or "live"

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "department": self.department.national_code_id if self.department else None,
            "source": self.source,
            "score": self.score.as_dict(),
            "indicators": {r.code: r.as_dict() for r in self.results},
        }


def _sums(
    start: dt.date, end: dt.date, department_id: int | None, codes: list[str], use_facts: bool
) -> dict[str, tuple[float, float] | None]:
    if use_facts:
        found = facts.period_sums(start, end, department_id)
        return {code: found.get(code) for code in codes}
    result: dict[str, tuple[float, float] | None] = {}
    for code in codes:
        result[code] = get(code).measure(start, end, department_id)
    return result


def baseline_value(indicator: Indicator, year: int, department_id: int | None) -> float | None:
    """The indicator over the whole baseline year (cached for an hour)."""
    key = f"kpi:baseline:{indicator.code}:{year}:{department_id}"
    cached = cache.get(key)
    if cached is not None:
        return cached.get("v")
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    if facts.covered(start, end) or facts.period_sums(start, end, department_id).get(indicator.code):
        sums = facts.period_sums(start, end, department_id).get(indicator.code)
    else:
        sums = indicator.measure(start, end, department_id)
    value = indicator.value_of(*sums) if sums else None
    cache.set(key, {"v": value}, 3600)
    return value


def evaluate(
    period: Period | str,
    department: Department | None = None,
    *,
    with_trend: bool = False,
    use_facts: bool | None = None,
    codes: list[str] | None = None,
) -> Evaluation:
    """Every indicator (or ``codes``) for the period and scope, with target, status and score.

    Reads the daily facts when every past day of the period has them; otherwise computes from the
    source data (slower: the command line does this for periods not yet backfilled)."""
    if isinstance(period, str):
        period = parse_period(period)
    department_id = department.pk if department else None
    if use_facts is None:
        use_facts = facts.covered(period.start, period.end)
    chosen = [get(c) for c in codes] if codes else all_indicators()
    settings_ = effective_settings()
    sums = _sums(period.start, period.end, department_id, [i.code for i in chosen], use_facts)
    trends: dict[str, dict[dt.date, tuple[float, float]]] = {}
    points = period.split()
    if with_trend and use_facts and len(points) > 1:
        trends = facts.trend_sums(
            period.start, period.end, "month" if period.kind in ("year", "quarter") else "day", department_id
        )
    results = []
    for indicator in chosen:
        s = settings_[indicator.code]
        pair = sums.get(indicator.code)
        if department_id is not None and not indicator.by_department:
            pair = None
        value = indicator.value_of(*pair) if pair else None
        target, baseline, year = s.target, None, None
        if indicator.baseline_change is not None:
            year = s.baseline_year or period.start.year - 1
            baseline = baseline_value(indicator, year, department_id)
            if not baseline:
                baseline = None  # a baseline of nothing is no baseline
            target = baseline * (1 + indicator.baseline_change) if baseline is not None else None
        trend: list[tuple[str, float | None]] = []
        if trends or (with_trend and use_facts):
            series = trends.get(indicator.code, {})
            for point in points:
                got = series.get(point.start)
                trend.append((point.label, indicator.value_of(*got) if got else None))
        results.append(
            Result(
                indicator,
                pair[0] if pair else None,
                pair[1] if pair else None,
                value,
                target,
                s.target_high,
                baseline,
                year,
                status_of(indicator, value, target, s.target_high, s.margin),
                s.weight,
                trend,
            )
        )
    return Evaluation(period, department, results, score_of(results), "facts" if use_facts else "live")


def default_period() -> Period:
    """The current quarter."""
    today = clock.today()
    return parse_period(f"{today.year}-Q{(today.month - 1) // 3 + 1}")


# --- Drill-downs ------------------------------------------------------------------------------------


@dataclass
class Breakdown:
    by: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart: dict[str, Any] | None = None
    note: str = ""


def drill_down(
    user: Any, indicator: Indicator, by: str, period: Period, department: Department | None
) -> Breakdown:
    """One breakdown of an indicator for the period and scope (see ``Indicator.drilldowns``)."""
    if by not in indicator.drilldowns:
        raise UnknownDrillDown(by=by[:20])
    if by == "department":
        return _by_department(user, indicator, period)
    if by == "hour":
        return _waits_by_hour(period, department)
    if by == "doctor":
        return _by_doctor(indicator, period, department)
    if by == "channel":
        return _by_channel(indicator, period, department)
    return _cases(user, indicator, period, department)


def _fmt(indicator: Indicator, value: float | None) -> str:
    from smartcare.kpi.templatetags.kpi import format_value

    return format_value(value, indicator.unit)


def _by_department(user: Any, indicator: Indicator, period: Period) -> Breakdown:
    departments = visible_departments(user)
    if facts.covered(period.start, period.end):
        sums = facts.department_sums(period.start, period.end, indicator.code)
    else:
        sums = {}
        for d in departments:
            got = indicator.measure(period.start, period.end, d.pk)
            if got:
                sums[d.pk] = got
    rows: list[list[Any]] = []
    for d in departments:
        got = sums.get(d.pk)
        value = indicator.value_of(*got) if got else None
        rows.append([d.name, _fmt(indicator, value), int(got[1]) if got else 0, value, d.pk])
    rows.sort(key=lambda r: (r[3] is None, -(r[3] or 0) if indicator.direction == "lower" else (r[3] or 0)))
    chart = {
        "labels": [r[0] for r in rows if r[3] is not None],
        "values": [round(r[3], 4) for r in rows if r[3] is not None],
    }
    return Breakdown(
        "department",
        str(_("By department")),
        [str(_("Department")), str(_("Value")), str(_("Cases"))],
        [[*r[:3], r[4]] for r in rows],
        chart,
    )


def _appointments(period: Period, department: Department | None) -> Any:
    from smartcare.kpi.indicators import day_bounds
    from smartcare.scheduling.models import Appointment

    since, until = day_bounds(period.start, period.end)
    rows = Appointment.objects.filter(
        checked_in_at__gte=since, checked_in_at__lt=until, called_at__isnull=False
    )
    if department is not None:
        rows = rows.filter(department=department)
    return rows


def _waits_by_hour(period: Period, department: Department | None) -> Breakdown:
    sums = facts.breakdown_sums(
        "arrival_wait", "hour", period.start, period.end, department.pk if department else None
    )
    rows = [[f"{key}:00", round(n / d, 1), int(d)] for key, (n, d) in sorted(sums.items()) if d]
    chart = {"labels": [r[0] for r in rows], "values": [r[1] for r in rows]}
    return Breakdown(
        "hour",
        str(_("By hour of arrival")),
        [str(_("Hour")), str(_("Minutes")), str(_("Visits"))],
        rows,
        chart,
    )


def _by_doctor(indicator: Indicator, period: Period, department: Department | None) -> Breakdown:
    sums = facts.breakdown_sums(
        indicator.code, "doctor", period.start, period.end, department.pk if department else None
    )
    names = _names([int(k) for k in sums if k.isdigit()])
    rows: list[list[Any]] = []
    for key, (n, d) in sums.items():
        if not d:
            continue
        name = names.get(int(key), "—") if key.isdigit() else "—"
        if indicator.code == "cdss_usage":
            rows.append([name, f"{n / d * 100:.1f} %", int(d), n / d])
        else:
            rows.append([name, round(n / d, 1), int(d), n / d])
    rows.sort(key=lambda r: r[3] if indicator.code == "cdss_usage" else -r[3])
    unit = str(_("Value")) if indicator.code == "cdss_usage" else str(_("Minutes"))
    count = str(_("Encounters")) if indicator.code == "cdss_usage" else str(_("Visits"))
    return Breakdown("doctor", str(_("By doctor")), [str(_("Doctor")), unit, count], [r[:3] for r in rows])


def _names(user_ids: list[int]) -> dict[int, str]:
    from django.contrib.auth import get_user_model

    return {u.pk: str(u) for u in get_user_model().objects.filter(pk__in=user_ids)}


def _by_channel(indicator: Indicator, period: Period, department: Department | None) -> Breakdown:
    from smartcare.scheduling.choices import Channel

    sums = facts.breakdown_sums(
        indicator.code, "channel", period.start, period.end, department.pk if department else None
    )
    labels = dict(Channel.choices)
    rows = []
    for key, (no_shows, total) in sorted(sums.items(), key=lambda kv: -kv[1][0]):
        share = no_shows / total if total else 0.0
        rows.append([str(labels.get(key, key)), int(total), int(no_shows), f"{share * 100:.1f} %"])
    chart = {"labels": [r[0] for r in rows], "values": [r[2] for r in rows]}
    return Breakdown(
        "channel",
        str(_("No-shows by booking channel")),
        [str(_("Channel")), str(_("Appointments")), str(_("No-shows")), str(_("No-show share"))],
        rows,
        chart,
    )


CASES_LIMIT = 20


def _cases(user: Any, indicator: Indicator, period: Period, department: Department | None) -> Breakdown:
    """The individual cases behind a figure: names only for the patients the user may see (the
    patient-access rules); every identified case shown is audited."""
    from smartcare.audit.choices import AuditAction
    from smartcare.audit.services import record
    from smartcare.kpi.indicators import zone
    from smartcare.patients.models import Patient
    from smartcare.scheduling.choices import AppointmentStatus
    from smartcare.scheduling.models import Appointment

    tz = zone()
    if indicator.code == "arrival_wait":
        from django.db.models import DurationField, ExpressionWrapper, F

        waited = ExpressionWrapper(F("called_at") - F("checked_in_at"), output_field=DurationField())
        picked = list(
            _appointments(period, department)
            .annotate(waited=waited)
            .select_related("department", "session__practitioner__user")
            .order_by("-waited", "pk")[:CASES_LIMIT]
        )
        title = str(_("Visits that waited longest"))
    else:
        qs = Appointment.objects.filter(
            date__gte=period.start, date__lte=period.end, status=AppointmentStatus.NO_SHOW
        )
        if department is not None:
            qs = qs.filter(department=department)
        picked = list(
            qs.select_related("department", "session__practitioner__user").order_by("-date", "-pk")[
                :CASES_LIMIT
            ]
        )
        title = str(_("Appointments not attended"))
    ids = {a.patient_id for a in picked}
    visible = dict(Patient.objects.visible_to(user).filter(pk__in=ids).values_list("pk", "name"))
    rows = []
    for a in picked:
        name = visible.get(a.patient_id)
        if name is not None:
            record(
                user,
                AuditAction.READ,
                patient=a.patient_id,
                obj=a,
                reason="kpi drill-down",
                detail={"indicator": indicator.code},
            )
        wait = (
            round((a.called_at - a.checked_in_at).total_seconds() / 60)
            if a.called_at and a.checked_in_at
            else None
        )
        rows.append(
            [
                a.date.isoformat(),
                a.department.name,
                str(a.session.practitioner.user) if a.session.practitioner_id else "—",
                a.checked_in_at.astimezone(tz).strftime("%H:%M") if a.checked_in_at else "—",
                wait if wait is not None else "—",
                name if name is not None else str(_("(not in your care)")),
            ]
        )
    note = "" if visible or not picked else str(_("Names are shown only for patients in your care."))
    return Breakdown(
        "cases",
        title,
        [
            str(_("Date")),
            str(_("Department")),
            str(_("Doctor")),
            str(_("Arrived")),
            str(_("Minutes waited")),
            str(_("Patient")),
        ],
        rows,
        None,
        note,
    )


# --- Actions and reports --------------------------------------------------------------------------


def actions_for(user: Any, status: str | None = None) -> list[ManagementAction]:
    rows = ManagementAction.objects.select_related("owner", "department", "created_by")
    if not sees_hospital(user):
        rows = rows.filter(department__in=[d.pk for d in visible_departments(user)])
    if status:
        rows = rows.filter(status=status)
    return list(rows.order_by("status", "due_on", "pk"))


def open_actions(code: str | None = None) -> list[ManagementAction]:
    rows = ManagementAction.objects.filter(status=ActionStatus.OPEN).select_related("owner")
    if code:
        rows = rows.filter(code=code)
    return list(rows)


def reports() -> list[QuarterlyReport]:
    return list(QuarterlyReport.objects.defer("html", "pdf", "data").order_by("-start"))
