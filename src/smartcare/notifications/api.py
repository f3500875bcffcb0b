from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from smartcare.core.permissions import require_capability
from smartcare.notifications import selectors, services

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: int
    category: str
    subject: str
    body: str
    link: str
    created_at: dt.datetime
    read_at: dt.datetime | None


@router.get("/inbox", response=list[NotificationOut], summary="My inbox")
def inbox(request: HttpRequest, limit: int = 50) -> Any:
    require_capability(request.user, "notifications.inbox")
    return selectors.inbox(request.user)[: max(1, min(limit, 200))]


@router.post("/inbox/{notification_id}/read", response={204: None}, summary="Mark a message read")
def mark_read(request: HttpRequest, notification_id: int) -> tuple[int, None]:
    require_capability(request.user, "notifications.inbox")
    services.mark_read(request.user, notification_id)
    return 204, None
