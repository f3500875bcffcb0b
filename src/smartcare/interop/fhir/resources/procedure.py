"""Procedure <-> ``emr.Order`` of kind ``procedure``.

A procedure order's lifecycle maps to the Procedure status: draft or signed is ``preparation``,
active ``in-progress``, completed ``completed``, cancelled ``not-done``, discontinued ``stopped``.
The code is kept when it is SNOMED CT (``code``, at most 20 characters); the performed period is
the order's signing and end times. Procedures without a smartcare encounter are kept as FHIR.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from smartcare.core import clock
from smartcare.emr.choices import OrderKind, OrderStatus
from smartcare.emr.models import Order
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    LOINC,
    SNOMED,
    coding_in,
    concept_text,
    fhir_datetime,
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
    PATIENT_PARAMS,
    drop_empty,
    meta,
    patient_filter,
    reference,
    require_patient,
    standard_filters,
    target_pk,
)
from smartcare.interop.fhir.store import store_source

STATUS: dict[str, str] = {
    OrderStatus.DRAFT: "preparation",
    OrderStatus.SIGNED: "preparation",
    OrderStatus.ACTIVE: "in-progress",
    OrderStatus.COMPLETED: "completed",
    OrderStatus.CANCELLED: "not-done",
    OrderStatus.DISCONTINUED: "stopped",
}
STATUS_BACK = {
    "preparation": OrderStatus.SIGNED,
    "in-progress": OrderStatus.ACTIVE,
    "on-hold": OrderStatus.SIGNED,
    "completed": OrderStatus.COMPLETED,
    "not-done": OrderStatus.CANCELLED,
    "entered-in-error": OrderStatus.CANCELLED,
    "stopped": OrderStatus.DISCONTINUED,
}


def to_fhir(row: Order) -> dict[str, Any]:
    coding = [{"system": LOINC if "-" in row.code else SNOMED, "code": row.code}] if row.code else []
    start = row.signed_at or row.ordered_at
    performed: dict[str, Any] = {}
    if row.status in (OrderStatus.ACTIVE, OrderStatus.COMPLETED, OrderStatus.DISCONTINUED):
        performed = {
            "performedPeriod": drop_empty({"start": fhir_datetime(start), "end": fhir_datetime(row.ended_at)})
        }
    return drop_empty(
        {
            "resourceType": "Procedure",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "status": STATUS.get(row.status, "preparation"),
            "statusReason": {"text": row.end_reason} if row.end_reason else None,
            "code": drop_empty({"coding": coding, "text": row.name}),
            "subject": reference("Patient", row.patient_id),
            "encounter": reference("Encounter", row.encounter_id),
            **performed,
            "note": [{"text": row.instructions}] if row.instructions else [],
        }
    )


def _code(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    return rows.filter(
        p.q_any([Q(code=t.code) for t in values if t.system in (None, SNOMED, LOINC) and t.code])
    )


def _status(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    wanted = [stored for stored, code in STATUS.items() if code in {t.code for t in values}]
    return rows.filter(status__in=wanted)


SOURCE = Source(
    model=Order,
    to_fhir=to_fhir,
    base=lambda: Order.objects.filter(kind=OrderKind.PROCEDURE),
    filters={
        "patient": patient_filter(),
        "subject": patient_filter(),
        "code": _code,
        "status": _status,
        "encounter": lambda rows, values: rows.filter(
            encounter_id__in=[int(v.id) for v in values if v.id.isdigit()]
        ),
        "date": p.by_date("ordered_at"),
    },
    sort={"date": "ordered_at"},
)
standard_filters(SOURCE, "Procedure")
STORE = store_source("Procedure")
STORE.filters["encounter"] = lambda rows, values: rows.none()


class ProcedureMapping(Mapping):
    resource_type = "Procedure"
    access = Access.PATIENT_CLINICAL
    sources = [SOURCE, STORE]
    params = [
        *COMMON_PARAMS,
        *PATIENT_PARAMS,
        ParamSpec("code", ParamKind.TOKEN, "SNOMED CT"),
        ParamSpec("status", ParamKind.TOKEN),
        ParamSpec("encounter", ParamKind.REFERENCE),
        ParamSpec("date", ParamKind.DATE, "when it was ordered or performed"),
    ]
    includes = {
        "Procedure:patient": ("subject",),
        "Procedure:subject": ("subject",),
        "Procedure:encounter": ("encounter",),
    }
    rank = 6
    writable = True
    write_capability = "emr.document"
    owned = ("statusReason", "note")
    description = "emr.Order (kind procedure)"

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        patient_id = require_patient(ctx, resource, "subject", "Procedure")
        encounter_id = target_pk(ctx.resolve(resource.get("encounter"), "encounter"), "emr.Encounter")
        if encounter_id is None:
            raise NotRepresentable(resource_type="Procedure", reason="it names no smartcare encounter")
        status = STATUS_BACK.get(str(resource.get("status")))
        if status is None:
            raise NotRepresentable(resource_type="Procedure", reason=f"status {resource.get('status')}")
        name = concept_text(resource.get("code"))
        if not name:
            raise NotRepresentable(resource_type="Procedure", reason="the procedure has no code or name")
        snomed = coding_in(resource.get("code"), SNOMED)
        code = str(snomed["code"]) if snomed and len(str(snomed["code"])) <= 20 else ""
        start = parse_datetime(resource.get("performedDateTime"))
        end = None
        if isinstance(resource.get("performedPeriod"), dict):
            start = parse_datetime(resource["performedPeriod"].get("start"))
            end = parse_datetime(resource["performedPeriod"].get("end"))
        ordered_at = start or clock.now()
        notes = [str(n.get("text", "")) for n in resource.get("note") or [] if isinstance(n, dict)]
        return Plan(
            source=SOURCE,
            fields={
                "encounter_id": encounter_id,
                "patient_id": patient_id,
                "kind": OrderKind.PROCEDURE,
                "status": status,
                "name": name[:200],
                "code": code,
                "instructions": "; ".join(filter(None, notes))[:300],
                "ordered_at": ordered_at,
                "signed_at": ordered_at if status != OrderStatus.CANCELLED else None,
                "ended_at": end if status in (OrderStatus.COMPLETED, OrderStatus.DISCONTINUED) else None,
                "end_reason": concept_text(resource.get("statusReason"))[:300],
                "updated_at": clock.now(),
            },
            create_fields={"ordered_by_id": ctx.actor.pk, "created_at": clock.now()},
            patient_id=patient_id,
        )


register(ProcedureMapping())
