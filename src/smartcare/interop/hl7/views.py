"""The interface engineer's page: connected systems and the log of HL7 messages with their ACKs.

It shows message metadata and the coded reasons of refusals, never message content or patient
names (the raw messages stay encrypted in the database)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from smartcare.core.permissions import require_capability
from smartcare.interop.models import ConnectedSystem, Hl7Message, MessageStatus


@login_required
def message_log(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "interop.hl7.monitor")
    rows = Hl7Message.objects.select_related("system").defer("raw")
    status = request.GET.get("status", "")
    if status in MessageStatus.values:
        rows = rows.filter(status=status)
    system = request.GET.get("system", "")
    if system.isdigit():
        rows = rows.filter(system_id=int(system))
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    counts = dict(Hl7Message.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return render(
        request,
        "interop/hl7/log.html",
        {
            "page": page,
            "systems": ConnectedSystem.objects.select_related("user").order_by("name"),
            "statuses": [(value, label, counts.get(value, 0)) for value, label in MessageStatus.choices],
            "status": status,
            "system": system,
        },
    )
