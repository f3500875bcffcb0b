"""MedicationRequest <-> ``emr.Order`` of kind ``medication``.

The drug is named by ``medicationCodeableConcept``: an ATC code (kept as the order's code and
mapped to the knowledge graph's drug, which decision support reads) or smartcare's knowledge key
(``drug:<slug>``); other codings (RxNorm) stay with the resource as received. Dose, route,
frequency and duration come from the first ``dosageInstruction``. An order belongs to an encounter
in smartcare: requests without a smartcare encounter are kept as FHIR. The prescriber is recorded
when the requester is a smartcare practitioner; otherwise the order is recorded by whoever
imported it (the original requester stays in the resource as received).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db.models import Q, QuerySet

from smartcare.core import clock
from smartcare.emr.choices import OrderKind, OrderStatus, Route
from smartcare.emr.models import Order
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    ATC,
    ATC_SYSTEMS,
    KNOWLEDGE_SYSTEM,
    SNOMED,
    coding_in,
    concept_text,
    decimal_or_none,
    fhir_datetime,
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
    OrderStatus.DRAFT: "draft",
    OrderStatus.SIGNED: "active",
    OrderStatus.ACTIVE: "active",
    OrderStatus.COMPLETED: "completed",
    OrderStatus.CANCELLED: "cancelled",
    OrderStatus.DISCONTINUED: "stopped",
}
STATUS_BACK = {
    "draft": OrderStatus.DRAFT,
    "active": OrderStatus.ACTIVE,
    "on-hold": OrderStatus.SIGNED,
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "entered-in-error": OrderStatus.CANCELLED,
    "stopped": OrderStatus.DISCONTINUED,
}
# SNOMED CT route codes (FHIR's route value set)
ROUTES = {
    Route.ORAL: ("26643006", "Oral route"),
    Route.IV: ("47625008", "Intravenous route"),
    Route.IM: ("78421000", "Intramuscular route"),
    Route.SC: ("34206005", "Subcutaneous route"),
    Route.TOPICAL: ("6064005", "Topical route"),
    Route.INHALED: ("18679011000001101", "Inhalation"),
    Route.SUBLINGUAL: ("37839007", "Sublingual route"),
    Route.RECTAL: ("37161004", "Rectal route"),
}
ROUTES_BACK = {code: route for route, (code, _display) in ROUTES.items()}
ROUTES_BACK["447694001"] = Route.INHALED  # respiratory tract route
_PER_DAY = {"s": Decimal(86400), "min": Decimal(1440), "h": Decimal(24), "d": Decimal(1)}
_DAYS = {"d": 1, "wk": 7, "mo": 30, "a": 365}
_UNIT_NAMES = {
    "day": "d",
    "days": "d",
    "week": "wk",
    "weeks": "wk",
    "month": "mo",
    "months": "mo",
    "year": "a",
}


def medication_concept(row: Order) -> dict[str, Any]:
    coding = []
    if row.code:
        coding.append({"system": ATC, "code": row.code})
    if row.item:
        coding.append({"system": KNOWLEDGE_SYSTEM, "code": row.item})
    return drop_empty({"coding": coding, "text": row.name})


def _timing(row: Order) -> dict[str, Any] | None:
    repeat: dict[str, Any] = {}
    if row.frequency_per_day:
        frequency = Decimal(row.frequency_per_day)
        if frequency == frequency.to_integral_value():
            repeat.update(frequency=int(frequency), period=1, periodUnit="d")
        else:
            repeat.update(frequency=1, period=number_json(round(Decimal(1) / frequency, 2)), periodUnit="d")
    if row.duration_days:
        repeat["boundsDuration"] = {
            "value": row.duration_days,
            "unit": "d",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    return {"repeat": repeat} if repeat else None


def to_fhir(row: Order) -> dict[str, Any]:
    requester = getattr(row, "requester_pk", None)  # annotated by the source's queryset
    dosage: dict[str, Any] = {
        "text": row.instructions,
        "timing": _timing(row),
        "route": {
            "coding": [
                {
                    "system": SNOMED,
                    "code": ROUTES[Route(row.route)][0],
                    "display": ROUTES[Route(row.route)][1],
                }
            ]
        }
        if row.route in Route.values
        else None,
        "doseAndRate": [{"doseQuantity": {"value": number_json(row.dose), "unit": row.dose_unit}}]
        if row.dose is not None
        else None,
    }
    dosage = drop_empty(dosage)
    return drop_empty(
        {
            "resourceType": "MedicationRequest",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "status": STATUS.get(row.status, "active"),
            "statusReason": {"text": row.end_reason} if row.end_reason else None,
            "intent": "order",
            "medicationCodeableConcept": medication_concept(row),
            "subject": reference("Patient", row.patient_id),
            "encounter": reference("Encounter", row.encounter_id),
            "authoredOn": fhir_datetime(row.ordered_at),
            "requester": reference("Practitioner", requester) if requester else None,
            "dosageInstruction": [dosage] if dosage else [],
        }
    )


def _with_requester(rows: QuerySet[Any]) -> QuerySet[Any]:
    from django.db.models import OuterRef, Subquery

    Practitioner = apps.get_model("organization", "Practitioner")
    return rows.annotate(
        requester_pk=Subquery(Practitioner.objects.filter(user_id=OuterRef("ordered_by_id")).values("pk")[:1])
    )


def _code(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    conditions = []
    for token in values:
        if token.system in (None, *ATC_SYSTEMS) and token.code:
            conditions.append(Q(code=token.code))
        if token.system in (None, KNOWLEDGE_SYSTEM) and token.code:
            conditions.append(Q(item=token.code))
    return rows.filter(p.q_any(conditions))


def _encounter(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    return rows.filter(encounter_id__in=[int(v.id) for v in values if v.id.isdigit()])


def _status(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    wanted = [stored for stored, code in STATUS.items() if code in {t.code for t in values}]
    return rows.filter(status__in=wanted)


SOURCE = Source(
    model=Order,
    to_fhir=to_fhir,
    base=lambda: _with_requester(Order.objects.filter(kind=OrderKind.MEDICATION)),
    filters={
        "patient": patient_filter(),
        "subject": patient_filter(),
        "code": _code,
        "status": _status,
        "encounter": _encounter,
        "authoredon": p.by_date("ordered_at"),
    },
    sort={"authoredon": "ordered_at", "date": "ordered_at"},
)
standard_filters(SOURCE, "MedicationRequest")
STORE = store_source("MedicationRequest")
STORE.filters["authoredon"] = STORE.filters["date"]
STORE.filters["encounter"] = lambda rows, values: rows.none()
STORE.sort["authoredon"] = "date"


def drug_key(atc: str, ctx: WriteContext) -> str:
    """The knowledge graph's drug for an ATC code ("" when the graph does not know it)."""
    if "atc_drugs" not in ctx.cache:
        Node = apps.get_model("knowledge", "Node")
        pairs = Node.objects.filter(type="drug", is_active=True).exclude(atc="").values_list("atc", "key")
        table: dict[str, str] = {}
        for code, key in pairs.order_by("key"):
            table.setdefault(code.upper(), key)
        ctx.cache["atc_drugs"] = table
    return str(ctx.cache["atc_drugs"].get(atc.upper(), ""))


def _frequency(timing: dict[str, Any]) -> Decimal | None:
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    if not isinstance(repeat, dict):
        return None
    frequency = decimal_or_none(repeat.get("frequency")) or Decimal(1)
    period = decimal_or_none(repeat.get("period"))
    unit = repeat.get("periodUnit")
    if period is None or period <= 0:
        return None
    if unit in _PER_DAY:
        per_day = frequency * _PER_DAY[unit] / period
    elif unit in _DAYS:
        per_day = frequency / (period * _DAYS[unit])
    else:
        return None
    per_day = round(per_day, 2)
    return per_day if 0 < per_day <= 999 else None


def _duration(timing: dict[str, Any], resource: dict[str, Any]) -> int | None:
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    bounds = repeat.get("boundsDuration") if isinstance(repeat, dict) else None
    supply = (resource.get("dispenseRequest") or {}).get("expectedSupplyDuration")
    for candidate in (bounds, supply):
        if isinstance(candidate, dict) and candidate.get("value") is not None:
            unit = str(candidate.get("code") or candidate.get("unit") or "d").lower()
            value = decimal_or_none(candidate.get("value"))
            days = _DAYS.get(_UNIT_NAMES.get(unit, unit))
            if value is not None and days:
                total = int(value * days)
                if 0 < total <= 3650:
                    return total
    return None


def _ended(resource: dict[str, Any]) -> Any:
    validity = (resource.get("dispenseRequest") or {}).get("validityPeriod") or {}
    return parse_datetime(validity.get("end")) if isinstance(validity, dict) else None


class MedicationRequestMapping(Mapping):
    resource_type = "MedicationRequest"
    access = Access.PATIENT_CLINICAL
    sources = [SOURCE, STORE]
    params = [
        *COMMON_PARAMS,
        *PATIENT_PARAMS,
        ParamSpec("code", ParamKind.TOKEN, "ATC (http://www.whocc.no/atc) or smartcare knowledge key"),
        ParamSpec("status", ParamKind.TOKEN),
        ParamSpec("encounter", ParamKind.REFERENCE),
        ParamSpec("authoredon", ParamKind.DATE),
    ]
    includes = {
        "MedicationRequest:patient": ("subject",),
        "MedicationRequest:subject": ("subject",),
        "MedicationRequest:encounter": ("encounter",),
        "MedicationRequest:requester": ("requester",),
    }
    rank = 6
    writable = True
    write_capability = "emr.document"
    owned = ("dosageInstruction", "statusReason", "requester")
    description = "emr.Order (kind medication)"

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        patient_id = require_patient(ctx, resource, "subject", "MedicationRequest")
        encounter_id = target_pk(ctx.resolve(resource.get("encounter"), "encounter"), "emr.Encounter")
        if encounter_id is None:
            raise NotRepresentable(
                resource_type="MedicationRequest", reason="it names no smartcare encounter"
            )
        status = STATUS_BACK.get(str(resource.get("status")))
        if status is None:
            raise NotRepresentable(
                resource_type="MedicationRequest", reason=f"status {resource.get('status')}"
            )
        medication = resource.get("medicationCodeableConcept")
        name = concept_text(medication) or str(
            (resource.get("medicationReference") or {}).get("display") or ""
        )
        if not name:
            raise NotRepresentable(resource_type="MedicationRequest", reason="the medication has no name")
        atc = coding_in(medication, ATC_SYSTEMS)
        code = str(atc["code"]) if atc and len(str(atc["code"])) <= 20 else ""
        known = coding_in(medication, KNOWLEDGE_SYSTEM)
        item = str(known["code"]) if known else (drug_key(code, ctx) if code else "")
        dosages = [d for d in resource.get("dosageInstruction") or [] if isinstance(d, dict)]
        dosage = dosages[0] if dosages else {}
        dose = unit = None
        for rate in dosage.get("doseAndRate") or []:
            found = (rate or {}).get("doseQuantity")
            if isinstance(found, dict):
                dose = decimal_or_none(found.get("value"))
                unit = str(found.get("unit") or found.get("code") or "")
                break
        if dose is not None and not (0 < dose < 10**7):
            raise NotRepresentable(resource_type="MedicationRequest", reason="the dose is out of range")
        if unit and len(unit) > 10:
            raise NotRepresentable(
                resource_type="MedicationRequest", reason=f"the dose unit {unit[:20]} is too long"
            )
        route_coding = coding_in(dosage.get("route"), SNOMED)
        route = ROUTES_BACK.get(str(route_coding["code"]), "") if route_coding else ""
        ordered_at = parse_datetime(resource.get("authoredOn")) or clock.now()
        requester = target_pk(
            ctx.resolve(resource.get("requester"), "requester"), "organization.Practitioner"
        )
        ordered_by = ctx.actor.pk
        if requester is not None:
            Practitioner = apps.get_model("organization", "Practitioner")
            ordered_by = (
                Practitioner.objects.filter(pk=requester).values_list("user_id", flat=True).first()
                or ordered_by
            )
        signed = status not in (OrderStatus.DRAFT, OrderStatus.CANCELLED)
        ended = status in (OrderStatus.COMPLETED, OrderStatus.DISCONTINUED)
        reason = concept_text(resource.get("statusReason"))
        return Plan(
            source=SOURCE,
            fields={
                "encounter_id": encounter_id,
                "patient_id": patient_id,
                "kind": OrderKind.MEDICATION,
                "status": status,
                "item": item[:120],
                "name": name[:200],
                "code": code,
                "dose": round(dose, 3) if dose is not None else None,
                "dose_unit": unit or "",
                "route": route,
                "frequency_per_day": _frequency(dosage.get("timing") or {}),
                "duration_days": _duration(dosage.get("timing") or {}, resource),
                "instructions": str(dosage.get("text") or "")[:300],
                "ordered_at": ordered_at,
                "signed_at": ordered_at if signed else None,
                "ended_at": _ended(resource) if ended else None,
                "end_reason": reason[:300],
                "updated_at": clock.now(),
            },
            create_fields={"ordered_by_id": ordered_by, "created_at": clock.now()},
            patient_id=patient_id,
        )


register(MedicationRequestMapping())
