"""Alerts: raised by thresholds (at ingestion) and trends (a periodic job), sent to the patient
with advice and to the responsible doctor, deduplicated while open, escalated when critical and
unacknowledged.

Deduplication is the database's: at most one open alert per patient, measurement and rule
(``monitoring_one_open_alert``). A dangerous reading while one is open only counts on it; a
critical reading turns an open warning into a critical alert (and tells everyone again).

Escalation (``escalate_alerts``, every minute from the worker, with ``core.clock`` so that tests
move time): a critical alert still open ``SMARTCARE_MONITORING_ESCALATE_MINUTES`` after it became
critical goes to the department's duty doctor; as long after that, to the department head. A
department without a duty doctor goes straight to the head. Each step is a conditional update, so
several workers never notify twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Avg
from django.db.models.functions import TruncDate
from django.utils import translation
from django.utils.translation import gettext as _

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.monitoring.choices import (
    TREND_RULES,
    UNITS,
    AlertDirection,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    EscalationLevel,
    MeasurementKind,
    TrendRule,
)
from smartcare.monitoring.ingest import Breach
from smartcare.monitoring.models import Alert, DutyAssignment, Enrollment, Reading
from smartcare.notifications.choices import Channel
from smartcare.notifications.services import notify
from smartcare.patients.models import Patient

logger = logging.getLogger("smartcare.monitoring")

CATEGORY = "monitoring_alert"
ESCALATION_CATEGORY = "monitoring_escalation"


# --- Raising --------------------------------------------------------------------------------------


@dataclass
class _Group:
    reading: Reading
    breach: Breach
    readings: set[int]  # id() of the readings: systolic and diastolic of one reading count once
    last: dt.datetime

    @property
    def count(self) -> int:
        return len(self.readings)


def _rank(severity: str) -> int:
    return 2 if severity == AlertSeverity.CRITICAL else 1


def _value_text(reading: Reading, breach: Breach) -> str:
    if breach.kind == MeasurementKind.HEART_RATE and reading.kind != MeasurementKind.HEART_RATE:
        return f"{breach.value:g} /min"
    return reading.display_value


def raise_threshold_alerts(breaches: list[tuple[Reading, Breach]], *, actor: Any) -> list[Alert]:
    """Open (or update) one alert per patient and measurement for the breaches of a batch.

    Runs inside the caller's transaction. Returns the alerts that are new or became critical; the
    patient and the responsible doctor are notified about those.
    """
    groups: dict[tuple[int, str], _Group] = {}
    for reading, breach in breaches:
        key = (reading.patient_id, breach.kind)
        group = groups.get(key)
        if group is None:
            groups[key] = _Group(reading, breach, {id(reading)}, reading.measured_at)
            continue
        group.readings.add(id(reading))
        group.last = max(group.last, reading.measured_at)
        if _rank(breach.severity) > _rank(group.breach.severity):
            group.reading, group.breach = reading, breach
    patient_ids = {pid for pid, _kind in groups}
    open_alerts = {
        (a.patient_id, a.kind): a
        for a in Alert.objects.select_for_update(of=("self",)).filter(
            status=AlertStatus.OPEN, rule=AlertRule.THRESHOLD, patient_id__in=patient_ids
        )
    }
    enrollments = {
        e.patient_id: e for e in Enrollment.objects.filter(patient_id__in=patient_ids, ended_at__isnull=True)
    }
    now = clock.now()
    raised: list[tuple[Alert, bool]] = []
    for (patient_id, kind), group in groups.items():
        alert = open_alerts.get((patient_id, kind))
        if alert is None:
            enrollment = enrollments.get(patient_id)
            candidate = Alert(
                patient_id=patient_id,
                enrollment=enrollment,
                department_id=enrollment.department_id if enrollment else None,
                responsible_id=enrollment.responsible_id if enrollment else None,
                kind=kind,
                rule=AlertRule.THRESHOLD,
                severity=group.breach.severity,
                direction=group.breach.direction,
                reading=group.reading,
                value_text=_value_text(group.reading, group.breach),
                raised_at=now,
                critical_since=now if group.breach.severity == AlertSeverity.CRITICAL else None,
                last_seen_at=group.last,
                repeat_count=group.count - 1,
            )
            try:
                with transaction.atomic():
                    candidate.save(force_insert=True)
            except IntegrityError:
                # Another writer (the FHIR endpoint beside the bridge) opened it a moment ago.
                alert = (
                    Alert.objects.select_for_update(of=("self",))
                    .filter(
                        status=AlertStatus.OPEN, rule=AlertRule.THRESHOLD, patient_id=patient_id, kind=kind
                    )
                    .first()
                )
                if alert is None:
                    raise
            else:
                raised.append((candidate, False))
                continue
        if _absorb(alert, group, now):
            raised.append((alert, True))
    if raised:
        _announce(raised, actor)
    return [alert for alert, _upgraded in raised]


def _absorb(alert: Alert, group: _Group, now: dt.datetime) -> bool:
    """Count further readings on an open alert; True when it became critical."""
    alert.repeat_count += group.count
    alert.last_seen_at = max(alert.last_seen_at or group.last, group.last)
    fields = ["repeat_count", "last_seen_at", "updated_at"]
    upgraded = _rank(group.breach.severity) > _rank(alert.severity)
    if upgraded:
        alert.severity = group.breach.severity
        alert.direction = group.breach.direction
        alert.reading = group.reading
        alert.value_text = _value_text(group.reading, group.breach)
        alert.critical_since = now
        fields += ["severity", "direction", "reading", "value_text", "critical_since"]
    alert.save(update_fields=fields)
    return upgraded


def raise_trend_alert(
    patient_id: int, rule: TrendRule, value_text: str, *, actor: Any = None
) -> Alert | None:
    """Open a trend alert unless one is open for this patient and measurement."""
    enrollment = Enrollment.objects.filter(patient_id=patient_id, ended_at__isnull=True).first()
    now = clock.now()
    alert = Alert(
        patient_id=patient_id,
        enrollment=enrollment,
        department_id=enrollment.department_id if enrollment else None,
        responsible_id=enrollment.responsible_id if enrollment else None,
        kind=rule.kind,
        rule=AlertRule.TREND,
        severity=AlertSeverity.WARNING,
        direction=rule.direction,
        value_text=value_text[:100],
        raised_at=now,
        last_seen_at=now,
    )
    try:
        with transaction.atomic():
            alert.save(force_insert=True)
    except IntegrityError:
        return None  # one is open: deduplicated
    _announce([(alert, False)], actor)
    return alert


def _announce(raised: list[tuple[Alert, bool]], actor: Any) -> None:
    patients = {
        p.pk: p
        for p in Patient.objects.filter(pk__in={a.patient_id for a, _u in raised}).select_related("user")
    }
    doctors = {
        u.pk: u
        for u in User.objects.filter(pk__in={a.responsible_id for a, _u in raised if a.responsible_id})
    }
    for alert, upgraded in raised:
        patient = patients[alert.patient_id]
        record(
            actor,
            AuditAction.UPDATE if upgraded else AuditAction.CREATE,
            patient=patient,
            obj=alert,
            actor_username="" if actor else "monitoring",
            detail={
                "event": "alert_critical" if upgraded else "alert_raised",
                "kind": alert.kind,
                "rule": alert.rule,
                "severity": alert.severity,
            },
        )
        _tell_patient(alert, patient)
        doctor = doctors.get(alert.responsible_id or 0)
        if doctor is not None:
            _tell_doctor(alert, patient, doctor, CATEGORY)


def _language(user: Any) -> str:
    return getattr(user, "preferred_language", "") or settings.LANGUAGE_CODE


def _measure(kind: str) -> str:
    return str(MeasurementKind(kind).label)


def _tell_patient(alert: Alert, patient: Patient) -> None:
    user = patient.user
    if user is None or not user.is_active:
        return
    critical = alert.severity == AlertSeverity.CRITICAL
    with translation.override(_language(user)):
        subject = _("Health alert: %(measure)s %(value)s") % {
            "measure": _measure(alert.kind),
            "value": alert.value_text,
        }
        body = alert.advice
    channels: tuple[str, ...] = (
        (Channel.IN_APP, Channel.SMS) if critical and patient.phone else (Channel.IN_APP,)
    )
    notify(
        user,
        category=CATEGORY,
        subject=subject,
        body=body,
        link="/monitoring/me/",
        channels=channels,
        phone=patient.phone if critical else "",
    )


def _tell_doctor(
    alert: Alert, patient: Patient, doctor: Any, category: str, *, escalated: bool = False
) -> None:
    with translation.override(_language(doctor)):
        params = {
            "severity": str(AlertSeverity(alert.severity).label),
            "patient": patient.name,
            "mrn": patient.medical_record_number,
            "measure": _measure(alert.kind),
            "value": alert.value_text,
            "rule": str(AlertRule(alert.rule).label),
        }
        if escalated:
            subject = _("Escalated: unacknowledged %(severity)s alert for %(patient)s") % params
        else:
            subject = _("%(severity)s alert: %(patient)s, %(measure)s %(value)s") % params
        body = (
            _(
                "%(patient)s (%(mrn)s): %(measure)s %(value)s (%(rule)s). Open the monitoring board "
                "to review and acknowledge it."
            )
            % params
        )
    notify(
        doctor,
        category=category,
        subject=subject,
        body=body,
        link=f"/monitoring/patients/{alert.patient_id}/",
    )


# --- Trends ---------------------------------------------------------------------------------------


def _daily_means(rule: TrendRule, start: dt.datetime) -> dict[int, dict[dt.date, float]]:
    tz = ZoneInfo(settings.TIME_ZONE)
    field = "value2" if rule.metric == "diastolic" else "value"
    rows = (
        Reading.objects.filter(
            kind=rule.kind,
            measured_at__gte=start,
            measured_at__lte=clock.now(),
            patient__monitoring_enrollments__ended_at__isnull=True,
        )
        .annotate(day=TruncDate("measured_at", tzinfo=tz))
        .values("patient_id", "day")
        .annotate(mean=Avg(field))
    )
    means: dict[int, dict[dt.date, float]] = {}
    for row in rows:
        means.setdefault(row["patient_id"], {})[row["day"]] = float(row["mean"])
    return means


def trend_of(days: list[dt.date], means: dict[dt.date, float], rule: TrendRule) -> list[float] | None:
    """The daily means when they move ``rule.direction`` every day by ``rule.min_change`` in all."""
    if any(day not in means for day in days):
        return None
    values = [means[day] for day in days]
    sign = 1 if rule.direction == AlertDirection.RISING else -1
    steps = [sign * (b - a) for a, b in itertools.pairwise(values)]
    if all(step > 0 for step in steps) and sign * (values[-1] - values[0]) >= rule.min_change:
        return values
    return None


def evaluate_trends() -> int:
    """Raise trend alerts for enrolled patients (today counts as the last day). Idempotent."""
    today = clock.today()
    raised = 0
    for rule in TREND_RULES:
        days = [today - dt.timedelta(days=n) for n in range(rule.days - 1, -1, -1)]
        start = dt.datetime.combine(days[0], dt.time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))
        for patient_id, means in _daily_means(rule, start).items():
            values = trend_of(days, means, rule)
            if values is None:
                continue
            text = " → ".join(f"{v:.0f}" if v >= 20 else f"{v:.1f}" for v in values)
            with transaction.atomic():
                if raise_trend_alert(patient_id, rule, f"{text} {UNITS[rule.kind]}") is not None:
                    raised += 1
    return raised


# --- Escalation -----------------------------------------------------------------------------------

DutyResolver = Callable[[int, dt.datetime], list[Any]]
_DUTY_RESOLVERS: list[DutyResolver] = []


def register_duty_resolver(resolver: DutyResolver) -> None:
    """A rostering module tells who is on duty for a department (department id, time) -> users."""
    if resolver not in _DUTY_RESOLVERS:
        _DUTY_RESOLVERS.append(resolver)


def duty_doctors(department_id: int, at: dt.datetime) -> list[Any]:
    """The duty doctors entered for monitoring (an explicit choice wins), else whoever a rostering
    module says is on a doctor's shift of the department at that moment."""
    ids = DutyAssignment.objects.filter(
        department_id=department_id, starts_at__lte=at, ends_at__gt=at
    ).values_list("doctor_id", flat=True)
    entered = list(User.objects.filter(pk__in=ids, is_active=True))
    if entered:
        return entered
    for resolver in _DUTY_RESOLVERS:
        found = [u for u in resolver(department_id, at) if u is not None and u.is_active]
        if found:
            return found
    return []


def department_heads(department_id: int) -> list[Any]:
    return list(
        User.objects.filter(
            role=Role.DEPARTMENT_HEAD, is_active=True, practitioner__department_id=department_id
        )
    )


def escalate_alerts() -> dict[str, int]:
    """Move unacknowledged critical alerts up one step when their time is up. Idempotent."""
    after = dt.timedelta(minutes=settings.SMARTCARE_MONITORING_ESCALATE_MINUTES)
    now = clock.now()
    counts = {"duty_doctor": 0, "department_head": 0}
    due_first = Alert.objects.filter(
        status=AlertStatus.OPEN,
        severity=AlertSeverity.CRITICAL,
        escalation_level=EscalationLevel.RESPONSIBLE,
        critical_since__lte=now - after,
        department__isnull=False,
    ).values_list("pk", "department_id", "responsible_id")
    for pk, department_id, responsible_id in list(due_first):
        duty = [u for u in duty_doctors(department_id, now) if u.pk != responsible_id]
        level = EscalationLevel.DUTY_DOCTOR if duty else EscalationLevel.DEPARTMENT_HEAD
        recipients = duty or department_heads(department_id)
        if _escalate(pk, EscalationLevel.RESPONSIBLE, level, recipients, now):
            counts["duty_doctor" if duty else "department_head"] += 1
    due_second = Alert.objects.filter(
        status=AlertStatus.OPEN,
        severity=AlertSeverity.CRITICAL,
        escalation_level=EscalationLevel.DUTY_DOCTOR,
        escalated_at__lte=now - after,
        department__isnull=False,
    ).values_list("pk", "department_id")
    for pk, department_id in list(due_second):
        if _escalate(
            pk,
            EscalationLevel.DUTY_DOCTOR,
            EscalationLevel.DEPARTMENT_HEAD,
            department_heads(department_id),
            now,
        ):
            counts["department_head"] += 1
    return counts


@transaction.atomic
def _escalate(pk: int, current: int, level: int, recipients: list[Any], now: dt.datetime) -> bool:
    moved = Alert.objects.filter(pk=pk, status=AlertStatus.OPEN, escalation_level=current).update(
        escalation_level=level, escalated_at=now, updated_at=now
    )
    if not moved:
        return False  # acknowledged meanwhile, or another worker escalated it
    alert = Alert.objects.select_related("patient").get(pk=pk)
    record(
        None,
        AuditAction.UPDATE,
        actor_username="monitoring-escalation",
        patient=alert.patient_id,
        obj=alert,
        detail={
            "event": "alert_escalated",
            "level": int(level),
            "recipients": [u.username for u in recipients],
        },
    )
    for user in recipients:
        _tell_doctor(alert, alert.patient, user, ESCALATION_CATEGORY, escalated=True)
    if not recipients:
        logger.warning("MON escalation: nobody to tell for alert %s (department %s)", pk, alert.department_id)
    return True
