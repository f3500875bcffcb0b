"""Every write of the equipment app: atomic, permission-checked, audited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.core.permissions import require_capability
from smartcare.equipment import alerts as alerting
from smartcare.equipment.choices import (
    AlertRule,
    AlertStatus,
    AssetKind,
    AssetStatus,
    Severity,
    WorkOrderKind,
    WorkOrderStatus,
)
from smartcare.equipment.errors import (
    AssetRetired,
    DuplicateAsset,
    InvalidAsset,
    InvalidCapacityMove,
    InvalidPlan,
    InvalidWorkOrder,
    WorkOrderTransitionNotAllowed,
)
from smartcare.equipment.ingest import new_credential, new_uid
from smartcare.equipment.models import (
    Asset,
    CapacityMove,
    EquipmentAlert,
    PreventivePlan,
    TelemetrySample,
    WorkOrder,
)
from smartcare.organization.models import Department


def register_asset(actor: Any, **data: Any) -> tuple[Asset, str]:
    """Register equipment and issue its telemetry credential (returned once, stored hashed)."""
    require_capability(actor, "equipment.manage")
    errors: dict[str, list[str]] = {}
    for name in ("name", "maker", "model_name", "serial_number"):
        if not str(data.get(name) or "").strip():
            errors.setdefault(name, []).append(_("This field is required."))
    if data.get("kind") not in AssetKind.values:
        errors.setdefault("kind", []).append(_("Unknown equipment type."))
    department_id = data.get("department_id")
    department = (
        Department.objects.filter(pk=department_id).first() if isinstance(department_id, int) else None
    )
    if department is None:
        errors.setdefault("department_id", []).append(_("Unknown department."))
    warranty, purchase = data.get("warranty_until"), data.get("purchase_date")
    if warranty and purchase and warranty < purchase:
        errors.setdefault("warranty_until", []).append(_("The warranty ends before the purchase."))
    if errors or department is None:
        raise InvalidAsset(errors=errors)
    uid = new_uid()
    secret = new_credential(uid)
    try:
        with transaction.atomic():
            asset = Asset.objects.create(
                kind=data["kind"],
                name=data["name"].strip(),
                maker=data["maker"].strip(),
                model_name=data["model_name"].strip(),
                serial_number=data["serial_number"].strip(),
                department=department,
                location=(data.get("location") or "")[:120],
                purchase_date=purchase,
                purchase_price=Decimal(str(data["purchase_price"])) if data.get("purchase_price") else None,
                warranty_until=warranty,
                uid=uid,
                credential_hash=Asset.hash_credential(secret),
                heartbeat_seconds=int(data.get("heartbeat_seconds") or 60),
            )
            if data.get("exam_type_ids"):
                asset.exam_types.set(data["exam_type_ids"])
            record(actor, AuditAction.CREATE, obj=asset, detail={"event": "asset_registered"})
    except IntegrityError:
        raise DuplicateAsset() from None
    return asset, secret


def issue_credential(actor: Any, asset_id: int) -> str:
    """A new credential; the old one stops working at once."""
    require_capability(actor, "equipment.manage")
    with transaction.atomic():
        asset = Asset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is None:
            raise NotFound()
        if asset.status == AssetStatus.RETIRED:
            raise AssetRetired()
        secret = new_credential(asset.uid)
        asset.credential_hash = Asset.hash_credential(secret)
        asset.save(update_fields=["credential_hash", "updated_at"])
        record(actor, AuditAction.UPDATE, obj=asset, detail={"event": "credential_issued"})
    return secret


# --- Work orders ---------------------------------------------------------------------------------


def _parts(parts: Any) -> list[dict[str, Any]]:
    if parts in (None, ""):
        return []
    if not isinstance(parts, list):
        raise InvalidWorkOrder(errors={"parts": [_("A list of parts is expected.")]})
    clean = []
    for part in parts:
        name = str(part.get("name", "")).strip() if isinstance(part, dict) else ""
        quantity = part.get("quantity", 1) if isinstance(part, dict) else 0
        if not name or not isinstance(quantity, int) or quantity < 1:
            raise InvalidWorkOrder(
                errors={"parts": [_("Each part needs a name and a quantity of at least 1.")]}
            )
        clean.append({"name": name[:100], "quantity": quantity})
    return clean


def open_work_order(
    actor: Any,
    *,
    asset_id: int,
    title: str,
    kind: str = WorkOrderKind.CORRECTIVE,
    due_on: dt.date | None = None,
    description: str = "",
    assignee_id: int | None = None,
    is_failure: bool = False,
    down_now: bool = False,
) -> WorkOrder:
    require_capability(actor, "equipment.maintain")
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("This field is required.")]
    if kind not in WorkOrderKind.values:
        errors["kind"] = [_("Unknown kind of work order.")]
    if due_on is not None and due_on < clock.today():
        errors["due_on"] = [_("The due date is in the past.")]
    if errors:
        raise InvalidWorkOrder(errors=errors)
    with transaction.atomic():
        asset = Asset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is None:
            raise NotFound()
        if asset.status == AssetStatus.RETIRED:
            raise AssetRetired()
        now = clock.now()
        order = WorkOrder.objects.create(
            asset=asset,
            kind=kind,
            title=title.strip()[:200],
            description=description,
            due_on=due_on or clock.today() + dt.timedelta(days=3),
            assignee_id=assignee_id,
            opened_by=actor,
            opened_at=now,
            is_failure=is_failure,
            downtime_started_at=now if down_now else None,
        )
        if down_now:
            Asset.objects.filter(pk=asset.pk).update(status=AssetStatus.DOWN)
        record(actor, AuditAction.CREATE, obj=order, detail={"event": "work_order_opened", "asset": asset.pk})
    return order


def _locked_order(order_id: int) -> WorkOrder:
    order = WorkOrder.objects.select_for_update().select_related("asset").filter(pk=order_id).first()
    if order is None:
        raise NotFound()
    return order


def start_work_order(
    actor: Any, order_id: int, *, take_down: bool = False, is_failure: bool | None = None
) -> WorkOrder:
    """Open -> in progress; the engineer takes it (assignee) and may take the equipment out of
    service (downtime starts now)."""
    require_capability(actor, "equipment.maintain")
    with transaction.atomic():
        order = _locked_order(order_id)
        if order.status != WorkOrderStatus.OPEN:
            raise WorkOrderTransitionNotAllowed(
                status=order.get_status_display(), action=pgettext("work order action", "start")
            )
        now = clock.now()
        order.status = WorkOrderStatus.IN_PROGRESS
        order.started_at = now
        order.assignee = order.assignee or actor
        if is_failure is not None:
            order.is_failure = is_failure
        if take_down and order.downtime_started_at is None:
            order.downtime_started_at = now
            Asset.objects.filter(pk=order.asset_id).update(status=AssetStatus.DOWN)
        order.save()
        record(
            actor, AuditAction.UPDATE, obj=order, detail={"event": "work_order_started", "down": take_down}
        )
    return order


def complete_work_order(
    actor: Any,
    order_id: int,
    *,
    resolution: str,
    parts: Any = None,
    downtime_started_at: dt.datetime | None = None,
    downtime_ended_at: dt.datetime | None = None,
    is_failure: bool | None = None,
) -> WorkOrder:
    """Open or in progress -> done, with the resolution, the parts used and the downtime; the
    equipment is back in service and the alert that opened the order is closed."""
    require_capability(actor, "equipment.maintain")
    clean_parts = _parts(parts)
    if not resolution.strip():
        raise InvalidWorkOrder(errors={"resolution": [_("Say what was done.")]})
    now = clock.now()
    with transaction.atomic():
        order = _locked_order(order_id)
        if not order.is_open:
            raise WorkOrderTransitionNotAllowed(
                status=order.get_status_display(), action=pgettext("work order action", "complete")
            )
        start = downtime_started_at or order.downtime_started_at
        end = downtime_ended_at or (now if start is not None else None)
        if start is not None and (end is None or end < start or end > now + dt.timedelta(minutes=5)):
            raise InvalidWorkOrder(
                errors={
                    "downtime_ended_at": [_("The downtime must end after it starts and not in the future.")]
                }
            )
        order.status = WorkOrderStatus.DONE
        order.completed_at = now
        order.started_at = order.started_at or now
        order.resolution = resolution.strip()
        order.parts = clean_parts or order.parts
        order.downtime_started_at, order.downtime_ended_at = start, end
        if is_failure is not None:
            order.is_failure = is_failure
        order.assignee = order.assignee or actor
        order.save()
        Asset.objects.filter(pk=order.asset_id, status=AssetStatus.DOWN).update(status=AssetStatus.IN_SERVICE)
        if order.alert_id:
            EquipmentAlert.objects.filter(pk=order.alert_id, status=AlertStatus.OPEN).update(
                status=AlertStatus.CLOSED, closed_at=now
            )
        if order.plan_id:
            plan = PreventivePlan.objects.select_for_update().get(pk=order.plan_id)
            plan.next_due = clock.today() + dt.timedelta(days=plan.interval_days)
            plan.save(update_fields=["next_due", "updated_at"])
        record(
            actor,
            AuditAction.UPDATE,
            obj=order,
            detail={"event": "work_order_completed", "downtime_hours": round(order.downtime_hours, 2)},
        )
    return order


def cancel_work_order(actor: Any, order_id: int, *, reason: str) -> WorkOrder:
    require_capability(actor, "equipment.maintain")
    if not reason.strip():
        raise InvalidWorkOrder(errors={"reason": [_("Give a reason.")]})
    with transaction.atomic():
        order = _locked_order(order_id)
        if not order.is_open:
            raise WorkOrderTransitionNotAllowed(
                status=order.get_status_display(), action=pgettext("work order action", "cancel")
            )
        order.status = WorkOrderStatus.CANCELLED
        order.resolution = reason.strip()
        order.completed_at = clock.now()
        order.save()
        record(actor, AuditAction.UPDATE, obj=order, detail={"event": "work_order_cancelled"})
    return order


# --- Preventive plans ----------------------------------------------------------------------------


def create_plan(
    actor: Any, *, asset_id: int, title: str, interval_days: int, next_due: dt.date, lead_days: int = 7
) -> PreventivePlan:
    require_capability(actor, "equipment.manage")
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("This field is required.")]
    if not 1 <= interval_days <= 3650:
        errors["interval_days"] = [_("Between 1 and 3650 days.")]
    if not 0 <= lead_days <= 60:
        errors["lead_days"] = [_("Between 0 and 60 days.")]
    if errors:
        raise InvalidPlan(errors=errors)
    asset = Asset.objects.filter(pk=asset_id).first()
    if asset is None:
        raise NotFound()
    with transaction.atomic():
        plan = PreventivePlan.objects.create(
            asset=asset,
            title=title.strip(),
            interval_days=interval_days,
            next_due=next_due,
            lead_days=lead_days,
        )
        record(actor, AuditAction.CREATE, obj=plan, detail={"event": "plan_created", "asset": asset.pk})
    return plan


def open_due_preventive_orders(*, today: dt.date | None = None) -> int:
    """One work order per plan and due date, ``lead_days`` before it (idempotent)."""
    today = today or clock.today()
    opened = 0
    for plan in PreventivePlan.objects.filter(is_active=True).select_related("asset"):
        if plan.next_due - dt.timedelta(days=plan.lead_days) > today:
            continue
        if plan.asset.status == AssetStatus.RETIRED:
            continue
        with transaction.atomic():
            _order, created = WorkOrder.objects.get_or_create(
                plan=plan,
                due_on=plan.next_due,
                defaults={
                    "asset": plan.asset,
                    "kind": WorkOrderKind.PREVENTIVE,
                    "title": plan.title,
                    "assignee": plan.assignee,
                    "opened_at": clock.now(),
                },
            )
            if created:
                opened += 1
                record(None, AuditAction.CREATE, obj=_order, detail={"event": "preventive_order_opened"})
    return opened


# --- Heartbeats and history ----------------------------------------------------------------------

HEARTBEAT_MISSES = 3


def check_heartbeats(*, now: dt.datetime | None = None) -> list[Asset]:
    """Equipment in service silent for three expected heartbeats: a critical alert (one per loss)
    and a work order. Equipment that never reported is not judged."""
    now = now or clock.now()
    lost = []
    for asset in Asset.objects.filter(
        status=AssetStatus.IN_SERVICE, last_seen_at__isnull=False, heartbeat_lost_at__isnull=True
    ):
        assert asset.last_seen_at is not None
        silence = (now - asset.last_seen_at).total_seconds()
        if silence < HEARTBEAT_MISSES * asset.heartbeat_seconds:
            continue
        with transaction.atomic():
            if not Asset.objects.filter(pk=asset.pk, heartbeat_lost_at__isnull=True).update(
                heartbeat_lost_at=now
            ):
                continue  # another worker got there first
            alerting.raise_alert(
                asset,
                rule=AlertRule.HEARTBEAT,
                metric="",
                severity=Severity.CRITICAL,
                value=round(silence),
                limit=HEARTBEAT_MISSES * asset.heartbeat_seconds,
                detail=f"no message for {round(silence)} s (expected every {asset.heartbeat_seconds} s)",
                at=now,
            )
        lost.append(asset)
    return lost


def compact_telemetry(*, now: dt.datetime | None = None, raw_days: int | None = None) -> int:
    """Delete raw samples older than ``SMARTCARE_EQUIPMENT_RAW_DAYS``; the hourly roll-ups stay."""
    from django.conf import settings

    days = raw_days if raw_days is not None else settings.SMARTCARE_EQUIPMENT_RAW_DAYS
    cutoff = (now or clock.now()) - dt.timedelta(days=days)
    deleted, _detail = TelemetrySample.objects.filter(measured_at__lt=cutoff).delete()
    return deleted


# --- Release capacity ----------------------------------------------------------------------------


def move_release_capacity(
    actor: Any, *, asset_id: int, from_template_id: int, to_template_id: int, places: int
) -> CapacityMove:
    """Move ``places`` patients per slot from one weekly exam session of the asset to another
    (from an overloaded period to a quiet one). Applies to sessions generated from now on."""
    from smartcare.scheduling.models import ScheduleTemplate

    require_capability(actor, "equipment.manage")
    asset = Asset.objects.filter(pk=asset_id).first()
    if asset is None:
        raise NotFound()
    if places < 1:
        raise InvalidCapacityMove(reason=_("move at least one place"), field="places")
    if from_template_id == to_template_id:
        raise InvalidCapacityMove(reason=_("choose two different sessions"), field="to_template_id")
    exam_types = set(asset.exam_types.values_list("pk", flat=True))
    with transaction.atomic():
        templates = {
            t.pk: t
            for t in ScheduleTemplate.objects.select_for_update().filter(
                pk__in=[from_template_id, to_template_id], exam_type_id__in=exam_types, is_active=True
            )
        }
        if len(templates) != 2:
            raise InvalidCapacityMove(reason=_("both sessions must be exam sessions of this equipment"))
        source, target = templates[from_template_id], templates[to_template_id]
        if source.capacity_per_slot - places < 1:
            raise InvalidCapacityMove(reason=_("the session would keep no place per slot"), field="places")
        source.capacity_per_slot -= places
        target.capacity_per_slot += places
        source.save(update_fields=["capacity_per_slot", "updated_at"])
        target.save(update_fields=["capacity_per_slot", "updated_at"])
        move = CapacityMove.objects.create(
            asset=asset,
            from_template=source,
            to_template=target,
            places=places,
            moved_by=actor,
            moved_at=clock.now(),
        )
        record(
            actor,
            AuditAction.UPDATE,
            obj=move,
            detail={"event": "capacity_moved", "from": source.pk, "to": target.pk, "places": places},
        )
    return move
