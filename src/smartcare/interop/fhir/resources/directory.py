"""Practitioner, Organization and Location <-> smartcare's organization tables (read-only).

* Practitioner <-> ``organization.Practitioner`` (identifier: the licence number).
* Organization <-> ``organization.Hospital`` (``h-<id>``) and ``organization.Department``
  (``d-<id>``, identified by its national department code, ``partOf`` its hospital).
* Location <-> ``organization.Room`` (``r-<id>``) and ``organization.Bed`` (``b-<id>``, ``partOf``
  its room; the bed's status as HL7 v2 table 0116 operational status).

smartcare keeps its own staff and places in the admin. An imported Practitioner, Organization or
Location that names one of them (by these identifiers) is linked to it; any other (another
hospital's doctor, a clinic) is kept as FHIR in the lossless store and served beside them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    BED_SYSTEM,
    DEPARTMENT_SYSTEM,
    HOSPITAL_SYSTEM,
    LICENCE_SYSTEM,
    ROOM_SYSTEM,
    TITLE_SYSTEM,
    concept,
    human_name,
    identifier,
    identifiers,
)
from smartcare.interop.fhir.registry import (
    Access,
    Mapping,
    ParamKind,
    ParamSpec,
    Source,
    WriteContext,
    register,
)
from smartcare.interop.fhir.resources.common import (
    COMMON_PARAMS,
    drop_empty,
    meta,
    reference,
    standard_filters,
)
from smartcare.interop.fhir.store import store_source
from smartcare.organization.choices import BedStatus
from smartcare.organization.models import Bed, Department, Hospital, Practitioner, Room

ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
_BED_CODES: dict[str, tuple[str, str]] = {
    BedStatus.FREE: ("U", "Unoccupied"),
    BedStatus.OCCUPIED: ("O", "Occupied"),
    BedStatus.CLEANING: ("K", "Contaminated"),
    BedStatus.BLOCKED: ("C", "Closed"),
}


def _first(values: list[tuple[str, str]], system: str) -> str | None:
    return next((value for s, value in values if s == system), None)


# --- Practitioner -----------------------------------------------------------------------------------


def practitioner_to_fhir(row: Practitioner) -> dict[str, Any]:
    user = row.user
    return drop_empty(
        {
            "resourceType": "Practitioner",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "identifier": [identifier(LICENCE_SYSTEM, row.licence_number)],
            "active": bool(user.is_active),
            "name": [human_name(user.display_name or user.get_username())],
            "qualification": [{"code": concept(TITLE_SYSTEM, row.title, str(row.get_title_display()))}],
        }
    )


def _licence(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    conditions = [
        Q(licence_number=t.code) for t in values if t.system in (None, "", LICENCE_SYSTEM) and t.code
    ]
    return rows.filter(p.q_any(conditions))


PRACTITIONER = Source(
    model=Practitioner,
    to_fhir=practitioner_to_fhir,
    patient_field=None,
    related=("user",),
    filters={"identifier": _licence, "name": p.by_text("user__display_name", "user__username")},
    sort={"name": "user__display_name"},
)
standard_filters(PRACTITIONER, "Practitioner")


class DirectoryMapping(Mapping):
    access = Access.DIRECTORY
    rank = 0
    writable = False
    import_updates = False  # imports link to smartcare's own rows and never change them
    match_by_identifier = True  # the same identifier is the same person or place

    def patient_of(self, resource: dict[str, Any], ctx: WriteContext) -> int | None:
        return None


class PractitionerMapping(DirectoryMapping):
    resource_type = "Practitioner"
    sources = [PRACTITIONER, store_source("Practitioner")]
    params = [*COMMON_PARAMS, ParamSpec("name", ParamKind.STRING)]
    description = "organization.Practitioner; other practitioners kept as FHIR"

    def find_existing(self, resource: dict[str, Any], ctx: WriteContext) -> Any:
        licence = _first(identifiers(resource), LICENCE_SYSTEM)
        return Practitioner.objects.filter(licence_number=licence).first() if licence else None


# --- Organization -----------------------------------------------------------------------------------


def hospital_to_fhir(row: Hospital) -> dict[str, Any]:
    return drop_empty(
        {
            "resourceType": "Organization",
            "id": f"h-{row.pk}",
            "meta": meta(row.updated_at),
            "identifier": [identifier(HOSPITAL_SYSTEM, row.code)],
            "active": True,
            "type": [concept(ORGANIZATION_TYPE, "prov", "Healthcare Provider")],
            "name": row.name,
            "alias": [n for n in (row.name_zh, row.name_en) if n and n != row.name],
            "telecom": [{"system": "phone", "value": row.phone}] if row.phone else [],
            "address": [{"text": row.address}] if row.address else [],
        }
    )


def department_to_fhir(row: Department) -> dict[str, Any]:
    return drop_empty(
        {
            "resourceType": "Organization",
            "id": f"d-{row.pk}",
            "meta": meta(row.updated_at),
            "identifier": [identifier(DEPARTMENT_SYSTEM, row.national_code_id)],
            "active": bool(row.is_active),
            "type": [concept(ORGANIZATION_TYPE, "dept", "Hospital Department")],
            "name": row.name,
            "alias": [n for n in (row.name_zh, row.name_en) if n and n != row.name],
            "partOf": reference("Organization", f"h-{row.hospital_id}"),
        }
    )


def _type_filter(code: str) -> Any:
    def apply(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
        return rows if any(t.code == code for t in values) else rows.none()

    return apply


def _hospital_identifier(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    return rows.filter(p.q_any([Q(code=t.code) for t in values if t.system in (None, "", HOSPITAL_SYSTEM)]))


def _department_identifier(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    return rows.filter(
        p.q_any([Q(national_code_id=t.code) for t in values if t.system in (None, "", DEPARTMENT_SYSTEM)])
    )


def _part_of(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    ids = [int(v.id[2:]) for v in values if v.id.startswith("h-") and v.id[2:].isdigit()]
    return rows.filter(hospital_id__in=ids)


HOSPITAL = Source(
    model=Hospital,
    to_fhir=hospital_to_fhir,
    prefix="h-",
    patient_field=None,
    filters={
        "identifier": _hospital_identifier,
        "name": p.by_text("name_zh", "name_en"),
        "type": _type_filter("prov"),
        "partof": p.nothing(),
    },
    sort={"name": "name_zh"},
)
DEPARTMENT = Source(
    model=Department,
    to_fhir=department_to_fhir,
    prefix="d-",
    patient_field=None,
    filters={
        "identifier": _department_identifier,
        "name": p.by_text("name_zh", "name_en"),
        "type": _type_filter("dept"),
        "partof": _part_of,
    },
    sort={"name": "name_zh"},
)
for _source in (HOSPITAL, DEPARTMENT):
    standard_filters(_source, "Organization")


class OrganizationMapping(DirectoryMapping):
    resource_type = "Organization"
    sources = [HOSPITAL, DEPARTMENT, store_source("Organization")]
    params = [
        *COMMON_PARAMS,
        ParamSpec("name", ParamKind.STRING),
        ParamSpec("type", ParamKind.TOKEN, "prov (hospital) | dept (department)"),
        ParamSpec("partof", ParamKind.REFERENCE),
    ]
    includes = {"Organization:partof": ("partOf",)}
    description = (
        "organization.Hospital (h-) and organization.Department (d-); other organizations kept as FHIR"
    )

    def find_existing(self, resource: dict[str, Any], ctx: WriteContext) -> Any:
        found = identifiers(resource)
        code = _first(found, HOSPITAL_SYSTEM)
        if code:
            return Hospital.objects.filter(code=code).first()
        national = _first(found, DEPARTMENT_SYSTEM)
        if national:
            return Department.objects.filter(national_code_id=national).order_by("hospital_id").first()
        return None


# --- Location -----------------------------------------------------------------------------------------


def room_to_fhir(row: Room) -> dict[str, Any]:
    owner = (
        reference("Organization", f"d-{row.department_id}")
        if row.department_id
        else reference("Organization", f"h-{row.campus.hospital_id}")
    )
    return drop_empty(
        {
            "resourceType": "Location",
            "id": f"r-{row.pk}",
            "meta": meta(row.updated_at),
            "identifier": [identifier(ROOM_SYSTEM, row.code)],
            "status": "active",
            "name": row.code,
            "description": f"{row.get_kind_display()} {row.floor}".strip(),
            "mode": "instance",
            "physicalType": concept(PHYSICAL_TYPE, "ro", "Room"),
            "managingOrganization": owner,
        }
    )


def bed_to_fhir(row: Bed) -> dict[str, Any]:
    code, display = _BED_CODES.get(row.status, ("U", "Unoccupied"))
    return drop_empty(
        {
            "resourceType": "Location",
            "id": f"b-{row.pk}",
            "meta": meta(row.updated_at),
            "identifier": [identifier(BED_SYSTEM, f"{row.room.code}-{row.code}")],
            "status": "suspended" if row.status == BedStatus.BLOCKED else "active",
            "operationalStatus": {"system": BED_STATUS, "code": code, "display": display},
            "name": f"{row.room.code}-{row.code}",
            "mode": "instance",
            "physicalType": concept(PHYSICAL_TYPE, "bd", "Bed"),
            "partOf": reference("Location", f"r-{row.room_id}"),
            "managingOrganization": reference("Organization", f"d-{row.room.department_id}")
            if row.room.department_id
            else None,
        }
    )


def _room_organization(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    ids = [int(v.id[2:]) for v in values if v.id.startswith("d-") and v.id[2:].isdigit()]
    return rows.filter(department_id__in=ids)


def _bed_organization(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    ids = [int(v.id[2:]) for v in values if v.id.startswith("d-") and v.id[2:].isdigit()]
    return rows.filter(room__department_id__in=ids)


def _bed_part_of(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    ids = [int(v.id[2:]) for v in values if v.id.startswith("r-") and v.id[2:].isdigit()]
    return rows.filter(room_id__in=ids)


def _codes(field_name: str, system: str) -> Any:
    def apply(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
        return rows.filter(
            p.q_any([Q(**{field_name: t.code}) for t in values if t.system in (None, "", system)])
        )

    return apply


ROOM = Source(
    model=Room,
    to_fhir=room_to_fhir,
    prefix="r-",
    patient_field=None,
    related=("campus",),
    filters={
        "identifier": _codes("code", ROOM_SYSTEM),
        "name": p.by_text("code"),
        "organization": _room_organization,
        "partof": p.nothing(),
    },
    sort={"name": "code"},
)


def _bed_identifier(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    conditions = []
    for token in values:
        if token.system in (None, "", BED_SYSTEM) and "-" in token.code:
            room_code, bed_code = token.code.rsplit("-", 1)
            conditions.append(Q(room__code=room_code, code=bed_code))
    return rows.filter(p.q_any(conditions))


BED = Source(
    model=Bed,
    to_fhir=bed_to_fhir,
    prefix="b-",
    patient_field=None,
    related=("room",),
    filters={
        "identifier": _bed_identifier,
        "name": p.by_text("room__code", "code"),
        "organization": _bed_organization,
        "partof": _bed_part_of,
    },
    sort={"name": "room__code"},
)
for _source in (ROOM, BED):
    standard_filters(_source, "Location")


class LocationMapping(DirectoryMapping):
    resource_type = "Location"
    sources = [ROOM, BED, store_source("Location")]
    params = [
        *COMMON_PARAMS,
        ParamSpec("name", ParamKind.STRING),
        ParamSpec("organization", ParamKind.REFERENCE, "the managing department (Organization/d-id)"),
        ParamSpec("partof", ParamKind.REFERENCE, "the room of a bed (Location/r-id)"),
    ]
    includes = {"Location:partof": ("partOf",), "Location:organization": ("managingOrganization",)}
    description = "organization.Room (r-) and organization.Bed (b-); other locations kept as FHIR"

    def find_existing(self, resource: dict[str, Any], ctx: WriteContext) -> Any:
        found = identifiers(resource)
        room = _first(found, ROOM_SYSTEM)
        if room:
            return Room.objects.filter(code=room).order_by("pk").first()
        bed = _first(found, BED_SYSTEM)
        if bed and "-" in bed:
            room_code, bed_code = bed.rsplit("-", 1)
            return Bed.objects.filter(room__code=room_code, code=bed_code).order_by("pk").first()
        return None


register(PractitionerMapping())
register(OrganizationMapping())
register(LocationMapping())
