"""ADT^A01 (admit), ADT^A04 (register an outpatient) and ADT^A08 (update patient information).

A01/A04 register the patient when no identifier matches (the registry's validation applies),
or update the known patient; A08 only updates a known patient. Demographic changes go through
``patients.services.update_patient``. When PV1-3 names a department of the hospital (by its
national code), that department gets a care relationship: the ward for an admission, the clinic
for a registration, so its staff can open the record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.accounts.choices import CareRelationshipKind
from smartcare.accounts.services import register_care_relationship
from smartcare.core import clock
from smartcare.core.errors import InvalidInput
from smartcare.interop.hl7 import identity
from smartcare.interop.hl7.errors import InvalidPatient, PatientDeceased, RequiredFieldMissing, UnknownPatient
from smartcare.interop.hl7.inbound import Inbound
from smartcare.interop.hl7.parsing import at, first, parse_timestamp, value
from smartcare.organization.models import Department
from smartcare.patients.services import update_patient

ADMISSION_CARE = dt.timedelta(days=30)
REGISTRATION_CARE = dt.timedelta(days=2)


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
        if inbound.header.trigger == "A08":
            raise UnknownPatient(location="PID^1^3")
        patient = identity.register(inbound.actor, person, inbound.system)
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
    if inbound.header.trigger in ("A01", "A04"):
        inbound.summary["visit"] = _visit(inbound, patient)
