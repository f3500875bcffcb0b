"""CarePlan <-> ``followup.CarePlan`` (read-only) with its tasks as activities.

A smartcare care plan is started from a template by the follow-up module; FHIR only reads it.
Imported care plans (Synthea writes many) are kept as FHIR and served beside them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from smartcare.followup.choices import PlanStatus, TaskStatus
from smartcare.followup.models import CarePlan
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import BASE, concept, fhir_date, fhir_datetime
from smartcare.interop.fhir.registry import Access, Mapping, ParamKind, ParamSpec, Source, register
from smartcare.interop.fhir.resources.common import (
    COMMON_PARAMS,
    PATIENT_PARAMS,
    drop_empty,
    meta,
    patient_filter,
    reference,
    standard_filters,
)
from smartcare.interop.fhir.store import store_source

CATEGORY_SYSTEM = f"{BASE}/CodeSystem/care-plan-category"
_STATUS: dict[str, str] = {
    PlanStatus.ACTIVE: "active",
    PlanStatus.COMPLETED: "completed",
    PlanStatus.CANCELLED: "revoked",
}
_TASK_STATUS: dict[str, str] = {
    TaskStatus.DUE: "scheduled",
    TaskStatus.DONE: "completed",
    TaskStatus.MISSED: "stopped",
    TaskStatus.CANCELLED: "cancelled",
}


def to_fhir(row: CarePlan) -> dict[str, Any]:
    template = row.template
    activities = []
    for task in row.tasks.all():
        activities.append(
            {
                "detail": drop_empty(
                    {
                        "kind": "Task",
                        "code": {"text": task.title},
                        "status": _TASK_STATUS.get(task.status, "unknown"),
                        "scheduledPeriod": {"start": fhir_date(task.due_on)},
                        "description": task.instructions,
                    }
                )
            }
        )
    return drop_empty(
        {
            "resourceType": "CarePlan",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "status": _STATUS.get(row.status, "unknown"),
            "intent": "plan",
            "category": [concept(CATEGORY_SYSTEM, template.category, str(template.get_category_display()))],
            "title": template.name,
            "description": template.description,
            "subject": reference("Patient", row.patient_id),
            "period": drop_empty({"start": fhir_date(row.start_date), "end": fhir_datetime(row.ended_at)}),
            "author": reference("Organization", f"d-{row.department_id}", row.department.name),
            "activity": activities,
        }
    )


def _date(rows: QuerySet[Any], values: list[p.DateRange]) -> QuerySet[Any]:
    return p.by_date("start_date", is_date=True)(rows, values)


SOURCE = Source(
    model=CarePlan,
    to_fhir=to_fhir,
    base=lambda: CarePlan.objects.prefetch_related("tasks"),
    related=("template", "department"),
    filters={
        "patient": patient_filter(),
        "subject": patient_filter(),
        "status": p.by_choice("status", {v: k for k, v in _STATUS.items()}),
        "date": _date,
        "category": p.by_token("template__category", {CATEGORY_SYSTEM}),
    },
    sort={"date": "start_date"},
)
standard_filters(SOURCE, "CarePlan")
STORE = store_source("CarePlan")
STORE.filters["category"] = STORE.filters["code"]


class CarePlanMapping(Mapping):
    resource_type = "CarePlan"
    access = Access.PATIENT_CLINICAL
    sources = [SOURCE, STORE]
    params = [
        *COMMON_PARAMS,
        *PATIENT_PARAMS,
        ParamSpec("status", ParamKind.TOKEN),
        ParamSpec("date", ParamKind.DATE, "start of the plan"),
        ParamSpec("category", ParamKind.TOKEN),
    ]
    includes = {"CarePlan:patient": ("subject",), "CarePlan:subject": ("subject",)}
    rank = 8
    description = "followup.CarePlan (read-only); other care plans kept as FHIR"


register(CarePlanMapping())
