"""The MQTT bridge: device readings from the broker into the database, none lost, none twice.

* MQTT v5 (paho-mqtt 2.x) with a fixed client id, ``clean_start=False`` and a session expiry, so
  the broker keeps the subscription and the unacknowledged and queued messages while the bridge or
  the broker restarts (the broker needs ``persistence true``). Subscription at QoS 1.
* Manual acknowledgement: a message is acknowledged (PUBACK) only after the transaction holding
  its reading has committed. A crash before that means the broker sends it again; the reading is
  then found by its ``(device, message id)`` and not stored twice.
* Messages are taken in batches (up to ``batch_size``, waiting at most ``batch_wait`` seconds for
  more after the first) and stored with one ``bulk_create`` in a short transaction, which is what
  makes thousands of readings per second possible. Dangerous values raise their alerts in the same
  transaction, so an alert exists as soon as its reading does.
* ``Receive Maximum`` tells the broker how many unacknowledged messages it may send at once
  (Mosquitto's own default for MQTT 3.1.1 clients is 20, far too few to batch).
* Every message is authenticated with the device credential it carries (``key``), checked against
  the device named by its topic; invalid payloads are refused, logged with the reason, kept as
  ``IngestRejection`` and acknowledged (sending them again would not make them valid).
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections, transaction

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.monitoring.choices import Bounds, ReadingSource
from smartcare.monitoring.errors import DeviceNotPaired, InvalidDeviceCredential, InvalidReading
from smartcare.monitoring.ingest import (
    DeviceInfo,
    Incoming,
    StoreOutcome,
    check_device_may_report,
    credential_uid,
    hospital_bounds,
    reading_from_message,
    store_batch,
)
from smartcare.monitoring.models import Device, IngestRejection

logger = logging.getLogger("smartcare.monitoring.bridge")

BRIDGE_USERNAME = "mqtt-bridge"
CACHE_SECONDS = 30.0
LAST_SEEN_EVERY = 60.0
MAX_PAYLOAD = 8192


@dataclass
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int
    received: float = field(default_factory=time.monotonic)


@dataclass
class BridgeStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    alerts: int = 0
    batches: int = 0
    acknowledged: int = 0
    connects: int = 0
    storage_retries: int = 0
    handled: int = 0  # messages of registered topic handlers (equipment telemetry)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TopicHandler:
    """Messages of an app above this one on the same connection (equipment telemetry), so there is
    one bridge. The bridge also subscribes to ``subscription()`` (QoS 1) and hands the messages whose
    topic matches it to ``store(messages, actor)`` inside the batch's transaction: they are
    acknowledged after the commit, exactly like readings. ``store`` logs and keeps what it refuses
    and returns how many messages it handled."""

    name: str
    subscription: Callable[[], str]
    store: Callable[[list[Message], User | None], int]


_TOPIC_HANDLERS: list[TopicHandler] = []


def register_topic_handler(handler: TopicHandler) -> None:
    """Called from an app's ``ready()``; monitoring never imports the apps that register."""
    if all(h.name != handler.name for h in _TOPIC_HANDLERS):
        _TOPIC_HANDLERS.append(handler)


def bridge_identity() -> User:
    """The bridge's machine identity (role device), for the audit trail."""
    user, _created = User.objects.get_or_create(
        username=BRIDGE_USERNAME,
        defaults={"role": Role.DEVICE, "display_name": "MQTT bridge", "password": make_password(None)},
    )
    return user


def parse_broker_url(url: str) -> dict[str, Any]:
    from smartcare.monitoring.errors import InvalidBrokerUrl

    parsed = urlparse(url or "mqtt://127.0.0.1:1883")
    if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise InvalidBrokerUrl(reason=f"{parsed.scheme or '?'}://")
    tls = parsed.scheme in ("mqtts", "ssl")
    try:
        port = parsed.port
    except ValueError:
        raise InvalidBrokerUrl(reason=parsed.netloc.rsplit("@", 1)[-1]) from None
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": port or (8883 if tls else 1883),
        "tls": tls,
        "username": unquote(parsed.username) if parsed.username else None,
        "password": unquote(parsed.password) if parsed.password else None,
    }


class DeviceCache:
    """uid -> DeviceInfo (or None for unknown ids), for ``CACHE_SECONDS``: unpairing and new
    credentials take effect within that time; a flood of unknown ids costs one query per batch."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[DeviceInfo | None, float]] = {}

    def load(self, uids: set[str]) -> dict[str, DeviceInfo | None]:
        now = time.monotonic()
        missing = {uid for uid in uids if uid not in self._entries or self._entries[uid][1] < now}
        if missing:
            found = {d.uid: DeviceInfo.of(d) for d in Device.objects.filter(uid__in=missing)}
            for uid in missing:
                self._entries[uid] = (found.get(uid), now + CACHE_SECONDS)
            if len(self._entries) > 200_000:
                self._entries = {k: v for k, v in self._entries.items() if v[1] >= now}
        return {uid: self._entries[uid][0] for uid in uids}

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)


class Bridge:
    def __init__(
        self,
        *,
        url: str,
        topic_prefix: str,
        client_id: str,
        batch_size: int = 500,
        batch_wait: float = 0.05,
        session_expiry: int = 7 * 24 * 3600,
        receive_maximum: int = 20000,
        keepalive: int = 30,
        stop: threading.Event | None = None,
        on_batch: Callable[[BridgeStats], None] | None = None,
    ) -> None:
        self.broker = parse_broker_url(url)
        self.topic_prefix = topic_prefix.rstrip("/")
        self.client_id = client_id
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.session_expiry = session_expiry
        self.receive_maximum = min(65535, max(1, receive_maximum))
        self.keepalive = keepalive
        self.stop = stop or threading.Event()
        self.on_batch = on_batch
        self.stats = BridgeStats()
        self.connected = threading.Event()
        self._queue: queue.Queue[Message] = queue.Queue()
        self._generation = 0
        self._devices = DeviceCache()
        self._hospital: tuple[dict[tuple[str, str], Bounds], float] | None = None
        self._last_seen: dict[int, float] = {}
        self._identity: User | None = None
        self._client: Any = None

    # --- MQTT side (paho's network thread) -------------------------------------------------------

    @property
    def subscription(self) -> str:
        return f"{self.topic_prefix}/+/readings"

    def _make_client(self) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.broker["username"]:
            client.username_pw_set(self.broker["username"], self.broker["password"])
        if self.broker["tls"]:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry
        properties.ReceiveMaximum = self.receive_maximum
        client.connect_async(
            self.broker["host"],
            self.broker["port"],
            keepalive=self.keepalive,
            clean_start=False,
            properties=properties,
        )
        return client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            logger.error("MQTT connection refused: %s", reason_code)
            return
        self._generation += 1
        self.stats.connects += 1
        client.subscribe(self.subscription, qos=1)
        for handler in _TOPIC_HANDLERS:
            client.subscribe(handler.subscription(), qos=1)
        self.connected.set()
        logger.info(
            "connected to %s:%s as %s (session present: %s), subscribed to %s",
            self.broker["host"],
            self.broker["port"],
            self.client_id,
            getattr(flags, "session_present", "?"),
            self.subscription,
        )

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.connected.clear()
        if not self.stop.is_set():
            logger.warning("MQTT connection lost (%s); reconnecting", reason_code)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._queue.put(Message(msg.mid, msg.qos, msg.topic, msg.payload, self._generation))

    # --- Storage side (the bridge's own thread) ---------------------------------------------------

    def run(self, *, idle_exit: float | None = None) -> BridgeStats:
        """Run until ``stop`` is set (a signal, or the caller). ``idle_exit``: also stop after that
        many seconds without messages (tests)."""
        self._identity = bridge_identity()
        self._client = self._make_client()
        self._client.loop_start()
        last_message = time.monotonic()
        try:
            while not self.stop.is_set():
                batch = self._take()
                if batch:
                    self.process(batch)
                    last_message = time.monotonic()
                elif idle_exit is not None and time.monotonic() - last_message > idle_exit:
                    break
            # Store and acknowledge what has arrived; anything later stays with the broker.
            while True:
                batch = self._take(block=False)
                if not batch:
                    break
                self.process(batch)
        finally:
            self.stop.set()
            self._client.disconnect()
            self._client.loop_stop()
        return self.stats

    def _take(self, block: bool = True) -> list[Message]:
        try:
            first = self._queue.get(timeout=0.2) if block else self._queue.get_nowait()
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _hospital_bounds(self) -> dict[tuple[str, str], Bounds]:
        now = time.monotonic()
        if self._hospital is None or self._hospital[1] < now:
            self._hospital = (hospital_bounds(), now + CACHE_SECONDS)
        return self._hospital[0]

    def _parse(
        self, batch: list[Message]
    ) -> tuple[list[Incoming], list[tuple[Message, DeviceInfo | None, CodedError]]]:
        uids: dict[int, str] = {}
        for index, message in enumerate(batch):
            parts = message.topic.split("/")
            if len(parts) >= 2 and parts[-1] == "readings":
                uids[index] = parts[-2]
        devices = self._devices.load(set(uids.values()))
        items: list[Incoming] = []
        refused: list[tuple[Message, DeviceInfo | None, CodedError]] = []
        now = clock.now()
        for index, message in enumerate(batch):
            device = devices.get(uids.get(index, ""))
            try:
                if len(message.payload) > MAX_PAYLOAD:
                    raise InvalidReading(reason="payload larger than 8 KiB")
                try:
                    data = json.loads(message.payload)
                except (ValueError, UnicodeDecodeError):
                    raise InvalidReading(reason="payload is not JSON") from None
                credential = data.get("key") if isinstance(data, dict) else None
                if (
                    device is None
                    or not isinstance(credential, str)
                    or credential_uid(credential) != device.uid
                    or not device.verify(credential)
                ):
                    raise InvalidDeviceCredential()
                if device.patient_id is None:
                    raise DeviceNotPaired()
                reading = reading_from_message(data, now=now)
                check_device_may_report(device.kind, reading.kind)
            except CodedError as exc:
                refused.append((message, device, exc))
                continue
            items.append(
                Incoming(
                    patient_id=device.patient_id,
                    reading=reading,
                    source=ReadingSource.MQTT,
                    device_id=device.id,
                    tag=message,
                )
            )
        return items, refused

    def process(self, batch: list[Message]) -> None:
        """Store one batch in one transaction, then acknowledge its messages."""
        self.stats.received += len(batch)
        own, routed = self._route(batch)
        items, refused = self._parse(own)
        outcome = self._store(items, refused, routed)
        if outcome is None:
            return  # stopping while the database is unavailable: the broker keeps the messages
        self._acknowledge(batch)
        self.stats.batches += 1
        self.stats.stored += len(outcome.stored)
        self.stats.duplicates += len(outcome.duplicates)
        self.stats.rejected += len(refused)
        self.stats.alerts += len(outcome.alerts)
        for message, device, error in refused:
            logger.warning(
                "%s rejected message on %s (device %s): %s",
                error.code,
                message.topic,
                device.uid if device else "unknown",
                error.detail,
            )
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _route(self, batch: list[Message]) -> tuple[list[Message], dict[str, list[Message]]]:
        """Readings for this module; the rest by the registered handler whose topics they match."""
        from paho.mqtt.client import topic_matches_sub

        own: list[Message] = []
        routed: dict[str, list[Message]] = {}
        filters = [(h.name, h.subscription()) for h in _TOPIC_HANDLERS]
        for message in batch:
            name = next((n for n, sub in filters if topic_matches_sub(sub, message.topic)), None)
            if name is None:
                own.append(message)
            else:
                routed.setdefault(name, []).append(message)
        return own, routed

    def _store(
        self,
        items: list[Incoming],
        refused: list[tuple[Message, DeviceInfo | None, CodedError]],
        routed: dict[str, list[Message]] | None = None,
    ) -> StoreOutcome | None:
        delay = 0.5
        attempt = 0
        while True:
            attempt += 1
            try:
                with transaction.atomic():
                    outcome = self._write(items, refused)
                    handlers = {h.name: h for h in _TOPIC_HANDLERS}
                    handled = sum(handlers[n].store(m, self._identity) for n, m in (routed or {}).items())
                self.stats.handled += handled
                return outcome
            except IntegrityError:
                # A reading of this batch was stored meanwhile by another writer (the FHIR endpoint,
                # a second bridge): the next attempt finds it and skips it.
                logger.warning("batch conflicted with another writer; storing it again")
                self.stats.storage_retries += 1
                if attempt >= 3:
                    raise
            except (OperationalError, InterfaceError) as exc:
                self.stats.storage_retries += 1
                logger.error("database unavailable (%s); retrying in %.1fs", exc, delay)
                close_old_connections()
                if self.stop.wait(delay):
                    return None
                delay = min(delay * 2, 10.0)

    def _write(
        self, items: list[Incoming], refused: list[tuple[Message, DeviceInfo | None, CodedError]]
    ) -> StoreOutcome:
        outcome = store_batch(items, actor=self._identity, hospital=self._hospital_bounds())
        if refused:
            IngestRejection.objects.bulk_create(
                IngestRejection(
                    device_id=device.id if device else None,
                    channel=ReadingSource.MQTT,
                    topic=message.topic[:200],
                    message_id=_message_id(message),
                    code=error.code,
                    reason=error.detail[:300],
                )
                for message, device, error in refused
            )
        if outcome.stored:
            readings = [reading for _item, reading in outcome.stored]
            record(
                self._identity,
                AuditAction.CREATE,
                obj=("monitoring.Reading", f"{readings[0].pk}-{readings[-1].pk}"),
                detail={
                    "event": "readings_stored",
                    "channel": "mqtt",
                    "count": len(readings),
                    "duplicates": len(outcome.duplicates),
                    "rejected": len(refused),
                    "patients": sorted(outcome.patient_ids),
                },
            )
            self._touch_devices({item.device_id for item, _r in outcome.stored if item.device_id})
        return outcome

    def _touch_devices(self, device_ids: set[int]) -> None:
        now = time.monotonic()
        stale = [pk for pk in device_ids if now - self._last_seen.get(pk, 0.0) >= LAST_SEEN_EVERY]
        if stale:
            Device.objects.filter(pk__in=stale).update(last_seen_at=clock.now())
            for pk in stale:
                self._last_seen[pk] = now

    def _acknowledge(self, batch: list[Message]) -> None:
        """PUBACK in the order received, only for messages of the current connection: a packet id
        from an earlier connection means nothing now (the broker sends that message again)."""
        generation = self._generation
        for message in batch:
            if message.qos > 0 and message.generation == generation:
                self._client.ack(message.mid, message.qos)
                self.stats.acknowledged += 1


def _message_id(message: Message) -> str:
    try:
        data = json.loads(message.payload)
    except (ValueError, UnicodeDecodeError):
        return ""
    value = data.get("id") if isinstance(data, dict) else None
    return str(value)[:64] if isinstance(value, (str, int)) else ""
