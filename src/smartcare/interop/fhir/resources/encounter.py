"""Encounter <-> ``emr.Encounter``.

Class ``AMB`` (and virtual or home visits) is an outpatient visit, ``EMER`` an emergency visit,
``IMP`` (and acute, non-acute, observation, short stay) an inpatient stay. The department is the
smartcare department named by ``serviceProvider`` (``Organization/d-<id>``) or, for encounters
that happened elsewhere (an imported history), the import department
(``SMARTCARE_FHIR_IMPORT_DEPARTMENT``, a national department code, default ``02`` general
practice). The attending doctor is kept when the participant is a smartcare practitioner.
"""

from __future__ import annotations

from typing import Any

from smartcare.core import clock
from smartcare.emr.choices import EncounterKind, EncounterStatus
from smartcare.emr.models import Encounter
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    DEPARTMENT_SYSTEM,
    V3_ACT_CODE,
    concept,
    concept_text,
    fhir_datetime,
    period,
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
    PATIENT_PARAMS,
    drop_empty,
    import_department_code,
    meta,
    patient_filter,
    reference,
    require_patient,
    standard_filters,
    target_pk,
)
from smartcare.interop.fhir.store import store_source
from smartcare.organization.models import Department

_CLASS = {
    EncounterKind.OUTPATIENT: ("AMB", "ambulatory"),
    EncounterKind.INPATIENT: ("IMP", "inpatient encounter"),
    EncounterKind.EMERGENCY: ("EMER", "emergency"),
}
_CLASS_BACK = {
    "AMB": EncounterKind.OUTPATIENT,
    "VR": EncounterKind.OUTPATIENT,
    "HH": EncounterKind.OUTPATIENT,
    "FLD": EncounterKind.OUTPATIENT,
    "EMER": EncounterKind.EMERGENCY,
    "IMP": EncounterKind.INPATIENT,
    "ACUTE": EncounterKind.INPATIENT,
    "NONAC": EncounterKind.INPATIENT,
    "OBSENC": EncounterKind.INPATIENT,
    "SS": EncounterKind.INPATIENT,
    "PRENC": EncounterKind.OUTPATIENT,
}
_STATUS: dict[str, str] = {
    EncounterStatus.PLANNED: "planned",
    EncounterStatus.IN_PROGRESS: "in-progress",
    EncounterStatus.FINISHED: "finished",
    EncounterStatus.CANCELLED: "cancelled",
}
_STATUS_BACK = {
    "planned": EncounterStatus.PLANNED,
    "arrived": EncounterStatus.PLANNED,
    "triaged": EncounterStatus.PLANNED,
    "in-progress": EncounterStatus.IN_PROGRESS,
    "onleave": EncounterStatus.IN_PROGRESS,
    "finished": EncounterStatus.FINISHED,
    "cancelled": EncounterStatus.CANCELLED,
}


def to_fhir(row: Encounter) -> dict[str, Any]:
    code, display = _CLASS[EncounterKind(row.kind)]
    start = row.admitted_at or row.started_at
    end = row.discharged_at or row.ended_at
    department = row.department
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": str(row.pk),
        "meta": meta(row.updated_at),
        "status": _STATUS.get(row.status, "planned"),
        "class": {"system": V3_ACT_CODE, "code": code, "display": display},
        "serviceType": concept(
            DEPARTMENT_SYSTEM, department.national_code_id, department.name, text=department.name
        ),
        "subject": reference("Patient", row.patient_id),
        "participant": [
            {
                "type": [
                    concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "ATND", "attender")
                ],
                "individual": reference("Practitioner", row.attending_id),
            }
        ]
        if row.attending_id
        else [],
        "appointment": [reference("Appointment", row.appointment_id)] if row.appointment_id else [],
        "period": drop_empty({"start": fhir_datetime(start), "end": fhir_datetime(end)}),
        "reasonCode": [{"text": row.reason}] if row.reason else [],
        "location": [{"location": reference("Location", f"b-{row.bed_id}")}] if row.bed_id else [],
        "serviceProvider": reference("Organization", f"d-{row.department_id}", department.name),
    }
    return drop_empty(resource)


def _class_filter(rows: Any, values: list[p.Token]) -> Any:
    return rows.filter(kind__in=[_CLASS_BACK[t.code] for t in values if t.code in _CLASS_BACK])


SOURCE = Source(
    model=Encounter,
    to_fhir=to_fhir,
    related=("department",),
    filters={
        "patient": patient_filter(),
        "subject": patient_filter(),
        "date": p.by_date("started_at"),
        "status": p.by_choice("status", {v: k for k, v in _STATUS.items()}),
        "class": _class_filter,
    },
    sort={"date": "started_at"},
)
standard_filters(SOURCE, "Encounter")


def _department(resource: dict[str, Any], ctx: WriteContext) -> Department:
    target = ctx.resolve(resource.get("serviceProvider"), "serviceProvider")
    pk = target_pk(target, "organization.Department")
    if pk is not None:
        return Department.objects.get(pk=pk)
    cache_key = "import_department"
    if cache_key not in ctx.cache:
        ctx.cache[cache_key] = (
            Department.objects.filter(national_code_id=import_department_code())
            .order_by("hospital_id")
            .first()
        )
    department = ctx.cache[cache_key]
    if department is None:
        raise NotRepresentable(
            resource_type="Encounter",
            reason=f"it names no smartcare department and there is no import department {import_department_code()}",
        )
    return department


class EncounterMapping(Mapping):
    resource_type = "Encounter"
    access = Access.PATIENT_CLINICAL
    sources = [SOURCE, store_source("Encounter")]
    params = [
        *COMMON_PARAMS,
        *PATIENT_PARAMS,
        ParamSpec("date", ParamKind.DATE, "start of the encounter"),
        ParamSpec("status", ParamKind.TOKEN),
        ParamSpec("class", ParamKind.TOKEN, "AMB | IMP | EMER"),
    ]
    includes = {
        "Encounter:patient": ("subject",),
        "Encounter:subject": ("subject",),
        "Encounter:practitioner": ("participant.individual",),
        "Encounter:service-provider": ("serviceProvider",),
        "Encounter:appointment": ("appointment",),
    }
    rank = 4
    writable = True
    write_capability = "emr.document"
    owned = ("participant", "appointment", "location", "reasonCode", "hospitalization")
    description = "emr.Encounter"

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        patient_id = require_patient(ctx, resource, "subject", "Encounter")
        code = str((resource.get("class") or {}).get("code") or "")
        kind = _CLASS_BACK.get(code)
        if kind is None:
            raise NotRepresentable(
                resource_type="Encounter", reason=f"class {code or '(none)'} is not a kind smartcare keeps"
            )
        status = _STATUS_BACK.get(str(resource.get("status")))
        if status is None:
            raise NotRepresentable(resource_type="Encounter", reason=f"status {resource.get('status')}")
        start, end = period(resource)
        if start is not None and end is not None and end < start:
            raise NotRepresentable(resource_type="Encounter", reason="the period ends before it starts")
        if status in (EncounterStatus.IN_PROGRESS, EncounterStatus.FINISHED) and start is None:
            raise NotRepresentable(
                resource_type="Encounter", reason="an encounter that took place has a start"
            )
        department = _department(resource, ctx)
        attending = None
        for participant in resource.get("participant") or []:
            if isinstance(participant, dict):
                attending = target_pk(
                    ctx.resolve(participant.get("individual"), "participant.individual"),
                    "organization.Practitioner",
                )
                if attending is not None:
                    break
        appointment = None
        for item in resource.get("appointment") or []:
            appointment = target_pk(ctx.resolve(item, "appointment"), "scheduling.Appointment") or appointment
        reason = "; ".join(filter(None, (concept_text(c) for c in resource.get("reasonCode") or [])))
        inpatient = kind == EncounterKind.INPATIENT
        fields = {
            "patient_id": patient_id,
            "kind": kind,
            "department_id": department.pk,
            "attending_id": attending,
            "appointment_id": appointment,
            "status": status,
            "started_at": start,
            "ended_at": end if status in (EncounterStatus.FINISHED, EncounterStatus.CANCELLED) else None,
            "admitted_at": start if inpatient else None,
            "discharged_at": end if inpatient and status == EncounterStatus.FINISHED else None,
            "reason": reason[:300],
            "updated_at": clock.now(),
        }
        unique = None
        if inpatient and status == EncounterStatus.IN_PROGRESS:
            unique = ("open_stay", patient_id)
        elif appointment is not None and status != EncounterStatus.CANCELLED:
            unique = ("appointment", appointment)
        return Plan(
            source=SOURCE,
            fields=fields,
            patient_id=patient_id,
            create_fields={"created_at": clock.now()},
            unique_key=unique,
        )

    def conflicts(self, keys: set[Any], exclude_pks: set[Any]) -> set[Any]:
        """Unique keys already taken in the database (an open stay, an appointment's encounter)
        by rows other than ``exclude_pks`` (the rows being updated)."""
        stays = [k[1] for k in keys if k[0] == "open_stay"]
        appointments = [k[1] for k in keys if k[0] == "appointment"]
        taken: set[Any] = set()
        if stays:
            open_stays = Encounter.objects.filter(
                patient_id__in=stays, kind=EncounterKind.INPATIENT, status=EncounterStatus.IN_PROGRESS
            ).exclude(pk__in=pks_of(exclude_pks, "emr.Encounter"))
            taken |= {("open_stay", pk) for pk in open_stays.values_list("patient_id", flat=True)}
        if appointments:
            used = (
                Encounter.objects.filter(appointment_id__in=appointments)
                .exclude(status=EncounterStatus.CANCELLED)
                .exclude(pk__in=pks_of(exclude_pks, "emr.Encounter"))
            )
            taken |= {("appointment", pk) for pk in used.values_list("appointment_id", flat=True)}
        return taken


register(EncounterMapping())
