"""Equipment API: telemetry in (the asset's own credential), the registry, alerts, predictions,
work orders, preventive plans, utilization, capacity moves and the cockpit indicators. Same
services, permissions and audit as the pages."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.security import HttpBearer
from pydantic import Field

from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput
from smartcare.core.permissions import require_capability
from smartcare.equipment import selectors, services
from smartcare.equipment.choices import TelemetrySource
from smartcare.equipment.errors import InvalidDeviceCredential, InvalidTelemetry
from smartcare.equipment.ingest import authenticate_asset, parse_message, store_telemetry
from smartcare.equipment.models import Asset, EquipmentAlert, WorkOrder
from smartcare.equipment.utilization import utilization

router = Router(tags=["equipment"])
logger = logging.getLogger("smartcare.equipment")
MAX_MESSAGES = 1000


class AssetCredential(HttpBearer):
    """``Authorization: Bearer sce_<device id>_<secret>``: the equipment's own credential."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            asset = authenticate_asset(token)
        except InvalidDeviceCredential:
            logger.warning("EQ-002 equipment credential refused from %s", request.META.get("REMOTE_ADDR", ""))
            return None
        request.asset = asset  # type: ignore[attr-defined]
        return asset


class StoredOut(Schema):
    stored: int
    duplicates: int
    alerts: int


@router.post(
    "/telemetry",
    auth=[AssetCredential()],
    response={200: StoredOut, 201: StoredOut},
    summary='Equipment posts telemetry: one message or {"messages": [...]} (stored whole or not at all)',
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}
    },
)
def post_telemetry(request: HttpRequest) -> Status:
    asset: Asset = request.asset  # type: ignore[attr-defined]
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise InvalidTelemetry(reason="body is not JSON") from None
    messages = body.get("messages") if isinstance(body, dict) and "messages" in body else [body]
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        raise InvalidTelemetry(reason="1 to 1000 messages are expected")
    items = []
    problems: dict[str, list[str]] = {}
    now = clock.now()
    for index, message in enumerate(messages):
        try:
            items.append((asset, parse_message(message, now=now)))
        except CodedError as exc:
            problems[f"messages[{index}]"] = [f"{exc.code} {exc.detail}"]
    if problems:
        raise InvalidTelemetry(reason="see errors", errors=problems)
    try:
        with transaction.atomic():
            outcome = store_telemetry(items, source=TelemetrySource.HTTP, actor=None)
    except IntegrityError:
        # The same message was stored meanwhile by another writer (the bridge, a resend): this
        # attempt finds it and skips it.
        with transaction.atomic():
            outcome = store_telemetry(items, source=TelemetrySource.HTTP, actor=None)
    answer = {"stored": outcome.stored, "duplicates": outcome.duplicates, "alerts": len(outcome.alerts)}
    return Status(201 if outcome.stored else 200, answer)


# --- Registry ------------------------------------------------------------------------------------


class AssetOut(Schema):
    id: int
    uid: str
    kind: str
    name: str
    maker: str
    model_name: str
    serial_number: str
    department: str
    location: str
    status: str
    purchase_date: dt.date | None
    warranty_until: dt.date | None
    last_seen_at: dt.datetime | None
    heartbeat_lost: bool
    exam_types: list[str]
    rul_days: float | None
    failure_probability: float | None
    horizon_days: int | None


def _asset(asset: Asset, prediction: Any = None) -> dict[str, Any]:
    return {
        "id": asset.pk,
        "uid": asset.uid,
        "kind": asset.kind,
        "name": asset.name,
        "maker": asset.maker,
        "model_name": asset.model_name,
        "serial_number": asset.serial_number,
        "department": asset.department.code,
        "location": asset.location,
        "status": asset.status,
        "purchase_date": asset.purchase_date,
        "warranty_until": asset.warranty_until,
        "last_seen_at": asset.last_seen_at,
        "heartbeat_lost": asset.heartbeat_lost_at is not None,
        "exam_types": [e.code for e in asset.exam_types.all()],
        "rul_days": prediction.rul_days if prediction else None,
        "failure_probability": prediction.probability if prediction else None,
        "horizon_days": prediction.horizon_days if prediction else None,
    }


@router.get("/assets", response=list[AssetOut], summary="The equipment registry")
def assets(request: HttpRequest) -> list[dict[str, Any]]:
    found = list(selectors.assets_for(request.user).prefetch_related("exam_types"))
    predictions = selectors.latest_predictions([a.pk for a in found])
    return [_asset(a, predictions.get(a.pk)) for a in found]


@router.get("/assets/{asset_id}", response=AssetOut, summary="One asset with its latest prediction")
def asset(request: HttpRequest, asset_id: int) -> dict[str, Any]:
    found = selectors.asset_for(request.user, asset_id)
    return _asset(found, selectors.latest_predictions([found.pk]).get(found.pk))


class AssetIn(Schema):
    kind: str
    name: str = Field(max_length=120)
    maker: str = Field(max_length=80)
    model_name: str = Field(max_length=80)
    serial_number: str = Field(max_length=80)
    department_id: int
    location: str = Field(default="", max_length=120)
    purchase_date: dt.date | None = None
    purchase_price: float | None = None
    warranty_until: dt.date | None = None
    heartbeat_seconds: int = Field(default=60, ge=10, le=86400)
    exam_type_ids: list[int] = Field(default_factory=list)


class RegisteredOut(Schema):
    asset: AssetOut
    credential: str = Field(description="Shown once; only its hash is stored")


@router.post("/assets", response={201: RegisteredOut}, summary="Register equipment (credential shown once)")
def register(request: HttpRequest, payload: AssetIn) -> Status:
    found, secret = services.register_asset(request.user, **payload.dict())
    return Status(201, {"asset": _asset(found), "credential": secret})


class CredentialOut(Schema):
    credential: str


@router.post("/assets/{asset_id}/credential", response=CredentialOut, summary="Issue a new credential")
def credential(request: HttpRequest, asset_id: int) -> dict[str, Any]:
    return {"credential": services.issue_credential(request.user, asset_id)}


@router.get("/assets/{asset_id}/utilization", summary="Utilization per hour of day and weekday")
def asset_utilization(request: HttpRequest, asset_id: int, days: int = 28) -> dict[str, Any]:
    found = selectors.asset_for(request.user, asset_id)
    if not 1 <= days <= 366:
        raise InvalidInput(errors={"days": ["1 to 366"]})
    today = clock.today()
    return utilization(found, today - dt.timedelta(days=days), today - dt.timedelta(days=1)).as_dict()


# --- Alerts and work orders ----------------------------------------------------------------------


class AlertOut(Schema):
    id: int
    asset: int
    rule: str
    metric: str
    severity: str
    value: float | None
    limit: float | None
    detail: str
    raised_at: dt.datetime
    repeat_count: int


@router.get("/alerts", response=list[AlertOut], summary="Open equipment alerts")
def alerts(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "equipment.view")
    return [_alert(a) for a in selectors.open_alerts()]


def _alert(a: EquipmentAlert) -> dict[str, Any]:
    return {
        "id": a.pk,
        "asset": a.asset_id,
        "rule": a.rule,
        "metric": a.metric,
        "severity": a.severity,
        "value": a.value,
        "limit": a.limit,
        "detail": a.detail,
        "raised_at": a.raised_at,
        "repeat_count": a.repeat_count,
    }


class WorkOrderOut(Schema):
    id: int
    asset: int
    kind: str
    status: str
    title: str
    description: str
    assignee: str | None
    due_on: dt.date
    parts: list[dict[str, Any]]
    opened_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    downtime_started_at: dt.datetime | None
    downtime_ended_at: dt.datetime | None
    downtime_hours: float
    is_failure: bool
    resolution: str
    alert: int | None
    prediction: int | None


def _order(o: WorkOrder) -> dict[str, Any]:
    return {
        "id": o.pk,
        "asset": o.asset_id,
        "kind": o.kind,
        "status": o.status,
        "title": o.title,
        "description": o.description,
        "assignee": o.assignee.username if o.assignee else None,
        "due_on": o.due_on,
        "parts": o.parts,
        "opened_at": o.opened_at,
        "started_at": o.started_at,
        "completed_at": o.completed_at,
        "downtime_started_at": o.downtime_started_at,
        "downtime_ended_at": o.downtime_ended_at,
        "downtime_hours": round(o.downtime_hours, 2),
        "is_failure": o.is_failure,
        "resolution": o.resolution,
        "alert": o.alert_id,
        "prediction": o.prediction_id,
    }


@router.get("/work-orders", response=list[WorkOrderOut], summary="Work orders (open by default)")
def work_orders(request: HttpRequest, status: str = "open") -> list[dict[str, Any]]:
    return [_order(o) for o in selectors.work_orders_for(request.user, status=status)[:500]]


class WorkOrderIn(Schema):
    asset_id: int
    title: str = Field(max_length=200)
    kind: str = "corrective"
    due_on: dt.date | None = None
    description: str = ""
    is_failure: bool = False
    down_now: bool = False


@router.post("/work-orders", response={201: WorkOrderOut}, summary="Open a work order")
def open_order(request: HttpRequest, payload: WorkOrderIn) -> Status:
    return Status(201, _order(services.open_work_order(request.user, **payload.dict())))


class StartIn(Schema):
    take_down: bool = False
    is_failure: bool | None = None


@router.post("/work-orders/{order_id}/start", response=WorkOrderOut, summary="Start a work order")
def start_order(request: HttpRequest, order_id: int, payload: StartIn) -> dict[str, Any]:
    return _order(services.start_work_order(request.user, order_id, **payload.dict()))


class PartIn(Schema):
    name: str = Field(max_length=100)
    quantity: int = Field(default=1, ge=1)


class CompleteIn(Schema):
    resolution: str = Field(max_length=4000)
    parts: list[PartIn] = Field(default_factory=list)
    downtime_started_at: dt.datetime | None = None
    downtime_ended_at: dt.datetime | None = None
    is_failure: bool | None = None


@router.post("/work-orders/{order_id}/complete", response=WorkOrderOut, summary="Complete a work order")
def complete_order(request: HttpRequest, order_id: int, payload: CompleteIn) -> dict[str, Any]:
    data = payload.dict()
    return _order(services.complete_work_order(request.user, order_id, **data))


class CancelIn(Schema):
    reason: str = Field(max_length=300)


@router.post("/work-orders/{order_id}/cancel", response=WorkOrderOut, summary="Cancel a work order")
def cancel_order(request: HttpRequest, order_id: int, payload: CancelIn) -> dict[str, Any]:
    return _order(services.cancel_work_order(request.user, order_id, reason=payload.reason))


class PlanIn(Schema):
    asset_id: int
    title: str = Field(max_length=200)
    interval_days: int
    next_due: dt.date
    lead_days: int = 7


class PlanOut(Schema):
    id: int
    asset: int
    title: str
    interval_days: int
    next_due: dt.date
    lead_days: int


@router.post("/plans", response={201: PlanOut}, summary="A preventive maintenance plan")
def create_plan(request: HttpRequest, payload: PlanIn) -> Status:
    plan = services.create_plan(request.user, **payload.dict())
    return Status(
        201,
        {
            "id": plan.pk,
            "asset": plan.asset_id,
            "title": plan.title,
            "interval_days": plan.interval_days,
            "next_due": plan.next_due,
            "lead_days": plan.lead_days,
        },
    )


class CapacityMoveIn(Schema):
    asset_id: int
    from_template_id: int
    to_template_id: int
    places: int


@router.post("/capacity-moves", response={201: dict}, summary="Move release capacity between exam sessions")
def capacity_move(request: HttpRequest, payload: CapacityMoveIn) -> Status:
    move = services.move_release_capacity(request.user, **payload.dict())
    return Status(201, {"id": move.pk, "places": move.places, "moved_at": move.moved_at.isoformat()})


@router.get("/indicators", summary="Utilization, downtime, MTBF and maintenance on time (operations cockpit)")
def indicators(
    request: HttpRequest, start: dt.date | None = None, end: dt.date | None = None
) -> dict[str, Any]:
    require_capability(request.user, "equipment.view")
    end = end or clock.today() - dt.timedelta(days=1)
    start = start or end - dt.timedelta(days=29)
    if start > end or (end - start).days > 366:
        raise InvalidInput(errors={"start": ["start must be before end, at most a year apart"]})
    return selectors.indicators(start, end)
