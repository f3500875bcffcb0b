"""Storing device readings: parsing, device authentication, plausibility, deduplication, flags.

One code path for every channel: the MQTT bridge (batches of hundreds of messages), the FHIR
Observation endpoint and the patient's own entries all end in ``store_batch``, which runs inside
the caller's transaction, inserts the new readings with one ``bulk_create``, skips messages a device
has sent before (``(device, message id)`` is unique in the database) and raises alerts for
dangerous values (``alerts.raise_threshold_alerts``).
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from smartcare.core import clock
from smartcare.monitoring.choices import (
    DEFAULT_THRESHOLDS,
    DEVICE_MEASUREMENTS,
    PLAUSIBLE,
    UNITS,
    AlertSeverity,
    Bounds,
    DeviceStatus,
    GlucoseContext,
    MeasurementKind,
)
from smartcare.monitoring.errors import (
    ImplausibleReading,
    InvalidDeviceCredential,
    InvalidReading,
    UnsupportedMeasurement,
)
from smartcare.monitoring.models import CREDENTIAL_PREFIX, Device, Reading, Threshold

MAX_MESSAGE_ID = 64
# Plain strings for the per-message path: looking up enum members costs more than the work itself.
BP = str(MeasurementKind.BLOOD_PRESSURE.value)
HR = str(MeasurementKind.HEART_RATE.value)
GLUCOSE = str(MeasurementKind.GLUCOSE.value)
SPO2 = str(MeasurementKind.SPO2.value)
DEVICE_KINDS = frozenset(MeasurementKind.values) - {MeasurementKind.ROM_SESSIONS.value}
CONTEXTS = frozenset(GlucoseContext.values)
CRITICAL = str(AlertSeverity.CRITICAL.value)
# A device clock a little ahead is tolerated; readings buffered by an offline device are accepted
# for this many days.
FUTURE_TOLERANCE = dt.timedelta(minutes=10)
MAX_AGE = dt.timedelta(days=30)
MG_PER_DL_PER_MMOL = 18.016


# --- Devices ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """What ingestion needs to know about a device (cached by the bridge)."""

    id: int
    uid: str
    kind: str
    identity_id: int
    patient_id: int | None
    secret_hash: str
    active: bool

    @classmethod
    def of(cls, device: Device) -> DeviceInfo:
        return cls(
            id=device.pk,
            uid=device.uid,
            kind=device.kind,
            identity_id=device.identity_id,
            patient_id=device.patient_id,
            secret_hash=device.secret_hash,
            active=device.status == DeviceStatus.ACTIVE,
        )

    def verify(self, credential: str) -> bool:
        """Constant-time comparison of the credential's hash with the stored one."""
        return self.active and hmac.compare_digest(self.secret_hash, Device.hash_secret(credential))


def credential_uid(credential: Any) -> str | None:
    """The device id inside ``scd_<uid>_<secret>``, or None when it is not a device credential."""
    if not isinstance(credential, str):
        return None
    parts = credential.split("_", 2)
    if len(parts) != 3 or parts[0] != CREDENTIAL_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def authenticate_device(credential: str) -> Device:
    """The active device behind a credential, or ``InvalidDeviceCredential`` (constant work for
    unknown ids)."""
    uid = credential_uid(credential)
    device = Device.objects.select_related("identity").filter(uid=uid).first() if uid is not None else None
    expected = device.secret_hash if device else "0" * 64
    matches = hmac.compare_digest(expected, Device.hash_secret(credential or ""))
    if device is None or not matches or device.status != DeviceStatus.ACTIVE or not device.identity.is_active:
        raise InvalidDeviceCredential()
    return device


# --- One reading --------------------------------------------------------------------------------


@dataclass
class ReadingInput:
    kind: str
    value: float
    measured_at: dt.datetime
    unit: str = ""
    value2: float | None = None
    pulse: float | None = None
    context: str = ""
    message_id: str = ""

    def __post_init__(self) -> None:
        self.unit = self.unit or UNITS.get(self.kind, "")

    @property
    def display_value(self) -> str:
        if self.kind == BP:
            return f"{self.value:g}/{(self.value2 or 0):g} {self.unit}"
        return f"{round(self.value, 1):g} {self.unit}"


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidReading(reason=_("%(field)s must be a number") % {"field": name}, field=name)
    try:
        number = float(value)
    except ValueError:
        raise InvalidReading(reason=_("%(field)s must be a number") % {"field": name}, field=name) from None
    if not math.isfinite(number):
        raise InvalidReading(reason=_("%(field)s must be a number") % {"field": name}, field=name)
    return number


def _plausible(name: str, key: str, value: float) -> None:
    low, high = PLAUSIBLE[key]
    if not low <= value <= high:
        raise ImplausibleReading(field=name, name=name, value=f"{value:g}", low=f"{low:g}", high=f"{high:g}")


def parse_time(value: Any, name: str = "time") -> dt.datetime:
    """An ISO 8601 date-time (with offset; without one it is local time) or epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidReading(reason=_("%(field)s is not a valid time") % {"field": name}, field=name)
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidReading(
                reason=_("%(field)s is not a valid time") % {"field": name}, field=name
            ) from None
    if not isinstance(value, str) or len(value) < 16:
        raise InvalidReading(reason=_("%(field)s is not a valid time") % {"field": name}, field=name)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidReading(
            reason=_("%(field)s is not a valid time") % {"field": name}, field=name
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def check_reading(reading: ReadingInput, *, now: dt.datetime | None = None) -> ReadingInput:
    """Plausible values and a time neither in the future nor too old; raises a coded error."""
    if reading.kind == BP:
        if reading.value2 is None:
            raise InvalidReading(reason=_("diastolic is missing"), field="diastolic")
        _plausible("systolic", "systolic", reading.value)
        _plausible("diastolic", "diastolic", reading.value2)
        if reading.value2 >= reading.value:
            raise InvalidReading(reason=_("diastolic must be lower than systolic"), field="diastolic")
    else:
        _plausible("value", reading.kind, reading.value)
    if reading.pulse is not None:
        _plausible("pulse", HR, reading.pulse)
    now = now or clock.now()
    if reading.measured_at > now + FUTURE_TOLERANCE:
        raise InvalidReading(reason=_("the measurement time is in the future"), field="time")
    if reading.measured_at < now - MAX_AGE:
        raise InvalidReading(reason=_("the measurement is older than 30 days"), field="time")
    if len(reading.message_id) > MAX_MESSAGE_ID:
        raise InvalidReading(reason=_("the message id is longer than 64 characters"), field="id")
    return reading


def check_device_may_report(device_kind: str, kind: str) -> None:
    if kind not in DEVICE_MEASUREMENTS.get(device_kind, frozenset()):
        raise UnsupportedMeasurement(what=str(MeasurementKind(kind).label), field="type")


def reading_from_message(data: Any, *, now: dt.datetime | None = None) -> ReadingInput:
    """A reading from the JSON payload of an MQTT message (documented in docs/modules/monitoring.md).

    ``{"id": "...", "key": "scd_...", "type": "blood_pressure", "time": "2026-11-25T08:00:00+08:00",
    "systolic": 150, "diastolic": 95, "pulse": 72}``; other types carry ``"value"`` (and ``"unit"``
    for glucose in mg/dL, ``"context"`` for glucose).
    """
    if not isinstance(data, dict):
        raise InvalidReading(reason=_("the payload is not a JSON object"))
    message_id = data.get("id")
    if not isinstance(message_id, str) or not message_id.strip():
        raise InvalidReading(reason=_("id (the message id) is missing"), field="id")
    kind = data.get("type")
    if kind not in DEVICE_KINDS:
        raise InvalidReading(reason=_("type is missing or unknown"), field="type")
    if "time" in data:
        measured_at = parse_time(data["time"])
    elif "ts" in data:
        measured_at = parse_time(data["ts"], "ts")
    else:
        raise InvalidReading(reason=_("time is missing"), field="time")
    pulse = _number(data["pulse"], "pulse") if data.get("pulse") is not None else None
    context = ""
    if kind == BP:
        if "systolic" not in data or "diastolic" not in data:
            raise InvalidReading(reason=_("systolic and diastolic are required"), field="systolic")
        reading = ReadingInput(
            kind=kind,
            value=_number(data["systolic"], "systolic"),
            value2=_number(data["diastolic"], "diastolic"),
            pulse=pulse,
            measured_at=measured_at,
            message_id=message_id.strip(),
        )
    else:
        if "value" not in data:
            raise InvalidReading(reason=_("value is missing"), field="value")
        value = _number(data["value"], "value")
        unit = data.get("unit") or UNITS[kind]
        if kind == GLUCOSE:
            if unit in ("mg/dL", "mg/dl"):
                value = value / MG_PER_DL_PER_MMOL
            elif unit not in ("mmol/L", "mmol/l"):
                raise InvalidReading(reason=_("unit must be mmol/L or mg/dL"), field="unit")
            context = data.get("context") or ""
            if context and context not in CONTEXTS:
                raise InvalidReading(reason=_("context is not known"), field="context")
        elif unit != UNITS[kind]:
            raise InvalidReading(
                reason=_("unit must be %(unit)s") % {"unit": UNITS[kind]},
                field="unit",
            )
        reading = ReadingInput(
            kind=kind,
            value=round(value, 2),
            pulse=pulse if kind == SPO2 else None,
            context=context,
            measured_at=measured_at,
            message_id=message_id.strip(),
        )
    return check_reading(reading, now=now)


# --- Thresholds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    kind: str  # the measurement the alert is about (a pulse is checked as heart rate)
    metric: str
    severity: str
    direction: str
    value: float


def hospital_bounds() -> dict[tuple[str, str], Bounds]:
    bounds = dict(DEFAULT_THRESHOLDS)
    for row in Threshold.objects.filter(patient__isnull=True):
        bounds[(row.kind, row.metric)] = row.bounds
    return bounds


class ThresholdBook:
    """Effective bounds: hospital defaults, replaced per metric by a hospital row, then by a
    row for the patient. Loaded once per batch for the patients in it."""

    def __init__(self, patient_ids: Iterable[int], hospital: dict[tuple[str, str], Bounds] | None = None):
        self.hospital = hospital if hospital is not None else hospital_bounds()
        ids = set(patient_ids)
        self.patient: dict[tuple[int, str, str], Bounds] = {}
        if ids:
            for row in Threshold.objects.filter(patient_id__in=ids):
                self.patient[(row.patient_id or 0, row.kind, row.metric)] = row.bounds

    def bounds(self, patient_id: int, kind: str, metric: str) -> Bounds | None:
        return self.patient.get((patient_id, kind, metric)) or self.hospital.get((kind, metric))

    def breaches(self, patient_id: int, reading: ReadingInput | Reading) -> list[Breach]:
        checks: list[tuple[str, str, float | None]] = []
        if reading.kind == BP:
            checks += [(BP, "systolic", reading.value), (BP, "diastolic", reading.value2)]
        else:
            checks.append((reading.kind, "value", reading.value))
        if reading.pulse is not None and reading.kind != HR:
            checks.append((HR, "value", reading.pulse))
        found = []
        for kind, metric, value in checks:
            bounds = self.bounds(patient_id, kind, metric) if value is not None else None
            verdict = bounds.classify(value) if bounds is not None and value is not None else None
            if verdict is not None:
                found.append(Breach(kind, metric, verdict[0], verdict[1], value or 0.0))
        return found


def flag_of(breaches: list[Breach]) -> str:
    if not breaches:
        return ""
    return "C" if any(b.severity == CRITICAL for b in breaches) else "W"


# --- Batches ------------------------------------------------------------------------------------


@dataclass
class Incoming:
    patient_id: int
    reading: ReadingInput
    source: str
    device_id: int | None = None
    recorded_by_id: int | None = None
    tag: Any = None  # the caller's reference (the bridge's message), handed back in the outcome


@dataclass
class StoreOutcome:
    stored: list[tuple[Incoming, Reading]] = field(default_factory=list)
    duplicates: list[tuple[Incoming, Reading | None]] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)  # alerts raised or made critical

    @property
    def patient_ids(self) -> set[int]:
        return {incoming.patient_id for incoming, _reading in self.stored}


def store_batch(
    items: list[Incoming],
    *,
    actor: Any,
    hospital: dict[tuple[str, str], Bounds] | None = None,
    raise_alerts: bool = True,
) -> StoreOutcome:
    """Insert the new readings of ``items`` (inside the caller's transaction) and raise alerts.

    A message a device sent before (same device and message id, in this batch or stored earlier)
    is reported as a duplicate and not stored again. ``actor`` is the machine identity (or the
    patient) on whose behalf alerts are written to the audit trail.
    """
    from smartcare.monitoring import alerts

    outcome = StoreOutcome()
    if not items:
        return outcome
    now = clock.now()
    keyed = [i for i in items if i.device_id is not None and i.reading.message_id]
    existing: dict[tuple[int, str], Reading] = {}
    if keyed:
        # The conditions of the partial unique index, so that SQLite and PostgreSQL look it up.
        rows = (
            Reading.objects.filter(
                device_id__in={i.device_id for i in keyed},
                message_id__in={i.reading.message_id for i in keyed},
                device__isnull=False,
            )
            .exclude(message_id="")
            .order_by()
            .only("pk", "device_id", "message_id", "patient_id", "kind", "measured_at")
        )
        existing = {(r.device_id or 0, r.message_id): r for r in rows}
    seen: set[tuple[int, str]] = set()
    fresh: list[Incoming] = []
    for item in items:
        if item.device_id is not None and item.reading.message_id:
            key = (item.device_id, item.reading.message_id)
            if key in existing or key in seen:
                outcome.duplicates.append((item, existing.get(key)))
                continue
            seen.add(key)
        fresh.append(item)
    if not fresh:
        return outcome
    book = ThresholdBook({i.patient_id for i in fresh}, hospital)
    readings: list[Reading] = []
    breaches: list[tuple[Reading, Breach]] = []
    pending: list[list[Breach]] = []
    for item in fresh:
        r = item.reading
        found = book.breaches(item.patient_id, r)
        pending.append(found)
        readings.append(
            Reading(
                patient_id=item.patient_id,
                device_id=item.device_id,
                kind=r.kind,
                value=r.value,
                value2=r.value2,
                pulse=r.pulse,
                unit=r.unit,
                context=r.context,
                measured_at=r.measured_at,
                received_at=now,
                source=item.source,
                message_id=r.message_id,
                flag=flag_of(found),
                recorded_by_id=item.recorded_by_id,
            )
        )
    Reading.objects.bulk_create(readings)
    for item, reading, found in zip(fresh, readings, pending, strict=True):
        outcome.stored.append((item, reading))
        breaches.extend((reading, b) for b in found)
    if breaches and raise_alerts:
        outcome.alerts = alerts.raise_threshold_alerts(breaches, actor=actor)
    return outcome
