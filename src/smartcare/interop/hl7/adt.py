"""ADT^A01 (admit), A02 (transfer), A03 (discharge), A04 (register an outpatient) and A08 (update
patient information).

A01/A04 register the patient when no identifier matches (``identity.register``), or update the
known patient; A02, A03 and A08 only update a known patient. Demographic changes go through
``patients.services.update_patient``.

A01 of an inpatient (PV1-2 ``I`` or empty) admits through ``emr.services.admit``: an inpatient
encounter in the bed PV1-3 names (point of care = the department's national code, room = the
room's code in that department, bed = the bed's code in that room), under the attending doctor of
PV1-7 when its ID is a practitioner's licence number, at PV1-44 (else EVN-6, EVN-2, now). A
location that is not a bed of smartcare is refused (HL7-024) and nothing is written. The same
visit (PV1-19) reported again is acknowledged without a second admission: the visit number is
found in the log of accepted A01 messages of the same system.

A02 moves the stay to the bed of PV1-3 (``emr.services.transfer``), A03 ends it
(``emr.services.discharge``, at the time smartcare receives it); the stay is the one the A01 of
the same visit number opened, else the patient's open stay (HL7-027 when there is none). A
transfer to the bed the patient is in, or a discharge of an ended stay, is acknowledged again.

A04 (and A01 of another patient class) gives the department of PV1-3 a care relationship for a
limited time, so its staff can open the record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from smartcare.accounts.choices import CareRelationshipKind
from smartcare.accounts.services import register_care_relationship
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput
from smartcare.emr import services as emr
from smartcare.emr.choices import EncounterKind, EncounterStatus
from smartcare.emr.models import Encounter
from smartcare.interop.hl7 import identity
from smartcare.interop.hl7.errors import (
    InvalidPatient,
    InvalidValue,
    PatientDeceased,
    PatientMismatch,
    RequiredFieldMissing,
    StayRefused,
    UnknownLocation,
    UnknownPatient,
    UnknownStay,
)
from smartcare.interop.hl7.inbound import Inbound
from smartcare.interop.hl7.parsing import at, first, parse_timestamp, value
from smartcare.interop.models import Hl7Message, MessageStatus
from smartcare.organization.models import Bed, Department, Practitioner
from smartcare.patients.services import update_patient

ADMISSION_CARE = dt.timedelta(days=30)
REGISTRATION_CARE = dt.timedelta(days=2)
INPATIENT_CLASSES = frozenset({"I", ""})  # PV1-2 (HL7 table 0004); an A01 without one admits
# Clocks of two systems differ a little; an admission further in the future is an error.
CLOCK_TOLERANCE = dt.timedelta(minutes=10)


def _update(inbound: Inbound, patient: Any, person: identity.Demographics) -> list[str]:
    changes: dict[str, Any] = {}
    if person.name and person.name != patient.name:
        changes["name"] = person.name
    if person.phone and person.phone != patient.phone:
        changes["phone"] = person.phone
    if person.address and person.address != patient.address:
        changes["address"] = person.address
    if not changes:
        return []
    if "|" in (patient.national_id or ""):  # registered with another document than a resident ID
        identity.update_documented(inbound.actor, patient, changes)
        return sorted(changes)
    try:
        update_patient(inbound.actor, patient.pk, changes)
    except InvalidInput as exc:
        reasons = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in exc.errors.items()) or exc.detail
        raise InvalidPatient(reason=reasons, location="PID^1^5") from None
    return sorted(changes)


def _visit(inbound: Inbound, patient: Any) -> dict[str, Any]:
    """PV1: the department caring for the patient from now on."""
    pv1 = first(inbound.header.message, "PV1")
    if pv1 is None:
        return {}
    point_of_care = value(pv1, 3, 1, 1)
    visit_number = value(pv1, 19, 1, 1)
    with at("PV1^1^44"):
        admitted_at = parse_timestamp(value(pv1, 44), "PV1-44") or clock.now()
    info: dict[str, Any] = {"patient_class": value(pv1, 2), "point_of_care": point_of_care}
    if not point_of_care:
        return info
    department = Department.objects.filter(national_code_id=point_of_care, is_active=True).first()
    if department is None:
        inbound.warnings.append(f"PV1-3 {point_of_care}: no such department, no care relationship")
        return info
    admission = inbound.header.trigger == "A01"
    register_care_relationship(
        patient=patient,
        department=department,
        kind=CareRelationshipKind.ADMISSION if admission else CareRelationshipKind.REGISTRATION,
        source=f"interop.hl7:{inbound.system.pk}:{visit_number or inbound.header.control_id}"[:100],
        valid_from=admitted_at,
        valid_until=admitted_at + (ADMISSION_CARE if admission else REGISTRATION_CARE),
    )
    info["department"] = department.code
    return info


def _admitted_at(inbound: Inbound, pv1: Any) -> dt.datetime:
    evn = first(inbound.header.message, "EVN")
    moment = None
    for segment, number, name in ((pv1, 44, "PV1"), (evn, 6, "EVN"), (evn, 2, "EVN")):
        with at(f"{name}^1^{number}"):
            moment = parse_timestamp(value(segment, number), f"{name}-{number}")
        if moment is not None:
            if moment > clock.now() + CLOCK_TOLERANCE:
                raise InvalidValue(
                    element=f"{name}-{number}", value=value(segment, number), location=f"{name}^1^{number}"
                )
            return moment
    return clock.now()


def _bed(pv1: Any) -> tuple[Department, Bed]:
    """PV1-3 (assigned patient location): point of care ^ room ^ bed."""
    point_of_care, room, bed_code = (value(pv1, 3, 1, n) for n in (1, 2, 3))
    if not point_of_care:
        raise RequiredFieldMissing(element="PV1-3", location="PV1^1^3")
    place = "^".join((point_of_care, room, bed_code))

    def refuse(reason: str) -> UnknownLocation:
        return UnknownLocation(place=place, reason=reason, location="PV1^1^3")

    department = Department.objects.filter(national_code_id=point_of_care, is_active=True).first()
    if department is None:
        raise refuse(_("no active department has the code %(code)s") % {"code": point_of_care})
    if not room or not bed_code:
        raise refuse(_("an admission needs the room (PV1-3.2) and the bed (PV1-3.3)"))
    bed = (
        Bed.objects.select_related("room")
        .filter(room__department=department, room__code__iexact=room, code__iexact=bed_code)
        .first()
    )
    if bed is None:
        raise refuse(
            _("department %(department)s has no bed %(bed)s in a room %(room)s")
            % {"department": department.code, "bed": bed_code, "room": room}
        )
    return department, bed


def _attending(inbound: Inbound, pv1: Any) -> int | None:
    """PV1-7 (attending doctor, XCN): its ID is the practitioner's licence number."""
    licence = value(pv1, 7, 1, 1)
    if not licence:
        return None
    practitioner = Practitioner.objects.filter(licence_number=licence).only("pk").first()
    if practitioner is None:
        inbound.warnings.append(f"PV1-7 {licence[:40]}: no practitioner has this licence number")
        return None
    return int(practitioner.pk)


def _previous_stay(inbound: Inbound, visit_number: str) -> Encounter | None:
    """The stay an earlier A01 of this system opened for the same visit number."""
    if not visit_number:
        return None
    earlier = (
        Hl7Message.objects.filter(
            system=inbound.system,
            status=MessageStatus.ACCEPTED,
            message_type="ADT",
            trigger="A01",
            summary__visit__visit_number=visit_number,
        )
        .order_by("-pk")
        .values_list("summary", flat=True)
    )
    for summary in earlier:
        encounter_id = (summary.get("visit") or {}).get("encounter")
        if encounter_id:
            return Encounter.objects.filter(pk=encounter_id).first()
    return None


def _admit_reason(inbound: Inbound) -> str:
    pv2 = first(inbound.header.message, "PV2")  # PV2-3 admit reason (CE/CWE): text, else code
    return (value(pv2, 3, 1, 2) or value(pv2, 3, 1, 1))[:300]


def _admit(inbound: Inbound, patient: Any, pv1: Any) -> dict[str, Any]:
    """A01 of an inpatient: the stay in smartcare (see the module docstring)."""
    visit_number = value(pv1, 19, 1, 1)
    info: dict[str, Any] = {"patient_class": value(pv1, 2).upper(), "visit_number": visit_number}
    previous = _previous_stay(inbound, visit_number)
    if previous is not None:
        if previous.patient_id != patient.pk:
            raise PatientMismatch(
                what="identity (this visit number belongs to another patient)", location="PV1^1^19"
            )
        inbound.warnings.append(f"visit {visit_number[:40]} is already admitted (encounter {previous.pk})")
        return {**info, "encounter": previous.pk, "already_admitted": True}
    department, bed = _bed(pv1)
    admitted_at = _admitted_at(inbound, pv1)
    attending = _attending(inbound, pv1)
    try:
        encounter = emr.admit(
            inbound.actor,
            patient_id=patient.pk,
            department_id=department.pk,
            bed_id=bed.pk,
            reason=_admit_reason(inbound),
            admitted_at=admitted_at,
            attending_id=attending,
            capability="interop.hl7.send",
        )
    except CodedError as exc:  # already in a stay, the bed is taken
        raise StayRefused(reason=f"{exc.code} {exc.detail}", location="PV1^1^3") from None
    return {
        **info,
        "encounter": encounter.pk,
        "department": department.code,
        "room": bed.room.code,
        "bed": bed.code,
        "attending": attending,
    }


def _open_stay(inbound: Inbound, patient: Any, pv1: Any) -> Encounter:
    """The stay an A02/A03 is about: the one the A01 of its visit number opened, else the
    patient's open inpatient stay (admitted in smartcare or before the interface)."""
    visit_number = value(pv1, 19, 1, 1)
    stay = _previous_stay(inbound, visit_number)
    if stay is not None and stay.patient_id != patient.pk:
        raise PatientMismatch(
            what="identity (this visit number belongs to another patient)", location="PV1^1^19"
        )
    if stay is None:
        stay = Encounter.objects.filter(
            patient=patient, kind=EncounterKind.INPATIENT, status=EncounterStatus.IN_PROGRESS
        ).first()
    if stay is None:
        raise UnknownStay(visit=visit_number or "-", location="PV1^1^19")
    return stay


def _transfer(inbound: Inbound, patient: Any, pv1: Any) -> dict[str, Any]:
    """A02: to the bed of PV1-3 (and its department)."""
    stay = _open_stay(inbound, patient, pv1)
    department, bed = _bed(pv1)
    info = {
        "visit_number": value(pv1, 19, 1, 1),
        "encounter": stay.pk,
        "room": bed.room.code,
        "bed": bed.code,
    }
    if stay.bed_id == bed.pk and stay.is_open:
        inbound.warnings.append(f"already in bed {bed.room.code}-{bed.code}")
        return {**info, "already_there": True}
    try:
        emr.transfer(
            inbound.actor,
            stay.pk,
            bed_id=bed.pk,
            department_id=department.pk,
            reason=_admit_reason(inbound),
            capability="interop.hl7.send",
        )
    except CodedError as exc:  # the bed is taken, the stay has ended
        raise StayRefused(reason=f"{exc.code} {exc.detail}", location="PV1^1^3") from None
    return {**info, "department": department.code}


def _discharge(inbound: Inbound, patient: Any, pv1: Any) -> dict[str, Any]:
    """A03: the stay ends (now: the EMR records a discharge when it is recorded)."""
    stay = _open_stay(inbound, patient, pv1)
    info = {"visit_number": value(pv1, 19, 1, 1), "encounter": stay.pk}
    if not stay.is_open:
        inbound.warnings.append(f"encounter {stay.pk} is already discharged")
        return {**info, "already_discharged": True}
    try:
        emr.discharge(inbound.actor, stay.pk, reason=_admit_reason(inbound), capability="interop.hl7.send")
    except CodedError as exc:
        raise StayRefused(reason=f"{exc.code} {exc.detail}", location="PV1^1^19") from None
    return info


def handle_adt(inbound: Inbound) -> None:
    message = inbound.header.message
    pid = first(message, "PID")
    if pid is None:
        raise RequiredFieldMissing(element="PID", location="PID")
    found = identity.identifiers(pid)
    if not found:
        raise RequiredFieldMissing(element="PID-3", location="PID^1^3")
    person = identity.demographics(pid, found)
    patient = identity.find_patient(inbound.actor, found, inbound.system)
    created = False
    changed: list[str] = []
    if patient is None:
        if inbound.header.trigger in ("A02", "A03", "A08"):
            raise UnknownPatient(location="PID^1^3")
        patient = identity.register(inbound.actor, person, found, inbound.system)
        created = True
    else:
        identity.check_identity(patient, person)
        if patient.is_deceased and inbound.header.trigger in ("A01", "A04"):
            raise PatientDeceased(location="PID^1^30")
        changed = _update(inbound, patient, person)
    inbound.patient = patient
    identifiers_added = identity.remember_identifiers(patient, found, inbound.system)
    inbound.summary.update(
        {
            "patient": patient.pk,
            "created": created,
            "changed": changed,
            "identifiers_added": identifiers_added,
        }
    )
    pv1 = first(message, "PV1")
    if inbound.header.trigger == "A01" and value(pv1, 2).upper() in INPATIENT_CLASSES:
        if pv1 is None:
            raise RequiredFieldMissing(element="PV1", location="PV1")
        inbound.summary["visit"] = _admit(inbound, patient, pv1)
    elif inbound.header.trigger in ("A01", "A04"):
        inbound.summary["visit"] = _visit(inbound, patient)
    elif inbound.header.trigger in ("A02", "A03"):
        if pv1 is None:
            raise RequiredFieldMissing(element="PV1", location="PV1")
        move = _transfer if inbound.header.trigger == "A02" else _discharge
        inbound.summary["visit"] = move(inbound, patient, pv1)
