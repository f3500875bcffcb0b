"""Equipment reads: the board, one asset's history, downtime and MTBF, and the indicators that feed
the operations cockpit (utilization, downtime, mean time between failures, maintenance on time)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.equipment.choices import AlertStatus, AssetStatus, WorkOrderStatus
from smartcare.equipment.models import (
    Asset,
    EquipmentAlert,
    FailurePrediction,
    TelemetryRollup,
    WorkOrder,
)
from smartcare.equipment.utilization import utilization


def assets_for(user: Any) -> QuerySet[Asset]:
    require_capability(user, "equipment.view")
    return Asset.objects.select_related("department", "room").exclude(status=AssetStatus.RETIRED)


def asset_for(user: Any, asset_id: int) -> Asset:
    from smartcare.core.errors import NotFound

    asset = assets_for(user).filter(pk=asset_id).first()
    if asset is None:
        raise NotFound()
    return asset


def latest_predictions(asset_ids: list[int]) -> dict[int, FailurePrediction]:
    found: dict[int, FailurePrediction] = {}
    for prediction in FailurePrediction.objects.filter(asset_id__in=asset_ids).order_by(
        "asset_id", "-predicted_at"
    ):
        found.setdefault(prediction.asset_id, prediction)
    return found


def open_alerts(asset_ids: list[int] | None = None) -> QuerySet[EquipmentAlert]:
    qs = EquipmentAlert.objects.filter(status=AlertStatus.OPEN).select_related("asset")
    return qs if asset_ids is None else qs.filter(asset_id__in=asset_ids)


def work_orders_for(user: Any, *, status: str = "open") -> QuerySet[WorkOrder]:
    require_capability(user, "equipment.view")
    qs = WorkOrder.objects.select_related("asset", "assignee", "alert", "prediction")
    if status == "open":
        qs = qs.filter(status__in=[WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS]).order_by("due_on")
    elif status in WorkOrderStatus.values:
        qs = qs.filter(status=status)
    return qs


def history(asset: Asset, days: int = 14) -> dict[str, list[tuple[dt.datetime, float]]]:
    since = clock.now() - dt.timedelta(days=days)
    series: dict[str, list[tuple[dt.datetime, float]]] = {}
    for row in TelemetryRollup.objects.filter(asset=asset, hour__gte=since).order_by("hour"):
        series.setdefault(row.metric, []).append((row.hour, row.mean))
    return series


# --- Downtime, MTBF and indicators ---------------------------------------------------------------


def _overlap_hours(order: WorkOrder, start: dt.datetime, end: dt.datetime) -> float:
    if order.downtime_started_at is None:
        return 0.0
    lo = max(order.downtime_started_at, start)
    hi = min(order.downtime_ended_at or end, end)
    return max(0.0, (hi - lo).total_seconds() / 3600)


@dataclass
class Reliability:
    downtime_hours: float
    failures: int
    operating_hours: float
    mtbf_hours: float | None  # operating time per failure; None without a failure
    availability: float  # share of the period not down


def reliability(assets: list[Asset], start: dt.datetime, end: dt.datetime) -> Reliability:
    """Downtime of the assets over [start, end) and their mean time between failures (operating
    hours per failure, the usual MTBF of repairable equipment)."""
    period_hours = max(0.0, (end - start).total_seconds() / 3600) * len(assets)
    orders = list(
        WorkOrder.objects.filter(asset__in=assets, downtime_started_at__lt=end).filter(
            Q(downtime_ended_at__isnull=True) | Q(downtime_ended_at__gt=start)
        )
    )
    downtime = sum(_overlap_hours(o, start, end) for o in orders)
    failures = WorkOrder.objects.filter(
        asset__in=assets, is_failure=True, downtime_started_at__gte=start, downtime_started_at__lt=end
    ).count()
    operating = max(0.0, period_hours - downtime)
    return Reliability(
        downtime_hours=round(downtime, 1),
        failures=failures,
        operating_hours=round(operating, 1),
        mtbf_hours=round(operating / failures, 1) if failures else None,
        availability=round(operating / period_hours, 4) if period_hours else 1.0,
    )


def reliability_by_kind(start: dt.datetime, end: dt.datetime) -> dict[str, Reliability]:
    kinds: dict[str, list[Asset]] = {}
    for asset in Asset.objects.exclude(status=AssetStatus.RETIRED):
        kinds.setdefault(asset.kind, []).append(asset)
    return {kind: reliability(assets, start, end) for kind, assets in kinds.items()}


def maintenance_on_time(start: dt.date, end: dt.date) -> float | None:
    """Share of the work orders due in the period that were done by their due date."""
    due = WorkOrder.objects.filter(due_on__gte=start, due_on__lte=end).exclude(
        status=WorkOrderStatus.CANCELLED
    )
    total = due.count()
    if not total:
        return None
    on_time = sum(
        1
        for o in due.only("completed_at", "due_on", "status")
        if o.status == WorkOrderStatus.DONE
        and o.completed_at is not None
        and o.completed_at.astimezone(clock.local_now().tzinfo).date() <= o.due_on
    )
    return round(on_time / total, 4)


def indicators(start: dt.date, end: dt.date) -> dict[str, Any]:
    """The equipment indicators for the operations cockpit over [start, end] (local dates).

    ``utilization``: busy share of the service hours of equipment serving exams (usage telemetry,
    else bookings), from ``busy_hours`` and ``available_hours``; ``downtime_hours`` and
    ``availability``; ``mtbf_hours``; ``maintenance_on_time``."""
    zone = clock.local_now().tzinfo
    begin = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    finish = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    assets = list(Asset.objects.exclude(status=AssetStatus.RETIRED))
    busy = available = 0.0
    for asset in assets:
        curve = utilization(asset, start, end)
        available += sum(curve.available.values())
        busy += sum(curve.busy(c) for c in curve.available)
    rel = reliability(assets, begin, finish)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "assets": len(assets),
        "utilization": round(min(1.0, busy / available), 4) if available else None,
        "busy_hours": round(busy, 3),
        "available_hours": round(available, 3),
        "downtime_hours": rel.downtime_hours,
        "availability": rel.availability,
        "failures": rel.failures,
        "mtbf_hours": rel.mtbf_hours,
        "maintenance_on_time": maintenance_on_time(start, end),
    }
