"""Video terminals are equipment assets of the video terminal type: their heartbeats and telemetry go
through the equipment module (HTTP here; MQTT through the same ingest), and an offline or
overheating terminal raises an alert with a work order for the engineers, which the consultation
indicators page lists."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client

from smartcare.core import clock
from smartcare.equipment import services as equipment
from smartcare.equipment.models import EquipmentAlert, WorkOrder
from smartcare.telemedicine import selectors
from tests.factories import TestHospital


def post(credential: str, ident: str, **values: Any) -> Any:
    body = {"id": ident, "time": clock.now().isoformat(), **values}
    return Client().post(
        "/api/equipment/telemetry",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {credential}",
    )


def test_offline_and_overheating_terminals_raise_alerts_with_work_orders(h: TestHospital) -> None:
    terminal, credential = equipment.register_asset(
        h.user("itadmin"),
        kind="video_terminal",
        name="Teleconsultation cart 1",
        maker="Yealink",
        model_name="MeetingBoard 65",
        serial_number="VT-0001",
        department_id=h.neurology.pk,
        heartbeat_seconds=60,
    )
    assert post(credential, "hb1", event="heartbeat", temperature=41.0).status_code in (200, 201, 202)
    (row,) = selectors.terminals()
    assert row["online"] and row["alerts"] == [] and row["open_work_orders"] == 0

    assert post(credential, "hot", temperature=67.0).status_code in (200, 201, 202)
    hot = EquipmentAlert.objects.filter(asset=terminal, metric="temperature", rule="threshold").get()
    assert hot.severity == "critical"
    assert WorkOrder.objects.filter(asset=terminal, alert=hot).exists()
    terminal.refresh_from_db()
    lost = equipment.check_heartbeats(now=terminal.last_seen_at + dt.timedelta(minutes=5))
    assert [a.pk for a in lost] == [terminal.pk]
    (row,) = selectors.terminals()
    assert not row["online"]
    assert {a.rule for a in row["alerts"]} >= {"heartbeat"}
    assert WorkOrder.objects.filter(asset=terminal, alert__rule="heartbeat").exists()
    assert row["open_work_orders"] >= 1


def test_a_failing_terminal_raises_a_critical_alert_and_a_work_order(h: TestHospital) -> None:
    """A device error code is a warning for most equipment; a video terminal has no degraded mode,
    so its error is critical: engineers get a work order, and the indicators page lists it."""
    from smartcare.notifications.models import Notification

    terminal, credential = equipment.register_asset(
        h.user("itadmin"),
        kind="video_terminal",
        name="Teleconsultation cart 2",
        maker="Yealink",
        model_name="MeetingBoard 65",
        serial_number="VT-0002",
        department_id=h.cardiology.pk,
        heartbeat_seconds=60,
    )
    assert post(credential, "ok", event="heartbeat", temperature=40.0).status_code in (200, 201, 202)
    assert post(credential, "fail", error="CAM-01").status_code in (200, 201, 202)
    alert = EquipmentAlert.objects.get(asset=terminal, rule="error_code")
    assert alert.metric == "CAM-01" and alert.severity == "critical" and alert.status == "open"
    order = WorkOrder.objects.get(asset=terminal, alert=alert)
    assert order.status == "open" and order.kind == "corrective"
    assert Notification.objects.filter(category="equipment", link__endswith=f"/{order.pk}/").exists()
    # The same error again counts on the open alert: no second work order.
    assert post(credential, "fail2", error="CAM-01").status_code in (200, 201, 202)
    alert.refresh_from_db()
    assert alert.repeat_count == 1 and WorkOrder.objects.filter(asset=terminal).count() == 1
    (row,) = selectors.terminals()
    assert row["online"] and [a.metric for a in row["alerts"]] == ["CAM-01"] and row["open_work_orders"] == 1


def test_an_error_code_on_other_equipment_stays_a_warning(h: TestHospital) -> None:
    scanner, credential = equipment.register_asset(
        h.user("itadmin"),
        kind="ct",
        name="CT 1",
        maker="United Imaging",
        model_name="uCT 760",
        serial_number="CT-0001",
        department_id=h.cardiology.pk,
        heartbeat_seconds=60,
    )
    assert post(credential, "e", error="E-204").status_code in (200, 201, 202)
    alert = EquipmentAlert.objects.get(asset=scanner, rule="error_code")
    assert alert.severity == "warning" and not WorkOrder.objects.filter(asset=scanner).exists()
