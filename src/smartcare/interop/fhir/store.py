"""The lossless FHIR store: resources kept as received (references rewritten to smartcare ids).

Used for the types smartcare has no table for, and for instances of mapped types that smartcare's
tables cannot hold. Searchable by ``_id``, ``patient``/``subject``, ``identifier``, ``code``,
``date``, ``status`` and ``_lastUpdated`` through columns extracted when a resource is written.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    code_tokens,
    codings,
    fhir_instant,
    parse_datetime,
)
from smartcare.interop.fhir.registry import Access, Mapping, ParamKind, ParamSpec, Plan, Source, WriteContext
from smartcare.interop.fhir.sourcemap import identifier_condition
from smartcare.interop.models import FhirResource

# Types smartcare keeps as FHIR without a table of its own (read, search, import, create by
# importers). Anything else that is not mapped is reported as skipped.
STORED_TYPES = (
    "CareTeam",
    "Claim",
    "ClinicalImpression",
    "Communication",
    "Composition",
    "Consent",
    "Coverage",
    "Device",
    "DeviceRequest",
    "DocumentReference",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "HealthcareService",
    "List",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationStatement",
    "NutritionOrder",
    "PractitionerRole",
    "Provenance",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RiskAssessment",
    "ServiceRequest",
    "Specimen",
    "SupplyDelivery",
    "Task",
)
# Stored types that are not about one patient: readable by every signed-in user.
DIRECTORY_TYPES = frozenset({"HealthcareService", "Medication", "PractitionerRole", "Device"})

_PATIENT_ELEMENTS = ("patient", "subject", "beneficiary", "for", "individual")
_CODE_ELEMENTS = ("code", "type", "vaccineCode", "medicationCodeableConcept", "productOrService", "category")
_DATE_ELEMENTS = (
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "occurrenceDateTime",
    "occurrencePeriod",
    "performedDateTime",
    "performedPeriod",
    "onsetDateTime",
    "onsetPeriod",
    "authoredOn",
    "recordedDate",
    "recorded",
    "issued",
    "date",
    "created",
    "period",
    "billablePeriod",
    "whenHandedOver",
    "sent",
    "start",
    "birthDate",
)


def new_id() -> str:
    return str(uuid.uuid4())


def patient_references(resource: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(Reference, element) pairs that may name the resource's patient, most likely first."""
    found = []
    for element in _PATIENT_ELEMENTS:
        value = resource.get(element)
        if isinstance(value, dict) and value.get("reference"):
            found.append((value, element))
    for element in ("target", "subject", "patient"):
        value = resource.get(element)
        if isinstance(value, list):
            found.extend(
                (item, element) for item in value if isinstance(item, dict) and item.get("reference")
            )
    return found


def index_columns(resource: dict[str, Any]) -> tuple[str, Any, str]:
    """(codes, date, status) of a stored resource."""
    tokens = code_tokens(*[resource.get(name) for name in _CODE_ELEMENTS])
    for coding in resource.get("modality") or []:  # ImagingStudy: Codings, not CodeableConcepts
        if isinstance(coding, dict) and coding.get("code"):
            tokens.append(f"{coding.get('system') or ''}|{coding['code']}")
    codes = " " + " ".join(tokens) + " " if tokens else ""
    date = None
    for name in _DATE_ELEMENTS:
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("start") or value.get("end")
        date = parse_datetime(value)
        if date is not None:
            break
    status = resource.get("status")
    if not isinstance(status, str):
        found = codings(resource.get("clinicalStatus"))
        status = str(found[0].get("code", "")) if found else ""
    return codes[:20000], date, status[:40]


def stored_to_fhir(row: FhirResource) -> dict[str, Any]:
    content = dict(row.content or {})
    resource: dict[str, Any] = {"resourceType": row.resource_type, "id": row.fhir_id}
    meta = {k: v for k, v in (content.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    meta["versionId"] = str(row.version)
    meta["lastUpdated"] = fhir_instant(row.last_updated)
    resource["meta"] = meta
    resource.update({k: v for k, v in content.items() if k not in ("resourceType", "id", "meta")})
    return resource


def _by_codes(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    conditions = []
    for token in values:
        if token.system is None:
            conditions.append(Q(codes__contains=f"|{token.code} "))
        elif not token.code:
            conditions.append(Q(codes__contains=f" {token.system}|"))
        else:
            conditions.append(Q(codes__contains=f" {token.system}|{token.code} "))
    return rows.filter(p.q_any(conditions))


def _by_status(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    return rows.filter(status__in=[t.code for t in values])


def store_source(resource_type: str) -> Source:
    def base() -> QuerySet[Any]:
        return FhirResource.objects.filter(resource_type=resource_type)

    def by_id(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
        return rows.filter(fhir_id__in=[t.code for t in values])

    def by_identifier(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
        conditions = [
            identifier_condition(resource_type, "interop.FhirResource", t.system, t.code)
            for t in values
            if t.system and t.code
        ]
        return rows.filter(p.q_any(conditions))

    def by_patient(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
        ids = [int(v.id) for v in values if v.id.isdigit() and v.resource_type in ("", "Patient")]
        return rows.filter(patient_id__in=ids)

    return Source(
        model=FhirResource,
        to_fhir=stored_to_fhir,
        base=base,
        is_store=True,
        id_field="fhir_id",
        patient_field="patient",
        last_updated="last_updated",
        filters={
            "_id": by_id,
            "identifier": by_identifier,
            "patient": by_patient,
            "subject": by_patient,
            "code": _by_codes,
            "date": p.by_date("date"),
            "status": _by_status,
            "_lastUpdated": p.by_date("last_updated"),
        },
        sort={"_id": "fhir_id", "date": "date", "_lastUpdated": "last_updated"},
    )


def store_plan(
    mapping: Mapping,
    resource: dict[str, Any],
    *,
    content: Any = None,
    fhir_id: str,
    patient_id: int | None,
    reason: str,
    existing: FhirResource | None = None,
) -> Plan:
    """The row of a resource kept as FHIR. ``content`` is what is stored (default: the resource
    without its id and version meta, which the row holds; a pre-serialised text is stored as is,
    and rendering replaces id and meta)."""
    codes, date, status = index_columns(resource)
    if content is None:
        content = {k: v for k, v in resource.items() if k not in ("id", "meta")}
        meta = {
            k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")
        }
        if meta:
            content["meta"] = meta
    source = mapping.store_source()
    assert source is not None
    now = clock.now()
    return Plan(
        source=source,
        fields={
            "content": content,
            "patient_id": patient_id,
            "codes": codes,
            "date": date,
            "status": status,
            "reason": reason[:300],
            "last_updated": now,
        },
        create_fields={"resource_type": mapping.resource_type, "fhir_id": fhir_id, "created_at": now},
        patient_id=patient_id,
    )


STORE_PARAMS = [
    ParamSpec("_id", ParamKind.TOKEN),
    ParamSpec("_lastUpdated", ParamKind.DATE),
    ParamSpec("identifier", ParamKind.TOKEN),
    ParamSpec("patient", ParamKind.REFERENCE),
    ParamSpec("subject", ParamKind.REFERENCE),
    ParamSpec("code", ParamKind.TOKEN),
    ParamSpec("date", ParamKind.DATE),
    ParamSpec("status", ParamKind.TOKEN),
]


class StoredMapping(Mapping):
    """A type smartcare keeps only as FHIR."""

    rank = 9
    store_fallback = True

    def __init__(self, resource_type: str):
        self.resource_type = resource_type
        self.access = Access.DIRECTORY if resource_type in DIRECTORY_TYPES else Access.PATIENT_CLINICAL
        self.sources = [store_source(resource_type)]
        self.params = STORE_PARAMS
        self.includes = {f"{resource_type}:patient": ("patient", "subject", "beneficiary")}
        self.description = str(_("kept as FHIR (smartcare has no table for this type)"))

    def patient_of(self, resource: dict[str, Any], ctx: WriteContext) -> int | None:
        for reference, element in patient_references(resource):
            target = ctx.resolve(reference, element)
            if target is not None and target.resource_type == "Patient" and target.pk is not None:
                return int(target.pk)
        return None
