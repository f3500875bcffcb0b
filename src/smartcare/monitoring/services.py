"""Writes of home monitoring: enrolment, devices and their credentials, readings from devices and
patients, thresholds, acknowledgement, duty doctors, rehab plans and the therapist's decisions.

Every service is atomic, takes the acting user (a clinician, a patient or a device's machine
identity), checks the capability and the patient-level access (``access_patient``), writes its
audit event in the same transaction and raises coded errors; bad input writes nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.translation import gettext as _

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import User
from smartcare.accounts.services import register_care_relationship
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.monitoring import fhir
from smartcare.monitoring.choices import (
    DEFAULT_THRESHOLDS,
    MANUAL_MEASUREMENTS,
    PLAUSIBLE,
    THRESHOLD_METRICS,
    AlertStatus,
    Bounds,
    DeviceKind,
    DeviceStatus,
    MeasurementKind,
    ReadingSource,
    RehabPlanStatus,
    RehabTargetKind,
    SuggestionStatus,
)
from smartcare.monitoring.errors import (
    AlertAlreadyAcknowledged,
    AlreadyEnrolled,
    DeviceAlreadyPaired,
    DeviceAlreadyRegistered,
    DeviceNotPaired,
    InvalidReading,
    InvalidThreshold,
    NotEnrolled,
    RehabPlanExists,
    SuggestionAlreadyDecided,
)
from smartcare.monitoring.ingest import (
    Incoming,
    ReadingInput,
    StoreOutcome,
    check_device_may_report,
    check_reading,
    hospital_bounds,
    store_batch,
)
from smartcare.monitoring.models import (
    Alert,
    Device,
    DutyAssignment,
    Enrollment,
    IngestRejection,
    Reading,
    RehabPlan,
    RehabSuggestion,
    RehabTarget,
    Threshold,
)
from smartcare.monitoring.rehab import MAX_TARGET
from smartcare.notifications.services import notify
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

logger = logging.getLogger("smartcare.monitoring")
DOCTOR_ROLES = (Role.DOCTOR, Role.DEPARTMENT_HEAD)


# --- Helpers -------------------------------------------------------------------------------------


def _department_id(actor: Any) -> int:
    department_id = getattr(getattr(actor, "practitioner", None), "department_id", None)
    if department_id is None:
        raise InvalidInput(_("Only clinicians of a department can do this."), field="department")
    return int(department_id)


def _open(actor: Any, patient_id: Any, capability: str, *, obj: Any = None) -> Patient:
    require_capability(actor, capability)
    patient: Patient = access_patient(actor, patient_id, AccessAction.UPDATE, obj=obj, audit=False)
    return patient


def _text(value: Any, name: str, limit: int) -> str:
    text = str(value or "").strip()
    if len(text) > limit:
        raise InvalidInput(_("The text is too long."), field=name)
    return text


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound() from None


# --- Enrolment -----------------------------------------------------------------------------------


@transaction.atomic
def enroll_patient(
    actor: Any, patient_id: Any, *, responsible_id: Any = None, reason: str = ""
) -> Enrollment:
    """Start home monitoring in the actor's department with a responsible doctor (the actor by
    default). The department gets a follow-up care relationship while the enrolment lasts."""
    patient = _open(actor, patient_id, "monitoring.enroll")
    department_id = _department_id(actor)
    if responsible_id in (None, ""):
        responsible = actor
    else:
        responsible = User.objects.filter(
            pk=_pk(responsible_id),
            role__in=DOCTOR_ROLES,
            is_active=True,
            practitioner__department_id=department_id,
        ).first()
        if responsible is None:
            raise InvalidInput(_("Choose a doctor of your department."), field="responsible")
    if responsible.role not in DOCTOR_ROLES:
        raise InvalidInput(_("The responsible clinician must be a doctor."), field="responsible")
    current = (
        Enrollment.objects.select_related("department").filter(patient=patient, ended_at__isnull=True).first()
    )
    if current is not None:
        raise AlreadyEnrolled(department=current.department.name)
    enrollment = Enrollment.objects.create(
        patient=patient,
        department_id=department_id,
        responsible=responsible,
        reason=_text(reason, "reason", 500),
        created_by=actor,
    )
    register_care_relationship(
        patient=patient,
        department=enrollment.department,
        kind=CareRelationshipKind.FOLLOW_UP,
        source=f"monitoring.enrollment:{enrollment.pk}",
        valid_from=enrollment.started_at,
    )
    record(
        actor,
        AuditAction.CREATE,
        patient=patient,
        obj=enrollment,
        detail={"responsible": responsible.username},
    )
    return enrollment


# --- Devices -------------------------------------------------------------------------------------


def _new_identity(device_uid: str, kind: str, serial: str) -> User:
    return User.objects.create(
        username=f"device-{device_uid}",
        role=Role.DEVICE,
        display_name=f"{DeviceKind(kind).label} {serial}"[:100],
        password=make_password(None),
    )


@transaction.atomic
def register_device(
    actor: Any,
    patient_id: Any,
    *,
    kind: str,
    serial_number: str,
    manufacturer: str = "",
    model_name: str = "",
) -> tuple[Device, str]:
    """Register a device (or take back an unpaired one) and pair it with an enrolled patient.

    Returns the device and its credential ``scd_<uid>_<secret>``, shown once: only its SHA-256 is
    stored. The device's machine identity (role device) is created with it.
    """
    patient = _open(actor, patient_id, "monitoring.devices")
    errors: dict[str, list[str]] = {}
    if kind not in DeviceKind.values:
        errors["kind"] = [_("Choose a kind of device.")]
    serial = _text(serial_number, "serial_number", 64)
    if not serial:
        errors["serial_number"] = [_("Enter the serial number.")]
    if errors:
        raise InvalidInput(errors=errors)
    if not Enrollment.objects.filter(patient=patient, ended_at__isnull=True).exists():
        raise NotEnrolled()
    manufacturer = _text(manufacturer, "manufacturer", 100)
    device = (
        Device.objects.select_for_update().filter(manufacturer=manufacturer, serial_number=serial).first()
    )
    now = clock.now()
    if device is not None:
        if device.status != DeviceStatus.ACTIVE or device.kind != kind:
            raise DeviceAlreadyRegistered(field="serial_number")
        if device.patient_id is not None:
            raise DeviceAlreadyPaired(field="serial_number")
    else:
        uid = Device.new_uid()
        device = Device(
            uid=uid,
            kind=kind,
            manufacturer=manufacturer,
            model_name=_text(model_name, "model_name", 100),
            serial_number=serial,
            identity=_new_identity(uid, kind, serial),
        )
    credential = Device.new_credential(device.uid)
    device.secret_hash = Device.hash_secret(credential)
    device.credential_issued_at = now
    device.patient = patient
    device.paired_at = now
    device.paired_by = actor
    device.save()
    User.objects.filter(pk=device.identity_id).update(is_active=True)
    record(
        actor,
        AuditAction.CREATE,
        patient=patient,
        obj=device,
        detail={"event": "device_paired", "kind": kind, "uid": device.uid},
    )
    return device, credential


def _device(actor: Any, device_id: Any, capability: str) -> Device:
    require_capability(actor, capability)
    device = Device.objects.select_for_update().filter(pk=_pk(device_id)).first()
    if device is None or device.patient_id is None:
        raise NotFound()
    access_patient(actor, device.patient_id, AccessAction.UPDATE, obj=device, audit=False)
    return device


@transaction.atomic
def unpair_device(actor: Any, device_id: Any) -> Device:
    """The device no longer reports for the patient; its credential stops working at once."""
    device = _device(actor, device_id, "monitoring.devices")
    patient_id = device.patient_id
    device.patient = None
    device.paired_at = None
    device.paired_by = None
    device.secret_hash = Device.hash_secret(Device.new_credential(device.uid))  # nobody knows it
    device.save(update_fields=["patient", "paired_at", "paired_by", "secret_hash", "updated_at"])
    record(actor, AuditAction.UPDATE, patient=patient_id, obj=device, detail={"event": "device_unpaired"})
    return device


@transaction.atomic
def rotate_device_credential(actor: Any, device_id: Any) -> tuple[Device, str]:
    """A new credential for a paired device (a lost phone app, a suspected leak); the old one stops."""
    device = _device(actor, device_id, "monitoring.devices")
    credential = Device.new_credential(device.uid)
    device.secret_hash = Device.hash_secret(credential)
    device.credential_issued_at = clock.now()
    device.save(update_fields=["secret_hash", "credential_issued_at", "updated_at"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=device.patient_id,
        obj=device,
        detail={"event": "credential_rotated"},
    )
    return device, credential


# --- Readings ------------------------------------------------------------------------------------


def reject(
    device: Device | None, channel: str, code: str, reason: str, *, topic: str = "", message_id: str = ""
) -> None:
    """Keep and log a refused device message (outside the refused transaction)."""
    logger.warning(
        "%s device message rejected: device=%s channel=%s id=%s reason=%s",
        code,
        device.uid if device else "-",
        channel,
        message_id or "-",
        reason,
    )
    IngestRejection.objects.create(
        device=device,
        channel=channel,
        topic=topic[:200],
        message_id=message_id[:64],
        code=code,
        reason=reason[:300],
    )


@dataclass
class IngestResult:
    created: list[Reading] = field(default_factory=list)
    duplicates: list[Reading] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    readings: list[tuple[Reading, bool]] = field(default_factory=list)  # in the order posted; True = new


def ingest_observations(device: Device, body: Any) -> IngestResult:
    """Store the Observations a device posted over HTTP (all or none), as its machine identity.

    A resent Observation (same identifier) is not stored twice: it is answered with the stored one.
    Invalid content is refused with the reason, which is also logged and kept.
    """
    try:
        if not device.is_paired:
            raise DeviceNotPaired()
        observations = fhir.observations_in(body)
        inputs: list[ReadingInput] = []
        errors: dict[str, list[str]] = {}
        single = body.get("resourceType") == "Observation"
        for index, observation in enumerate(observations):
            where = "Observation" if single else f"entry[{index}]"
            try:
                reading = fhir.reading_from_observation(observation)
                check_device_may_report(device.kind, reading.kind)
                inputs.append(reading)
            except CodedError as exc:
                errors[where] = [f"{exc.code}: {exc.detail}"]
        if errors:
            where, messages = next(iter(errors.items()))
            raise InvalidReading(reason=f"{where}: {messages[0]}", errors=errors)
        if not inputs:
            raise InvalidReading(reason=_("no Observation to store"))
        return _store_device_readings(device, inputs)
    except CodedError as exc:
        if exc.code.startswith("MON-"):
            reject(device, ReadingSource.HTTP, exc.code, exc.detail)
        raise


@transaction.atomic
def _store_device_readings(device: Device, inputs: list[ReadingInput]) -> IngestResult:
    identity = device.identity
    patient = access_patient(identity, device.patient_id, AccessAction.VIEW, obj=device, audit=False)
    items = [
        Incoming(patient_id=patient.pk, reading=r, source=ReadingSource.HTTP, device_id=device.pk)
        for r in inputs
    ]
    outcome: StoreOutcome = store_batch(items, actor=identity)
    Device.objects.filter(pk=device.pk).update(last_seen_at=clock.now())
    result = IngestResult(alerts=outcome.alerts)
    new = {id(item): reading for item, reading in outcome.stored}
    # A duplicate of a message earlier in the same post is answered with that reading.
    by_message = {reading.message_id: reading for _item, reading in outcome.stored if reading.message_id}
    for item in items:
        if id(item) in new:
            result.created.append(new[id(item)])
            result.readings.append((new[id(item)], True))
    for item, existing in outcome.duplicates:
        stored = existing or by_message.get(item.reading.message_id)
        if stored is not None:
            result.duplicates.append(stored)
            result.readings.append((stored, False))
    if result.created:
        record(
            identity,
            AuditAction.CREATE,
            patient=patient,
            obj=("monitoring.Reading", ",".join(str(r.pk) for r in result.created)[:64]),
            detail={
                "event": "readings_stored",
                "count": len(result.created),
                "duplicates": len(result.duplicates),
            },
        )
    return result


def _own_patient(actor: Any) -> Patient:
    require_capability(actor, "monitoring.own")
    patient = Patient.objects.filter(user=actor).first()
    if patient is None:
        raise NotFound()
    return patient


@transaction.atomic
def record_own_reading(
    actor: Any,
    *,
    kind: str,
    value: Any,
    value2: Any = None,
    pulse: Any = None,
    context: str = "",
    measured_at: dt.datetime | None = None,
) -> tuple[Reading, list[Alert]]:
    """A patient enters a reading by hand (a device without a connection, a paper diary). It is
    checked and alerted on like a device reading."""
    patient = access_patient(actor, _own_patient(actor), AccessAction.UPDATE, audit=False)
    errors: dict[str, list[str]] = {}
    if kind not in MANUAL_MEASUREMENTS:
        raise InvalidInput(errors={"kind": [_("Choose what you measured.")]})

    def number(raw: Any, name: str, required: bool = True) -> float | None:
        if raw in (None, ""):
            if required:
                errors.setdefault(name, []).append(_("Enter a number."))
            return None
        try:
            return float(str(raw).replace(",", "."))
        except ValueError:
            errors.setdefault(name, []).append(_("Enter a number."))
            return None

    first = number(value, "value")
    second = number(value2, "value2", required=kind == MeasurementKind.BLOOD_PRESSURE)
    beat = number(pulse, "pulse", required=False)
    if context and context not in ("fasting", "before_meal", "after_meal", "bedtime", "random"):
        errors.setdefault("context", []).append(_("Choose when you measured."))
    if errors:
        raise InvalidInput(errors=errors)
    reading_input = ReadingInput(
        kind=kind,
        value=first or 0.0,
        value2=second if kind == MeasurementKind.BLOOD_PRESSURE else None,
        pulse=beat if kind in (MeasurementKind.BLOOD_PRESSURE, MeasurementKind.SPO2) else None,
        context=context if kind == MeasurementKind.GLUCOSE else "",
        measured_at=measured_at or clock.now(),
    )
    check_reading(reading_input)
    outcome = store_batch(
        [
            Incoming(
                patient_id=patient.pk,
                reading=reading_input,
                source=ReadingSource.MANUAL,
                recorded_by_id=actor.pk,
            )
        ],
        actor=actor,
    )
    reading = outcome.stored[0][1]
    record(
        actor,
        AuditAction.CREATE,
        patient=patient,
        obj=reading,
        detail={"event": "reading_entered", "kind": kind},
    )
    return reading, outcome.alerts


# --- Thresholds ----------------------------------------------------------------------------------


def effective_thresholds(patient_id: int) -> dict[tuple[str, str], tuple[Bounds, bool]]:
    """(kind, metric) -> (bounds, True when set for this patient)."""
    hospital = hospital_bounds()
    own = {(t.kind, t.metric): t.bounds for t in Threshold.objects.filter(patient_id=patient_id)}
    return {key: (own.get(key) or hospital[key], key in own) for key in THRESHOLD_METRICS}


def _check_bounds(key: tuple[str, str], bounds: Bounds, errors: dict[str, list[str]]) -> None:
    name = f"{key[0]}.{key[1]}"
    low, high = PLAUSIBLE[key[1] if key[0] == MeasurementKind.BLOOD_PRESSURE else key[0]]
    values = [bounds.critical_low, bounds.warning_low, bounds.warning_high, bounds.critical_high]
    present = [v for v in values if v is not None]
    if not present:
        errors.setdefault(name, []).append(_("Keep at least one bound."))
        return
    if any(not low <= v <= high for v in present):
        errors.setdefault(name, []).append(
            _("Bounds must be between %(low)s and %(high)s.") % {"low": f"{low:g}", "high": f"{high:g}"}
        )
    if any(b <= a for a, b in itertools.pairwise(present)):
        errors.setdefault(name, []).append(str(InvalidThreshold.message))


@transaction.atomic
def set_thresholds(
    actor: Any, patient_id: Any, bounds: dict[tuple[str, str], Bounds], *, reason: str = ""
) -> dict[tuple[str, str], tuple[Bounds, bool]]:
    """Set this patient's bounds per metric; a metric set back to the hospital's bounds follows
    the hospital again. All metrics are checked before anything is written."""
    patient = _open(actor, patient_id, "monitoring.thresholds")
    errors: dict[str, list[str]] = {}
    for key, value in bounds.items():
        if key not in DEFAULT_THRESHOLDS:
            errors.setdefault(f"{key[0]}.{key[1]}", []).append(_("Unknown measurement."))
            continue
        _check_bounds(key, value, errors)
    if errors:
        raise InvalidThreshold(errors=errors)
    hospital = hospital_bounds()
    changes: dict[str, Any] = {}
    for key, value in bounds.items():
        current = Threshold.objects.filter(patient=patient, kind=key[0], metric=key[1]).first()
        if value == hospital[key]:
            if current is not None:
                current.delete()
                changes[f"{key[0]}.{key[1]}"] = "hospital default"
            continue
        if current is not None and current.bounds == value:
            continue
        Threshold.objects.update_or_create(
            patient=patient,
            kind=key[0],
            metric=key[1],
            defaults={**value.as_dict(), "set_by": actor, "reason": _text(reason, "reason", 300)},
        )
        changes[f"{key[0]}.{key[1]}"] = value.as_dict()
    if changes:
        record(
            actor,
            AuditAction.UPDATE,
            patient=patient,
            obj=("monitoring.Threshold", patient.pk),
            detail=changes,
        )
    return effective_thresholds(patient.pk)


# --- Alerts --------------------------------------------------------------------------------------


@transaction.atomic
def acknowledge_alert(actor: Any, alert_id: Any, *, note: str = "") -> Alert:
    """The doctor has seen the alert and acts on it: escalation stops, a new dangerous reading will
    open a new alert. The patient is told that the care team has reviewed it."""
    require_capability(actor, "monitoring.acknowledge")
    alert = (
        Alert.objects.select_for_update(of=("self",))
        .select_related("patient__user", "acknowledged_by")
        .filter(pk=_pk(alert_id))
        .first()
    )
    if alert is None:
        raise NotFound()
    access_patient(actor, alert.patient_id, AccessAction.CLINICAL, obj=alert, audit=False)
    if alert.status != AlertStatus.OPEN:
        raise AlertAlreadyAcknowledged(
            user=str(alert.acknowledged_by or "-"),
            time=alert.acknowledged_at.astimezone(clock.local_now().tzinfo).strftime("%Y-%m-%d %H:%M")
            if alert.acknowledged_at
            else "-",
        )
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = clock.now()
    alert.acknowledged_by = actor
    alert.acknowledgement_note = _text(note, "note", 1000)
    alert.save(
        update_fields=["status", "acknowledged_at", "acknowledged_by", "acknowledgement_note", "updated_at"]
    )
    record(
        actor, AuditAction.UPDATE, patient=alert.patient_id, obj=alert, detail={"event": "alert_acknowledged"}
    )
    user = alert.patient.user
    if user is not None and user.is_active:
        from django.conf import settings
        from django.utils import translation

        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            notify(
                user,
                category="monitoring_reviewed",
                subject=_("Your care team has reviewed your reading"),
                body=_("%(doctor)s has seen your %(measure)s alert (%(value)s).")
                % {
                    "doctor": str(actor),
                    "measure": MeasurementKind(alert.kind).label,
                    "value": alert.value_text,
                },
                link="/monitoring/me/",
            )
    return alert


# --- Duty ----------------------------------------------------------------------------------------


@transaction.atomic
def assign_duty(
    actor: Any, *, doctor_id: Any, starts_at: dt.datetime, ends_at: dt.datetime
) -> DutyAssignment:
    """The department head names the duty doctor who gets escalated alerts during a period."""
    require_capability(actor, "monitoring.duty")
    department_id = _department_id(actor)
    doctor = User.objects.filter(
        pk=_pk(doctor_id), role__in=DOCTOR_ROLES, is_active=True, practitioner__department_id=department_id
    ).first()
    errors: dict[str, list[str]] = {}
    if doctor is None:
        errors["doctor"] = [_("Choose a doctor of your department.")]
    if ends_at <= starts_at:
        errors["ends_at"] = [_("The end must be after the start.")]
    if ends_at - starts_at > dt.timedelta(days=31):
        errors["ends_at"] = [_("A duty lasts at most 31 days.")]
    if errors or doctor is None:
        raise InvalidInput(errors=errors)
    duty = DutyAssignment.objects.create(
        department_id=department_id, doctor=doctor, starts_at=starts_at, ends_at=ends_at, created_by=actor
    )
    record(actor, AuditAction.CREATE, obj=duty, detail={"doctor": doctor.username})
    return duty


# --- Rehab ---------------------------------------------------------------------------------------


def _target_value(kind: str, raw: Any, errors: dict[str, list[str]]) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw))
    except ValueError:
        errors.setdefault(kind, []).append(_("Enter a whole number."))
        return None
    if not 1 <= value <= MAX_TARGET[kind]:
        errors.setdefault(kind, []).append(_("Enter a number from 1 to %(max)s.") % {"max": MAX_TARGET[kind]})
        return None
    return value


@transaction.atomic
def create_rehab_plan(
    actor: Any,
    patient_id: Any,
    *,
    targets: dict[str, Any],
    goal: str = "",
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
) -> RehabPlan:
    """A rehab plan with daily targets; the actor is the therapist. The department gets a follow-up
    care relationship for the plan's duration."""
    patient = _open(actor, patient_id, "monitoring.rehab")
    department_id = _department_id(actor)
    errors: dict[str, list[str]] = {}
    values = {kind: _target_value(kind, targets.get(kind), errors) for kind in RehabTargetKind.values}
    chosen = {kind: v for kind, v in values.items() if v is not None}
    if not chosen and not errors:
        errors["targets"] = [_("Set at least one daily target.")]
    starts_on = starts_on or clock.today()
    if ends_on is not None and ends_on < starts_on:
        errors["ends_on"] = [_("The end must be after the start.")]
    if errors:
        raise InvalidInput(errors=errors)
    if RehabPlan.objects.filter(patient=patient, status=RehabPlanStatus.ACTIVE).exists():
        raise RehabPlanExists()
    plan = RehabPlan.objects.create(
        patient=patient,
        department_id=department_id,
        therapist=actor,
        goal=_text(goal, "goal", 1000),
        starts_on=starts_on,
        ends_on=ends_on,
        created_by=actor,
    )
    RehabTarget.objects.bulk_create(
        RehabTarget(plan=plan, kind=kind, daily_target=value, effective_from=starts_on, set_by=actor)
        for kind, value in chosen.items()
    )
    until = (
        dt.datetime.combine(ends_on + dt.timedelta(days=30), dt.time.min, tzinfo=clock.local_now().tzinfo)
        if ends_on
        else None
    )
    register_care_relationship(
        patient=patient,
        department=plan.department,
        kind=CareRelationshipKind.FOLLOW_UP,
        source=f"monitoring.rehab:{plan.pk}",
        valid_until=until,
    )
    record(actor, AuditAction.CREATE, patient=patient, obj=plan, detail={"targets": chosen})
    return plan


@transaction.atomic
def decide_suggestion(
    actor: Any, suggestion_id: Any, *, decision: str, target: Any = None, note: str = ""
) -> RehabSuggestion:
    """The therapist accepts the suggested target, sets another one, or dismisses the suggestion.
    A new target applies from today."""
    require_capability(actor, "monitoring.rehab")
    suggestion = (
        RehabSuggestion.objects.select_for_update(of=("self",))
        .select_related("plan__patient__user")
        .filter(pk=_pk(suggestion_id))
        .first()
    )
    if suggestion is None:
        raise NotFound()
    plan = suggestion.plan
    access_patient(actor, plan.patient_id, AccessAction.UPDATE, obj=suggestion, audit=False)
    if suggestion.status != SuggestionStatus.PENDING:
        raise SuggestionAlreadyDecided()
    errors: dict[str, list[str]] = {}
    if decision not in ("accept", "edit", "dismiss"):
        raise InvalidInput(errors={"decision": [_("Accept, edit or dismiss.")]})
    applied: int | None = None
    if decision == "accept":
        applied = suggestion.suggested_target
    elif decision == "edit":
        applied = _target_value(suggestion.kind, target, errors)
        if applied is None and not errors:
            errors[suggestion.kind] = [_("Enter the new daily target.")]
    if errors:
        raise InvalidInput(errors=errors)
    now = clock.now()
    suggestion.status = {
        "accept": SuggestionStatus.ACCEPTED,
        "edit": SuggestionStatus.EDITED,
        "dismiss": SuggestionStatus.DISMISSED,
    }[decision]
    suggestion.decided_by = actor
    suggestion.decided_at = now
    suggestion.applied_target = applied
    suggestion.note = _text(note, "note", 300)
    suggestion.save()
    if applied is not None:
        RehabTarget.objects.update_or_create(
            plan=plan,
            kind=suggestion.kind,
            effective_from=clock.today(),
            defaults={"daily_target": applied, "set_by": actor, "set_at": now},
        )
        user = plan.patient.user
        if user is not None and user.is_active:
            from django.conf import settings
            from django.utils import translation

            with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
                notify(
                    user,
                    category="rehab_target",
                    subject=_("Your rehab target has changed"),
                    body=_("From today your target is %(target)s: %(value)s.")
                    % {"target": RehabTargetKind(suggestion.kind).label, "value": applied},
                    link="/monitoring/me/",
                )
    record(
        actor,
        AuditAction.UPDATE,
        patient=plan.patient_id,
        obj=suggestion,
        detail={"decision": decision, "applied_target": applied},
    )
    return suggestion
