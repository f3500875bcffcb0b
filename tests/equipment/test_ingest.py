"""Telemetry over HTTP: authentication, validation (nothing partial), deduplication, hourly roll-ups,
usage sessions, the threshold, rate-of-change and error-code rules, heartbeat loss and pruning."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.equipment import services
from smartcare.equipment.choices import AlertStatus, WorkOrderKind
from smartcare.equipment.errors import DuplicateAsset, InvalidAsset
from smartcare.equipment.models import (
    Asset,
    EquipmentAlert,
    TelemetryRollup,
    TelemetrySample,
    UsageSession,
    WorkOrder,
)
from smartcare.notifications.models import Notification
from tests.equipment.conftest import Registered, message

URL = "/api/equipment/telemetry"


def post(credential: str, body: Any) -> Any:
    return Client().post(
        URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {credential}"
    )


def test_register_asset_checks_input_and_hashes_the_credential(ct: Registered) -> None:
    assert ct.credential.startswith(f"sce_{ct.asset.uid}_")
    assert ct.asset.credential_hash == Asset.hash_credential(ct.credential)
    assert ct.credential not in str(list(Asset.objects.values()))
    with pytest.raises(DuplicateAsset):
        services.register_asset(
            ct.engineer,
            kind="ct",
            name="again",
            maker="Siemens",
            model_name="x",
            serial_number="CT-0001",
            department_id=ct.h.cardiology.pk,
        )
    with pytest.raises(InvalidAsset) as caught:
        services.register_asset(
            ct.engineer,
            kind="toaster",
            name="",
            maker="m",
            model_name="x",
            serial_number="s",
            department_id=-1,
        )
    assert set(caught.value.errors) == {"kind", "name", "department_id"}
    assert Asset.objects.count() == 1


def test_http_telemetry_is_stored_once_and_rolled_up_per_hour(ct: Registered) -> None:
    hour = clock.now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    batch = [
        message("m1", at=hour + dt.timedelta(minutes=5), temperature=30.0, voltage=229.0, load=40),
        message("m2", at=hour + dt.timedelta(minutes=15), temperature=31.0, voltage=231.0, load=50),
        message("m3", at=hour + dt.timedelta(minutes=25), temperature=32.0, voltage=230.0, load=60),
    ]
    response = post(ct.credential, {"messages": batch})
    assert response.status_code == 201, response.content
    assert response.json() == {"stored": 3, "duplicates": 0, "alerts": 0}
    again = post(ct.credential, {"messages": batch[:1]})
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert TelemetrySample.objects.filter(asset=ct.asset).count() == 3
    temperature = TelemetryRollup.objects.get(asset=ct.asset, metric="temperature")
    assert (temperature.count, temperature.mean, temperature.minimum, temperature.maximum) == (
        3,
        31.0,
        30.0,
        32.0,
    )
    # A later message in the same hour updates the roll-up.
    post(ct.credential, message("m4", at=hour + dt.timedelta(minutes=35), temperature=35.0))
    temperature.refresh_from_db()
    assert (temperature.count, temperature.mean, temperature.maximum) == (4, 32.0, 35.0)
    ct.asset.refresh_from_db()
    assert ct.asset.last_seen_at is not None
    assert AuditEvent.objects.filter(detail__event="telemetry_stored", detail__channel="http").count() == 2


def test_wrong_credential_is_401_and_a_bad_message_writes_nothing(ct: Registered) -> None:
    assert post("sce_000000000000_nope", message("x", temperature=30)).status_code == 401
    assert post(ct.credential[:-2] + "zz", message("x", temperature=30)).status_code == 401
    response = post(
        ct.credential,
        {"messages": [message("ok", temperature=30), message("bad", temperature="hot"), {"id": "t"}]},
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "EQ-001"
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"messages[1]", "messages[2]"}
    implausible = post(ct.credential, message("v", voltage=900))
    assert implausible.status_code == 400
    assert "EQ-003" in implausible.content.decode()
    assert post(ct.credential, message("empty")).json()["code"] == "EQ-001"
    assert TelemetrySample.objects.count() == 0


def test_threshold_rule_raises_one_alert_and_a_work_order_for_the_engineers(ct: Registered) -> None:
    start = clock.now() - dt.timedelta(minutes=30)
    post(ct.credential, message("w", at=start, temperature=47.0))  # warning (>= 45)
    alert = EquipmentAlert.objects.get(asset=ct.asset, rule="threshold", metric="temperature")
    assert alert.severity == "warning"
    assert not WorkOrder.objects.exists()  # a warning does not open a work order by itself
    post(ct.credential, message("c", at=start + dt.timedelta(minutes=10), temperature=56.0))  # critical
    alert.refresh_from_db()
    assert (alert.severity, alert.repeat_count, alert.value) == ("critical", 1, 56.0)
    assert EquipmentAlert.objects.filter(asset=ct.asset, rule="threshold").count() == 1
    order = WorkOrder.objects.get(asset=ct.asset)
    assert (order.kind, order.alert_id, order.status) == (WorkOrderKind.CORRECTIVE, alert.pk, "open")
    assert Notification.objects.filter(recipient=ct.engineer, category="equipment").count() == 1


def test_rate_of_change_rule(ct: Registered) -> None:
    start = clock.now() - dt.timedelta(minutes=20)
    post(ct.credential, message("a", at=start, temperature=30.0))
    post(ct.credential, message("b", at=start + dt.timedelta(minutes=5), temperature=32.0))  # 0.4/min
    assert not EquipmentAlert.objects.filter(rule="rate").exists()
    post(ct.credential, message("c", at=start + dt.timedelta(minutes=7), temperature=37.0))  # 2.5/min
    alert = EquipmentAlert.objects.get(rule="rate", metric="temperature")
    assert alert.severity == "warning"
    assert alert.value == 2.5
    post(ct.credential, message("d", at=start + dt.timedelta(minutes=8), temperature=42.0))  # 5/min: critical
    alert.refresh_from_db()
    assert alert.severity == "critical"


def test_device_error_code_raises_an_alert(ct: Registered) -> None:
    post(ct.credential, message("e", error="E-204"))
    alert = EquipmentAlert.objects.get(rule="error_code")
    assert alert.metric == "E-204"


def test_usage_start_and_stop_make_usage_sessions(ct: Registered) -> None:
    start = clock.now() - dt.timedelta(hours=2)
    post(ct.credential, message("u1", at=start, event="usage_start"))
    post(
        ct.credential, message("u2", at=start + dt.timedelta(minutes=1), event="usage_start")
    )  # already in use
    post(ct.credential, message("u3", at=start + dt.timedelta(minutes=40), event="usage_stop"))
    session = UsageSession.objects.get(asset=ct.asset)
    assert session.ended_at - session.started_at == dt.timedelta(minutes=40)
    assert post(ct.credential, message("u4", event="landing")).status_code == 400


def test_heartbeat_loss_is_detected_once_and_cleared_by_the_next_message(ct: Registered) -> None:
    post(ct.credential, message("hb1", event="heartbeat"))
    ct.asset.refresh_from_db()
    seen = ct.asset.last_seen_at
    assert seen is not None
    assert services.check_heartbeats(now=seen + dt.timedelta(seconds=150)) == []  # 2.5 beats
    lost = services.check_heartbeats(now=seen + dt.timedelta(seconds=181))
    assert [a.pk for a in lost] == [ct.asset.pk]
    assert services.check_heartbeats(now=seen + dt.timedelta(seconds=400)) == []  # once
    alert = EquipmentAlert.objects.get(rule="heartbeat", status=AlertStatus.OPEN)
    assert alert.severity == "critical"
    assert WorkOrder.objects.filter(alert=alert).exists()
    post(ct.credential, message("hb2", event="heartbeat"))
    ct.asset.refresh_from_db()
    assert ct.asset.heartbeat_lost_at is None
    alert.refresh_from_db()
    assert alert.status == AlertStatus.CLOSED


def test_pruning_keeps_the_hourly_history(ct: Registered) -> None:
    old = clock.now() - dt.timedelta(days=20)
    post(ct.credential, message("old", at=old, temperature=30.0))
    post(ct.credential, message("new", temperature=31.0))
    assert services.compact_telemetry(raw_days=14) == 1
    assert list(TelemetrySample.objects.values_list("message_id", flat=True)) == ["new"]
    assert TelemetryRollup.objects.filter(asset=ct.asset, metric="temperature").count() == 2
