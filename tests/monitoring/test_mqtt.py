"""The MQTT bridge against a real broker: `smartcare mqtt-bridge` runs as its own process on the test
database; readings are published with paho-mqtt at QoS 1.

* the broker at MQTT_URL (the local Mosquitto) for ingestion, deduplication and invalid payloads,
  each test on topics and a client id of its own;
* a Mosquitto started by the test (on a free port, with a persistence directory) for the broker
  restart and for the bridge crash, so that the shared broker is never restarted.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.monitoring import services
from smartcare.monitoring.models import Alert, Device, IngestRejection, Reading
from tests.conftest import MQTT_URL
from tests.factories import build_hospital, child_env

pytestmark = [pytest.mark.mqtt, pytest.mark.django_db(transaction=True)]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
WAIT = 180.0  # upper bound for a process to start or a reading to arrive on a busy machine


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """A Mosquitto of the test's own, with persistence, that can be restarted."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            "max_queued_messages 100000\n"
            # Started as root, Mosquitto switches to the user "mosquitto", which may not write
            # the persistence file here: stay the user who started it.
            f"user {getpass.getuser()}\n"
            f"log_dest file {directory}/mosquitto.log\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def listening() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(listening, "mosquitto to listen", 20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # a clean stop: the broker saves its sessions
            self.process.wait(20)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture()
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    if not os.path.exists(MOSQUITTO):
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


class BridgeProcess:
    """`smartcare mqtt-bridge` as a child process on the test database."""

    def __init__(self, url: str, prefix: str, client_id: str, directory: Path, *extra: str) -> None:
        self.args = [
            sys.executable,
            "-m",
            "smartcare.cli",
            "mqtt-bridge",
            "--url",
            url,
            "--topic-prefix",
            prefix,
            "--client-id",
            client_id,
            "--session-expiry",
            "600",
            "--stats-file",
            str(directory / f"stats-{client_id}.json"),
            *extra,
        ]
        self.stats_file = directory / f"stats-{client_id}.json"
        self.lines: list[str] = []
        self.connects = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> BridgeProcess:
        self.connects_before = self.connects
        self.process = subprocess.Popen(
            self.args,
            env=child_env(SMARTCARE_LOG_LEVEL="INFO"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        self.wait_connected()
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)
            if "connected to" in line:
                self.connects += 1

    def wait_connected(self, after: int | None = None) -> None:
        target = (self.connects_before if after is None else after) + 1
        wait_until(lambda: self.connects >= target, "the bridge to connect and subscribe")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stats(self) -> dict[str, int]:
        return json.loads(self.stats_file.read_text()) if self.stats_file.exists() else {}


class Publisher:
    def __init__(self, url: str) -> None:
        import paho.mqtt.client as mqtt

        from smartcare.monitoring.bridge import parse_broker_url

        broker = parse_broker_url(url)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"h6-pub-{uuid.uuid4().hex[:8]}"
        )
        self.client.connect(broker["host"], broker["port"])
        self.client.loop_start()

    def send(self, topic: str, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, body, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def world(settings: Any) -> Any:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    h = build_hospital()
    services.enroll_patient(h.user("doctor"), h.own_patient.pk)
    device, credential = services.register_device(
        h.user("nurse"), h.own_patient.pk, kind="bp_monitor", serial_number=f"BP-{uuid.uuid4().hex[:6]}"
    )
    return h, device, credential


def bp(credential: str, ident: str, systolic: float = 135, diastolic: float = 85) -> dict[str, Any]:
    return {
        "id": ident,
        "key": credential,
        "type": "blood_pressure",
        "time": clock.now().isoformat(),
        "systolic": systolic,
        "diastolic": diastolic,
        "pulse": 72,
    }


@pytest.fixture()
def run_id() -> str:
    return uuid.uuid4().hex[:10]


def test_readings_are_stored_with_their_alerts_and_acknowledged(
    world: Any, run_id: str, tmp_path: Path
) -> None:
    h, device, credential = world
    prefix = f"h6test/{run_id}"
    bridge = BridgeProcess(MQTT_URL, prefix, f"h6-bridge-{run_id}", tmp_path).start()
    publisher = Publisher(MQTT_URL)
    try:
        topic = f"{prefix}/{device.uid}/readings"
        for n in range(4):
            publisher.send(topic, bp(credential, f"r{n}", 130 + n))
        publisher.send(topic, bp(credential, "danger", 186, 114))
        wait_until(lambda: Reading.objects.filter(device=device).count() == 5, "5 readings")
        alert = wait_until(lambda: Alert.objects.filter(patient=h.own_patient).first(), "the alert")
        assert (alert.severity, alert.value_text) == ("critical", "186/114 mmHg")
        assert set(Reading.objects.values_list("source", flat=True)) == {"mqtt"}
        wait_until(lambda: bridge.stats().get("acknowledged") == 5, "5 acknowledgements")
    finally:
        publisher.close()
        bridge.stop()
    assert AuditEvent.objects.filter(
        actor_username="mqtt-bridge", detail__event="readings_stored", channel="mqtt"
    ).exists()
    device.refresh_from_db()
    assert device.last_seen_at is not None
    assert "stopped" in bridge.output


def test_duplicates_are_stored_once_and_invalid_payloads_rejected_with_the_reason(
    world: Any, run_id: str, tmp_path: Path
) -> None:
    h, device, credential = world
    spare, spare_credential = services.register_device(
        h.user("nurse"), h.own_patient.pk, kind="scale", serial_number=f"SC-{run_id}"
    )
    services.unpair_device(h.user("nurse"), spare.pk)
    prefix = f"h6test/{run_id}"
    bridge = BridgeProcess(MQTT_URL, prefix, f"h6-bridge-{run_id}", tmp_path).start()
    publisher = Publisher(MQTT_URL)
    topic = f"{prefix}/{device.uid}/readings"
    try:
        publisher.send(topic, bp(credential, "same"))
        publisher.send(topic, bp(credential, "same"))  # a device resending (lost PUBACK)
        publisher.send(topic, b"{not json")
        publisher.send(topic, bp("scd_" + device.uid + "_wrong", "bad-key"))
        publisher.send(f"{prefix}/unknown0000/readings", bp(credential, "wrong-topic"))
        publisher.send(topic, bp(credential, "implausible", 400, 90))
        publisher.send(
            topic, {**bp(credential, "glucose"), "type": "glucose", "value": 6.1}
        )  # not a BP monitor's
        publisher.send(
            f"{prefix}/{spare.uid}/readings",
            {
                "id": "w",
                "key": spare_credential,
                "type": "weight",
                "value": 70,
                "time": clock.now().isoformat(),
            },
        )
        publisher.send(topic, bp(credential, "last"))
        wait_until(lambda: bridge.stats().get("acknowledged") == 9, "every message acknowledged")
    finally:
        publisher.close()
        bridge.stop()
    assert sorted(Reading.objects.values_list("message_id", flat=True)) == ["last", "same"]
    stats = bridge.stats()
    assert (stats["stored"], stats["duplicates"], stats["rejected"]) == (2, 1, 6)
    rejected = {r.message_id or "not-json": r.code for r in IngestRejection.objects.all()}
    assert "payload is not JSON" in IngestRejection.objects.get(message_id="").reason
    assert rejected == {
        "not-json": "MON-001",
        "bad-key": "MON-002",
        "wrong-topic": "MON-002",
        "implausible": "MON-005",
        "glucose": "MON-010",
        "w": "MON-002",  # unpairing revoked the credential
    }
    for code in ("MON-001", "MON-002", "MON-005", "MON-010"):
        assert f"{code} rejected message" in bridge.output


def test_nothing_is_lost_when_the_broker_restarts(
    world: Any, run_id: str, tmp_path: Path, own_broker: Broker
) -> None:
    h, device, credential = world
    prefix = f"h6test/{run_id}"
    topic = f"{prefix}/{device.uid}/readings"
    bridge = BridgeProcess(own_broker.url, prefix, f"h6-bridge-{run_id}", tmp_path).start()
    try:
        publisher = Publisher(own_broker.url)
        for n in range(10):
            publisher.send(topic, bp(credential, f"a{n}"))
        publisher.close()
        wait_until(lambda: Reading.objects.count() == 10, "the first readings")

        # The broker restarts under the running bridge: it reconnects to its kept session.
        connected = bridge.connects
        own_broker.restart()
        bridge.wait_connected(after=connected)
        publisher = Publisher(own_broker.url)
        for n in range(10):
            publisher.send(topic, bp(credential, f"b{n}"))
        publisher.close()
        wait_until(lambda: Reading.objects.count() == 20, "readings after the broker restart")

        # The bridge is down while devices publish, and the broker restarts meanwhile: the queued
        # messages of the bridge's session survive both and arrive when it is back.
        bridge.stop()
        publisher = Publisher(own_broker.url)
        for n in range(25):
            publisher.send(topic, bp(credential, f"c{n}", 150 + n % 40, 90))
        publisher.close()
        own_broker.restart()
        bridge.start()
        wait_until(lambda: Reading.objects.count() == 45, "readings queued while the bridge was down")
    finally:
        bridge.stop()
    ids = list(Reading.objects.values_list("message_id", flat=True))
    assert len(ids) == len(set(ids)) == 45
    assert Alert.objects.filter(patient=h.own_patient, status="open").count() == 1  # critical, deduplicated


def test_a_crashed_bridge_loses_nothing_it_had_not_stored(
    world: Any, run_id: str, tmp_path: Path, own_broker: Broker
) -> None:
    """Messages are acknowledged only after they are stored: the broker sends what a killed bridge
    held in memory to the next one."""
    _h, device, credential = world
    prefix = f"h6test/{run_id}"
    topic = f"{prefix}/{device.uid}/readings"
    # This bridge holds each batch 5 seconds before storing it, and is killed meanwhile.
    slow = BridgeProcess(
        own_broker.url,
        prefix,
        f"h6-bridge-{run_id}",
        tmp_path,
        "--batch-wait-ms",
        "5000",
        "--batch-size",
        "1000",
    ).start()
    publisher = Publisher(own_broker.url)
    for n in range(30):
        publisher.send(topic, bp(credential, f"k{n}"))
    publisher.close()
    time.sleep(1.0)
    slow.stop(signal.SIGKILL)
    assert Reading.objects.count() == 0
    bridge = BridgeProcess(own_broker.url, prefix, f"h6-bridge-{run_id}", tmp_path).start()
    try:
        wait_until(lambda: Reading.objects.count() == 30, "the messages the killed bridge held")
    finally:
        bridge.stop()
    assert Reading.objects.values("message_id").distinct().count() == 30
    assert Device.objects.get(pk=device.pk).last_seen_at is not None
