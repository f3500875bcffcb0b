"""Equipment pages: the board, one asset (telemetry, predictions, utilization before and after a
capacity move, work orders, plans), work orders and their lifecycle."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from smartcare.core import clock
from smartcare.core.errors import CodedError, NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.equipment import selectors, services
from smartcare.equipment.choices import Metric, WorkOrderKind
from smartcare.equipment.models import CapacityMove, PreventivePlan, WorkOrder
from smartcare.equipment.utilization import Utilization, utilization

WEEKDAYS = [
    gettext_lazy("Mon"),
    gettext_lazy("Tue"),
    gettext_lazy("Wed"),
    gettext_lazy("Thu"),
    gettext_lazy("Fri"),
    gettext_lazy("Sat"),
    gettext_lazy("Sun"),
]


def _chart(spec: dict[str, Any]) -> str:
    return json.dumps(spec, ensure_ascii=False, default=str)


def _pct(value: float | None) -> int | None:
    return None if value is None else round(value * 100)


@login_required
def board(request: HttpRequest) -> HttpResponse:
    assets = list(selectors.assets_for(request.user))
    ids = [a.pk for a in assets]
    predictions = selectors.latest_predictions(ids)
    alerts = list(selectors.open_alerts(ids).order_by("-severity", "-raised_at"))
    by_asset: dict[int, int] = {}
    for alert in alerts:
        by_asset[alert.asset_id] = by_asset.get(alert.asset_id, 0) + 1
    rows: list[dict[str, Any]] = [
        {
            "asset": a,
            "prediction": predictions.get(a.pk),
            "alerts": by_asset.get(a.pk, 0),
            "risk": predictions[a.pk].probability if a.pk in predictions else 0.0,
            "days": round(predictions[a.pk].rul_days) if a.pk in predictions else None,
        }
        for a in assets
    ]
    rows.sort(key=lambda r: (-float(r["alerts"]) - 10 * float(r["risk"]), str(r["asset"])))
    end = clock.today() - dt.timedelta(days=1)
    indicators = selectors.indicators(end - dt.timedelta(days=29), end)
    return render(
        request,
        "equipment/board.html",
        {
            "rows": rows,
            "alerts": alerts[:20],
            "indicators": indicators,
            "pct": {k: _pct(indicators[k]) for k in ("utilization", "availability", "maintenance_on_time")},
        },
    )


def _hour_curve(curves: list[tuple[str, Utilization]], asset: Any) -> str:
    hours = list(range(asset.opens_at.hour, asset.closes_at.hour + (1 if asset.closes_at.minute else 0)))
    return _chart(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "type": "scroll", "data": [label for label, _c in curves]},
            "grid": {"left": 40, "right": 10, "top": 40, "bottom": 30},
            "xAxis": {"type": "category", "data": [f"{h:02d}:00" for h in hours]},
            "yAxis": {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}},
            "series": [
                {"name": label, "type": "line", "data": [_pct(curve.by_hour()[h]) for h in hours]}
                for label, curve in curves
            ],
        }
    )


def _cell(value: float | None) -> dict[str, Any] | None:
    return None if value is None else {"pct": _pct(value), "alpha": f"{0.1 + 0.8 * value:.2f}"}


@login_required
def asset(request: HttpRequest, asset_id: int) -> HttpResponse:
    found = selectors.asset_for(request.user, asset_id)
    today = clock.today()
    current = utilization(found, today - dt.timedelta(days=28), today - dt.timedelta(days=1))
    curves: list[tuple[str, Utilization]] = [(_("Last 4 weeks"), current)]
    move = CapacityMove.objects.filter(asset=found).first()
    if move is not None:
        pivot = move.moved_at.astimezone(clock.local_now().tzinfo).date()
        curves = [
            (
                _("Before the capacity move"),
                utilization(found, pivot - dt.timedelta(days=28), pivot - dt.timedelta(days=1)),
            ),
            (_("After"), utilization(found, pivot, max(pivot, today - dt.timedelta(days=1)))),
        ]
    heatmap = [
        {
            "day": WEEKDAYS[d],
            "cells": [_cell(current.cell(d, h)) for h in range(found.opens_at.hour, found.closes_at.hour)],
        }
        for d in range(7)
    ]
    series = selectors.history(found)
    telemetry = _chart(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {
                "top": 0,
                "type": "scroll",
                "data": [str(label) for value, label in Metric.choices if value in series],
            },
            "grid": {"left": 50, "right": 10, "top": 40, "bottom": 30},
            "xAxis": {"type": "time"},
            "yAxis": {"type": "value", "scale": True},
            "series": [
                {
                    "name": str(label),
                    "type": "line",
                    "showSymbol": False,
                    "data": [[t.isoformat(), round(v, 2)] for t, v in series[value]],
                }
                for value, label in Metric.choices
                if value in series
            ],
        }
    )
    from smartcare.scheduling.models import ScheduleTemplate

    templates = [
        {
            "template": t,
            "label": f"{t.exam_type.name if t.exam_type else ''} · {WEEKDAYS[t.weekday]} "
            f"{t.start_time:%H:%M}-{t.end_time:%H:%M} · {t.capacity_per_slot}",
        }
        for t in ScheduleTemplate.objects.filter(exam_type__in=found.exam_types.all(), is_active=True)
        .select_related("exam_type")
        .order_by("weekday", "start_time")
    ]
    return render(
        request,
        "equipment/asset.html",
        {
            "asset": found,
            "predictions": found.predictions.all()[:10],
            "alerts": found.alerts.all()[:20],
            "orders": found.work_orders.select_related("assignee").all()[:30],
            "plans": PreventivePlan.objects.filter(asset=found),
            "contracts": found.contracts.all(),
            "reliability": selectors.reliability([found], clock.now() - dt.timedelta(days=365), clock.now()),
            "utilization": _pct(current.overall()),
            "source": current.has_usage,
            "hours": list(range(found.opens_at.hour, found.closes_at.hour)),
            "heatmap": heatmap,
            "curve": _hour_curve(curves, found),
            "telemetry": telemetry if series else None,
            "templates": templates,
            "move": move,
            "kinds": WorkOrderKind.choices,
            "can_maintain": has_capability(request.user, "equipment.maintain"),
            "can_manage": has_capability(request.user, "equipment.manage"),
        },
    )


@login_required
@require_POST
def open_order(request: HttpRequest, asset_id: int) -> HttpResponse:
    require_capability(request.user, "equipment.maintain")
    selectors.asset_for(request.user, asset_id)
    try:
        due = dt.date.fromisoformat(request.POST["due_on"]) if request.POST.get("due_on") else None
        order = services.open_work_order(
            request.user,
            asset_id=asset_id,
            title=request.POST.get("title", ""),
            kind=request.POST.get("kind", WorkOrderKind.CORRECTIVE),
            due_on=due,
            description=request.POST.get("description", ""),
            is_failure=request.POST.get("is_failure") == "on",
            down_now=request.POST.get("down_now") == "on",
        )
    except ValueError:
        messages.error(request, _("The due date is not a date."))
    except CodedError as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        messages.success(request, _("Work order opened."))
        return redirect("equipment:work_order", order_id=order.pk)
    return redirect("equipment:asset", asset_id=asset_id)


@login_required
@require_POST
def create_plan(request: HttpRequest, asset_id: int) -> HttpResponse:
    require_capability(request.user, "equipment.manage")
    selectors.asset_for(request.user, asset_id)
    try:
        services.create_plan(
            request.user,
            asset_id=asset_id,
            title=request.POST.get("title", ""),
            interval_days=int(request.POST.get("interval_days", "0")),
            next_due=dt.date.fromisoformat(request.POST.get("next_due", "")),
            lead_days=int(request.POST.get("lead_days", "7") or 7),
        )
    except ValueError:
        messages.error(request, _("Give the interval in days and the next due date."))
    except CodedError as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        messages.success(request, _("Preventive plan saved."))
    return redirect("equipment:asset", asset_id=asset_id)


@login_required
@require_POST
def move_capacity(request: HttpRequest, asset_id: int) -> HttpResponse:
    require_capability(request.user, "equipment.manage")
    selectors.asset_for(request.user, asset_id)
    try:
        services.move_release_capacity(
            request.user,
            asset_id=asset_id,
            from_template_id=int(request.POST.get("from_template", "0")),
            to_template_id=int(request.POST.get("to_template", "0")),
            places=int(request.POST.get("places", "0")),
        )
    except ValueError:
        messages.error(request, _("Choose two sessions and a number of places."))
    except CodedError as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        messages.success(request, _("Release capacity moved; new sessions use it."))
    return redirect("equipment:asset", asset_id=asset_id)


@login_required
def work_orders(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    orders = selectors.work_orders_for(request.user, status=status)[:200]
    return render(request, "equipment/work_orders.html", {"orders": orders, "status": status})


def _order_for(request: HttpRequest, order_id: int) -> WorkOrder:
    require_capability(request.user, "equipment.view")
    order = (
        WorkOrder.objects.select_related("asset", "assignee", "alert", "prediction", "plan")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise NotFound()
    return order


@login_required
def work_order(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order_for(request, order_id)
    return render(
        request,
        "equipment/work_order.html",
        {"order": order, "can_maintain": has_capability(request.user, "equipment.maintain")},
    )


def _parts_from(text: str) -> list[dict[str, Any]]:
    """One part per line: "name" or "name x 2"."""
    parts = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        name, _sep, quantity = line.rpartition(" x ")
        if name and quantity.strip().isdigit():
            parts.append({"name": name.strip(), "quantity": int(quantity)})
        else:
            parts.append({"name": line, "quantity": 1})
    return parts


@login_required
@require_POST
def work_order_action(request: HttpRequest, order_id: int, action: str) -> HttpResponse:
    require_capability(request.user, "equipment.maintain")
    _order_for(request, order_id)
    try:
        if action == "start":
            services.start_work_order(
                request.user,
                order_id,
                take_down=request.POST.get("take_down") == "on",
                is_failure=True if request.POST.get("is_failure") == "on" else None,
            )
            messages.success(request, _("Work order started."))
        elif action == "complete":
            services.complete_work_order(
                request.user,
                order_id,
                resolution=request.POST.get("resolution", ""),
                parts=_parts_from(request.POST.get("parts", "")),
                is_failure=True if request.POST.get("is_failure") == "on" else None,
            )
            messages.success(request, _("Work order closed; the equipment is back in service."))
        elif action == "cancel":
            services.cancel_work_order(request.user, order_id, reason=request.POST.get("reason", ""))
            messages.success(request, _("Work order cancelled."))
        else:
            raise NotFound()
    except CodedError as exc:
        if isinstance(exc, NotFound):
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect("equipment:work_order", order_id=order_id)
