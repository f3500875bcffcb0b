"""Equipment: assets, their telemetry (raw and hourly roll-ups), usage, alerts, failure predictions,
work orders and preventive maintenance plans."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from smartcare.core.models import TimeStampedModel
from smartcare.equipment.choices import (
    AlertRule,
    AlertStatus,
    AssetKind,
    AssetStatus,
    Metric,
    Severity,
    TelemetrySource,
    WorkOrderKind,
    WorkOrderStatus,
)


class Asset(TimeStampedModel):
    """A piece of equipment with its identity on the telemetry channels."""

    kind = models.CharField(_("type"), max_length=20, choices=AssetKind.choices)
    name = models.CharField(_("name"), max_length=120)
    maker = models.CharField(_("maker"), max_length=80)
    model_name = models.CharField(_("model"), max_length=80)
    serial_number = models.CharField(_("serial number"), max_length=80)
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        related_name="equipment",
        verbose_name=_("department"),
    )
    room = models.ForeignKey(
        "organization.Room",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="equipment",
        verbose_name=_("room"),
    )
    location = models.CharField(_("location"), max_length=120, blank=True)
    purchase_date = models.DateField(_("purchase date"), null=True, blank=True)
    purchase_price = models.DecimalField(
        _("purchase price (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    warranty_until = models.DateField(_("warranty until"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=AssetStatus.choices, default=AssetStatus.IN_SERVICE
    )
    exam_types = models.ManyToManyField(
        "scheduling.ExamType", blank=True, related_name="equipment", verbose_name=_("exams served")
    )
    # Public: names the MQTT topic. The credential is shown once; only its SHA-256 is kept.
    uid = models.CharField(_("device id"), max_length=12, unique=True)
    credential_hash = models.CharField(max_length=64, blank=True, editable=False)
    heartbeat_seconds = models.PositiveIntegerField(_("expected heartbeat (seconds)"), default=60)
    last_seen_at = models.DateTimeField(_("last message"), null=True, blank=True)
    heartbeat_lost_at = models.DateTimeField(_("heartbeat lost at"), null=True, blank=True)
    opens_at = models.TimeField(_("service hours from"), default=dt.time(8, 0))
    closes_at = models.TimeField(_("service hours until"), default=dt.time(18, 0))

    class Meta:
        verbose_name = _("equipment")
        verbose_name_plural = _("equipment")
        ordering = ["department_id", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["maker", "serial_number"], name="equipment_serial_unique"),
            models.CheckConstraint(condition=Q(opens_at__lt=F("closes_at")), name="equipment_hours_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @staticmethod
    def hash_credential(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def verify(self, secret: str) -> bool:
        return bool(self.credential_hash) and hmac.compare_digest(
            self.credential_hash, self.hash_credential(secret)
        )


class MaintenanceContract(TimeStampedModel):
    asset = models.ForeignKey(
        Asset, on_delete=models.CASCADE, related_name="contracts", verbose_name=_("equipment")
    )
    vendor = models.CharField(_("vendor"), max_length=120)
    number = models.CharField(_("contract number"), max_length=60, blank=True)
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    response_hours = models.PositiveSmallIntegerField(_("on-site response (hours)"), default=24)
    covers_parts = models.BooleanField(_("parts included"), default=False)

    class Meta:
        verbose_name = _("maintenance contract")
        verbose_name_plural = _("maintenance contracts")
        constraints = [
            models.CheckConstraint(condition=Q(starts_on__lte=F("ends_on")), name="contract_dates_ordered")
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.number}"


class TelemetrySample(models.Model):
    """One message as received (kept ``SMARTCARE_EQUIPMENT_RAW_DAYS`` days; the hourly roll-ups
    stay)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="samples")
    measured_at = models.DateTimeField(_("measured at"))
    received_at = models.DateTimeField(_("received at"))
    source = models.CharField(_("source"), max_length=4, choices=TelemetrySource.choices)
    message_id = models.CharField(_("message id"), max_length=64)
    temperature = models.FloatField(null=True, blank=True)
    voltage = models.FloatField(null=True, blank=True)
    current = models.FloatField(null=True, blank=True)
    load = models.FloatField(null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=20, blank=True)
    event = models.CharField(_("event"), max_length=12, blank=True)

    class Meta:
        verbose_name = _("telemetry sample")
        verbose_name_plural = _("telemetry samples")
        constraints = [
            models.UniqueConstraint(fields=["asset", "message_id"], name="telemetry_message_once"),
        ]
        indexes = [models.Index(fields=["asset", "measured_at"])]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.message_id}"


class TelemetryRollup(models.Model):
    """Downsampled history: count, mean, minimum and maximum of a metric per asset and hour."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="rollups")
    metric = models.CharField(max_length=12, choices=Metric.choices)
    hour = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    mean = models.FloatField()
    minimum = models.FloatField()
    maximum = models.FloatField()

    class Meta:
        verbose_name = _("hourly telemetry")
        verbose_name_plural = _("hourly telemetry")
        constraints = [
            models.UniqueConstraint(fields=["asset", "metric", "hour"], name="telemetry_rollup_unique")
        ]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.metric} {self.hour:%Y-%m-%d %H}"


class UsageSession(models.Model):
    """The equipment in use, from its usage start and stop messages."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="usage")
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        verbose_name = _("usage session")
        verbose_name_plural = _("usage sessions")
        constraints = [
            models.UniqueConstraint(
                fields=["asset"], condition=Q(ended_at__isnull=True), name="one_open_usage_per_asset"
            ),
        ]
        indexes = [models.Index(fields=["asset", "started_at"])]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.started_at:%Y-%m-%d %H:%M}"


class EquipmentAlert(models.Model):
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="alerts")
    rule = models.CharField(_("rule"), max_length=12, choices=AlertRule.choices)
    metric = models.CharField(_("metric"), max_length=20, blank=True)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    value = models.FloatField(_("value"), null=True, blank=True)
    limit = models.FloatField(_("limit"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    raised_at = models.DateTimeField(_("raised at"))
    last_seen_at = models.DateTimeField(_("last seen"))
    repeat_count = models.PositiveIntegerField(_("repeats"), default=0)
    status = models.CharField(
        _("status"), max_length=8, choices=AlertStatus.choices, default=AlertStatus.OPEN
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("equipment alert")
        verbose_name_plural = _("equipment alerts")
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "rule", "metric"],
                condition=Q(status="open"),
                name="equipment_one_open_alert",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.rule} {self.metric} {self.severity}"


class FailurePrediction(models.Model):
    """A remaining-useful-life estimate: the asset is likely to fail within ``horizon_days`` with
    ``probability``."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="predictions")
    predicted_at = models.DateTimeField(_("predicted at"))
    rul_days = models.FloatField(_("remaining useful life (days)"))
    horizon_days = models.PositiveSmallIntegerField(_("horizon (days)"))
    probability = models.FloatField(_("probability of failure within the horizon"))
    trained_units = models.PositiveIntegerField(_("failure histories trained on"))
    model_rmse = models.FloatField(_("validation error (days)"), null=True, blank=True)

    class Meta:
        verbose_name = _("failure prediction")
        verbose_name_plural = _("failure predictions")
        ordering = ["-predicted_at"]
        indexes = [models.Index(fields=["asset", "-predicted_at"])]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.rul_days:.0f}d"


class PreventivePlan(TimeStampedModel):
    asset = models.ForeignKey(
        Asset, on_delete=models.CASCADE, related_name="plans", verbose_name=_("equipment")
    )
    title = models.CharField(_("task"), max_length=200)
    interval_days = models.PositiveIntegerField(_("every (days)"))
    next_due = models.DateField(_("next due"))
    lead_days = models.PositiveSmallIntegerField(_("open the work order (days before)"), default=7)
    assignee = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assignee"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("preventive maintenance plan")
        verbose_name_plural = _("preventive maintenance plans")
        constraints = [models.CheckConstraint(condition=Q(interval_days__gte=1), name="plan_interval_valid")]

    def __str__(self) -> str:
        return self.title


class WorkOrder(TimeStampedModel):
    asset = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="work_orders", verbose_name=_("equipment")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=WorkOrderKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=WorkOrderStatus.choices, default=WorkOrderStatus.OPEN
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    alert = models.ForeignKey(
        EquipmentAlert, on_delete=models.SET_NULL, null=True, blank=True, related_name="work_orders"
    )
    prediction = models.ForeignKey(
        FailurePrediction, on_delete=models.SET_NULL, null=True, blank=True, related_name="work_orders"
    )
    plan = models.ForeignKey(
        PreventivePlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="work_orders"
    )
    assignee = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="equipment_work_orders",
        verbose_name=_("assignee"),
    )
    opened_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    due_on = models.DateField(_("due"))
    parts = models.JSONField(_("parts"), default=list, blank=True)
    opened_at = models.DateTimeField(_("opened"))
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    # The equipment was out of service over this interval (a failure, or planned maintenance).
    downtime_started_at = models.DateTimeField(_("down from"), null=True, blank=True)
    downtime_ended_at = models.DateTimeField(_("down until"), null=True, blank=True)
    is_failure = models.BooleanField(_("failure"), default=False)
    resolution = models.TextField(_("resolution"), blank=True)

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-opened_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(downtime_ended_at__isnull=True)
                | Q(downtime_started_at__isnull=False, downtime_ended_at__gte=F("downtime_started_at")),
                name="work_order_downtime_ordered",
            ),
            models.UniqueConstraint(
                fields=["plan", "due_on"], condition=Q(plan__isnull=False), name="one_work_order_per_plan_due"
            ),
        ]
        indexes = [models.Index(fields=["asset", "status"])]

    def __str__(self) -> str:
        return f"WO-{self.pk} {self.title}"

    @property
    def downtime_hours(self) -> float:
        if self.downtime_started_at is None:
            return 0.0
        from smartcare.core import clock

        end = self.downtime_ended_at or clock.now()
        return max(0.0, (end - self.downtime_started_at).total_seconds() / 3600)

    @property
    def is_open(self) -> bool:
        return self.status in (WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS)


class CapacityMove(models.Model):
    """Release capacity moved between two weekly exam sessions of an asset (the before/after pivot
    of the utilization curves)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="capacity_moves")
    from_template = models.ForeignKey(
        "scheduling.ScheduleTemplate", on_delete=models.CASCADE, related_name="+"
    )
    to_template = models.ForeignKey("scheduling.ScheduleTemplate", on_delete=models.CASCADE, related_name="+")
    places = models.PositiveSmallIntegerField(_("places per slot"))
    moved_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, related_name="+")
    moved_at = models.DateTimeField(_("moved at"))

    class Meta:
        verbose_name = _("capacity move")
        verbose_name_plural = _("capacity moves")
        ordering = ["-moved_at"]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.places}"
