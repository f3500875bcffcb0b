"""Reads for remote consultations, restricted to what the user may see.

A consultation is seen by its requester, its expert, the consulted specialty's doctors while it
waits in their pool, and the heads of both departments. The patient's record behind it is opened
through ``patients.access`` (the expert's care relationship). Indicators and concordance reports
are aggregates without identified patients.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from smartcare.accounts.choices import Role
from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.telemedicine.choices import (
    OPEN_STATUSES,
    URGENCY_RANK,
    Concordance,
    ConsultationStatus,
)
from smartcare.telemedicine.concordance import is_concordant
from smartcare.telemedicine.models import Consultation, Opinion

RESPONSE_BUCKETS: list[tuple[str, float]] = [
    ("<1h", 1),
    ("1-4h", 4),
    ("4-12h", 12),
    ("12-24h", 24),
    ("24-48h", 48),
    (">48h", float("inf")),
]


def _department_id(user: Any) -> int | None:
    return getattr(getattr(user, "practitioner", None), "department_id", None)


def visible_consultations(user: Any) -> QuerySet[Consultation]:
    if user is None or not getattr(user, "is_authenticated", False):
        return Consultation.objects.none()
    department_id = _department_id(user)
    condition = Q(requester=user) | Q(expert=user)
    if department_id is not None and user.role in (Role.DOCTOR, Role.DEPARTMENT_HEAD):
        condition |= Q(expert=None, specialty_id=department_id, status__in=OPEN_STATUSES)
        if user.role == Role.DEPARTMENT_HEAD:
            condition |= Q(specialty_id=department_id) | Q(requesting_department_id=department_id)
    return Consultation.objects.filter(condition).select_related(
        "patient", "requester", "expert", "specialty", "requesting_department", "working_diagnosis"
    )


def consultation_for(user: Any, consultation_id: Any) -> Consultation:
    try:
        pk = int(str(consultation_id))
    except (TypeError, ValueError):
        raise NotFound() from None
    found = visible_consultations(user).filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def _urgency_order() -> Case:
    return Case(
        *[When(urgency=k, then=Value(v)) for k, v in URGENCY_RANK.items()], output_field=IntegerField()
    )


def expert_queue(user: Any) -> list[Consultation]:
    """Open requests for this expert or their specialty's pool: most urgent first, then by deadline."""
    department_id = _department_id(user)
    condition = Q(expert=user)
    if department_id is not None:
        condition |= Q(expert=None, specialty_id=department_id)
    rows = (
        visible_consultations(user)
        .filter(condition, status__in=OPEN_STATUSES)
        .exclude(requester=user)
        .annotate(rank=_urgency_order())
        .order_by("rank", "deadline_at")
    )
    return list(rows)


def my_requests(user: Any, *, limit: int = 100) -> list[Consultation]:
    return list(visible_consultations(user).filter(requester=user).order_by("-requested_at")[:limit])


def discordant_cases(user: Any, *, reviewed: bool | None = None) -> QuerySet[Consultation]:
    """Discordant consultations for the quality review: a department head sees those asked by or of
    their department."""
    department_id = _department_id(user)
    if user.role != Role.DEPARTMENT_HEAD or department_id is None:
        return Consultation.objects.none()
    rows = (
        Consultation.objects.filter(opinion__concordance=Concordance.DISCORDANT)
        .filter(Q(requesting_department_id=department_id) | Q(specialty_id=department_id))
        .select_related(
            "opinion", "opinion__diagnosis", "working_diagnosis", "requester", "expert", "specialty"
        )
        .order_by("-answered_at")
    )
    if reviewed is not None:
        rows = rows.filter(review__isnull=not reviewed)
    return rows


# --- Aggregates ----------------------------------------------------------------------------------


def _window(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = clock.local_now().tzinfo
    return (
        dt.datetime.combine(start, dt.time(0), tzinfo=zone),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone),
    )


def concordance_report(start: dt.date, end: dt.date, *, by: str = "department") -> list[dict[str, Any]]:
    """Concordance of the consultations answered in [start, end] per ``requester``, ``department``
    (requesting) or ``hospital`` (ours or the external one)."""
    begin, finish = _window(start, end)
    opinions = Opinion.objects.filter(
        consultation__answered_at__gte=begin, consultation__answered_at__lt=finish
    ).values(
        "concordance",
        "consultation__requester__username",
        "consultation__requester__display_name",
        "consultation__requesting_department__name_zh",
        "consultation__requesting_department__name_en",
        "consultation__external_hospital",
    )
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    from django.utils.translation import get_language
    from django.utils.translation import gettext as _

    english = (get_language() or "").startswith("en")
    for row in opinions:
        if by == "requester":
            key = row["consultation__requester__display_name"] or row["consultation__requester__username"]
        elif by == "hospital":
            key = row["consultation__external_hospital"] or _("This hospital")
        else:
            key = row[
                "consultation__requesting_department__name_en"
                if english
                else "consultation__requesting_department__name_zh"
            ]
        groups[key][row["concordance"]] += 1
    result = []
    for key, counts in sorted(groups.items()):
        total = sum(counts.values())
        agreed = counts[Concordance.SAME_CODE] + counts[Concordance.SAME_CATEGORY]
        result.append(
            {
                "group": key,
                "answered": total,
                "same_code": counts[Concordance.SAME_CODE],
                "same_category": counts[Concordance.SAME_CATEGORY],
                "discordant": counts[Concordance.DISCORDANT],
                "rate": round(agreed / total, 4) if total else None,
            }
        )
    return result


def indicators(start: dt.date, end: dt.date) -> dict[str, Any]:
    """Remote consultation indicators for the operations cockpit over [start, end] (local dates).

    ``per_month``: requests per month; ``response_hours``: distribution of the answer times in
    buckets, and their median; ``answered_within_24h``: share of the answered requests answered
    within 24 hours of the request; ``concordance_rate``: share of opinions agreeing with the working
    diagnosis (same code or same category, target 0.9)."""
    begin, finish = _window(start, end)
    rows = list(
        Consultation.objects.filter(requested_at__gte=begin, requested_at__lt=finish).values_list(
            "requested_at", "answered_at", "status", "opinion__concordance"
        )
    )
    per_month: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    hours: list[float] = []
    agreed = opinions = 0
    zone = clock.local_now().tzinfo
    for requested_at, answered_at, status, concordance in rows:
        per_month[requested_at.astimezone(zone).strftime("%Y-%m")] += 1
        if status == ConsultationStatus.ANSWERED and answered_at is not None:
            value = (answered_at - requested_at).total_seconds() / 3600
            hours.append(value)
            buckets[next(label for label, top in RESPONSE_BUCKETS if value < top)] += 1
        if concordance:
            opinions += 1
            agreed += int(is_concordant(concordance))
    hours.sort()
    median = None
    if hours:
        middle = len(hours) // 2
        median = hours[middle] if len(hours) % 2 else (hours[middle - 1] + hours[middle]) / 2
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "requests": len(rows),
        "answered": len(hours),
        "per_month": dict(sorted(per_month.items())),
        "response_hours": {label: buckets[label] for label, _top in RESPONSE_BUCKETS},
        "median_response_hours": round(median, 2) if median is not None else None,
        "answered_within_24h": round(sum(1 for h in hours if h <= 24) / len(hours), 4) if hours else None,
        "concordance_rate": round(agreed / opinions, 4) if opinions else None,
        "open_overdue": Consultation.objects.filter(
            status__in=OPEN_STATUSES, deadline_at__lt=clock.now()
        ).count(),
    }


def terminals() -> list[dict[str, Any]]:
    """The video terminals (equipment assets of that type) with their state, from the equipment
    module's heartbeats, alerts and work orders."""
    from smartcare.equipment.choices import AssetKind, AssetStatus, WorkOrderStatus
    from smartcare.equipment.models import Asset
    from smartcare.equipment.selectors import open_alerts

    assets = list(
        Asset.objects.filter(kind=AssetKind.VIDEO_TERMINAL)
        .exclude(status=AssetStatus.RETIRED)
        .select_related("department")
        .order_by("name")
    )
    alerts = list(open_alerts([a.pk for a in assets]))
    result = []
    for asset in assets:
        mine = [a for a in alerts if a.asset_id == asset.pk]
        orders = asset.work_orders.filter(
            status__in=(WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS)
        ).count()
        result.append(
            {
                "asset": asset,
                "online": asset.heartbeat_lost_at is None and asset.last_seen_at is not None,
                "alerts": mine,
                "open_work_orders": orders,
            }
        )
    return result
