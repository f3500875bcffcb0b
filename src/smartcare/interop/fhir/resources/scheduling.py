"""Schedule, Slot and Appointment <-> the scheduling app.

* Schedule <-> ``scheduling.ClinicSession`` (one dated clinic or exam session; actors: the doctor
  and the room), read-only.
* Slot <-> ``scheduling.Slot``: ``free`` while places remain, ``busy`` when full,
  ``busy-unavailable`` when the session was stopped. Read-only.
* Appointment <-> ``scheduling.Appointment``. Creating one books the slot through the booking
  service (capacity, one booking per session, booking rules); updating its status to ``cancelled``
  cancels through the cancellation service. Nothing else about a booking is changed through FHIR.
  Appointments of other systems (no smartcare slot) are kept as FHIR.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, Q, QuerySet

from smartcare.accounts.choices import Role
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    APPOINTMENT_SYSTEM,
    DEPARTMENT_SYSTEM,
    concept,
    concept_text,
    fhir_datetime,
    identifier,
)
from smartcare.interop.fhir.errors import InvalidResource, NotRepresentable
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
    patient_filter,
    reference,
    standard_filters,
    target_pk,
)
from smartcare.interop.fhir.store import store_source
from smartcare.scheduling.choices import AppointmentStatus, Channel, SessionStatus
from smartcare.scheduling.models import Appointment, ClinicSession, Slot


def _service_type(session: ClinicSession) -> list[dict[str, Any]]:
    department = session.department
    service = concept(DEPARTMENT_SYSTEM, department.national_code_id, department.name, text=department.name)
    if session.exam_type is not None:
        service = {"text": session.exam_type.name}
    return [service]


# --- Schedule ---------------------------------------------------------------------------------------


def schedule_to_fhir(row: ClinicSession) -> dict[str, Any]:
    actors = []
    if row.practitioner_id:
        actors.append(reference("Practitioner", row.practitioner_id))
    if row.room_id:
        actors.append(reference("Location", f"r-{row.room_id}"))
    actors.append(reference("Organization", f"d-{row.department_id}", row.department.name))
    return drop_empty(
        {
            "resourceType": "Schedule",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "active": row.status == SessionStatus.SCHEDULED,
            "serviceType": _service_type(row),
            "actor": actors,
            "planningHorizon": {"start": fhir_datetime(row.starts_at), "end": fhir_datetime(row.ends_at)},
            "comment": row.stop_reason or str(row.get_period_display()),
        }
    )


def _actor(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    conditions = []
    for ref in values:
        if ref.resource_type in ("", "Practitioner") and ref.id.isdigit():
            conditions.append(Q(practitioner_id=int(ref.id)))
        elif ref.id.startswith("r-") and ref.id[2:].isdigit():
            conditions.append(Q(room_id=int(ref.id[2:])))
        elif ref.id.startswith("d-") and ref.id[2:].isdigit():
            conditions.append(Q(department_id=int(ref.id[2:])))
    return rows.filter(p.q_any(conditions))


def _active(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    wanted = {t.code for t in values}
    if wanted == {"true"}:
        return rows.filter(status=SessionStatus.SCHEDULED)
    if wanted == {"false"}:
        return rows.exclude(status=SessionStatus.SCHEDULED)
    return rows


SCHEDULE = Source(
    model=ClinicSession,
    to_fhir=schedule_to_fhir,
    patient_field=None,
    related=("department", "exam_type"),
    filters={"actor": _actor, "date": p.by_date("starts_at"), "active": _active},
    sort={"date": "starts_at"},
)
standard_filters(SCHEDULE, "Schedule")


class ScheduleMapping(Mapping):
    resource_type = "Schedule"
    access = Access.SCHEDULE
    sources = [SCHEDULE, store_source("Schedule")]
    params = [
        *COMMON_PARAMS,
        ParamSpec("actor", ParamKind.REFERENCE, "Practitioner/id, Location/r-id or Organization/d-id"),
        ParamSpec("date", ParamKind.DATE, "start of the session"),
        ParamSpec("active", ParamKind.TOKEN, "true | false"),
    ]
    includes = {"Schedule:actor": ("actor",)}
    rank = 1
    import_updates = False
    description = "scheduling.ClinicSession; other systems' schedules kept as FHIR"

    def patient_of(self, resource: dict[str, Any], ctx: WriteContext) -> int | None:
        return None


# --- Slot -------------------------------------------------------------------------------------------


def slot_status(row: Slot) -> str:
    if row.session.status != SessionStatus.SCHEDULED:
        return "busy-unavailable"
    return "busy" if row.booked >= row.capacity else "free"


def slot_to_fhir(row: Slot) -> dict[str, Any]:
    return drop_empty(
        {
            "resourceType": "Slot",
            "id": str(row.pk),
            "serviceType": _service_type(row.session),
            "schedule": reference("Schedule", row.session_id),
            "status": slot_status(row),
            "start": fhir_datetime(row.starts_at),
            "end": fhir_datetime(row.ends_at),
            "comment": f"{row.booked}/{row.capacity}",
        }
    )


def _slot_status(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    scheduled = Q(session__status=SessionStatus.SCHEDULED)
    by_code = {
        "free": scheduled & Q(booked__lt=F("capacity")),
        "busy": scheduled & Q(booked__gte=F("capacity")),
        "busy-unavailable": ~scheduled,
    }
    return rows.filter(p.q_any([by_code[t.code] for t in values if t.code in by_code]))


def _schedule(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    return rows.filter(session_id__in=[int(v.id) for v in values if v.id.isdigit()])


SLOT = Source(
    model=Slot,
    to_fhir=slot_to_fhir,
    patient_field=None,
    last_updated=None,
    related=("session__department", "session__exam_type"),
    filters={"schedule": _schedule, "start": p.by_date("starts_at"), "status": _slot_status},
    sort={"start": "starts_at"},
)
standard_filters(SLOT, "Slot")


class SlotMapping(Mapping):
    resource_type = "Slot"
    access = Access.SCHEDULE
    sources = [SLOT, store_source("Slot")]
    params = [
        ParamSpec("_id", ParamKind.TOKEN),
        ParamSpec("identifier", ParamKind.TOKEN),
        ParamSpec("schedule", ParamKind.REFERENCE),
        ParamSpec("start", ParamKind.DATE),
        ParamSpec("status", ParamKind.TOKEN, "free | busy | busy-unavailable"),
    ]
    includes = {"Slot:schedule": ("schedule",)}
    rank = 2
    import_updates = False
    description = "scheduling.Slot; other systems' slots kept as FHIR"

    def patient_of(self, resource: dict[str, Any], ctx: WriteContext) -> int | None:
        return None


# --- Appointment ------------------------------------------------------------------------------------

_STATUS: dict[str, str] = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CHECKED_IN: "checked-in",
    AppointmentStatus.IN_CONSULTATION: "arrived",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
}
_STATUS_BACK: dict[str, list[str]] = {}
for _stored, _code in _STATUS.items():
    _STATUS_BACK.setdefault(_code, []).append(_stored)


def appointment_to_fhir(row: Appointment) -> dict[str, Any]:
    session = row.session
    participants = [
        {"actor": reference("Patient", row.patient_id), "required": "required", "status": "accepted"}
    ]
    if session.practitioner_id:
        participants.append(
            {
                "actor": reference("Practitioner", session.practitioner_id),
                "required": "required",
                "status": "accepted",
            }
        )
    if session.room_id:
        participants.append(
            {
                "actor": reference("Location", f"r-{session.room_id}"),
                "required": "required",
                "status": "accepted",
            }
        )
    return drop_empty(
        {
            "resourceType": "Appointment",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "identifier": [identifier(APPOINTMENT_SYSTEM, str(row.pk))],
            "status": _STATUS.get(row.status, "booked"),
            "cancelationReason": {"text": row.cancel_reason} if row.cancel_reason else None,
            "serviceType": _service_type(session),
            "start": fhir_datetime(row.slot.starts_at),
            "end": fhir_datetime(row.slot.ends_at),
            "slot": [reference("Slot", row.slot_id)],
            "created": fhir_datetime(row.created_at),
            "participant": participants,
        }
    )


APPOINTMENT = Source(
    model=Appointment,
    to_fhir=appointment_to_fhir,
    related=("slot", "session__department", "session__exam_type"),
    filters={
        "patient": patient_filter(),
        "date": p.by_date("slot__starts_at"),
        "status": p.by_choice("status", _STATUS_BACK),
        "slot": lambda rows, values: rows.filter(slot_id__in=[int(v.id) for v in values if v.id.isdigit()]),
    },
    sort={"date": "slot__starts_at"},
)
standard_filters(APPOINTMENT, "Appointment")


class AppointmentMapping(Mapping):
    resource_type = "Appointment"
    access = Access.PATIENT_VIEW
    sources = [APPOINTMENT, store_source("Appointment")]
    params = [
        *COMMON_PARAMS,
        ParamSpec("patient", ParamKind.REFERENCE),
        ParamSpec("date", ParamKind.DATE, "start of the slot"),
        ParamSpec("status", ParamKind.TOKEN),
        ParamSpec("slot", ParamKind.REFERENCE),
    ]
    includes = {"Appointment:patient": ("participant.actor",), "Appointment:slot": ("slot",)}
    rank = 3
    writable = True
    write_capability = "scheduling.book"
    description = "scheduling.Appointment (booking and cancelling through the scheduling services)"

    def patient_of(self, resource: dict[str, Any], ctx: WriteContext) -> int | None:
        for participant in resource.get("participant") or []:
            target = (
                ctx.resolve(participant.get("actor"), "participant.actor")
                if isinstance(participant, dict)
                else None
            )
            pk = target_pk(target, "patients.Patient")
            if pk is not None:
                return int(pk)
        return None

    def _slot_id(self, resource: dict[str, Any], ctx: WriteContext) -> Any:
        slots = [s for s in resource.get("slot") or [] if isinstance(s, dict)]
        if len(slots) != 1:
            return None
        return target_pk(ctx.resolve(slots[0], "slot"), "scheduling.Slot")

    def create_with_service(self, actor: Any, resource: dict[str, Any], ctx: WriteContext) -> Any:
        from smartcare.scheduling.services import book_slot

        patient_id = self.patient_of(resource, ctx)
        slot_id = self._slot_id(resource, ctx)
        if patient_id is None or slot_id is None:
            raise InvalidResource(
                resource_type="Appointment",
                reason="a booking names one smartcare patient (participant.actor) and one smartcare slot",
            )
        if resource.get("status") not in ("booked", "proposed", "pending"):
            raise InvalidResource(resource_type="Appointment", reason="a new booking has the status booked")
        channel = Channel.FRONT_DESK if getattr(actor, "role", "") == Role.FRONT_DESK else Channel.APP
        return book_slot(actor, patient_id=patient_id, slot_id=int(slot_id), channel=channel).appointment

    def update_with_service(self, actor: Any, row: Any, resource: dict[str, Any], ctx: WriteContext) -> Any:
        from smartcare.scheduling.services import cancel_appointment

        status = resource.get("status")
        if status == _STATUS.get(row.status):
            return row
        if status != "cancelled":
            raise InvalidResource(
                resource_type="Appointment",
                reason="only a cancellation (status cancelled) can be sent for a booking",
            )
        reason = concept_text(resource.get("cancelationReason"))
        return cancel_appointment(actor, row.pk, reason=reason)

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Any:
        raise NotRepresentable(resource_type="Appointment", reason="it is not a booking of a smartcare slot")


register(ScheduleMapping())
register(SlotMapping())
register(AppointmentMapping())
