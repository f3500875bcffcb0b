"""Permission rules for equipment: the pages under /equipment/ and the API under /api/equipment/.

``equipment.view`` (IT administrators — the clinical engineers —, operations managers, department
heads) opens the board, assets, work orders and indicators; ``equipment.maintain`` (IT
administrators) opens, starts, completes and cancels work orders; ``equipment.manage`` (IT
administrators, operations managers) registers equipment, issues credentials, adds preventive plans
and moves release capacity. Among the test callers the department head views and the IT
administrator does everything; everyone else gets 403 CORE-403. Telemetry is posted with the
equipment's own credential only: a session gets 401.

``setup`` registers a CT serving a CT exam with a morning and an afternoon weekly session, and three
work orders (open, in progress, open) for the start, complete and cancel operations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.core import clock
from smartcare.equipment.choices import WorkOrderStatus
from smartcare.equipment.ingest import new_credential
from smartcare.equipment.models import Asset, CapacityMove, PreventivePlan, WorkOrder
from smartcare.scheduling.models import ExamType, ScheduleTemplate
from tests.test_permissions import ADMIN, HEAD, NOBODY, Rule, World

VIEW = frozenset({HEAD, ADMIN})
MAINTAIN = frozenset({ADMIN})
MANAGE = frozenset({ADMIN})


def setup(world: World) -> None:
    h = world.h
    exam = ExamType.objects.create(code="EQ-CT", name_zh="CT", name_en="CT", department=h.cardiology)
    credential = new_credential("e0e0e0e0e0e0")
    asset = Asset.objects.create(
        kind="ct",
        name="CT perm",
        maker="Siemens",
        model_name="go.Up",
        serial_number="PERM-1",
        department=h.cardiology,
        uid="e0e0e0e0e0e0",
        credential_hash=Asset.hash_credential(credential),
    )
    asset.exam_types.add(exam)
    templates = [
        ScheduleTemplate.objects.create(
            department=h.cardiology,
            exam_type=exam,
            weekday=0,
            period=period,
            start_time=dt.time(start),
            end_time=dt.time(start + 4),
            capacity_per_slot=4,
        )
        for period, start in (("morning", 8), ("afternoon", 13))
    ]
    orders = {
        name: WorkOrder.objects.create(
            asset=asset,
            kind="corrective",
            title=f"perm {name}",
            status=status,
            due_on=clock.today() + dt.timedelta(days=2),
            opened_at=clock.now(),
            started_at=clock.now() if status == WorkOrderStatus.IN_PROGRESS else None,
        )
        for name, status in (
            ("start", WorkOrderStatus.OPEN),
            ("complete", WorkOrderStatus.IN_PROGRESS),
            ("cancel", WorkOrderStatus.OPEN),
        )
    }
    world.extra.update(eq_asset=asset, eq_credential=credential, eq_templates=templates, eq_orders=orders)


def _asset(world: World, missing: bool) -> dict[str, Any]:
    return {"asset_id": world.extra["eq_asset"].pk}


def _order(name: str) -> Any:
    return lambda world, missing: {"order_id": world.extra["eq_orders"][name].pk}


def _status(name: str, status: str) -> Any:
    def check(world: World, kind: str, response: Any) -> None:
        assert WorkOrder.objects.get(pk=world.extra["eq_orders"][name].pk).status == status

    return check


def _move(world: World, missing: bool) -> dict[str, Any]:
    first, second = world.extra["eq_templates"]
    return {"from_template": first.pk, "to_template": second.pk, "places": "1"}


def _moved(world: World, kind: str, response: Any) -> None:
    assert CapacityMove.objects.filter(asset=world.extra["eq_asset"], places=1).exists()


def _telemetry(world: World, missing: bool) -> dict[str, Any]:
    return {"id": "perm-1", "time": clock.now().isoformat(), "temperature": 30}


def _new_asset(world: World, missing: bool) -> dict[str, Any]:
    return {
        "kind": "mri",
        "name": "MRI perm",
        "maker": "GE",
        "model_name": "SIGNA",
        "serial_number": "PERM-2",
        "department_id": world.h.cardiology.pk,
    }


RULES: list[Rule] = [
    # --- pages ---
    Rule("GET", "/equipment/", VIEW),
    Rule("GET", "/equipment/assets/{asset_id}/", VIEW, params=_asset),
    Rule(
        "POST",
        "/equipment/assets/{asset_id}/work-orders/",
        MAINTAIN,
        ok=302,
        params=_asset,
        payload=lambda w, m: {"title": "perm page order", "kind": "corrective"},
        effect=lambda w, k, r: WorkOrder.objects.get(title="perm page order"),
    ),
    Rule(
        "POST",
        "/equipment/assets/{asset_id}/plans/",
        MANAGE,
        ok=302,
        params=_asset,
        payload=lambda w, m: {
            "title": "perm plan",
            "interval_days": "30",
            "next_due": (clock.today() + dt.timedelta(days=30)).isoformat(),
        },
        effect=lambda w, k, r: PreventivePlan.objects.get(title="perm plan"),
    ),
    Rule(
        "POST",
        "/equipment/assets/{asset_id}/capacity/",
        MANAGE,
        ok=302,
        params=_asset,
        payload=_move,
        effect=_moved,
    ),
    Rule("GET", "/equipment/work-orders/", VIEW),
    Rule("GET", "/equipment/work-orders/{order_id}/", VIEW, params=_order("start")),
    Rule(
        "POST",
        "/equipment/work-orders/{order_id}/start/",
        MAINTAIN,
        ok=302,
        params=_order("start"),
        effect=_status("start", WorkOrderStatus.IN_PROGRESS),
    ),
    Rule(
        "POST",
        "/equipment/work-orders/{order_id}/complete/",
        MAINTAIN,
        ok=302,
        params=_order("complete"),
        payload=lambda w, m: {"resolution": "fixed", "parts": "Fuse x 2"},
        effect=_status("complete", WorkOrderStatus.DONE),
    ),
    Rule(
        "POST",
        "/equipment/work-orders/{order_id}/cancel/",
        MAINTAIN,
        ok=302,
        params=_order("cancel"),
        payload=lambda w, m: {"reason": "duplicate"},
        effect=_status("cancel", WorkOrderStatus.CANCELLED),
    ),
    # --- API ---
    Rule("POST", "/api/equipment/telemetry", NOBODY, deny=401, payload=_telemetry),
    Rule("GET", "/api/equipment/assets", VIEW),
    Rule(
        "POST",
        "/api/equipment/assets",
        MANAGE,
        ok=201,
        payload=_new_asset,
        effect=lambda w, k, r: Asset.objects.get(serial_number="PERM-2"),
    ),
    Rule("GET", "/api/equipment/assets/{asset_id}", VIEW, params=_asset),
    Rule("POST", "/api/equipment/assets/{asset_id}/credential", MANAGE, params=_asset),
    Rule("GET", "/api/equipment/assets/{asset_id}/utilization", VIEW, params=_asset),
    Rule("GET", "/api/equipment/alerts", VIEW),
    Rule("GET", "/api/equipment/work-orders", VIEW),
    Rule(
        "POST",
        "/api/equipment/work-orders",
        MAINTAIN,
        ok=201,
        payload=lambda w, m: {"asset_id": w.extra["eq_asset"].pk, "title": "perm api order"},
        effect=lambda w, k, r: WorkOrder.objects.get(title="perm api order"),
    ),
    Rule(
        "POST",
        "/api/equipment/work-orders/{order_id}/start",
        MAINTAIN,
        params=_order("start"),
        payload=lambda w, m: {"take_down": True},
        effect=_status("start", WorkOrderStatus.IN_PROGRESS),
    ),
    Rule(
        "POST",
        "/api/equipment/work-orders/{order_id}/complete",
        MAINTAIN,
        params=_order("complete"),
        payload=lambda w, m: {"resolution": "fixed", "parts": [{"name": "Fuse", "quantity": 2}]},
        effect=_status("complete", WorkOrderStatus.DONE),
    ),
    Rule(
        "POST",
        "/api/equipment/work-orders/{order_id}/cancel",
        MAINTAIN,
        params=_order("cancel"),
        payload=lambda w, m: {"reason": "duplicate"},
        effect=_status("cancel", WorkOrderStatus.CANCELLED),
    ),
    Rule(
        "POST",
        "/api/equipment/plans",
        MANAGE,
        ok=201,
        payload=lambda w, m: {
            "asset_id": w.extra["eq_asset"].pk,
            "title": "perm api plan",
            "interval_days": 30,
            "next_due": (clock.today() + dt.timedelta(days=30)).isoformat(),
        },
        effect=lambda w, k, r: PreventivePlan.objects.get(title="perm api plan"),
    ),
    Rule(
        "POST",
        "/api/equipment/capacity-moves",
        MANAGE,
        ok=201,
        payload=lambda w, m: {
            "asset_id": w.extra["eq_asset"].pk,
            "from_template_id": w.extra["eq_templates"][0].pk,
            "to_template_id": w.extra["eq_templates"][1].pk,
            "places": 1,
        },
        effect=_moved,
    ),
    Rule("GET", "/api/equipment/indicators", VIEW),
]
