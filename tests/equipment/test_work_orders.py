"""Work order lifecycle, downtime, MTBF, preventive plans and maintenance on time."""

from __future__ import annotations

import datetime as dt

import pytest

from smartcare.core import clock
from smartcare.core.errors import PermissionDenied
from smartcare.equipment import alerts, selectors, services
from smartcare.equipment.choices import AlertStatus, AssetStatus, WorkOrderStatus
from smartcare.equipment.errors import InvalidPlan, InvalidWorkOrder, WorkOrderTransitionNotAllowed
from smartcare.equipment.models import EquipmentAlert, PreventivePlan, WorkOrder
from tests.equipment.conftest import Registered


def test_lifecycle_records_downtime_parts_and_closes_the_alert(ct: Registered) -> None:
    alert, _new = alerts.raise_alert(
        ct.asset, rule="threshold", metric="temperature", severity="critical", detail="temperature 56 >= 55"
    )
    order = WorkOrder.objects.get(alert=alert)
    started = services.start_work_order(ct.engineer, order.pk, take_down=True, is_failure=True)
    assert (started.status, started.assignee, started.is_failure) == (
        WorkOrderStatus.IN_PROGRESS,
        ct.engineer,
        True,
    )
    ct.asset.refresh_from_db()
    assert ct.asset.status == AssetStatus.DOWN
    with pytest.raises(WorkOrderTransitionNotAllowed):
        services.start_work_order(ct.engineer, order.pk)
    with pytest.raises(InvalidWorkOrder):
        services.complete_work_order(
            ct.engineer, order.pk, resolution="fixed", parts=[{"name": "", "quantity": 0}]
        )
    with pytest.raises(InvalidWorkOrder):
        services.complete_work_order(ct.engineer, order.pk, resolution="  ")
    order.refresh_from_db()
    assert order.status == WorkOrderStatus.IN_PROGRESS  # nothing written by the refused attempts
    done = services.complete_work_order(
        ct.engineer,
        order.pk,
        resolution="Replaced the cooling fan",
        parts=[{"name": "Cooling fan", "quantity": 1}],
    )
    assert done.status == WorkOrderStatus.DONE
    assert done.parts == [{"name": "Cooling fan", "quantity": 1}]
    assert done.downtime_ended_at is not None and done.downtime_started_at is not None
    ct.asset.refresh_from_db()
    assert ct.asset.status == AssetStatus.IN_SERVICE
    assert EquipmentAlert.objects.get(pk=alert.pk).status == AlertStatus.CLOSED
    with pytest.raises(WorkOrderTransitionNotAllowed) as caught:
        services.cancel_work_order(ct.engineer, order.pk, reason="late")
    assert caught.value.code == "EQ-006"


def test_only_engineers_maintain(ct: Registered) -> None:
    with pytest.raises(PermissionDenied):
        services.open_work_order(ct.h.user("manager"), asset_id=ct.asset.pk, title="x")
    order = services.open_work_order(ct.engineer, asset_id=ct.asset.pk, title="Noise from the gantry")
    assert order.opened_by == ct.engineer
    with pytest.raises(InvalidWorkOrder):
        services.open_work_order(
            ct.engineer, asset_id=ct.asset.pk, title="", due_on=clock.today() - dt.timedelta(days=1)
        )
    assert WorkOrder.objects.count() == 1


def test_downtime_and_mtbf(ct: Registered) -> None:
    zone = clock.local_now().tzinfo
    start = dt.datetime(2026, 1, 1, tzinfo=zone)
    end = start + dt.timedelta(days=10)  # 240 hours
    for day, hours, failure in ((2, 6, True), (5, 4, True), (8, 2, False)):
        down = start + dt.timedelta(days=day)
        WorkOrder.objects.create(
            asset=ct.asset,
            kind="corrective" if failure else "preventive",
            title="x",
            due_on=down.date(),
            opened_at=down,
            status="done",
            downtime_started_at=down,
            downtime_ended_at=down + dt.timedelta(hours=hours),
            is_failure=failure,
        )
    rel = selectors.reliability([ct.asset], start, end)
    assert rel.downtime_hours == 12.0
    assert rel.failures == 2
    assert rel.operating_hours == 228.0
    assert rel.mtbf_hours == 114.0
    assert rel.availability == pytest.approx(0.95)


def test_preventive_plan_opens_one_order_ahead_and_moves_on_when_done(ct: Registered) -> None:
    with pytest.raises(InvalidPlan):
        services.create_plan(
            ct.engineer,
            asset_id=ct.asset.pk,
            title="Tube conditioning",
            interval_days=0,
            next_due=clock.today(),
        )
    due = clock.today() + dt.timedelta(days=5)
    plan = services.create_plan(
        ct.engineer, asset_id=ct.asset.pk, title="Tube conditioning", interval_days=90, next_due=due
    )
    assert services.open_due_preventive_orders(today=due - dt.timedelta(days=8)) == 0  # lead is 7 days
    assert services.open_due_preventive_orders() == 1
    assert services.open_due_preventive_orders() == 0
    order = WorkOrder.objects.get(plan=plan)
    assert (order.kind, order.due_on) == ("preventive", due)
    services.complete_work_order(ct.engineer, order.pk, resolution="Done as planned")
    plan.refresh_from_db()
    assert plan.next_due == clock.today() + dt.timedelta(days=90)
    assert PreventivePlan.objects.count() == 1


def test_maintenance_on_time(ct: Registered) -> None:
    today = clock.today()
    zone = clock.local_now().tzinfo
    for due, done_days_after in ((today - dt.timedelta(days=5), 0), (today - dt.timedelta(days=4), 2)):
        WorkOrder.objects.create(
            asset=ct.asset,
            kind="preventive",
            title="check",
            due_on=due,
            opened_at=clock.now() - dt.timedelta(days=10),
            status="done",
            completed_at=dt.datetime.combine(
                due + dt.timedelta(days=done_days_after), dt.time(15), tzinfo=zone
            ),
        )
    WorkOrder.objects.create(
        asset=ct.asset,
        kind="preventive",
        title="skipped",
        due_on=today - dt.timedelta(days=3),
        opened_at=clock.now(),
        status="cancelled",
    )
    assert selectors.maintenance_on_time(today - dt.timedelta(days=10), today) == 0.5
    indicators = selectors.indicators(today - dt.timedelta(days=10), today - dt.timedelta(days=1))
    assert indicators["maintenance_on_time"] == 0.5
    assert set(indicators) >= {
        "utilization",
        "downtime_hours",
        "mtbf_hours",
        "maintenance_on_time",
        "availability",
        "busy_hours",
        "available_hours",
    }
