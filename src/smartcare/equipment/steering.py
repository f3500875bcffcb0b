"""The equipment's advice to the booking pages (registered with ``scheduling.steering``): each exam
session's expected load is the utilization of the equipment serving its exam type over the same
weekday and hours in the last four weeks; sessions clearly quieter than the busiest one of the same
exam type that day are recommended first, with the expected shorter wait."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from smartcare.core import clock
from smartcare.equipment.choices import AssetStatus
from smartcare.equipment.models import Asset
from smartcare.equipment.utilization import Utilization, expected_wait_minutes, utilization
from smartcare.scheduling.steering import SessionAdvice, register_advisor

LOOKBACK_DAYS = 28
QUIETER_BY = 0.15  # at least 15 points of utilization below the busiest session that day


def session_load(curves: list[Utilization], session: Any) -> float | None:
    zone = clock.local_now().tzinfo
    start, end = session.starts_at.astimezone(zone), session.ends_at.astimezone(zone)
    values = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        for curve in curves:
            value = curve.cell(hour.weekday(), hour.hour)
            if value is not None:
                values.append(value)
        hour += dt.timedelta(hours=1)
    return sum(values) / len(values) if values else None


def advise_sessions(sessions: Sequence[Any]) -> dict[int, SessionAdvice]:
    exam_sessions = [s for s in sessions if getattr(s, "exam_type_id", None)]
    if not exam_sessions:
        return {}
    today = clock.today()
    curves: dict[int, list[Utilization]] = {}
    per_asset: dict[int, Utilization] = {}  # an asset serving several exam types is computed once
    for exam_type_id in {s.exam_type_id for s in exam_sessions}:
        curves[exam_type_id] = []
        for asset in Asset.objects.filter(exam_types=exam_type_id).exclude(status=AssetStatus.RETIRED):
            if asset.pk not in per_asset:
                per_asset[asset.pk] = utilization(
                    asset, today - dt.timedelta(days=LOOKBACK_DAYS), today - dt.timedelta(days=1)
                )
            curves[exam_type_id].append(per_asset[asset.pk])
    loads: dict[int, float] = {}
    for session in exam_sessions:
        load = session_load(curves.get(session.exam_type_id, []), session)
        if load is not None:
            loads[session.pk] = load
    busiest: dict[tuple[int, dt.date], float] = {}
    for session in exam_sessions:
        if session.pk in loads:
            key = (session.exam_type_id, session.date)
            busiest[key] = max(busiest.get(key, 0.0), loads[session.pk])
    advice = {}
    for session in exam_sessions:
        if session.pk not in loads:
            continue
        load = loads[session.pk]
        duration = session.exam_type.duration_minutes if session.exam_type else 15
        advice[session.pk] = SessionAdvice(
            load=load,
            expected_wait_minutes=expected_wait_minutes(load, duration),
            quieter=busiest[(session.exam_type_id, session.date)] - load >= QUIETER_BY,
        )
    return advice


register_advisor(advise_sessions)
