"""Remote consultation over REST: requests, the expert's actions, the opinion, room tokens and the
indicators. Same services, access rules and audit as the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput
from smartcare.core.permissions import require_capability
from smartcare.telemedicine import selectors, services
from smartcare.telemedicine.models import Consultation

router = Router(tags=["telemedicine"])


class ConsultationOut(Schema):
    id: int
    number: str
    patient_id: int
    requester: str
    requesting_department: str
    external_hospital: str
    specialty: str
    expert: str | None
    urgency: str
    status: str
    working_diagnosis: str
    requested_at: dt.datetime
    deadline_at: dt.datetime
    escalated_at: dt.datetime | None
    answered_at: dt.datetime | None
    access_until: dt.datetime | None
    opinion_diagnosis: str | None
    concordance: str | None
    # One consultation only (not in lists): ids of the attached notes, results, diagnoses, studies.
    attachments: dict[str, list[int]] | None = None


def _out(c: Consultation) -> dict[str, Any]:
    opinion = getattr(c, "opinion", None) if c.status == "answered" else None
    return {
        "id": c.pk,
        "number": c.number,
        "patient_id": c.patient_id,
        "requester": str(c.requester),
        "requesting_department": c.requesting_department.name,
        "external_hospital": c.external_hospital,
        "specialty": c.specialty.name,
        "expert": str(c.expert) if c.expert else None,
        "urgency": c.urgency,
        "status": c.status,
        "working_diagnosis": c.working_diagnosis_id,
        "requested_at": c.requested_at,
        "deadline_at": c.deadline_at,
        "escalated_at": c.escalated_at,
        "answered_at": c.answered_at,
        "access_until": c.access_until,
        "opinion_diagnosis": opinion.diagnosis_id if opinion else None,
        "concordance": opinion.concordance if opinion else None,
    }


def _attachments(c: Consultation) -> dict[str, list[int]]:
    return {
        name: sorted(getattr(c, name).values_list("pk", flat=True))
        for name in ("notes", "results", "diagnoses", "studies")
    }


def _reload(user: Any, consultation: Consultation) -> dict[str, Any]:
    found = selectors.consultation_for(user, consultation.pk)
    return {**_out(found), "attachments": _attachments(found)}


@router.get("/consultations", response=list[ConsultationOut], summary="My requests and my expert queue")
def consultations(request: HttpRequest, role: str = "expert") -> list[dict[str, Any]]:
    user: Any = request.user
    if role == "requester":
        require_capability(user, "telemedicine.request")
        rows = selectors.my_requests(user)
    else:
        require_capability(user, "telemedicine.consult")
        rows = selectors.expert_queue(user)
    record(
        user,
        AuditAction.SEARCH,
        obj=("telemedicine.Consultation", role),
        detail={"listed": sorted({c.patient_id for c in rows})},
    )
    return [_out(c) for c in rows]


class RequestIn(Schema):
    patient_id: int
    specialty_id: int
    question: str = Field(max_length=4000)
    working_diagnosis: str = Field(max_length=10)
    urgency: str = "routine"
    expert_id: int | None = None
    note_ids: list[int] = []
    study_ids: list[int] = []
    result_ids: list[int] = []
    diagnosis_ids: list[int] = []
    encounter_id: int | None = None
    consent_given: bool = False
    consent_note: str = Field("", max_length=200)
    external_hospital: str = Field("", max_length=120)


@router.post("/consultations", response={201: ConsultationOut}, summary="Ask a specialist for an opinion")
def create(request: HttpRequest, payload: RequestIn) -> Status:
    consultation = services.request_consultation(request.user, **payload.dict())
    return Status(201, _reload(request.user, consultation))


@router.get("/consultations/{consultation_id}", response=ConsultationOut, summary="One consultation")
def detail(request: HttpRequest, consultation_id: int) -> dict[str, Any]:
    user: Any = request.user
    require_capability(user, "telemedicine.consult")
    consultation = selectors.consultation_for(user, consultation_id)
    record(user, AuditAction.READ, patient=consultation.patient_id, obj=consultation)
    return {**_out(consultation), "attachments": _attachments(consultation)}


@router.post("/consultations/{consultation_id}/accept", response=ConsultationOut, summary="Accept a request")
def accept(request: HttpRequest, consultation_id: int) -> dict[str, Any]:
    return _reload(request.user, services.accept(request.user, consultation_id))


class ReasonIn(Schema):
    reason: str = Field(max_length=300)


@router.post(
    "/consultations/{consultation_id}/decline", response=ConsultationOut, summary="Decline a request"
)
def decline(request: HttpRequest, consultation_id: int, payload: ReasonIn) -> dict[str, Any]:
    return _reload(request.user, services.decline(request.user, consultation_id, payload.reason))


class OpinionIn(Schema):
    diagnosis: str = Field(max_length=10)
    recommendations: str = Field(max_length=4000)
    findings: str = Field("", max_length=4000)
    annotations: list[dict[str, Any]] = []


@router.post("/consultations/{consultation_id}/opinion", response=ConsultationOut, summary="Give the opinion")
def opinion(request: HttpRequest, consultation_id: int, payload: OpinionIn) -> dict[str, Any]:
    services.submit_opinion(request.user, consultation_id, **payload.dict())
    return _reload(request.user, Consultation(pk=consultation_id))


class RoomTokenOut(Schema):
    token: str
    expires_at: dt.datetime
    websocket: str
    ice_servers: list[dict[str, Any]]


@router.post(
    "/consultations/{consultation_id}/room-token",
    response=RoomTokenOut,
    summary="An expiring token to join the consultation's video room",
)
def room_token(request: HttpRequest, consultation_id: int) -> dict[str, Any]:
    token, expires = services.issue_room_token(request.user, consultation_id)
    return {
        "token": token,
        "expires_at": expires,
        "websocket": f"/ws/telemedicine/rooms/{consultation_id}/",
        "ice_servers": list(getattr(settings, "TELEMEDICINE_ICE_SERVERS", [])),
    }


@router.get(
    "/indicators", summary="Consultations per month, response times, answered within 24 h, concordance"
)
def indicators(
    request: HttpRequest, start: dt.date | None = None, end: dt.date | None = None
) -> dict[str, Any]:
    require_capability(request.user, "telemedicine.reports")
    end = end or clock.today()
    start = start or end - dt.timedelta(days=364)
    if start > end:
        raise InvalidInput(field="start")
    return selectors.indicators(start, end)
