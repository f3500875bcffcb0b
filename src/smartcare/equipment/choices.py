"""Equipment choices and the hospital's default telemetry rules per device kind."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class AssetKind(models.TextChoices):
    CT = "ct", _("CT scanner")
    MRI = "mri", _("MRI scanner")
    ULTRASOUND = "ultrasound", _("Ultrasound")
    XRAY = "xray", _("X-ray")
    VENTILATOR = "ventilator", _("Ventilator")
    VIDEO_TERMINAL = "video_terminal", _("Video terminal")


class AssetStatus(models.TextChoices):
    IN_SERVICE = "in_service", _("In service")
    DOWN = "down", _("Down")
    RETIRED = "retired", _("Retired")


class Metric(models.TextChoices):
    TEMPERATURE = "temperature", _("Temperature (°C)")
    VOLTAGE = "voltage", _("Supply voltage (V)")
    CURRENT = "current", _("Tube current or load current (mA)")
    LOAD = "load", _("Load (%)")


METRICS = [m.value for m in Metric]


class TelemetrySource(models.TextChoices):
    MQTT = "mqtt", _("MQTT")
    HTTP = "http", _("HTTP")


class UsageEvent(models.TextChoices):
    START = "usage_start", _("Usage started")
    STOP = "usage_stop", _("Usage stopped")
    HEARTBEAT = "heartbeat", _("Heartbeat")


class AlertRule(models.TextChoices):
    THRESHOLD = "threshold", _("Threshold")
    RATE = "rate", _("Rate of change")
    ANOMALY = "anomaly", _("Anomaly")
    PREDICTION = "prediction", _("Predicted failure")
    HEARTBEAT = "heartbeat", _("Heartbeat lost")
    ERROR_CODE = "error_code", _("Device error code")


class Severity(models.TextChoices):
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class WorkOrderKind(models.TextChoices):
    CORRECTIVE = "corrective", _("Corrective (repair)")
    PREDICTIVE = "predictive", _("Predictive")
    PREVENTIVE = "preventive", _("Preventive")


class WorkOrderStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_WORK_ORDER_STATUSES = (WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS)


@dataclass(frozen=True)
class Limits:
    """Bounds of one metric: lows count below, highs at or above; ``rate`` per minute (absolute)."""

    critical_low: float | None = None
    warning_low: float | None = None
    warning_high: float | None = None
    critical_high: float | None = None
    rate: float | None = None


# Mains 230 V (GB/T 12325: +7%/-10% for single phase); temperatures of the tube housing, magnet
# room electronics or the device's enclosure; current is the X-ray tube current (mA) or the
# device's load current; load is the device's own utilisation of its rated capacity.
_COMMON = {
    "voltage": Limits(critical_low=187, warning_low=207, warning_high=246, critical_high=253, rate=15),
    "load": Limits(warning_high=90, critical_high=98, rate=40),
}
DEFAULT_LIMITS: dict[str, dict[str, Limits]] = {
    AssetKind.CT: {
        **_COMMON,
        "temperature": Limits(warning_high=45, critical_high=55, rate=2.0),
        "current": Limits(warning_high=500, critical_high=600, rate=300),
    },
    AssetKind.MRI: {
        **_COMMON,
        "temperature": Limits(warning_high=32, critical_high=38, rate=1.5),
        "current": Limits(warning_high=300, critical_high=400, rate=200),
    },
    AssetKind.XRAY: {
        **_COMMON,
        "temperature": Limits(warning_high=45, critical_high=55, rate=2.0),
        "current": Limits(warning_high=500, critical_high=630, rate=400),
    },
    AssetKind.ULTRASOUND: {
        **_COMMON,
        "temperature": Limits(warning_high=40, critical_high=45, rate=2.0),
        "current": Limits(warning_high=2000, critical_high=2500, rate=1500),
    },
    AssetKind.VENTILATOR: {
        **_COMMON,
        "temperature": Limits(warning_high=40, critical_high=45, rate=1.5),
        "current": Limits(warning_high=1500, critical_high=2000, rate=1000),
    },
    AssetKind.VIDEO_TERMINAL: {
        **_COMMON,
        "temperature": Limits(warning_high=55, critical_high=65, rate=3.0),
        "current": Limits(warning_high=1500, critical_high=2000, rate=1500),
    },
}

# A device error code is a warning (the device still runs; engineers see the alert) except on kinds
# that have no degraded mode: a video terminal reporting an error cannot carry a consultation, so
# its error is critical and opens a work order at once.
ERROR_CODE_SEVERITY: dict[str, str] = {AssetKind.VIDEO_TERMINAL: Severity.CRITICAL}

# Plausible ranges: anything outside is a broken sensor or a bad message (EQ-003), not a reading.
PLAUSIBLE = {
    "temperature": (-40.0, 150.0),
    "voltage": (0.0, 500.0),
    "current": (0.0, 5000.0),
    "load": (0.0, 100.0),
}
