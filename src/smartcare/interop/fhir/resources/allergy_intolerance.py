"""AllergyIntolerance <-> ``emr.Allergy``.

The substance is smartcare's knowledge key when the code carries one (``drug:<slug>`` or
``drug_class:<slug>`` in the knowledge system; decision support checks orders against it);
otherwise the allergy is kept by name. The first reaction gives the reaction text and severity.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from smartcare.core import clock
from smartcare.emr.choices import AllergySeverity, AllergyStatus
from smartcare.emr.models import Allergy
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    ALLERGY_CLINICAL,
    ALLERGY_VERIFICATION,
    KNOWLEDGE_SYSTEM,
    coding_in,
    codings,
    concept,
    concept_text,
    fhir_datetime,
)
from smartcare.interop.fhir.errors import NotRepresentable
from smartcare.interop.fhir.registry import (
    Access,
    Mapping,
    ParamKind,
    ParamSpec,
    Plan,
    Source,
    WriteContext,
    pks_of,
    register,
)
from smartcare.interop.fhir.resources.common import (
    COMMON_PARAMS,
    drop_empty,
    meta,
    patient_filter,
    reference,
    require_patient,
    standard_filters,
)
from smartcare.interop.fhir.store import store_source


def to_fhir(row: Allergy) -> dict[str, Any]:
    coding = [{"system": KNOWLEDGE_SYSTEM, "code": row.substance}] if row.substance else []
    error = row.status == AllergyStatus.ENTERED_IN_ERROR
    reaction = None
    if row.reaction or row.severity:
        reaction = drop_empty(
            {
                "manifestation": [{"text": row.reaction or row.name}],
                "severity": row.severity or None,
            }
        )
    return drop_empty(
        {
            "resourceType": "AllergyIntolerance",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "clinicalStatus": None
            if error
            else concept(ALLERGY_CLINICAL, "active" if row.status == AllergyStatus.ACTIVE else "inactive"),
            "verificationStatus": concept(ALLERGY_VERIFICATION, "entered-in-error" if error else "confirmed"),
            "code": drop_empty({"coding": coding, "text": row.name}),
            "patient": reference("Patient", row.patient_id),
            "recordedDate": fhir_datetime(row.created_at),
            "reaction": [reaction] if reaction else [],
        }
    )


def _code(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    conditions = []
    for token in values:
        if token.system in (None, KNOWLEDGE_SYSTEM) and token.code:
            conditions.append(Q(substance=token.code))
        if token.system is None and token.code:
            conditions.append(Q(name__iexact=token.code))
    return rows.filter(p.q_any(conditions))


_CLINICAL = {
    "active": [AllergyStatus.ACTIVE],
    "inactive": [AllergyStatus.INACTIVE],
    "resolved": [AllergyStatus.INACTIVE],
}

SOURCE = Source(
    model=Allergy,
    to_fhir=to_fhir,
    filters={
        "patient": patient_filter(),
        "code": _code,
        "clinical-status": p.by_choice("status", _CLINICAL),
        "date": p.by_date("created_at"),
    },
    sort={"date": "created_at"},
)
standard_filters(SOURCE, "AllergyIntolerance")
STORE = store_source("AllergyIntolerance")
STORE.filters["clinical-status"] = STORE.filters["status"]


class AllergyIntoleranceMapping(Mapping):
    resource_type = "AllergyIntolerance"
    access = Access.PATIENT_CLINICAL
    sources = [SOURCE, STORE]
    params = [
        *COMMON_PARAMS,
        ParamSpec("patient", ParamKind.REFERENCE),
        ParamSpec("code", ParamKind.TOKEN, "smartcare knowledge key, or the name"),
        ParamSpec("clinical-status", ParamKind.TOKEN),
        ParamSpec("date", ParamKind.DATE, "when it was recorded"),
    ]
    includes = {"AllergyIntolerance:patient": ("patient",)}
    rank = 6
    writable = True
    write_capability = "emr.record"
    owned = ("reaction", "clinicalStatus")
    description = "emr.Allergy"

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        patient_id = require_patient(ctx, resource, "patient", "AllergyIntolerance")
        name = concept_text(resource.get("code"))[:200]
        if not name:
            raise NotRepresentable(resource_type="AllergyIntolerance", reason="it names no substance")
        known = coding_in(resource.get("code"), KNOWLEDGE_SYSTEM)
        substance = str(known["code"])[:120] if known else ""
        verification = codings(resource.get("verificationStatus"))
        clinical = codings(resource.get("clinicalStatus"))
        if verification and verification[0].get("code") == "entered-in-error":
            status = AllergyStatus.ENTERED_IN_ERROR
        elif (verification and verification[0].get("code") == "refuted") or (
            clinical and clinical[0].get("code") in ("inactive", "resolved")
        ):
            status = AllergyStatus.INACTIVE
        else:
            status = AllergyStatus.ACTIVE
        reaction_text, severity = "", ""
        reactions = [r for r in resource.get("reaction") or [] if isinstance(r, dict)]
        if reactions:
            first = reactions[0]
            texts = [concept_text(m) for m in first.get("manifestation") or []]
            if first.get("description"):
                texts.append(str(first["description"]))
            reaction_text = "; ".join(filter(None, texts))
            severity = str(first["severity"]) if first.get("severity") in AllergySeverity.values else ""
        if not severity and resource.get("criticality") == "high":
            severity = AllergySeverity.SEVERE
        now = clock.now()
        return Plan(
            source=SOURCE,
            fields={
                "patient_id": patient_id,
                "substance": substance,
                "name": name,
                "reaction": reaction_text[:300],
                "severity": severity,
                "status": status,
                "updated_at": now,
            },
            create_fields={"recorded_by_id": ctx.actor.pk, "created_at": now},
            patient_id=patient_id,
            unique_key=("allergy", patient_id, substance, name) if status == AllergyStatus.ACTIVE else None,
        )

    def conflicts(self, keys: set[Any], exclude_pks: set[Any]) -> set[Any]:
        if not keys:
            return set()
        condition = p.q_any([Q(patient_id=k[1], substance=k[2], name=k[3]) for k in keys])
        rows = Allergy.objects.filter(condition, status=AllergyStatus.ACTIVE).exclude(
            pk__in=pks_of(exclude_pks, "emr.Allergy")
        )
        return {("allergy", *row) for row in rows.values_list("patient_id", "substance", "name")}


register(AllergyIntoleranceMapping())
