"""Reads of home monitoring, restricted to what the user may see and audited.

* ``board``: a doctor's monitored patients (their own, or their department's), ordered by risk.
* ``patient_overview``: one patient's readings, trend charts, alerts, devices, thresholds and
  rehab plan, opened with ``access_patient`` (clinical, audited).
* ``own_overview``: the same for the signed-in patient.

Risk orders the board: open critical alerts first (longer unacknowledged and escalated is worse),
then warnings and trends, then dangerous readings of the last week, then patients whose devices
went silent for three days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.monitoring import rehab
from smartcare.monitoring.choices import (
    METRIC_LABELS,
    UNITS,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    DeviceStatus,
    Flag,
    MeasurementKind,
    RehabPlanStatus,
)
from smartcare.monitoring.models import Alert, Device, Enrollment, Reading, RehabPlan
from smartcare.monitoring.services import effective_thresholds
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

BOARD_WINDOW = dt.timedelta(days=7)
SILENT_AFTER = dt.timedelta(days=3)
CHART_KINDS = (
    MeasurementKind.BLOOD_PRESSURE,
    MeasurementKind.GLUCOSE,
    MeasurementKind.SPO2,
    MeasurementKind.WEIGHT,
    MeasurementKind.HEART_RATE,
    MeasurementKind.STEPS,
)
BOARD_KINDS = (
    MeasurementKind.BLOOD_PRESSURE,
    MeasurementKind.GLUCOSE,
    MeasurementKind.SPO2,
    MeasurementKind.WEIGHT,
)


@dataclass
class BoardRow:
    patient: Patient
    enrollment: Enrollment
    alerts: list[Alert] = field(default_factory=list)
    latest: dict[str, Reading] = field(default_factory=dict)
    critical_readings: int = 0
    warning_readings: int = 0
    last_reading_at: dt.datetime | None = None
    risk: int = 0
    silent: bool = False
    recent: dict[str, list[Reading]] = field(default_factory=dict)

    @property
    def latest_list(self) -> list[Reading | None]:
        return [self.latest.get(kind) for kind in BOARD_KINDS]

    @property
    def spark(self) -> dict[str, Any] | None:
        """A small 7-day chart of the first measurement the patient sends (blood pressure first)."""
        kind = next((k for k in BOARD_KINDS if self.recent.get(k)), None)
        if kind is None:
            return None
        spec = chart_spec(kind, self.recent[kind])
        spec.update(
            {
                "grid": {"left": 2, "right": 2, "top": 4, "bottom": 4},
                "legend": {"show": False},
                "xAxis": {"type": "time", "show": False},
                "yAxis": {"type": "value", "show": False, "scale": True},
            }
        )
        for series in spec["series"]:
            series["symbolSize"] = 3
        return spec


def risk_score(row: BoardRow, now: dt.datetime) -> int:
    score = 0
    for alert in row.alerts:
        if alert.severity == AlertSeverity.CRITICAL:
            waiting = (now - (alert.critical_since or alert.raised_at)).total_seconds() / 60
            score += 1000 + 200 * alert.escalation_level + min(int(waiting), 180)
        elif alert.rule == AlertRule.TREND:
            score += 150
        else:
            score += 300
    score += min(row.critical_readings, 10) * 20 + min(row.warning_readings, 10) * 5
    if row.silent:
        score += 50
    return score


def board(user: Any, scope: str = "mine") -> list[BoardRow]:
    """Monitored patients of the doctor (``mine``) or of the doctor's department (``department``),
    most at risk first. Only patients the user may see are listed; the listing is audited."""
    require_capability(user, "monitoring.view")
    department_id = getattr(getattr(user, "practitioner", None), "department_id", None)
    enrollments = Enrollment.objects.filter(
        ended_at__isnull=True, patient__in=Patient.objects.visible_to(user)
    )
    if scope == "department" and department_id is not None:
        enrollments = enrollments.filter(department_id=department_id)
    else:
        scope = "mine"
        enrollments = enrollments.filter(responsible=user)
    rows = {
        e.patient_id: BoardRow(patient=e.patient, enrollment=e)
        for e in enrollments.select_related("patient", "responsible")
    }
    record(user, AuditAction.SEARCH, obj=("monitoring.Board", scope), detail={"patients": len(rows)})
    if not rows:
        return []
    ids = list(rows)
    for alert in Alert.objects.filter(patient_id__in=ids, status=AlertStatus.OPEN).order_by(
        "-severity", "raised_at"
    ):
        rows[alert.patient_id].alerts.append(alert)
    now = clock.now()
    recent = Reading.objects.filter(
        patient_id__in=ids, measured_at__gte=now - BOARD_WINDOW, measured_at__lte=now
    ).only("pk", "patient_id", "kind", "value", "value2", "unit", "flag", "measured_at")
    for reading in recent.order_by("measured_at"):
        row = rows[reading.patient_id]
        if reading.kind in BOARD_KINDS:
            row.latest[reading.kind] = reading
            row.recent.setdefault(reading.kind, []).append(reading)
        if reading.flag == Flag.CRITICAL:
            row.critical_readings += 1
        elif reading.flag == Flag.WARNING:
            row.warning_readings += 1
        row.last_reading_at = reading.measured_at
    for row in rows.values():
        row.silent = row.last_reading_at is None or now - row.last_reading_at > SILENT_AFTER
        row.risk = risk_score(row, now)
    return sorted(rows.values(), key=lambda r: (-r.risk, r.patient.name))


# --- Charts ---------------------------------------------------------------------------------------


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def chart_spec(kind: str, readings: list[Reading], bounds: dict[str, Any] | None = None) -> dict[str, Any]:
    """ECharts options (drawn by web/dist/charts.js from ``data-chart``): a time series per metric,
    dangerous points marked, the alert bounds as dashed lines."""
    label = str(MeasurementKind(kind).label)
    unit = UNITS[kind]
    danger: dict[str, str] = {Flag.CRITICAL: "#c0392b", Flag.WARNING: "#e67e22"}

    def points(values: list[tuple[Reading, float | None]]) -> list[dict[str, Any]]:
        data = []
        for reading, value in values:
            if value is None:
                continue
            point: dict[str, Any] = {"value": [_local(reading.measured_at), round(value, 1)]}
            if reading.flag in danger:
                point["itemStyle"] = {"color": danger[reading.flag]}
                point["symbolSize"] = 10
            data.append(point)
        return data

    series: list[dict[str, Any]] = []
    if kind == MeasurementKind.BLOOD_PRESSURE:
        series.append(
            {"name": _("Systolic"), "type": "line", "data": points([(r, r.value) for r in readings])}
        )
        series.append(
            {"name": _("Diastolic"), "type": "line", "data": points([(r, r.value2) for r in readings])}
        )
    elif kind == MeasurementKind.STEPS:
        totals: dict[str, float] = {}
        for r in readings:
            day = timezone.localtime(r.measured_at).strftime("%Y-%m-%d")
            totals[day] = totals.get(day, 0.0) + r.value
        series.append(
            {"name": label, "type": "bar", "data": [[day, round(v)] for day, v in sorted(totals.items())]}
        )
    else:
        series.append({"name": label, "type": "line", "data": points([(r, r.value) for r in readings])})
    lines = []
    for name, value in (bounds or {}).items():
        if value is not None:
            lines.append(
                {
                    "yAxis": value,
                    "name": name,
                    "lineStyle": {
                        "type": "dashed",
                        "color": "#c0392b" if name.startswith("critical") else "#e67e22",
                    },
                }
            )
    if lines and series:
        series[0]["markLine"] = {"symbol": "none", "silent": True, "label": {"show": False}, "data": lines}
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"show": len(series) > 1},
        "grid": {"left": 45, "right": 15, "top": 30, "bottom": 30},
        "xAxis": {"type": "category" if kind == MeasurementKind.STEPS else "time"},
        "yAxis": {"type": "value", "name": unit, "scale": True},
        "series": series,
    }


def _charts(patient_id: int, days: int) -> list[dict[str, Any]]:
    since = clock.now() - dt.timedelta(days=days)
    readings = list(
        Reading.objects.filter(patient_id=patient_id, measured_at__gte=since, kind__in=CHART_KINDS).order_by(
            "measured_at"
        )
    )
    thresholds = effective_thresholds(patient_id)
    charts = []
    for kind in CHART_KINDS:
        mine = [r for r in readings if r.kind == kind]
        if not mine:
            continue
        metric = "systolic" if kind == MeasurementKind.BLOOD_PRESSURE else "value"
        bounds = thresholds.get((kind, metric))
        marks = (
            {k: v for k, v in bounds[0].as_dict().items() if k.endswith(("high", "low"))} if bounds else {}
        )
        charts.append(
            {
                "kind": kind,
                "label": MeasurementKind(kind).label,
                "latest": mine[-1],
                "count": len(mine),
                "spec": chart_spec(kind, mine, marks),
            }
        )
    return charts


def rehab_overview(patient_id: int) -> dict[str, Any] | None:
    plan = (
        RehabPlan.objects.filter(patient_id=patient_id, status=RehabPlanStatus.ACTIVE)
        .select_related("therapist", "department")
        .first()
    )
    if plan is None:
        return None
    progress = rehab.plan_progress(plan)
    for item in progress.values():
        item["spec"] = rehab_chart(item)
    return {
        "plan": plan,
        "progress": list(progress.values()),
        "suggestions": list(plan.suggestions.order_by("-created_at")[:10]),
        "pending": [s for s in plan.suggestions.all() if s.status == "pending"],
    }


def rehab_chart(item: dict[str, Any]) -> dict[str, Any]:
    days = [row["day"].strftime("%m-%d") for row in item["rows"]]
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"show": True},
        "grid": {"left": 45, "right": 15, "top": 30, "bottom": 30},
        "xAxis": {"type": "category", "data": days},
        "yAxis": {"type": "value"},
        "series": [
            {
                "name": _("Done"),
                "type": "bar",
                "data": [
                    {
                        "value": round(row["actual"]),
                        "itemStyle": {
                            "color": "#0b6e4f"
                            if row["target"] and row["actual"] >= row["target"]
                            else "#7fb8a4"
                        },
                    }
                    for row in item["rows"]
                ],
            },
            {
                "name": _("Target"),
                "type": "line",
                "step": "middle",
                "data": [row["target"] for row in item["rows"]],
            },
        ],
    }


def patient_overview(user: Any, patient_id: Any, *, days: int = 30) -> dict[str, Any]:
    """Everything the care team sees about one monitored patient (access audited as a read)."""
    require_capability(user, "monitoring.view")
    patient = access_patient(user, patient_id, AccessAction.CLINICAL, reason="home monitoring")
    enrollment = (
        Enrollment.objects.filter(patient=patient, ended_at__isnull=True)
        .select_related("responsible", "department")
        .first()
    )
    thresholds = effective_thresholds(patient.pk)
    return {
        "patient": patient,
        "enrollment": enrollment,
        "charts": _charts(patient.pk, days),
        "alerts": list(
            Alert.objects.filter(patient=patient)
            .select_related("acknowledged_by")
            .order_by("status", "-raised_at")[:30]
        ),
        "devices": list(
            Device.objects.filter(patient=patient, status=DeviceStatus.ACTIVE).prefetch_related("rejections")
        ),
        "thresholds": [
            {
                "key": key,
                "name": f"{key[0]}.{key[1]}",
                "label": METRIC_LABELS[key],
                "bounds": bounds,
                "own": own,
            }
            for key, (bounds, own) in thresholds.items()
        ],
        "rehab": rehab_overview(patient.pk),
        "days": days,
    }


def own_overview(user: Any, *, days: int = 14) -> dict[str, Any]:
    """The signed-in patient's readings, alerts with advice and rehab progress."""
    require_capability(user, "monitoring.own")
    own = Patient.objects.filter(user=user).first()
    if own is None:
        return {"patient": None}
    patient = access_patient(user, own, AccessAction.CLINICAL, reason="own monitoring")
    since = clock.now() - dt.timedelta(days=days)
    return {
        "patient": patient,
        "charts": _charts(patient.pk, days),
        "open_alerts": list(Alert.objects.filter(patient=patient, status=AlertStatus.OPEN)),
        "history": list(
            Alert.objects.filter(patient=patient, status=AlertStatus.ACKNOWLEDGED, raised_at__gte=since)[:10]
        ),
        "devices": list(Device.objects.filter(patient=patient, status=DeviceStatus.ACTIVE)),
        "rehab": rehab_overview(patient.pk),
        "days": days,
    }
