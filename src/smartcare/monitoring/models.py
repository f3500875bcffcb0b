"""Home monitoring: devices paired to patients, their readings, thresholds, alerts with escalation,
duty doctors, and rehab plans with targets checked against wearable data.

Invariants the database enforces: one reading per device message id (deduplication of resent
messages), one open alert per patient, measurement and rule (alerts are deduplicated while one is
open), one active monitoring enrolment and one active rehab plan per patient, one pending
suggestion per plan and target, one threshold row per patient (or hospital) and metric.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.fields import EncryptedTextField
from smartcare.core.models import TimeStampedModel
from smartcare.monitoring.choices import (
    UNITS,
    AlertDirection,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    Bounds,
    DeviceKind,
    DeviceStatus,
    EscalationLevel,
    Flag,
    GlucoseContext,
    MeasurementKind,
    ReadingSource,
    RehabPlanStatus,
    RehabTargetKind,
    SuggestionRule,
    SuggestionStatus,
)

CREDENTIAL_PREFIX = "scd"


class Device(TimeStampedModel):
    """A home device handed to a patient. It acts as a machine identity of its own (``identity``,
    role ``device``) and proves itself with its own secret, of which only a SHA-256 is stored.

    The credential shown once to the nurse is ``scd_<uid>_<secret>``; ``uid`` also names the
    device's MQTT topic.
    """

    uid = models.CharField(_("device id"), max_length=16, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=DeviceKind.choices)
    manufacturer = models.CharField(_("manufacturer"), max_length=100, blank=True)
    model_name = models.CharField(_("model"), max_length=100, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=64)
    identity = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="monitoring_device",
        verbose_name=_("machine identity"),
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="monitoring_devices",
        verbose_name=_("paired patient"),
    )
    paired_at = models.DateTimeField(_("paired at"), null=True, blank=True)
    paired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DeviceStatus.choices, default=DeviceStatus.ACTIVE
    )
    secret_hash = models.CharField(_("credential hash"), max_length=64)
    credential_issued_at = models.DateTimeField(_("credential issued at"), default=clock.now)
    last_seen_at = models.DateTimeField(_("last reading at"), null=True, blank=True)

    class Meta:
        verbose_name = _("monitoring device")
        verbose_name_plural = _("monitoring devices")
        ordering = ["kind", "uid"]
        constraints = [
            models.UniqueConstraint(
                fields=["manufacturer", "serial_number"], name="monitoring_device_serial_unique"
            ),
            models.CheckConstraint(
                condition=Q(patient__isnull=True) | Q(paired_at__isnull=False),
                name="monitoring_paired_device_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.uid}"

    @staticmethod
    def hash_secret(credential: str) -> str:
        return hashlib.sha256(credential.encode()).hexdigest()

    @staticmethod
    def new_uid() -> str:
        return secrets.token_hex(6)

    @classmethod
    def new_credential(cls, uid: str) -> str:
        return f"{CREDENTIAL_PREFIX}_{uid}_{secrets.token_urlsafe(32)}"

    @property
    def is_paired(self) -> bool:
        return self.patient_id is not None and self.status == DeviceStatus.ACTIVE


class Enrollment(TimeStampedModel):
    """A patient in home monitoring: which department watches the readings and which doctor is
    responsible for the alerts. Enrolment gives the department a care relationship."""

    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        related_name="monitoring_enrollments",
        verbose_name=_("patient"),
    )
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, related_name="+", verbose_name=_("department")
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="monitoring_enrollments",
        verbose_name=_("responsible doctor"),
    )
    reason = EncryptedTextField(_("reason for monitoring"), blank=True)
    started_at = models.DateTimeField(_("started at"), default=clock.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("monitoring enrolment")
        verbose_name_plural = _("monitoring enrolments")
        indexes = [
            models.Index(fields=["responsible", "ended_at"]),
            models.Index(fields=["department", "ended_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(ended_at__isnull=True),
                name="monitoring_one_active_enrollment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} -> {self.department_id}"


class Reading(models.Model):
    """One measurement. Blood pressure keeps systolic in ``value`` and diastolic in ``value2``;
    blood pressure monitors and oximeters may add the pulse. Steps and exercise minutes count
    what was done since the device's previous report (daily totals are sums)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="monitoring_readings"
    )
    device = models.ForeignKey(
        Device, on_delete=models.PROTECT, null=True, blank=True, related_name="readings"
    )
    kind = models.CharField(_("measurement"), max_length=20, choices=MeasurementKind.choices)
    value = models.FloatField(_("value"))
    value2 = models.FloatField(_("diastolic"), null=True, blank=True)
    pulse = models.FloatField(_("pulse"), null=True, blank=True)
    unit = models.CharField(_("unit"), max_length=12)
    context = models.CharField(_("context"), max_length=12, choices=GlucoseContext.choices, blank=True)
    measured_at = models.DateTimeField(_("measured at"))
    received_at = models.DateTimeField(_("received at"), default=clock.now)
    source = models.CharField(_("source"), max_length=8, choices=ReadingSource.choices)
    message_id = models.CharField(_("message id"), max_length=64, blank=True)
    flag = models.CharField(_("flag"), max_length=1, choices=Flag.choices, blank=True, default="")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("reading")
        verbose_name_plural = _("readings")
        ordering = ["measured_at", "pk"]
        indexes = [models.Index(fields=["patient", "kind", "measured_at"], name="monitoring_reading_series")]
        constraints = [
            # A device that resends a message (lost acknowledgement, broker restart) is stored once.
            models.UniqueConstraint(
                fields=["device", "message_id"],
                condition=Q(device__isnull=False) & ~Q(message_id=""),
                name="monitoring_reading_message_once",
            ),
            models.CheckConstraint(
                condition=Q(value2__isnull=True) | Q(kind=MeasurementKind.BLOOD_PRESSURE),
                name="monitoring_value2_only_bp",
            ),
            models.CheckConstraint(
                condition=~Q(kind=MeasurementKind.BLOOD_PRESSURE) | Q(value2__isnull=False),
                name="monitoring_bp_has_diastolic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.display_value}"

    @property
    def display_value(self) -> str:
        if self.kind == MeasurementKind.BLOOD_PRESSURE:
            return f"{self.value:g}/{(self.value2 or 0):g} {self.unit}"
        return f"{round(self.value, 1):g} {self.unit}"


class Threshold(TimeStampedModel):
    """Alert bounds for one metric: hospital-wide without a patient, for one patient with one.
    A row replaces the default bounds of its metric as a whole."""

    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="monitoring_thresholds",
        verbose_name=_("patient"),
    )
    kind = models.CharField(_("measurement"), max_length=20, choices=MeasurementKind.choices)
    metric = models.CharField(_("metric"), max_length=12)
    critical_low = models.FloatField(_("critical below"), null=True, blank=True)
    warning_low = models.FloatField(_("warning below"), null=True, blank=True)
    warning_high = models.FloatField(_("warning at or above"), null=True, blank=True)
    critical_high = models.FloatField(_("critical at or above"), null=True, blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("alert threshold")
        verbose_name_plural = _("alert thresholds")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind", "metric"],
                condition=Q(patient__isnull=False),
                name="monitoring_threshold_per_patient",
            ),
            models.UniqueConstraint(
                fields=["kind", "metric"],
                condition=Q(patient__isnull=True),
                name="monitoring_threshold_hospital",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}.{self.metric} ({self.patient_id or 'hospital'})"

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.critical_low, self.warning_low, self.warning_high, self.critical_high)


class Alert(TimeStampedModel):
    """A dangerous value or trend, sent to the patient (with advice) and the responsible doctor.

    While an alert is open, further matching readings only count on it (``repeat_count``); a
    critical reading raises a warning alert to critical. Unacknowledged critical alerts escalate:
    to the department's duty doctor, then to the department head.
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="monitoring_alerts"
    )
    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="monitoring_alerts",
        verbose_name=_("responsible doctor"),
    )
    kind = models.CharField(_("measurement"), max_length=20, choices=MeasurementKind.choices)
    rule = models.CharField(_("rule"), max_length=10, choices=AlertRule.choices)
    severity = models.CharField(_("severity"), max_length=10, choices=AlertSeverity.choices)
    direction = models.CharField(_("direction"), max_length=10, choices=AlertDirection.choices)
    status = models.CharField(
        _("status"), max_length=14, choices=AlertStatus.choices, default=AlertStatus.OPEN
    )
    reading = models.ForeignKey(Reading, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    value_text = models.CharField(_("value"), max_length=100)
    raised_at = models.DateTimeField(_("raised at"), default=clock.now)
    critical_since = models.DateTimeField(_("critical since"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last matching reading"), null=True, blank=True)
    repeat_count = models.PositiveIntegerField(_("further matching readings"), default=0)
    escalation_level = models.PositiveSmallIntegerField(
        _("escalation"), choices=EscalationLevel.choices, default=EscalationLevel.RESPONSIBLE
    )
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledgement_note = EncryptedTextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("monitoring alert")
        verbose_name_plural = _("monitoring alerts")
        ordering = ["-raised_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "severity", "escalation_level"]),
            models.Index(fields=["patient", "status"]),
            models.Index(fields=["department", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind", "rule"],
                condition=Q(status=AlertStatus.OPEN),
                name="monitoring_one_open_alert",
            ),
            models.CheckConstraint(
                condition=Q(status=AlertStatus.OPEN) | Q(acknowledged_at__isnull=False),
                name="monitoring_acknowledged_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(severity=AlertSeverity.CRITICAL) | Q(critical_since__isnull=False),
                name="monitoring_critical_has_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.kind} {self.value_text} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == AlertStatus.OPEN

    @property
    def advice(self) -> str:
        from smartcare.monitoring.advice import patient_advice

        return str(patient_advice(self.kind, self.rule, self.severity, self.direction))


class DutyAssignment(TimeStampedModel):
    """Who answers escalated monitoring alerts of a department during a period (the duty doctor).
    A rostering module may answer instead through ``monitoring.escalation.register_duty_resolver``."""

    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, related_name="+", verbose_name=_("department")
    )
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("duty doctor")
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("monitoring duty")
        verbose_name_plural = _("monitoring duties")
        ordering = ["department", "starts_at"]
        indexes = [models.Index(fields=["department", "starts_at", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="monitoring_duty_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.department_id}: {self.doctor_id} {self.starts_at:%Y-%m-%d %H:%M}"


class RehabPlan(TimeStampedModel):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="rehab_plans")
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, related_name="+", verbose_name=_("department")
    )
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="rehab_plans",
        verbose_name=_("therapist"),
    )
    goal = EncryptedTextField(_("goal"), blank=True)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RehabPlanStatus.choices, default=RehabPlanStatus.ACTIVE
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("rehab plan")
        verbose_name_plural = _("rehab plans")
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status=RehabPlanStatus.ACTIVE),
                name="monitoring_one_active_rehab_plan",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="monitoring_rehab_dates",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} ({self.status})"


class RehabTarget(models.Model):
    """A daily target, effective from a date until the next target of the same kind."""

    plan = models.ForeignKey(RehabPlan, on_delete=models.CASCADE, related_name="targets")
    kind = models.CharField(_("target"), max_length=20, choices=RehabTargetKind.choices)
    daily_target = models.PositiveIntegerField(_("daily target"))
    effective_from = models.DateField(_("effective from"))
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(_("set at"), default=clock.now)

    class Meta:
        verbose_name = _("rehab target")
        verbose_name_plural = _("rehab targets")
        ordering = ["plan", "kind", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "kind", "effective_from"], name="monitoring_one_target_per_day"
            ),
            models.CheckConstraint(condition=Q(daily_target__gt=0), name="monitoring_target_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.daily_target} from {self.effective_from}"

    @property
    def unit(self) -> str:
        return UNITS[self.kind]


class RehabSuggestion(TimeStampedModel):
    """An adjustment the rules propose; the therapist accepts it, edits the target or dismisses it."""

    plan = models.ForeignKey(RehabPlan, on_delete=models.CASCADE, related_name="suggestions")
    kind = models.CharField(_("target"), max_length=20, choices=RehabTargetKind.choices)
    rule = models.CharField(_("rule"), max_length=12, choices=SuggestionRule.choices)
    current_target = models.PositiveIntegerField(_("current target"))
    suggested_target = models.PositiveIntegerField(_("suggested target"))
    window_start = models.DateField(_("first day"))
    window_end = models.DateField(_("last day"))
    daily_values = models.JSONField(_("daily values"), default=list)
    status = models.CharField(
        _("status"), max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    applied_target = models.PositiveIntegerField(_("applied target"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("rehab suggestion")
        verbose_name_plural = _("rehab suggestions")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "kind"],
                condition=Q(status=SuggestionStatus.PENDING),
                name="monitoring_one_pending_suggestion",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.kind}: {self.current_target} -> {self.suggested_target}"


class IngestRejection(models.Model):
    """A device message that was refused, with the reason (also logged). Kept for the operator and
    the device's page; the payload itself is not kept (it may hold health data)."""

    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="rejections"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=ReadingSource.choices)
    topic = models.CharField(_("topic"), max_length=200, blank=True)
    message_id = models.CharField(_("message id"), max_length=64, blank=True)
    code = models.CharField(_("error code"), max_length=10)
    reason = models.CharField(_("reason"), max_length=300)
    received_at = models.DateTimeField(_("received at"), default=clock.now, db_index=True)

    class Meta:
        verbose_name = _("rejected device message")
        verbose_name_plural = _("rejected device messages")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.code} {self.reason}"


def effective_target(targets: list[RehabTarget], kind: str, day: Any) -> int | None:
    """The daily target of ``kind`` in force on ``day`` (targets sorted by effective_from)."""
    found = None
    for target in targets:
        if target.kind == kind and target.effective_from <= day:
            found = target.daily_target
    return found
