"""A demo-like clinic for the what-if tests: cardiology's past months of sessions, bookings and
queues, drawn with the demo generator's own behaviour (arrival offsets, consultation times, no-show
rates, check-in channels) and queued with its ``replay_queue``, so the model is measured and
validated on data shaped like the demo year's."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from smartcare.core import clock
from smartcare.scheduling.choices import AppointmentStatus, Channel, FeeClass, Period
from smartcare.scheduling.models import Appointment, ClinicSession, ScheduleTemplate, Slot
from smartcare.simulation.scheduling_demo import (
    PHONE_CHECK_IN,
    QueuedVisit,
    arrival_offset_minutes,
    replay_queue,
)
from smartcare.visits.choices import EntryState
from smartcare.visits.models import QueueEntry
from tests.factories import PatientFactory

# (who, weekday, period, start, end, consultation mode minutes, mean fill of each place)
PLAN = [
    ("doctor", 0, Period.MORNING, dt.time(8), dt.time(12), 8.0, 0.75),
    ("doctor", 2, Period.MORNING, dt.time(8), dt.time(12), 8.0, 0.7),
    ("doctor", 4, Period.MORNING, dt.time(8), dt.time(12), 8.0, 0.6),
    ("head", 1, Period.AFTERNOON, dt.time(13, 30), dt.time(17), 9.0, 0.7),
    ("head", 3, Period.MORNING, dt.time(8), dt.time(12), 9.0, 0.8),
]
SLOT_MINUTES = 30
CAPACITY = 4


def build_clinic(h: Any, *, days: int = 150, seed: int = 11) -> dict[str, Any]:
    """Past ``days`` days of cardiology clinic (up to yesterday). Returns counts for the tests."""
    rng = random.Random(seed)
    tz = ZoneInfo(settings.TIME_ZONE)
    today = clock.today()
    pool = [PatientFactory() for _ in range(40)]
    templates = {}
    for who, weekday, period, start, end, _mode, _fill in PLAN:
        templates[(who, weekday, period)] = ScheduleTemplate.objects.create(
            department=h.cardiology,
            practitioner=h.user(who).practitioner,
            weekday=weekday,
            period=period,
            start_time=start,
            end_time=end,
            slot_minutes=SLOT_MINUTES,
            capacity_per_slot=CAPACITY,
            fee_class=FeeClass.ORDINARY,
        )
    counts = {"sessions": 0, "appointments": 0, "visits": 0}
    for offset in range(days, 0, -1):
        date = today - dt.timedelta(days=offset)
        for who, weekday, period, start, end, mode, fill in PLAN:
            if date.weekday() != weekday:
                continue
            starts_at = dt.datetime.combine(date, start, tzinfo=tz)
            ends_at = dt.datetime.combine(date, end, tzinfo=tz)
            session = ClinicSession.objects.create(
                template=templates[(who, weekday, period)],
                department=h.cardiology,
                practitioner=h.user(who).practitioner,
                date=date,
                period=period,
                starts_at=starts_at,
                ends_at=ends_at,
                fee_class=FeeClass.ORDINARY,
                releases_at=starts_at - dt.timedelta(days=7),
            )
            counts["sessions"] += 1
            patients = iter(rng.sample(pool, len(pool)))
            visits: list[QueuedVisit] = []
            moment = starts_at
            while moment + dt.timedelta(minutes=SLOT_MINUTES) <= ends_at:
                slot_end = moment + dt.timedelta(minutes=SLOT_MINUTES)
                wanted = sum(rng.random() < fill for _ in range(CAPACITY))
                slot = Slot.objects.create(
                    session=session, starts_at=moment, ends_at=slot_end, capacity=CAPACITY, booked=wanted
                )
                for _ in range(wanted):
                    no_show = rng.random() < 0.05
                    appointment = Appointment.objects.create(
                        slot=slot,
                        session=session,
                        department=h.cardiology,
                        date=date,
                        period=period,
                        patient=next(patients),
                        status=AppointmentStatus.NO_SHOW if no_show else AppointmentStatus.COMPLETED,
                        channel=Channel.APP,
                        booked_by=h.user("frontdesk"),
                        fee_class=FeeClass.ORDINARY,
                    )
                    counts["appointments"] += 1
                    if no_show:
                        continue
                    arrived = moment + dt.timedelta(minutes=arrival_offset_minutes(rng))
                    visit = QueuedVisit(
                        arrived=arrived, slot_start=moment, priority=2 if rng.random() > 0.1 else 1
                    )
                    visit.booking = appointment  # type: ignore[assignment]
                    visits.append(visit)
                moment = slot_end
            replay_queue(
                rng,
                visits,
                doctor_starts=starts_at + dt.timedelta(minutes=rng.uniform(-5, 10)),
                consult_mode=mode,
                late_grace=dt.timedelta(minutes=15),
            )
            entries = []
            for visit in visits:
                appointment = visit.booking  # type: ignore[assignment]
                Appointment.objects.filter(pk=appointment.pk).update(
                    checked_in_at=visit.arrived, called_at=visit.called, finished_at=visit.finished
                )
                entries.append(
                    QueueEntry(
                        appointment=appointment,
                        session=session,
                        number=visit.number,
                        priority=visit.priority,
                        order_time=visit.order_time,
                        state=EntryState.FINISHED,
                        is_late=visit.late,
                        arrived_at=visit.arrived,
                        called_at=visit.called,
                        finished_at=visit.finished,
                        recalls=visit.recalls,
                        check_in_channel=PHONE_CHECK_IN.draw(rng),
                    )
                )
            QueueEntry.objects.bulk_create(entries)
            counts["visits"] += len(entries)
    return counts
