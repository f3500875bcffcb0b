"""Equipment telemetry through the monitoring app's bridge (`smartcare mqtt-bridge`) against the real
broker at MQTT_URL: the bridge subscribes to the equipment topics too (a registered topic handler),
stores telemetry with its alerts in its batch transaction and acknowledges after the commit. Each
test uses topics and a client id of its own. With CI=true a missing broker fails; elsewhere the
test is skipped with the reason (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.equipment import services
from smartcare.equipment.models import EquipmentAlert, TelemetrySample, UsageSession
from tests.conftest import MQTT_URL
from tests.factories import build_hospital
from tests.monitoring.test_mqtt import BridgeProcess, Publisher, wait_until

pytestmark = [pytest.mark.mqtt, pytest.mark.django_db(transaction=True)]


def test_equipment_telemetry_arrives_through_the_bridge_with_its_alerts(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    h = build_hospital()
    asset, credential = services.register_asset(
        h.user("itadmin"),
        kind="mri",
        name="MRI 1",
        maker="GE",
        model_name="SIGNA",
        serial_number=f"MR-{uuid.uuid4().hex[:6]}",
        department_id=h.cardiology.pk,
    )
    run_id = uuid.uuid4().hex[:10]
    equipment_prefix = f"eqtest/{run_id}/equipment"
    monkeypatch.setenv("SMARTCARE_EQUIPMENT_TOPIC_PREFIX", equipment_prefix)
    bridge = BridgeProcess(MQTT_URL, f"eqtest/{run_id}/devices", f"eq-bridge-{run_id}", tmp_path).start()
    publisher = Publisher(MQTT_URL)
    topic = f"{equipment_prefix}/{asset.uid}/telemetry"
    start = clock.now() - dt.timedelta(minutes=10)
    try:
        publisher.send(
            topic, {"id": "u1", "key": credential, "time": start.isoformat(), "event": "usage_start"}
        )
        for n in range(3):
            at = (start + dt.timedelta(minutes=n + 1)).isoformat()
            publisher.send(
                topic, {"id": f"t{n}", "key": credential, "time": at, "temperature": 20 + n, "load": 50}
            )
        publisher.send(
            topic,
            {
                "id": "hot",
                "key": credential,
                "time": (start + dt.timedelta(minutes=5)).isoformat(),
                "temperature": 39,
            },
        )
        publisher.send(
            topic, {"id": "t0", "key": credential, "time": start.isoformat(), "temperature": 20}
        )  # resend
        publisher.send(
            topic, {"id": "forged", "key": "sce_000000000000_x", "time": start.isoformat(), "load": 1}
        )
        publisher.send(topic, b"not json")
        stop_at = (start + dt.timedelta(minutes=6)).isoformat()
        publisher.send(topic, {"id": "u2", "key": credential, "time": stop_at, "event": "usage_stop"})
        wait_until(lambda: TelemetrySample.objects.filter(asset=asset).count() == 6, "6 samples")
        wait_until(lambda: bridge.stats().get("acknowledged") == 9, "9 acknowledgements")
    finally:
        publisher.close()
        bridge.stop()
    assert set(TelemetrySample.objects.values_list("source", flat=True)) == {"mqtt"}
    alert = EquipmentAlert.objects.get(asset=asset, rule="threshold")
    assert (alert.severity, alert.value) == ("critical", 39.0)  # MRI: critical from 38 °C
    usage = UsageSession.objects.get(asset=asset)
    assert usage.ended_at is not None
    assert bridge.stats()["handled"] == 9
    assert "EQ-002 rejected message" in bridge.output
    assert "EQ-001 rejected message" in bridge.output
    assert AuditEvent.objects.filter(
        actor_username="mqtt-bridge", detail__event="telemetry_stored", detail__channel="mqtt"
    ).exists()
