"""Equipment telemetry through the monitoring app's MQTT bridge (``smartcare mqtt-bridge``).

Topic ``<SMARTCARE_EQUIPMENT_TOPIC_PREFIX>/<asset uid>/telemetry`` (default prefix
``smartcare/equipment``), one JSON message each (see ``ingest``), authenticated by the asset's own
credential (``key``). The bridge calls ``store_messages`` inside its batch transaction and
acknowledges after the commit; refused messages are logged with their code and acknowledged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings

from smartcare.core.errors import CodedError
from smartcare.equipment.choices import TelemetrySource
from smartcare.equipment.errors import InvalidTelemetry
from smartcare.equipment.ingest import TelemetryInput, authenticate_asset, parse_message, store_telemetry
from smartcare.equipment.models import Asset

logger = logging.getLogger("smartcare.equipment.mqtt")
MAX_PAYLOAD = 8192


def subscription() -> str:
    return f"{settings.SMARTCARE_EQUIPMENT_TOPIC_PREFIX.rstrip('/')}/+/telemetry"


def store_messages(messages: list[Any], actor: Any) -> int:
    items: list[tuple[Asset, TelemetryInput]] = []
    for message in messages:
        parts = message.topic.split("/")
        uid = parts[-2] if len(parts) >= 2 else ""
        try:
            if len(message.payload) > MAX_PAYLOAD:
                raise InvalidTelemetry(reason="payload larger than 8 KiB")
            try:
                data = json.loads(message.payload)
            except (ValueError, UnicodeDecodeError):
                raise InvalidTelemetry(reason="payload is not JSON") from None
            asset = authenticate_asset(data.get("key") if isinstance(data, dict) else None, uid=uid)
            items.append((asset, parse_message(data)))
        except CodedError as exc:
            logger.warning("%s rejected message on %s: %s", exc.code, message.topic, exc.detail)
    store_telemetry(items, source=TelemetrySource.MQTT, actor=actor)
    return len(messages)
