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
