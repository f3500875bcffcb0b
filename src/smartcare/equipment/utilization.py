"""Utilization per device per hour of day and day of week, from usage telemetry and exam bookings.

For each local (weekday, hour) cell over a date range:

* available minutes: the asset's service hours (``opens_at``-``closes_at``) on each date, less the
  time it was down (work-order downtime);
* used minutes: the overlap of its usage sessions (usage start/stop messages) with the cell;
* booked minutes: exam bookings (not cancelled) of the exam types it serves, each the exam's
  duration from the slot's start, divided among the assets that serve that exam type.

``utilization`` is used/available when the asset reports usage, else booked/available (equipment
without usage telemetry is judged by its bookings).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from smartcare.equipment.models import Asset, UsageSession, WorkOrder

CELL = tuple[int, int]  # (weekday 0 = Monday, hour)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _spread(
    start: dt.datetime, end: dt.datetime, into: dict[CELL, float], zone: ZoneInfo, weight: float = 1.0
) -> None:
    """Add the minutes of [start, end) to the (weekday, hour) cells they fall in (local time)."""
    start, end = start.astimezone(zone), end.astimezone(zone)
    cursor = start
    while cursor < end:
        next_hour = (cursor.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)).astimezone(
            zone
        )
        stop = min(end, next_hour)
        into[(cursor.weekday(), cursor.hour)] += weight * (stop - cursor).total_seconds() / 60
        cursor = stop


@dataclass
class Utilization:
    asset_id: int
    start: dt.date
    end: dt.date  # inclusive
    available: dict[CELL, float] = field(default_factory=lambda: defaultdict(float))
    used: dict[CELL, float] = field(default_factory=lambda: defaultdict(float))
    booked: dict[CELL, float] = field(default_factory=lambda: defaultdict(float))
    has_usage: bool = False

    def busy(self, cell: CELL) -> float:
        return self.used.get(cell, 0.0) if self.has_usage else self.booked.get(cell, 0.0)

    def cell(self, weekday: int, hour: int) -> float | None:
        available = self.available.get((weekday, hour), 0.0)
        if available <= 0:
            return None
        return min(1.0, self.busy((weekday, hour)) / available)

    def by_hour(self) -> dict[int, float | None]:
        """Hour-of-day curve over all weekdays."""
        result: dict[int, float | None] = {}
        for hour in range(24):
            available = sum(self.available.get((d, hour), 0.0) for d in range(7))
            busy = sum(self.busy((d, hour)) for d in range(7))
            result[hour] = min(1.0, busy / available) if available > 0 else None
        return result

    def by_weekday(self) -> dict[int, float | None]:
        result: dict[int, float | None] = {}
        for day in range(7):
            available = sum(self.available.get((day, h), 0.0) for h in range(24))
            busy = sum(self.busy((day, h)) for h in range(24))
            result[day] = min(1.0, busy / available) if available > 0 else None
        return result

    def overall(self) -> float | None:
        available = sum(self.available.values())
        busy = sum(self.busy(c) for c in self.available)
        return min(1.0, busy / available) if available > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "source": "usage" if self.has_usage else "bookings",
            "overall": self.overall(),
            "by_hour": self.by_hour(),
            "by_weekday": self.by_weekday(),
            "cells": [
                {"weekday": d, "hour": h, "utilization": self.cell(d, h)}
                for d in range(7)
                for h in range(24)
                if self.available.get((d, h), 0.0) > 0
            ],
        }


def utilization(asset: Asset, start: dt.date, end: dt.date) -> Utilization:
    from smartcare.scheduling.choices import AppointmentStatus
    from smartcare.scheduling.models import Appointment

    zone = _zone()
    result = Utilization(asset.pk, start, end)
    range_start = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    range_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    day = start
    while day <= end:
        _spread(
            dt.datetime.combine(day, asset.opens_at, tzinfo=zone),
            dt.datetime.combine(day, asset.closes_at, tzinfo=zone),
            result.available,
            zone,
        )
        day += dt.timedelta(days=1)
    # Downtime is not available time (but only within service hours).
    down: dict[CELL, float] = defaultdict(float)
    for order in WorkOrder.objects.filter(asset=asset, downtime_started_at__lt=range_end).exclude(
        downtime_ended_at__lt=range_start
    ):
        if order.downtime_started_at is None:
            continue
        begin = max(order.downtime_started_at, range_start)
        finish = min(order.downtime_ended_at or range_end, range_end)
        day = begin.astimezone(zone).date()
        while day <= finish.astimezone(zone).date():
            lo = max(begin, dt.datetime.combine(day, asset.opens_at, tzinfo=zone))
            hi = min(finish, dt.datetime.combine(day, asset.closes_at, tzinfo=zone))
            if lo < hi:
                _spread(lo, hi, down, zone)
            day += dt.timedelta(days=1)
    for cell, minutes in down.items():
        result.available[cell] = max(0.0, result.available[cell] - minutes)
    for session in UsageSession.objects.filter(asset=asset, started_at__lt=range_end).exclude(
        ended_at__lt=range_start
    ):
        if session.ended_at is None:
            continue  # in use now: counted when it stops
        result.has_usage = True
        _spread(max(session.started_at, range_start), min(session.ended_at, range_end), result.used, zone)
    exam_types = list(asset.exam_types.all())
    if exam_types:
        sharing = {et.pk: max(1, et.equipment.exclude(status="retired").count()) for et in exam_types}
        bookings = (
            Appointment.objects.filter(
                session__exam_type__in=exam_types,
                slot__starts_at__gte=range_start,
                slot__starts_at__lt=range_end,
            )
            .exclude(status__in=[AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW])
            .select_related("slot", "session__exam_type")
        )
        for booking in bookings:
            exam = booking.session.exam_type
            assert exam is not None
            begin = booking.slot.starts_at
            _spread(
                begin,
                begin + dt.timedelta(minutes=exam.duration_minutes),
                result.booked,
                zone,
                weight=1.0 / sharing[exam.pk],
            )
    return result


def expected_wait_minutes(load: float, service_minutes: int) -> int:
    """Mean wait in an M/M/1 queue at this load (ρ/(1-ρ) service times), load capped at 0.95."""
    rho = min(max(load, 0.0), 0.95)
    return round(service_minutes * rho / (1 - rho))
