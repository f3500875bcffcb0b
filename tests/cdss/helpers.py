"""Builders for decision-support tests: ClinicalFacts and CDS Hooks requests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from smartcare.cdss.engine import Finding, evaluate_rules
from smartcare.emr.facts import Allergy, ClinicalFacts, Condition, ExamOrder, Medication, Observation

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def med(
    drug: str,
    dose: float | None = None,
    unit: str = "mg",
    per_day: float | None = None,
    *,
    draft: bool = True,
    name: str = "",
) -> Medication:
    return Medication(
        drug=drug,
        name=name or drug.split(":")[-1],
        dose=dose,
        dose_unit=unit,
        frequency_per_day=per_day,
        status="draft" if draft else "active",
        order_id=f"o-{uuid.uuid4().hex[:8]}",
    )


def obs(code: str, value: float, days_ago: float, unit: str = "", name: str = "") -> Observation:
    return Observation(
        code=code, name=name or code, value=value, unit=unit, when=NOW - dt.timedelta(days=days_ago)
    )


def facts(
    *,
    drafts: list[Medication] | None = None,
    active: list[Medication] | None = None,
    age: int | None = 45,
    sex: str = "male",
    **kwargs: Any,
) -> ClinicalFacts:
    for m in active or []:
        m.status = "active"
    return ClinicalFacts(
        patient_id="p1",
        age_years=age,
        age_months=age * 12 if age is not None else None,
        sex=sex,
        medications=list(active or []),
        draft_medications=list(drafts or []),
        as_of=NOW,
        **kwargs,
    )


def fired(f: ClinicalFacts, hook: str = "order-sign", department: str = "") -> list[Finding]:
    return evaluate_rules(f, hook, department_code=department)


def keys(f: ClinicalFacts, hook: str = "order-sign", prefix: str = "") -> set[str]:
    return {x.rule.key for x in fired(f, hook) if x.rule.key.startswith(prefix)}


__all__ = ["NOW", "Allergy", "Condition", "ExamOrder", "facts", "fired", "keys", "med", "obs"]


def medication_request(
    rid: str,
    code: str,
    *,
    dose: float | None = None,
    unit: str = "mg",
    per_day: int = 1,
    status: str = "draft",
    atc: str = "",
) -> dict[str, Any]:
    coding = [{"system": "https://smartcare.example/knowledge", "code": code}]
    if atc:
        coding.append({"system": "http://www.whocc.no/atc", "code": atc})
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/x"},
        "medicationCodeableConcept": {"coding": coding, "text": code.split(":")[-1]},
    }
    if dose is not None:
        resource["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
            }
        ]
    return resource


def observation(code: str, value: float, when: str, unit: str = "") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": code},
        "subject": {"reference": "Patient/x"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit},
    }


def bundle(resources: list[dict[str, Any]], kind: str = "collection") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def hook_request(
    hook: str,
    patient_id: str,
    *,
    drafts: list[dict[str, Any]] | None = None,
    prefetch: dict[str, Any] | None = None,
    encounter: str = "",
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/1", "patientId": patient_id}
    if encounter:
        context["encounterId"] = encounter
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = bundle(drafts or [])
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{d['id']}" for d in drafts or []] or [
            "MedicationRequest/none"
        ]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body
