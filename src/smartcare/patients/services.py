"""Registering and updating patients. Every write is atomic, permission-checked and audited."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput
from smartcare.core.permissions import require_capability
from smartcare.organization.choices import Sex
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction, ConsentKind, InsuranceType
from smartcare.patients.errors import DuplicatePatient, InvalidPatientData
from smartcare.patients.models import Consent, Patient
from smartcare.patients.resident_id import parse_resident_id

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
EDITABLE_FIELDS = (
    "name",
    "phone",
    "address",
    "emergency_contact_name",
    "emergency_contact_phone",
    "insurance_type",
    "insurance_number",
)


@dataclass
class PatientData:
    name: str
    national_id: str
    phone: str = ""
    sex: str = ""
    birth_date: dt.date | None = None
    address: str = ""
    emergency_contact_name: str = ""
    emergency_contact_phone: str = ""
    insurance_type: str = InsuranceType.SELF_PAY
    insurance_number: str = ""


def _clean_phone(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "")


def validate_patient_data(data: PatientData) -> PatientData:
    """Check everything at once and report every problem with its field."""
    errors: dict[str, list[str]] = {}
    name = (data.name or "").strip()
    if not name or len(name) > 100:
        errors.setdefault("name", []).append(str(_("Enter the patient's name (at most 100 characters).")))
    resident = None
    try:
        resident = parse_resident_id(data.national_id, today=clock.today())
    except InvalidInput as exc:
        errors.setdefault("national_id", []).append(exc.detail)
    phone = _clean_phone(data.phone)
    if phone and not PHONE_RE.match(phone):
        errors.setdefault("phone", []).append(str(_("Enter an 11-digit mobile number.")))
    contact_phone = _clean_phone(data.emergency_contact_phone)
    if contact_phone and not PHONE_RE.match(contact_phone):
        errors.setdefault("emergency_contact_phone", []).append(str(_("Enter an 11-digit mobile number.")))
    if data.insurance_type not in InsuranceType.values:
        errors.setdefault("insurance_type", []).append(str(_("Choose an insurance type from the list.")))
    elif data.insurance_type != InsuranceType.SELF_PAY and not (data.insurance_number or "").strip():
        errors.setdefault("insurance_number", []).append(str(_("Enter the insurance number.")))
    if data.sex and data.sex not in Sex.values:
        errors.setdefault("sex", []).append(str(_("Choose male or female.")))
    if resident is not None:
        if data.sex and data.sex != resident.sex:
            errors.setdefault("sex", []).append(str(_("The sex does not match the resident ID.")))
        if data.birth_date and data.birth_date != resident.birth_date:
            errors.setdefault("birth_date", []).append(
                str(_("The birth date does not match the resident ID."))
            )
    if errors:
        raise InvalidPatientData(errors=errors)
    assert resident is not None
    return PatientData(
        name=name,
        national_id=resident.number,
        phone=phone,
        sex=resident.sex,
        birth_date=resident.birth_date,
        address=(data.address or "").strip()[:300],
        emergency_contact_name=(data.emergency_contact_name or "").strip()[:100],
        emergency_contact_phone=contact_phone,
        insurance_type=data.insurance_type,
        insurance_number=(data.insurance_number or "").strip(),
    )


def next_medical_record_number() -> str:
    last = Patient.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return f"MRN{last + 1:08d}"


@transaction.atomic
def register_patient(actor: Any, data: PatientData, *, user: Any = None) -> Patient:
    """Register a new patient. Refuses an invalid resident ID and a duplicate with a coded error;
    nothing is written when it refuses."""
    require_capability(actor, "patients.register")
    clean = validate_patient_data(data)
    existing = Patient.objects.by_national_id(clean.national_id).only("medical_record_number").first()
    if existing is not None:
        raise DuplicatePatient(field="national_id", mrn=existing.medical_record_number)
    assert clean.birth_date is not None
    patient = Patient(
        medical_record_number=next_medical_record_number(),
        name=clean.name,
        sex=clean.sex,
        birth_date=clean.birth_date,
        national_id=clean.national_id,
        phone=clean.phone,
        address=clean.address,
        emergency_contact_name=clean.emergency_contact_name,
        emergency_contact_phone=clean.emergency_contact_phone,
        insurance_type=clean.insurance_type,
        insurance_number=clean.insurance_number,
        user=user,
    )
    for _attempt in range(5):
        try:
            with transaction.atomic():
                patient.save(force_insert=True)
            break
        except IntegrityError:
            # Either a concurrent registration of the same ID won the race, or of another
            # patient took the same record number: tell them apart and retry the latter.
            if Patient.objects.by_national_id(clean.national_id).exists():
                raise DuplicatePatient(field="national_id", mrn="-") from None
            patient.pk = None
            patient.medical_record_number = next_medical_record_number()
    else:
        raise DuplicatePatient(field="national_id", mrn="-")
    record(actor, AuditAction.CREATE, patient=patient, obj=patient)
    return patient


@transaction.atomic
def update_patient(actor: Any, patient_id: Any, changes: dict[str, Any]) -> Patient:
    """Update contact and insurance details. Identity (name aside) is fixed by the resident ID."""
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidPatientData(
            errors={name: [str(_("This field cannot be changed here."))] for name in unknown}
        )
    merged = PatientData(
        name=changes.get("name", patient.name),
        national_id=patient.national_id,
        phone=changes.get("phone", patient.phone),
        address=changes.get("address", patient.address),
        emergency_contact_name=changes.get("emergency_contact_name", patient.emergency_contact_name),
        emergency_contact_phone=changes.get("emergency_contact_phone", patient.emergency_contact_phone),
        insurance_type=changes.get("insurance_type", patient.insurance_type),
        insurance_number=changes.get("insurance_number", patient.insurance_number),
    )
    clean = validate_patient_data(merged)
    changed = []
    for name in EDITABLE_FIELDS:
        value = getattr(clean, name)
        if getattr(patient, name) != value:
            setattr(patient, name, value)
            changed.append(name)
    if changed:
        patient.save(update_fields=[*changed, "updated_at"])
    record(actor, AuditAction.UPDATE, patient=patient, obj=patient, detail={"fields": changed})
    return patient


@transaction.atomic
def record_consent(actor: Any, patient_id: Any, kind: str, granted: bool, note: str = "") -> Consent:
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    if kind not in ConsentKind.values:
        raise InvalidInput(field="kind")
    consent = Consent.objects.create(
        patient=patient, kind=kind, granted=granted, recorded_by=actor, note=note[:300]
    )
    record(actor, AuditAction.CREATE, patient=patient, obj=consent, detail={"kind": kind, "granted": granted})
    return consent
