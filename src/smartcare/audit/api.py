from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from smartcare.audit import selectors
from smartcare.audit.services import verify_chain
from smartcare.core.permissions import require_capability

router = Router(tags=["audit"])


class EventOut(Schema):
    sequence: int | None  # None for a moment after the commit, until linked into the chain
    occurred_at: dt.datetime
    actor_username: str
    actor_role: str
    patient_id: int | None
    action: str
    object_type: str
    object_id: str
    reason: str
    client_address: str
    channel: str


class EventFilter(Schema):
    patient_id: int | None = None
    username: str = ""
    action: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    limit: int = 100


@router.get("/events", response=list[EventOut], summary="Search audit events (auditors)")
def events(request: HttpRequest, filters: Query[EventFilter]) -> Any:
    limit = max(1, min(filters.limit, 1000))
    return selectors.search_events(
        request.user,
        patient_id=filters.patient_id,
        username=filters.username,
        action=filters.action,
        date_from=filters.date_from,
        date_to=filters.date_to,
    )[:limit]


class VerifyOut(Schema):
    ok: bool
    checked: int
    first_bad_sequence: int | None
    problem: str


@router.post("/verify", response=VerifyOut, summary="Verify the hash chain (auditors)")
def verify(request: HttpRequest) -> dict[str, Any]:
    require_capability(request.user, "audit.view")
    return verify_chain().as_dict()
