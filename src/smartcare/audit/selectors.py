"""Reading the audit trail (auditors only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, QuerySet

from smartcare.audit.models import AuditEvent
from smartcare.core.errors import PermissionDenied
from smartcare.core.permissions import has_capability


def search_events(
    user: Any,
    *,
    patient_id: int | None = None,
    username: str = "",
    action: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    if not has_capability(user, "audit.view"):
        raise PermissionDenied()
    events = AuditEvent.objects.all()
    if patient_id is not None:
        events = events.filter(patient_id=patient_id)
    if username:
        events = events.filter(actor_username=username)
    if action:
        events = events.filter(action=action)
    if date_from:
        events = events.filter(occurred_at__date__gte=date_from)
    if date_to:
        events = events.filter(occurred_at__date__lte=date_to)
    # Pending events (no sequence yet, linked a moment later) are the newest: first.
    return events.order_by(F("sequence").desc(nulls_first=True), "-pk")
