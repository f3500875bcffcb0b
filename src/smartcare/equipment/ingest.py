"""Telemetry ingestion, shared by the HTTP endpoint and the MQTT bridge.

A message (one JSON object)::

    {"id": "ct1-000123", "key": "sce_<uid>_...", "time": "2026-11-25T08:00:00+08:00",
     "temperature": 41.2, "voltage": 229.5, "current": 310, "load": 62,
     "error": "E-204", "event": "usage_start"}

``id``, ``key`` (MQTT; HTTP sends it as the bearer token) and ``time`` (or ``ts``, Unix seconds) are
required; everything else is optional, but a message must carry a value, an error code or an event
(``heartbeat`` when there is nothing else to say). Values are stored once per message; every metric
also goes into the hourly roll-up, which stays when the raw samples are pruned.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.equipment import alerts as alerting
from smartcare.equipment.choices import (
    ERROR_CODE_SEVERITY,
    METRICS,
    PLAUSIBLE,
    AlertRule,
    AlertStatus,
    Severity,
    UsageEvent,
)
from smartcare.equipment.errors import ImplausibleValue, InvalidDeviceCredential, InvalidTelemetry
from smartcare.equipment.models import (
    Asset,
    EquipmentAlert,
    TelemetryRollup,
    TelemetrySample,
    UsageSession,
)
from smartcare.equipment.rules import Breach, rate_breach, threshold_breach

CREDENTIAL_PREFIX = "sce"
MAX_FUTURE = dt.timedelta(minutes=10)
MAX_AGE = dt.timedelta(days=30)
EVENTS = {e.value for e in UsageEvent}


def new_uid() -> str:
    return secrets.token_hex(6)


def new_credential(uid: str) -> str:
    return f"{CREDENTIAL_PREFIX}_{uid}_{secrets.token_urlsafe(32)}"


def credential_uid(credential: Any) -> str | None:
    if not isinstance(credential, str):
        return None
    parts = credential.split("_", 2)
    if len(parts) != 3 or parts[0] != CREDENTIAL_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def authenticate_asset(credential: Any, *, uid: str | None = None) -> Asset:
    """The asset of a credential (and of the topic's uid, when given); EQ-002 otherwise."""
    found_uid = credential_uid(credential)
    if found_uid is None or (uid is not None and uid != found_uid):
        raise InvalidDeviceCredential()
    asset = Asset.objects.filter(uid=found_uid).first()
    if asset is None or not asset.verify(credential):
        raise InvalidDeviceCredential()
    return asset


@dataclass
class TelemetryInput:
    message_id: str
    measured_at: dt.datetime
    values: dict[str, float] = field(default_factory=dict)
    error_code: str = ""
    event: str = ""


def _time(data: dict[str, Any]) -> dt.datetime:
    value = data.get("time", data.get("ts"))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str) and len(value) >= 16:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, timezone.get_default_timezone())
            return moment
    raise InvalidTelemetry(reason=_("time is missing or not a valid time"), field="time")


def parse_message(data: Any, *, now: dt.datetime | None = None) -> TelemetryInput:
    """Check one message; raises EQ-001 (shape) or EQ-003 (implausible value)."""
    if not isinstance(data, dict):
        raise InvalidTelemetry(reason=_("a JSON object is expected"))
    message_id = data.get("id")
    if not isinstance(message_id, (str, int)) or isinstance(message_id, bool) or not str(message_id):
        raise InvalidTelemetry(reason=_("id is missing"), field="id")
    message_id = str(message_id)
    if len(message_id) > 64:
        raise InvalidTelemetry(reason=_("id is longer than 64 characters"), field="id")
    moment = _time(data)
    now = now or clock.now()
    if moment > now + MAX_FUTURE or moment < now - MAX_AGE:
        raise InvalidTelemetry(reason=_("time is in the future or more than 30 days old"), field="time")
    values: dict[str, float] = {}
    for metric in METRICS:
        raw = data.get(metric)
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise InvalidTelemetry(reason=_("%(field)s is not a number") % {"field": metric}, field=metric)
        low, high = PLAUSIBLE[metric]
        if not low <= raw <= high:
            raise ImplausibleValue(metric=metric, value=raw, low=low, high=high, field=metric)
        values[metric] = float(raw)
    error = data.get("error", "")
    if not isinstance(error, str) or len(error) > 20:
        raise InvalidTelemetry(reason=_("error must be a code of at most 20 characters"), field="error")
    event = data.get("event", "")
    if event and event not in EVENTS:
        raise InvalidTelemetry(reason=_("unknown event"), field="event")
    if not values and not error and not event:
        raise InvalidTelemetry(reason=_("the message carries no value, error or event"))
    return TelemetryInput(message_id, moment, values, error.strip(), event)


@dataclass
class TelemetryOutcome:
    stored: int = 0
    duplicates: int = 0
    alerts: list[EquipmentAlert] = field(default_factory=list)
    assets: set[int] = field(default_factory=set)


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def store_telemetry(
    items: list[tuple[Asset, TelemetryInput]], *, source: str, actor: Any
) -> TelemetryOutcome:
    """Store messages inside the caller's transaction: samples (each message once), hourly
    roll-ups, usage sessions, last-seen times, and the alerts of the threshold, rate-of-change and
    error-code rules. One audit event for the batch."""
    outcome = TelemetryOutcome()
    if not items:
        return outcome
    now = clock.now()
    assets = {asset.pk: asset for asset, _i in items}
    seen = set(
        TelemetrySample.objects.filter(
            asset_id__in=assets, message_id__in={i.message_id for _a, i in items}
        ).values_list("asset_id", "message_id")
    )
    fresh: list[tuple[Asset, TelemetryInput]] = []
    for asset, item in items:
        key = (asset.pk, item.message_id)
        if key in seen:
            outcome.duplicates += 1
            continue
        seen.add(key)
        fresh.append((asset, item))
    if not fresh:
        return outcome
    # The last stored value of each metric before this batch, for the rate-of-change rule.
    previous: dict[tuple[int, str], tuple[dt.datetime, float]] = {}
    for asset_id in {a.pk for a, _i in fresh}:
        for metric in METRICS:
            row = (
                TelemetrySample.objects.filter(asset_id=asset_id, **{f"{metric}__isnull": False})
                .order_by("-measured_at")
                .values_list("measured_at", metric)
                .first()
            )
            if row is not None:
                previous[(asset_id, metric)] = (row[0], row[1])
    fresh.sort(key=lambda pair: (pair[0].pk, pair[1].measured_at))
    TelemetrySample.objects.bulk_create(
        TelemetrySample(
            asset=asset,
            measured_at=item.measured_at,
            received_at=now,
            source=source,
            message_id=item.message_id,
            error_code=item.error_code,
            event=item.event,
            **item.values,
        )
        for asset, item in fresh
    )
    outcome.stored = len(fresh)
    outcome.assets = {a.pk for a, _i in fresh}
    _roll_up(fresh)
    breaches: dict[tuple[int, str, str], tuple[Breach, dt.datetime]] = {}
    for asset, item in fresh:
        for metric, value in item.values.items():
            found = [
                threshold_breach(asset.kind, metric, value),
                rate_breach(asset.kind, metric, previous.get((asset.pk, metric)), (item.measured_at, value)),
            ]
            previous[(asset.pk, metric)] = (item.measured_at, value)
            for breach in found:
                if breach is None:
                    continue
                found_key = (asset.pk, str(breach.rule), metric)
                worst = breaches.get(found_key)
                if worst is None or (
                    breach.severity == Severity.CRITICAL and worst[0].severity != Severity.CRITICAL
                ):
                    breaches[found_key] = (breach, item.measured_at)
        if item.error_code:
            breaches[(asset.pk, AlertRule.ERROR_CODE, item.error_code)] = (
                Breach(
                    AlertRule.ERROR_CODE,
                    item.error_code,
                    Severity(ERROR_CODE_SEVERITY.get(asset.kind, Severity.WARNING)),
                    0,
                    0,
                    item.error_code,
                ),
                item.measured_at,
            )
        _usage(asset, item)
    for (asset_id, rule, metric), (breach, at) in breaches.items():
        alert, _new = alerting.raise_alert(
            assets[asset_id],
            rule=rule,
            metric=metric,
            severity=breach.severity,
            detail=breach.detail,
            value=breach.value if rule != AlertRule.ERROR_CODE else None,
            limit=breach.limit if rule != AlertRule.ERROR_CODE else None,
            at=at,
            actor=actor,
        )
        outcome.alerts.append(alert)
    _seen(assets, fresh, now)
    record(
        actor,
        AuditAction.CREATE,
        obj=("equipment.TelemetrySample", ",".join(str(pk) for pk in sorted(outcome.assets))[:60]),
        detail={
            "event": "telemetry_stored",
            "channel": source,
            "count": outcome.stored,
            "duplicates": outcome.duplicates,
            "assets": sorted(outcome.assets),
        },
    )
    return outcome


def _roll_up(fresh: list[tuple[Asset, TelemetryInput]]) -> None:
    groups: dict[tuple[int, str, dt.datetime], list[float]] = defaultdict(list)
    for asset, item in fresh:
        for metric, value in item.values.items():
            groups[(asset.pk, metric, _hour(item.measured_at))].append(value)
    if not groups:
        return
    existing = {
        (r.asset_id, r.metric, r.hour): r
        for r in TelemetryRollup.objects.select_for_update().filter(
            asset_id__in={k[0] for k in groups},
            metric__in={k[1] for k in groups},
            hour__in={k[2] for k in groups},
        )
    }
    new, changed = [], []
    for (asset_id, metric, hour), values in groups.items():
        row = existing.get((asset_id, metric, hour))
        if row is None:
            new.append(
                TelemetryRollup(
                    asset_id=asset_id,
                    metric=metric,
                    hour=hour,
                    count=len(values),
                    mean=sum(values) / len(values),
                    minimum=min(values),
                    maximum=max(values),
                )
            )
        else:
            total = row.mean * row.count + sum(values)
            row.count += len(values)
            row.mean = total / row.count
            row.minimum = min(row.minimum, *values)
            row.maximum = max(row.maximum, *values)
            changed.append(row)
    TelemetryRollup.objects.bulk_create(new)
    TelemetryRollup.objects.bulk_update(changed, ["count", "mean", "minimum", "maximum"])


def _usage(asset: Asset, item: TelemetryInput) -> None:
    if item.event == UsageEvent.START:
        if not UsageSession.objects.filter(asset=asset, ended_at__isnull=True).exists():
            UsageSession.objects.create(asset=asset, started_at=item.measured_at)
    elif item.event == UsageEvent.STOP:
        open_session = UsageSession.objects.filter(asset=asset, ended_at__isnull=True).first()
        if open_session is not None and open_session.started_at <= item.measured_at:
            open_session.ended_at = item.measured_at
            open_session.save(update_fields=["ended_at"])


def _seen(assets: dict[int, Asset], fresh: list[tuple[Asset, TelemetryInput]], now: dt.datetime) -> None:
    for asset_id in {a.pk for a, _i in fresh}:
        Asset.objects.filter(pk=asset_id).update(last_seen_at=now, heartbeat_lost_at=None)
        if assets[asset_id].heartbeat_lost_at is not None:
            for alert in EquipmentAlert.objects.filter(
                asset_id=asset_id, rule=AlertRule.HEARTBEAT, status=AlertStatus.OPEN
            ):
                alerting.close_alert(alert, at=now)
