"""Registering and updating patients. Every write is atomic, permission-checked and audited."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
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
                # The record number comes from the row's own id, which no concurrent
                # registration can share (guessing "last id + 1" made simultaneous
                # registrations collide until they gave up with a false PAT-002).
                patient.pk = None
                patient.medical_record_number = "TMP" + secrets.token_hex(8)
                patient.save(force_insert=True)
                patient.medical_record_number = f"MRN{patient.pk:08d}"
                Patient.objects.filter(pk=patient.pk).update(
                    medical_record_number=patient.medical_record_number
                )
            break
        except IntegrityError:
            # A concurrent registration of the same ID won the race; otherwise the number was
            # taken by a record numbered another way: try the next id.
            if Patient.objects.by_national_id(clean.national_id).exists():
                raise DuplicatePatient(field="national_id", mrn="-") from None
    else:
        raise DuplicatePatient(field="national_id", mrn="-")
    record(actor, AuditAction.CREATE, patient=patient, obj=patient)
    department_id = getattr(getattr(actor, "practitioner", None), "department_id", None)
    if getattr(actor, "is_clinician", False) and department_id is not None:
        # A clinician registering a patient is about to care for them.
        from smartcare.accounts.choices import CareRelationshipKind
        from smartcare.accounts.services import register_care_relationship

        register_care_relationship(
            patient=patient,
            department=actor.practitioner.department,
            kind=CareRelationshipKind.REGISTRATION,
            source=f"patients.registration:{patient.pk}",
            valid_until=clock.now() + dt.timedelta(days=30),
        )
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


@transaction.atomic
def bind_channel(channel_user: Any, *, national_id: str, name: str, phone: str, external_id: str = "") -> Any:
    """An external channel (app, mini-program) that has verified the person's phone binds itself to
    their patient record, so it may book for them. All three must match; a mismatch says nothing
    about which one was wrong."""
    from smartcare.accounts.choices import Role
    from smartcare.patients.errors import IdentityNotConfirmed
    from smartcare.patients.models import ChannelBinding

    if getattr(channel_user, "role", "") != Role.CHANNEL:
        raise PermissionDenied()
    patient = Patient.objects.by_national_id(national_id.strip().upper()).first() if national_id else None
    if patient is None or patient.name != name.strip() or patient.phone != _clean_phone(phone):
        record(
            channel_user,
            AuditAction.DENIED,
            obj=("patients.ChannelBinding", "bind"),
            detail={"reason": "identity not confirmed"},
        )
        raise IdentityNotConfirmed()
    binding, _created = ChannelBinding.objects.update_or_create(
        channel_user=channel_user,
        patient=patient,
        defaults={"external_id": external_id[:100], "revoked_at": None},
    )
    record(channel_user, AuditAction.CREATE, patient=patient, obj=binding)
    return binding


@transaction.atomic
def revoke_channel_binding(actor: Any, binding_id: int) -> None:
    from smartcare.patients.models import ChannelBinding

    binding = ChannelBinding.objects.filter(pk=binding_id).first()
    if binding is None:
        raise NotFound()
    if actor.pk != binding.channel_user_id:
        access_patient(actor, binding.patient_id, AccessAction.UPDATE, audit=False)
    binding.revoked_at = clock.now()
    binding.save(update_fields=["revoked_at", "updated_at"])
    record(actor, AuditAction.UPDATE, patient=binding.patient_id, obj=binding, detail={"event": "revoked"})


@transaction.atomic
def link_family_member(actor: Any, patient_id: Any, *, username: str, relationship: str) -> Any:
    """Front desk links a portal user to a patient they may book for (after checking papers)."""
    from smartcare.accounts.models import User
    from smartcare.patients.models import FamilyLink

    require_capability(actor, "patients.register")
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    member = User.objects.filter(username=username, role="patient", is_active=True).first()
    if member is None:
        raise InvalidInput(_("No patient portal account with this username."), field="username")
    if not relationship.strip():
        raise InvalidInput(_("Say how they are related."), field="relationship")
    link, _created = FamilyLink.objects.update_or_create(
        user=member,
        patient=patient,
        defaults={"relationship": relationship.strip()[:40], "verified_by": actor, "ended_at": None},
    )
    record(actor, AuditAction.CREATE, patient=patient, obj=link, detail={"member": member.username})
    return link


@transaction.atomic
def create_portal_account(actor: Any, patient_id: Any) -> tuple[Any, str]:
    """Give a patient a portal account (front desk, with the patient present). Returns the user and
    a one-time password to hand over; the patient changes it after signing in."""
    import secrets

    from smartcare.accounts.models import User

    require_capability(actor, "patients.register")
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    if patient.user_id is not None:
        raise InvalidInput(_("This patient already has a portal account."), field="user")
    username = f"p{patient.medical_record_number.removeprefix('MRN')}"
    if User.objects.filter(username=username).exists():
        raise InvalidInput(_("The username %(name)s is taken.") % {"name": username}, field="user")
    password = "-".join(secrets.token_hex(3) for _ in range(3))
    user = User(username=username, role="patient", display_name=patient.name)
    user.set_password(password)
    user.save()
    patient.user = user
    patient.save(update_fields=["user", "updated_at"])
    record(actor, AuditAction.CREATE, patient=patient, obj=user, detail={"event": "portal account"})
    return user, password
