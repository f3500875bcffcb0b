"""Immunization <-> ``interop.Immunization`` (the EMR had no table for vaccinations)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from smartcare.core import clock
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    choice_datetime,
    concept_text,
    decimal_or_none,
    fhir_datetime,
    first_coding,
    number_json,
    parse_datetime,
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
    target_pk,
)
from smartcare.interop.fhir.store import store_source
from smartcare.interop.models import Immunization, ImmunizationStatus


def to_fhir(row: Immunization) -> dict[str, Any]:
    coding = {"system": row.vaccine_system, "code": row.vaccine_code} if row.vaccine_code else None
    if coding and not row.vaccine_system:
        coding.pop("system")
    return drop_empty(
        {
            "resourceType": "Immunization",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "status": row.status,
            "statusReason": {"text": row.status_reason} if row.status_reason else None,
            "vaccineCode": drop_empty({"coding": [coding] if coding else [], "text": row.vaccine_name}),
            "patient": reference("Patient", row.patient_id),
            "encounter": reference("Encounter", row.encounter_id) if row.encounter_id else None,
            "occurrenceDateTime": fhir_datetime(row.occurred_at),
            "recorded": fhir_datetime(row.created_at),
            "primarySource": row.primary_source,
            "lotNumber": row.lot_number,
            "site": {"text": row.site} if row.site else None,
            "route": {"text": row.route} if row.route else None,
            "doseQuantity": drop_empty({"value": number_json(row.dose_value), "unit": row.dose_unit})
            if row.dose_value is not None
            else None,
            "performer": [{"actor": {"display": row.performer}}] if row.performer else [],
        }
    )


def _vaccine(rows: Any, values: list[p.Token]) -> Any:
    conditions = []
    for token in values:
        condition = Q()
        if token.system is not None:
            condition &= Q(vaccine_system=token.system)
        if token.code:
            condition &= Q(vaccine_code=token.code)
        conditions.append(condition)
    return rows.filter(p.q_any(conditions))


SOURCE = Source(
    model=Immunization,
    to_fhir=to_fhir,
    filters={
        "patient": patient_filter(),
        "vaccine-code": _vaccine,
        "date": p.by_date("occurred_at"),
        "status": p.by_choice("status", {s.value: s.value for s in ImmunizationStatus}),
    },
    sort={"date": "occurred_at"},
)
standard_filters(SOURCE, "Immunization")
STORE = store_source("Immunization")
STORE.filters["vaccine-code"] = STORE.filters["code"]


class ImmunizationMapping(Mapping):
    resource_type = "Immunization"
    access = Access.PATIENT_CLINICAL
    sources = [SOURCE, STORE]
    params = [
        *COMMON_PARAMS,
        ParamSpec("patient", ParamKind.REFERENCE),
        ParamSpec("vaccine-code", ParamKind.TOKEN, "e.g. CVX (http://hl7.org/fhir/sid/cvx)"),
        ParamSpec("date", ParamKind.DATE),
        ParamSpec("status", ParamKind.TOKEN),
    ]
    includes = {"Immunization:patient": ("patient",), "Immunization:encounter": ("encounter",)}
    rank = 6
    writable = True
    write_capability = "emr.record"
    owned = ("encounter", "lotNumber", "site", "route", "doseQuantity", "statusReason")
    description = "interop.Immunization"

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        patient_id = require_patient(ctx, resource, "patient", "Immunization")
        when = choice_datetime(resource, "occurrence")
        if when is None:
            raise NotRepresentable(
                resource_type="Immunization", reason="it has no date (occurrenceString only)"
            )
        name = concept_text(resource.get("vaccineCode"))
        if not name:
            raise NotRepresentable(resource_type="Immunization", reason="the vaccine has no code or name")
        coding = first_coding(resource.get("vaccineCode")) or {}
        if len(str(coding.get("code", ""))) > 64 or len(str(coding.get("system", ""))) > 200:
            raise NotRepresentable(
                resource_type="Immunization", reason="the vaccine code is longer than smartcare keeps"
            )
        given = resource.get("doseQuantity")
        dose: dict[str, Any] = given if isinstance(given, dict) else {}
        dose_value = decimal_or_none(dose.get("value"))
        if dose_value is not None and not (0 < dose_value < 10**7):
            dose_value = None
        performers = [
            str((item.get("actor") or {}).get("display") or "")
            for item in resource.get("performer") or []
            if isinstance(item, dict)
        ]
        now = clock.now()
        return Plan(
            source=SOURCE,
            fields={
                "patient_id": patient_id,
                "encounter_id": target_pk(
                    ctx.resolve(resource.get("encounter"), "encounter"), "emr.Encounter"
                ),
                "status": resource.get("status")
                if resource.get("status") in ImmunizationStatus.values
                else "completed",
                "status_reason": concept_text(resource.get("statusReason"))[:200],
                "vaccine_system": str(coding.get("system") or ""),
                "vaccine_code": str(coding.get("code") or ""),
                "vaccine_name": name[:200],
                "occurred_at": when,
                "primary_source": resource.get("primarySource") is not False,
                "lot_number": str(resource.get("lotNumber") or "")[:64],
                "dose_value": round(dose_value, 3) if dose_value is not None else None,
                "dose_unit": str(dose.get("unit") or dose.get("code") or "")[:20],
                "site": concept_text(resource.get("site"))[:100],
                "route": concept_text(resource.get("route"))[:100],
                "performer": next((x for x in performers if x), "")[:200],
                "updated_at": now,
            },
            create_fields={
                "recorded_by_id": ctx.actor.pk,
                "created_at": parse_datetime(resource.get("recorded")) or now,
            },
            patient_id=patient_id,
        )


register(ImmunizationMapping())
