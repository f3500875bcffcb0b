"""Measure the model's inputs from the hospital's own scheduling and visit records.

For one department and a window of past days this reads the clinic sessions (doctor, weekday,
period, times, slot length and capacity), the appointments booked in them (cancelled ones left out)
and the queue entries of the patients who came: when they checked in relative to their booked
slot, how they checked in, how long the doctor spent with them, how long doctors paused between
patients and how late they started. Nothing is assumed here that the data holds; what the data
cannot hold (service times at kiosks and desks) is in ``model``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q

from smartcare.organization.models import Department
from smartcare.scheduling.choices import AppointmentStatus, SessionStatus
from smartcare.scheduling.models import Appointment, ClinicSession
from smartcare.scheduling.policy import policy_for
from smartcare.simulation.errors import NotEnoughData, UnknownDepartment
from smartcare.simulation.whatif.model import Behaviour
from smartcare.visits.choices import EntryState
from smartcare.visits.models import QueueEntry

# Consultations longer than this are a doctor who forgot to press "finish"; left out.
MAX_CONSULT = 90.0
# Pauses longer than this are breaks, not the turnover between two patients.
MAX_GAP = 10.0
DEFAULT_KIOSKS = 2
DEFAULT_DESKS = 1


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def minutes_of(moment: dt.datetime) -> float:
    local = moment.astimezone(local_tz())
    return local.hour * 60 + local.minute + local.second / 60


@dataclass
class SessionPlan:
    """A doctor's recurring session (weekday and period) in the window."""

    weekday: int
    period: str
    practitioner_id: int
    start: float
    end: float
    slot_minutes: int
    capacity_per_slot: int
    demand: list[int]  # booked (not cancelled) appointments of each occurrence
    frequency: float  # share of the window's weeks in which it took place


@dataclass
class ActualSession:
    """One past session as it was booked (for validation)."""

    date: dt.date
    period: str
    practitioner_id: int
    start: float
    end: float
    slot_starts: list[float]


@dataclass
class ClinicData:
    department_code: str
    department_name: str
    start: dt.date
    end: dt.date
    plans: list[SessionPlan]
    behaviour: Behaviour
    consult: dict[int, list[float]]
    consult_all: list[float]
    opens_minutes: int
    late_grace_minutes: int
    kiosks: int
    desks: int
    measured: dict[str, Any] = field(default_factory=dict)
    actual: list[ActualSession] = field(default_factory=list)

    def consult_for(self, practitioner_id: int | None) -> list[float]:
        own = self.consult.get(practitioner_id or 0) or []
        return own if len(own) >= 20 else self.consult_all

    def describe(self) -> dict[str, Any]:
        b = self.behaviour
        return {
            "department": self.department_code,
            "window": [self.start.isoformat(), self.end.isoformat()],
            "weekly_sessions": round(sum(p.frequency for p in self.plans), 1),
            "doctors": len({p.practitioner_id for p in self.plans}),
            "no_show_rate": round(b.no_show_rate, 4),
            "arrival_offset_median": round(statistics.median(b.arrival_offsets), 1),
            "consultation_median": round(statistics.median(self.consult_all), 1),
            "check_in_mix": {
                "phone": round(b.phone_share, 3),
                "kiosk": round(b.kiosk_share, 3),
                "desk": round(b.desk_share, 3),
            },
            "opens_minutes": self.opens_minutes,
            "late_grace_minutes": self.late_grace_minutes,
            "kiosks": self.kiosks,
            "desks": self.desks,
            **self.measured,
        }


def department_by_code(code: str) -> Department:
    department = Department.objects.filter(national_code_id=str(code).strip(), is_clinical=True).first()
    if department is None:
        raise UnknownDepartment(code=code)
    return department


def _window_filter(prefix: str, start: dt.date, end: dt.date) -> Q:
    return Q(**{f"{prefix}date__gte": start, f"{prefix}date__lte": end})


def measure(department: Department, start: dt.date, end: dt.date, *, with_actual: bool = False) -> ClinicData:
    """Fit the model's inputs on ``department``'s sessions from ``start`` to ``end`` (inclusive).

    SIM-014 when the window has no session with a seen patient.
    """
    sessions: dict[int, dict[str, Any]] = {
        s["pk"]: dict(s)
        for s in ClinicSession.objects.filter(
            _window_filter("", start, end),
            department=department,
            status=SessionStatus.SCHEDULED,
            exam_type__isnull=True,
        ).values(
            "pk",
            "date",
            "period",
            "practitioner_id",
            "starts_at",
            "ends_at",
            "template__slot_minutes",
            "template__capacity_per_slot",
        )
    }
    booked: dict[int, list[float]] = defaultdict(list)
    statuses: Counter[str] = Counter()
    slot_start_of: dict[int, dt.datetime] = {}
    for pk, session_id, status, slot_start in (
        Appointment.objects.filter(session_id__in=list(sessions))
        .exclude(status=AppointmentStatus.CANCELLED)
        .values_list("pk", "session_id", "status", "slot__starts_at")
    ):
        booked[session_id].append(minutes_of(slot_start))
        statuses[status] += 1
        slot_start_of[pk] = slot_start
    entries: list[tuple[Any, ...]] = list(
        QueueEntry.objects.filter(
            session_id__in=list(sessions), state=EntryState.FINISHED, called_at__isnull=False
        ).values_list(
            "appointment_id",
            "session_id",
            "priority",
            "arrived_at",
            "called_at",
            "finished_at",
            "check_in_channel",
        )
    )
    if not entries:
        raise NotEnoughData(department=department.code, start=start.isoformat(), end=end.isoformat())
    offsets: list[float] = []
    consult: dict[int, list[float]] = defaultdict(list)
    channels: Counter[str] = Counter()
    waits: list[float] = []
    priority = 0
    by_session: dict[int, list[tuple[Any, Any, Any]]] = defaultdict(list)
    for appointment_id, session_id, prio, arrived, called, finished, channel in entries:
        booked_at = slot_start_of.get(appointment_id)
        if booked_at is not None:
            offsets.append((arrived - booked_at).total_seconds() / 60)
        waits.append((called - arrived).total_seconds() / 60)
        channels[channel if channel in ("phone", "kiosk") else "desk"] += 1
        priority += prio < 2
        practitioner = sessions[session_id]["practitioner_id"] or 0
        if finished is not None:
            minutes = (finished - called).total_seconds() / 60
            if 0 < minutes <= MAX_CONSULT:
                consult[practitioner].append(minutes)
        by_session[session_id].append((arrived, called, finished))
    gaps: list[float] = []
    delays: list[float] = []
    overtimes: list[float] = []
    busy = scheduled = 0.0
    for session_id, rows in by_session.items():
        rows.sort(key=lambda r: r[1])
        session = sessions[session_id]
        if rows[0][0] < session["starts_at"]:
            delays.append((rows[0][1] - session["starts_at"]).total_seconds() / 60)
        for before, after in itertools.pairwise(rows):
            if before[2] is not None and after[0] <= before[2]:
                gap = (after[1] - before[2]).total_seconds() / 60
                if 0 <= gap <= MAX_GAP:
                    gaps.append(gap)
        last = max((r[2] for r in rows if r[2] is not None), default=None)
        if last is not None:
            overtimes.append(max(0.0, (last - session["ends_at"]).total_seconds() / 60))
        busy += sum((r[2] - r[1]).total_seconds() / 60 for r in rows if r[2] is not None)
        scheduled += (session["ends_at"] - session["starts_at"]).total_seconds() / 60
    consult_all = [m for values in consult.values() for m in values]
    came = sum(statuses[s] for s in statuses if s != AppointmentStatus.NO_SHOW)
    no_show_rate = statuses[AppointmentStatus.NO_SHOW] / max(1, came + statuses[AppointmentStatus.NO_SHOW])
    total_channels = sum(channels.values())
    behaviour = Behaviour(
        arrival_offsets=sorted(offsets) or [0.0],
        no_show_rate=no_show_rate,
        phone_share=channels["phone"] / total_channels,
        kiosk_share=channels["kiosk"] / total_channels,
        desk_share=channels["desk"] / total_channels,
        priority_share=priority / len(entries),
        gaps=sorted(gaps) or [0.5],
        start_delays=sorted(delays) or [0.0],
    )
    weeks = max(1.0, ((end - start).days + 1) / 7)
    grouped: dict[tuple[int, str, int], list[dict[str, Any]]] = defaultdict(list)
    for session in sessions.values():
        grouped[(session["date"].weekday(), session["period"], session["practitioner_id"] or 0)].append(
            session
        )
    plans = []
    for (weekday, period, practitioner), occurrences in sorted(grouped.items()):
        occurrences.sort(key=lambda s: s["date"])
        latest = occurrences[-1]
        slot_minutes = latest["template__slot_minutes"] or 30
        capacity = latest["template__capacity_per_slot"] or 4
        plans.append(
            SessionPlan(
                weekday=weekday,
                period=period,
                practitioner_id=practitioner,
                start=minutes_of(latest["starts_at"]),
                end=minutes_of(latest["ends_at"]),
                slot_minutes=slot_minutes,
                capacity_per_slot=capacity,
                demand=[len(booked.get(s["pk"], [])) for s in occurrences],
                frequency=min(1.0, len(occurrences) / weeks),
            )
        )
    policy = policy_for(department.pk)
    mean_wait = statistics.fmean(waits)
    # The measured mean's standard error with sessions as clusters (patients of one session share
    # its delays): the usual ratio-estimator variance, sum of n_s^2 (mean_s - mean)^2 / N^2 * k/(k-1).
    session_waits = [
        [(called - arrived).total_seconds() / 60 for arrived, called, _f in rows]
        for rows in by_session.values()
    ]
    k = len(session_waits)
    spread = sum(len(w) ** 2 * (statistics.fmean(w) - mean_wait) ** 2 for w in session_waits)
    standard_error = math.sqrt(spread / len(waits) ** 2 * k / (k - 1)) if k > 1 else 0.0
    waits.sort()
    data = ClinicData(
        department_code=department.code,
        department_name=str(department.name),
        start=start,
        end=end,
        plans=plans,
        behaviour=behaviour,
        consult=dict(consult),
        consult_all=consult_all or [10.0],
        opens_minutes=policy.check_in_opens_minutes,
        late_grace_minutes=policy.late_grace_minutes,
        kiosks=DEFAULT_KIOSKS,
        desks=DEFAULT_DESKS,
        measured={
            "measured_visits": len(entries),
            "measured_wait_mean": round(mean_wait, 2),
            "measured_wait_p90": round(waits[int(0.9 * (len(waits) - 1))], 2),
            "measured_wait_se": round(standard_error, 2),
            "measured_sessions": k,
            "measured_overtime_mean": round(statistics.fmean(overtimes), 2) if overtimes else 0.0,
            "measured_staff_load": round(100 * busy / scheduled, 1) if scheduled else 0.0,
        },
    )
    if with_actual:
        data.actual = [
            ActualSession(
                date=s["date"],
                period=s["period"],
                practitioner_id=s["practitioner_id"] or 0,
                start=minutes_of(s["starts_at"]),
                end=minutes_of(s["ends_at"]),
                slot_starts=sorted(booked.get(pk, [])),
            )
            for pk, s in sorted(sessions.items(), key=lambda item: (item[1]["date"], item[0]))
        ]
    return data
