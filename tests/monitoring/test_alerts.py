"""Alerts: hospital thresholds and a doctor's per-patient thresholds, deduplication while open,
trends over three days, notifications with advice, acknowledgement, and escalation timing with
the controllable clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import NotFound, PermissionDenied
from smartcare.monitoring import alerts, services
from smartcare.monitoring.choices import AlertStatus, Bounds, EscalationLevel
from smartcare.monitoring.errors import AlertAlreadyAcknowledged, InvalidThreshold
from smartcare.monitoring.ingest import Incoming, ReadingInput, store_batch
from smartcare.monitoring.models import Alert, DutyAssignment, Reading, Threshold
from smartcare.notifications.models import Notification
from tests.factories import TestHospital, staff
from tests.monitoring.conftest import Monitored

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")


def send(
    m: Monitored,
    kind: str,
    value: float,
    value2: float | None = None,
    *,
    when: dt.datetime | None = None,
    ident: str = "",
    pulse: float | None = None,
) -> Any:
    reading = ReadingInput(
        kind=kind, value=value, value2=value2, pulse=pulse, measured_at=when or clock.now(), message_id=ident
    )
    from django.db import transaction

    with transaction.atomic():
        return store_batch(
            [Incoming(patient_id=m.patient.pk, reading=reading, source="mqtt", device_id=m.device.pk)],
            actor=m.device.identity,
        )


@pytest.mark.parametrize(
    ("kind", "value", "value2", "severity", "direction"),
    [
        ("blood_pressure", 180, 100, "critical", "high"),  # at 180 systolic
        ("blood_pressure", 150, 110, "critical", "high"),  # at 110 diastolic
        ("blood_pressure", 179, 109, "warning", "high"),
        ("blood_pressure", 85, 55, "warning", "low"),
        ("spo2", 89, None, "critical", "low"),  # below 90%
        ("spo2", 92, None, "warning", "low"),
        ("glucose", 2.8, None, "critical", "low"),
        ("glucose", 3.5, None, "warning", "low"),
        ("glucose", 14.2, None, "warning", "high"),
        ("glucose", 17.0, None, "critical", "high"),
        ("heart_rate", 155, None, "critical", "high"),
    ],
)
def test_hospital_thresholds(
    monitored: Monitored, kind: str, value: float, value2: float | None, severity: str, direction: str
) -> None:
    outcome = send(monitored, kind, value, value2)
    [alert] = outcome.alerts
    assert (alert.kind, alert.severity, alert.direction, alert.status) == (kind, severity, direction, "open")
    assert alert.responsible == monitored.h.user("doctor")
    assert alert.department == monitored.h.cardiology
    reading = Reading.objects.get()
    assert reading.flag == ("C" if severity == "critical" else "W")
    assert (alert.critical_since is not None) == (severity == "critical")


@pytest.mark.parametrize(
    ("kind", "value", "value2"),
    [
        ("blood_pressure", 159, 99),
        ("blood_pressure", 90, 60),
        ("spo2", 94, None),
        ("glucose", 3.9, None),
        ("glucose", 13.8, None),
        ("weight", 82, None),
    ],
)
def test_values_within_bounds_raise_nothing(
    monitored: Monitored, kind: str, value: float, value2: float | None
) -> None:
    assert send(monitored, kind, value, value2).alerts == []
    assert Reading.objects.get().flag == ""
    assert not Alert.objects.exists()


def test_a_pulse_reported_by_a_bp_monitor_is_checked_as_heart_rate(monitored: Monitored) -> None:
    outcome = send(monitored, "blood_pressure", 130, 80, pulse=35)
    [alert] = outcome.alerts
    assert (alert.kind, alert.severity, alert.direction, alert.value_text) == (
        "heart_rate",
        "critical",
        "low",
        "35 /min",
    )


def test_the_patient_gets_advice_and_the_doctor_a_message(monitored: Monitored) -> None:
    monitored.patient.phone = "13912345678"
    monitored.patient.save()
    send(monitored, "blood_pressure", 186, 112)
    to_patient = Notification.objects.get(recipient=monitored.h.user("patient"), category="monitoring_alert")
    assert "186/112" in to_patient.subject
    assert "120" in to_patient.body  # call the emergency number
    assert {d.channel for d in to_patient.deliveries.all()} == {"in_app", "sms"}
    to_doctor = Notification.objects.get(recipient=monitored.h.user("doctor"), category="monitoring_alert")
    assert monitored.patient.name in to_doctor.body
    assert to_doctor.link == f"/monitoring/patients/{monitored.patient.pk}/"
    assert AuditEvent.objects.filter(
        object_type="monitoring.Alert", action="create", actor_role="device"
    ).exists()


def test_alerts_are_deduplicated_while_open_and_raised_again_after_acknowledgement(
    monitored: Monitored,
) -> None:
    first = send(monitored, "blood_pressure", 165, 95).alerts
    assert [a.severity for a in first] == ["warning"]
    assert send(monitored, "blood_pressure", 168, 96).alerts == []  # counted on the open alert
    assert Alert.objects.count() == 1
    # A critical reading turns the open warning into a critical alert, and everybody is told again.
    upgraded = send(monitored, "blood_pressure", 190, 115).alerts
    assert [a.pk for a in upgraded] == [first[0].pk]
    alert = Alert.objects.get()
    assert (alert.severity, alert.repeat_count, alert.value_text) == ("critical", 2, "190/115 mmHg")
    assert alert.critical_since is not None
    assert (
        Notification.objects.filter(recipient=monitored.h.user("doctor"), category="monitoring_alert").count()
        == 2
    )
    # Another measurement in the same batch is one alert too.
    services.acknowledge_alert(monitored.h.user("doctor"), alert.pk, note="called the patient")
    again = send(monitored, "blood_pressure", 185, 112).alerts
    assert len(again) == 1 and again[0].pk != alert.pk
    assert Alert.objects.filter(status=AlertStatus.OPEN).count() == 1


def test_one_batch_with_many_dangerous_readings_opens_one_alert(monitored: Monitored) -> None:
    readings = [
        Incoming(
            patient_id=monitored.patient.pk,
            reading=ReadingInput(
                kind="blood_pressure", value=170 + n, value2=100, measured_at=clock.now(), message_id=f"b{n}"
            ),
            source="mqtt",
            device_id=monitored.device.pk,
        )
        for n in range(15)
    ]
    from django.db import transaction

    with transaction.atomic():
        outcome = store_batch(readings, actor=None)
    assert len(outcome.stored) == 15
    [alert] = Alert.objects.all()
    assert alert.severity == "critical" and alert.repeat_count == 14
    assert alert.value_text == "180/100 mmHg"  # the first critical one


def test_a_doctor_adjusts_the_thresholds_of_one_patient(h: TestHospital, monitored: Monitored) -> None:
    doctor = h.user("doctor")
    services.set_thresholds(
        doctor,
        monitored.patient.pk,
        {("blood_pressure", "systolic"): Bounds(warning_low=100, warning_high=150, critical_high=170)},
        reason="post-stroke, tighter control",
    )
    [alert] = send(monitored, "blood_pressure", 172, 90).alerts
    assert alert.severity == "critical"
    row = Threshold.objects.get(patient=monitored.patient)
    assert (row.set_by, row.reason) == (doctor, "post-stroke, tighter control")
    # Other patients keep the hospital defaults.
    services.enroll_patient(doctor, h.patient_in_care.pk)
    from django.db import transaction

    with transaction.atomic():
        other = store_batch(
            [
                Incoming(
                    patient_id=h.patient_in_care.pk,
                    reading=ReadingInput(
                        kind="blood_pressure", value=172, value2=90, measured_at=clock.now()
                    ),
                    source="manual",
                )
            ],
            actor=None,
        )
    assert [a.severity for a in other.alerts] == ["warning"]
    # Setting it back to the hospital's bounds removes the patient's own row.
    services.set_thresholds(
        doctor,
        monitored.patient.pk,
        {("blood_pressure", "systolic"): Bounds(warning_low=90, warning_high=160, critical_high=180)},
    )
    assert not Threshold.objects.exists()


@pytest.mark.parametrize(
    "bounds",
    [
        Bounds(warning_high=190, critical_high=180),  # warning above critical
        Bounds(critical_low=95, warning_low=90),
        Bounds(warning_high=400),  # implausible
        Bounds(),  # nothing left
    ],
)
def test_invalid_thresholds_write_nothing(h: TestHospital, monitored: Monitored, bounds: Bounds) -> None:
    with pytest.raises(InvalidThreshold) as refused:
        services.set_thresholds(
            h.user("doctor"),
            monitored.patient.pk,
            {
                ("glucose", "value"): Bounds(warning_low=4, warning_high=10),
                ("blood_pressure", "systolic"): bounds,
            },
        )
    assert refused.value.code == "MON-007"
    assert "blood_pressure.systolic" in refused.value.errors
    assert not Threshold.objects.exists()


def test_only_doctors_with_access_adjust_thresholds(h: TestHospital, monitored: Monitored) -> None:
    change = {("spo2", "value"): Bounds(critical_low=88, warning_low=92)}
    with pytest.raises(PermissionDenied):
        services.set_thresholds(h.user("nurse"), monitored.patient.pk, change)
    with pytest.raises(NotFound):
        services.set_thresholds(h.user("neurologist"), monitored.patient.pk, change)
    assert not Threshold.objects.exists()


def test_acknowledging(h: TestHospital, monitored: Monitored) -> None:
    [alert] = send(monitored, "spo2", 87).alerts
    with pytest.raises(NotFound):
        services.acknowledge_alert(h.user("neurologist"), alert.pk)
    with pytest.raises(PermissionDenied):
        services.acknowledge_alert(h.user("nurse"), alert.pk)
    done = services.acknowledge_alert(h.user("doctor"), alert.pk, note="advised oxygen check")
    assert (done.status, done.acknowledged_by, done.acknowledgement_note) == (
        "acknowledged",
        h.user("doctor"),
        "advised oxygen check",
    )
    with pytest.raises(AlertAlreadyAcknowledged) as twice:
        services.acknowledge_alert(h.user("head"), alert.pk)
    assert twice.value.code == "MON-006"
    assert Notification.objects.filter(recipient=h.user("patient"), category="monitoring_reviewed").exists()


# --- Trends -----------------------------------------------------------------------------------------


def days_ago(days: int, hour: int = 8) -> dt.datetime:
    local = clock.local_now().replace(hour=hour, minute=0, second=0, microsecond=0)
    return local - dt.timedelta(days=days)


@pytest.fixture()
def morning() -> Any:
    # Tomorrow mid-morning: "today at 8:00" is in the past, and everything the fixtures set up
    # (care relationships start now) is already in force.
    moment = (clock.local_now() + dt.timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    with clock.frozen_at(moment):
        yield moment


def test_three_days_rising_raises_one_trend_alert(monitored: Monitored, morning: Any) -> None:
    for day, systolic in ((3, 150), (2, 128), (1, 134), (0, 141)):
        for hour, delta in ((7, 0), (19, 4)):
            send(monitored, "blood_pressure", systolic + delta, 85, when=days_ago(day, hour))
    assert alerts.evaluate_trends() == 1
    alert = Alert.objects.get(rule="trend")
    assert (alert.kind, alert.direction, alert.severity) == ("blood_pressure", "rising", "warning")
    assert alert.value_text == "130 → 136 → 141 mmHg"  # this evening's reading is not taken yet
    assert alerts.evaluate_trends() == 0  # deduplicated while open
    assert Notification.objects.filter(
        recipient=monitored.h.user("patient"), body__contains="three days"
    ).exists()


def test_weight_gain_over_three_days(monitored: Monitored, morning: Any) -> None:
    scale, _credential = monitored.pair("scale", "SC-1")
    from django.db import transaction

    for day, kg in ((2, 70.0), (1, 71.2), (0, 72.4)):
        with transaction.atomic():
            store_batch(
                [
                    Incoming(
                        patient_id=monitored.patient.pk,
                        reading=ReadingInput(kind="weight", value=kg, measured_at=days_ago(day)),
                        source="mqtt",
                        device_id=scale.pk,
                    )
                ],
                actor=None,
            )
    assert alerts.evaluate_trends() == 1
    assert Alert.objects.get().kind == "weight"


@pytest.mark.parametrize(
    "series",
    [
        [(2, 130), (1, 135), (0, 134)],  # not rising every day
        [(2, 130), (1, 133), (0, 136)],  # rising by less than 10 mmHg in all
        [(3, 130), (1, 140), (0, 150)],  # a day without readings
    ],
)
def test_no_trend(monitored: Monitored, morning: Any, series: list[tuple[int, float]]) -> None:
    for day, systolic in series:
        send(monitored, "blood_pressure", systolic, 80, when=days_ago(day))
    assert alerts.evaluate_trends() == 0


def test_trends_only_for_enrolled_patients(h: TestHospital, monitored: Monitored, morning: Any) -> None:
    for day, systolic in ((2, 120), (1, 131), (0, 142)):
        send(monitored, "blood_pressure", systolic, 80, when=days_ago(day))
    monitored.enrollment.ended_at = clock.now()
    monitored.enrollment.save()
    assert alerts.evaluate_trends() == 0


# --- Escalation --------------------------------------------------------------------------------------


@pytest.fixture()
def duty_doctor(h: TestHospital) -> Any:
    from smartcare.accounts.choices import Role

    return staff("dutydoc", Role.DOCTOR, h.cardiology)


def test_escalation_timing(h: TestHospital, monitored: Monitored, duty_doctor: Any, settings: Any) -> None:
    settings.SMARTCARE_MONITORING_ESCALATE_MINUTES = 15
    start = clock.now()
    with clock.frozen_at(start):
        services.assign_duty(
            h.user("head"),
            doctor_id=duty_doctor.pk,
            starts_at=start - dt.timedelta(hours=1),
            ends_at=start + dt.timedelta(hours=8),
        )
        [alert] = send(monitored, "blood_pressure", 200, 120).alerts
    with clock.frozen_at(start + dt.timedelta(minutes=14, seconds=59)):
        assert alerts.escalate_alerts() == {"duty_doctor": 0, "department_head": 0}
    with clock.frozen_at(start + dt.timedelta(minutes=15)):
        assert alerts.escalate_alerts() == {"duty_doctor": 1, "department_head": 0}
        assert alerts.escalate_alerts() == {"duty_doctor": 0, "department_head": 0}  # idempotent
    alert.refresh_from_db()
    assert alert.escalation_level == EscalationLevel.DUTY_DOCTOR
    assert Notification.objects.filter(recipient=duty_doctor, category="monitoring_escalation").count() == 1
    assert not Notification.objects.filter(
        recipient=h.user("head"), category="monitoring_escalation"
    ).exists()
    with clock.frozen_at(start + dt.timedelta(minutes=29)):
        assert alerts.escalate_alerts() == {"duty_doctor": 0, "department_head": 0}
    with clock.frozen_at(start + dt.timedelta(minutes=30)):
        assert alerts.escalate_alerts() == {"duty_doctor": 0, "department_head": 1}
    alert.refresh_from_db()
    assert alert.escalation_level == EscalationLevel.DEPARTMENT_HEAD
    assert (
        Notification.objects.filter(recipient=h.user("head"), category="monitoring_escalation").count() == 1
    )
    with clock.frozen_at(start + dt.timedelta(hours=5)):
        assert alerts.escalate_alerts() == {"duty_doctor": 0, "department_head": 0}  # nothing above the head
    assert (
        AuditEvent.objects.filter(object_type="monitoring.Alert", detail__event="alert_escalated").count()
        == 2
    )


def test_acknowledged_and_warning_alerts_do_not_escalate(h: TestHospital, monitored: Monitored) -> None:
    start = clock.now()
    with clock.frozen_at(start):
        [critical] = send(monitored, "spo2", 85).alerts
        send(monitored, "glucose", 14.5)  # a warning
        services.acknowledge_alert(h.user("doctor"), critical.pk)
    with clock.frozen_at(start + dt.timedelta(hours=2)):
        assert alerts.escalate_alerts() == {"duty_doctor": 0, "department_head": 0}
    assert not Notification.objects.filter(category="monitoring_escalation").exists()


def test_without_a_duty_doctor_the_head_is_told_first(h: TestHospital, monitored: Monitored) -> None:
    start = clock.now()
    with clock.frozen_at(start):
        [alert] = send(monitored, "glucose", 2.5).alerts
    with clock.frozen_at(start + dt.timedelta(minutes=16)):
        assert alerts.escalate_alerts() == {"duty_doctor": 0, "department_head": 1}
    alert.refresh_from_db()
    assert alert.escalation_level == EscalationLevel.DEPARTMENT_HEAD
    assert Notification.objects.filter(recipient=h.user("head"), category="monitoring_escalation").exists()


def test_the_escalation_clock_starts_when_a_warning_becomes_critical(
    h: TestHospital, monitored: Monitored
) -> None:
    start = clock.now()
    with clock.frozen_at(start):
        send(monitored, "blood_pressure", 165, 95)
    with clock.frozen_at(start + dt.timedelta(minutes=40)):
        send(monitored, "blood_pressure", 182, 105)
    with clock.frozen_at(start + dt.timedelta(minutes=50)):
        assert alerts.escalate_alerts() == {"duty_doctor": 0, "department_head": 0}
    with clock.frozen_at(start + dt.timedelta(minutes=56)):
        assert alerts.escalate_alerts()["department_head"] == 1


def test_a_rostering_module_may_name_the_duty_doctor(
    h: TestHospital, monitored: Monitored, duty_doctor: Any
) -> None:
    registered = list(alerts._DUTY_RESOLVERS)
    alerts.register_duty_resolver(
        lambda department_id, at: [duty_doctor] if department_id == h.cardiology.pk else []
    )
    try:
        start = clock.now()
        with clock.frozen_at(start):
            send(monitored, "spo2", 80)
        with clock.frozen_at(start + dt.timedelta(minutes=20)):
            assert alerts.escalate_alerts()["duty_doctor"] == 1
        assert not DutyAssignment.objects.exists()
        assert Notification.objects.filter(recipient=duty_doctor, category="monitoring_escalation").exists()
    finally:
        alerts._DUTY_RESOLVERS[:] = registered


def test_duty_needs_a_doctor_of_the_department(h: TestHospital) -> None:
    from smartcare.core.errors import InvalidInput

    now = clock.now()
    with pytest.raises(InvalidInput) as bad:
        services.assign_duty(
            h.user("head"),
            doctor_id=h.user("neurologist").pk,
            starts_at=now,
            ends_at=now - dt.timedelta(hours=1),
        )
    assert set(bad.value.errors) == {"doctor", "ends_at"}
    with pytest.raises(PermissionDenied):
        services.assign_duty(
            h.user("doctor"),
            doctor_id=h.user("doctor").pk,
            starts_at=now,
            ends_at=now + dt.timedelta(hours=1),
        )
    assert not DutyAssignment.objects.exists()
