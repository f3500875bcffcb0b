"""Who a message is about: PID identifiers matched to a smartcare patient, and new patients
registered from ADT.

Matching uses, in PID-3 order: an identifier another system assigned and smartcare remembers
(``ExternalIdentifier``: assigning authority + value), smartcare's own record number (type MR
with authority SMARTCARE, or no authority when the sender has none of its own), and the resident
ID (type NNCHN, or NI/NN issued by China, or PID-19). Identifiers that point to different
patients, or a patient whose birth date or sex differs from PID, are refused: a result must never
land in the wrong record. Lookups run on ``Patient.objects.visible_to(actor)``; writes open the
patient with ``access_patient`` and are audited.

A new patient (ADT) is registered with a valid resident ID when PID-3 has one. Without it, as in
the FHIR import, the strongest other identity document becomes the patient's identity
(``national_id`` = ``urn:smartcare:hl7v2:<authority>:<type>|<value>``, encrypted and searchable):
a foreign national ID (NI), social security (SS/SB), passport (PPN), driver's licence (DL), then
a record number of the sender (MR, PI or any other type), each with its assigning authority
(PID-3.4, or the connected system's own); name, birth date and sex then come from PID only.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput
from smartcare.interop.hl7.ack import APPLICATION
from smartcare.interop.hl7.errors import InvalidPatient, InvalidValue, PatientMismatch, RequiredFieldMissing
from smartcare.interop.hl7.parsing import at, parse_date, repetitions, value
from smartcare.interop.models import ConnectedSystem, ExternalIdentifier
from smartcare.organization.choices import Sex
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient
from smartcare.patients.services import PHONE_RE, PatientData, validate_patient_data

RESIDENT_ID_TYPES = frozenset({"NNCHN", "NI", "NN", "CZ"})
CHINA = frozenset({"", "CHN", "CN"})
# Identity documents, strongest first (HL7 table 0203), as in the FHIR Patient mapping.
DOCUMENT_TYPES = ("NI", "NN", "SS", "SB", "PPN", "DL", "MR", "PI")
DOCUMENT_SYSTEM = "urn:smartcare:hl7v2"
NO_USABLE_IDENTIFIER = gettext_lazy(
    "PID-3 (a resident ID, or an identity document or record number with its assigning authority)"
)
EARLIEST_BIRTH = dt.date(1900, 1, 1)
CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Identifier:
    value: str
    authority: str
    id_type: str

    @property
    def is_resident_id(self) -> bool:
        if self.id_type == "NNCHN":
            return True
        return self.id_type in RESIDENT_ID_TYPES and self.authority in CHINA

    def document_key(self, system: ConnectedSystem) -> str:
        """The identity this number gives a patient registered without a resident ID ("" when it
        has no assigning authority, so it could be anybody's)."""
        authority = _authority(self, system)
        if not authority or self.is_resident_id or _owned_by_smartcare(self, system):
            return ""
        return f"{DOCUMENT_SYSTEM}:{authority}:{self.id_type or 'ID'}|{self.value}"

    @property
    def rank(self) -> int:
        return DOCUMENT_TYPES.index(self.id_type) if self.id_type in DOCUMENT_TYPES else len(DOCUMENT_TYPES)


@dataclass
class Demographics:
    name: str
    birth_date: Any
    sex: str
    phone: str
    address: str
    resident_id: str


def identifiers(pid: Any) -> list[Identifier]:
    found: list[Identifier] = []
    for number in (3, 2, 4):  # PID-3 patient identifier list; PID-2/4 in old versions
        for rep in range(1, repetitions(pid, number) + 1):
            text = value(pid, number, rep, 1)
            if text:
                found.append(
                    Identifier(
                        value=text,
                        authority=value(pid, number, rep, 4).upper(),
                        id_type=value(pid, number, rep, 5).upper(),
                    )
                )
    ssn = value(pid, 19)
    if ssn:  # Chinese profiles often carry the resident ID here
        found.append(Identifier(value=ssn, authority="CHN", id_type="NNCHN"))
    return found


def _name(pid: Any) -> str:
    family, given = value(pid, 5, 1, 1), value(pid, 5, 1, 2)
    if CJK.search(family + given):
        return (family + given).strip()
    return " ".join(part for part in (family, given) if part).strip()


def _sex(text: str) -> str:
    return {"M": Sex.MALE, "F": Sex.FEMALE}.get(text.strip().upper()[:1], "")


def _phone(pid: Any) -> str:
    for rep in range(1, max(repetitions(pid, 13), 1) + 1):
        for candidate in (value(pid, 13, rep, 12), value(pid, 13, rep, 1)):
            digits = re.sub(r"[\s()+-]", "", candidate)
            if digits.startswith("86") and len(digits) == 13:
                digits = digits[2:]
            if PHONE_RE.match(digits):
                return digits
    return ""


def _address(pid: Any) -> str:
    parts = [value(pid, 11, 1, n) for n in (4, 3, 1, 2)]  # province, city, street, other
    text = "".join(parts) if CJK.search("".join(parts)) else ", ".join(p for p in reversed(parts) if p)
    return text[:300]


def _birth_date(pid: Any) -> Any:
    with at("PID^1^7"):
        born = parse_date(value(pid, 7), "PID-7")
        if born is not None and not EARLIEST_BIRTH <= born <= clock.today():
            raise InvalidValue(element="PID-7", value=value(pid, 7)[:40])
        return born


def demographics(pid: Any, found: list[Identifier], *, warnings: list[str] | None = None) -> Demographics:
    """PID's person. With ``warnings`` (results for a known patient), an unreadable birth date is
    left out with a warning instead of refusing the message: the identifiers identify the patient,
    and the birth date is then not compared."""
    resident = next((i.value for i in found if i.is_resident_id), "")
    try:
        born = _birth_date(pid)
    except InvalidValue:
        if warnings is None:
            raise
        warnings.append(f"PID-7 {value(pid, 7)[:40]}: not a valid birth date, ignored")
        born = None
    return Demographics(
        name=_name(pid),
        birth_date=born,
        sex=_sex(value(pid, 8)),
        phone=_phone(pid),
        address=_address(pid),
        resident_id=resident,
    )


def _owned_by_smartcare(identifier: Identifier, system: ConnectedSystem) -> bool:
    if identifier.authority == APPLICATION:
        return True
    return identifier.id_type == "MR" and not identifier.authority and not system.assigning_authority


def _authority(identifier: Identifier, system: ConnectedSystem) -> str:
    return identifier.authority or (system.assigning_authority or "").upper()


def find_patient(actor: Any, found: list[Identifier], system: ConnectedSystem) -> Patient | None:
    """The one patient all matching identifiers point to (None when none matches)."""
    visible = Patient.objects.visible_to(actor)
    matches: set[int] = set()
    for identifier in found:
        if identifier.is_resident_id:
            matches.update(visible.by_national_id(identifier.value).values_list("pk", flat=True))
            continue
        document = identifier.document_key(system)
        if document:  # a patient registered with this document (HL7 or FHIR import)
            matches.update(visible.by_national_id(document).values_list("pk", flat=True))
        if _owned_by_smartcare(identifier, system):
            matches.update(
                visible.filter(medical_record_number=identifier.value).values_list("pk", flat=True)
            )
        else:
            authority = _authority(identifier, system)
            if authority:
                known = ExternalIdentifier.lookup(authority, identifier.value).filter(patient__in=visible)
                matches.update(known.values_list("patient_id", flat=True))
    if len(matches) > 1:
        raise PatientMismatch(what="identity (the identifiers name different patients)", location="PID^1^3")
    if not matches:
        return None
    return Patient.objects.get(pk=matches.pop())


def check_identity(patient: Patient, person: Demographics) -> None:
    if person.birth_date and person.birth_date != patient.birth_date:
        raise PatientMismatch(what="birth date", location="PID^1^7")
    if person.sex and patient.sex and person.sex != patient.sex:
        raise PatientMismatch(what="sex", location="PID^1^8")
    if (
        person.resident_id
        and patient.national_id
        and "|" not in patient.national_id  # registered with another identity document
        and person.resident_id.upper() != patient.national_id.upper()
    ):
        raise PatientMismatch(what="resident ID", location="PID^1^3")


def remember_identifiers(patient: Patient, found: list[Identifier], system: ConnectedSystem) -> int:
    """Keep the sender's own numbers for this patient, so later messages find them."""
    added = 0
    for identifier in found:
        if identifier.is_resident_id or _owned_by_smartcare(identifier, system):
            continue
        authority = _authority(identifier, system)
        if not authority:
            continue
        existing = ExternalIdentifier.lookup(authority, identifier.value).first()
        if existing is not None:
            if existing.patient_id != patient.pk:
                raise PatientMismatch(
                    what="identity (this number belongs to another patient)", location="PID^1^3"
                )
            continue
        ExternalIdentifier(
            patient=patient,
            authority=authority,
            value=identifier.value[:100],
            id_type=identifier.id_type[:10],
            system=system,
        ).save()
        added += 1
    return added


def _invalid(errors: dict[str, list[str]]) -> InvalidPatient:
    reasons = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in errors.items())
    return InvalidPatient(reason=reasons, location="PID^1^5")


def _document_identity(person: Demographics, found: list[Identifier], system: ConnectedSystem) -> PatientData:
    """A patient without a resident ID: the strongest identity document, and PID's own data."""
    documents = sorted((i for i in found if i.document_key(system)), key=lambda i: i.rank)
    if not documents:
        raise RequiredFieldMissing(element=str(NO_USABLE_IDENTIFIER), location="PID^1^3")
    if person.birth_date is None:
        raise RequiredFieldMissing(element="PID-7", location="PID^1^7")
    errors: dict[str, list[str]] = {}
    name = person.name.strip()
    if not name or len(name) > 100:
        errors["name"] = [str(_("Enter the patient's name (at most 100 characters)."))]
    if errors:
        raise _invalid(errors)
    return PatientData(
        name=name,
        national_id=documents[0].document_key(system),
        phone=person.phone,
        sex=person.sex,
        birth_date=person.birth_date,
        address=person.address,
    )


def register(actor: Any, person: Demographics, found: list[Identifier], system: ConnectedSystem) -> Patient:
    """Register a patient the HIS admitted or registered (ADT^A01/A04).

    With a resident ID the registry's own validation applies (``validate_patient_data``: a valid
    resident ID that matches birth date and sex). Without one, the strongest identity document
    with its assigning authority is the identity (see the module docstring); no usable identifier
    at all is refused (HL7-004). Record numbers follow the registry's scheme (MRN + row id).
    """
    if not person.resident_id:
        clean = _document_identity(person, found, system)
        if Patient.objects.by_national_id(clean.national_id).exists():
            raise PatientMismatch(
                what="identity (the identity document is registered to another patient)", location="PID^1^3"
            )
        return _create(actor, clean, system)
    try:
        clean = validate_patient_data(
            PatientData(
                name=person.name,
                national_id=person.resident_id,
                phone=person.phone,
                sex=person.sex,
                birth_date=person.birth_date,
                address=person.address,
            )
        )
    except InvalidInput as exc:
        reasons = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in exc.errors.items()) or exc.detail
        raise InvalidPatient(reason=reasons, location="PID^1^3") from None
    if Patient.objects.by_national_id(clean.national_id).exists():
        # Another identifier matched nobody, but the resident ID is taken: not the same person.
        raise PatientMismatch(
            what="identity (the resident ID is registered to another patient)", location="PID^1^3"
        )
    return _create(actor, clean, system)


def _create(actor: Any, clean: PatientData, system: ConnectedSystem) -> Patient:
    assert clean.birth_date is not None
    patient = Patient(
        name=clean.name,
        sex=clean.sex,
        birth_date=clean.birth_date,
        national_id=clean.national_id,
        phone=clean.phone,
        address=clean.address,
    )
    try:
        with transaction.atomic():
            patient.medical_record_number = "TMP" + secrets.token_hex(8)
            patient.save(force_insert=True)
            patient.medical_record_number = f"MRN{patient.pk:08d}"
            Patient.objects.filter(pk=patient.pk).update(medical_record_number=patient.medical_record_number)
    except IntegrityError:
        raise PatientMismatch(what="identity (registered concurrently)", location="PID^1^3") from None
    record(
        actor, AuditAction.CREATE, patient=patient, obj=patient, detail={"via": "hl7", "system": system.name}
    )
    return patient


def update_documented(actor: Any, patient: Patient, changes: dict[str, Any]) -> None:
    """Name, phone and address of a patient registered with another identity document than a
    resident ID. ``patients.services.update_patient`` re-validates the resident ID, which such a
    patient has not; the same checks apply to the changed fields, with the same audit."""
    name = str(changes.get("name", patient.name)).strip()
    if not name or len(name) > 100:
        raise _invalid({"name": [str(_("Enter the patient's name (at most 100 characters)."))]})
    if "phone" in changes and not PHONE_RE.match(changes["phone"]):  # demographics keeps valid ones only
        raise _invalid({"phone": [str(_("Enter an 11-digit mobile number."))]})
    opened = access_patient(actor, patient.pk, AccessAction.UPDATE, audit=False)
    for field_name, new in changes.items():
        setattr(opened, field_name, str(new).strip())
    opened.save(update_fields=[*changes, "updated_at"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=opened,
        obj=opened,
        detail={"fields": sorted(changes), "via": "hl7"},
    )
