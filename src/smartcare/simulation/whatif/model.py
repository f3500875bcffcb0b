"""The discrete-event model of one clinic half-day (SimPy).

Patients with a booking either do not come (the measured no-show rate) or arrive at their booked
slot's start plus a measured arrival offset; they check in by phone (only inside the check-in
window), at a kiosk or at a staffed desk (both shared by the department's sessions of the
half-day and queued), and join their doctor's queue. Each doctor starts with a measured delay and
calls one patient at a time by priority, then order time (the booked time, or the arrival time for
those later than the grace period), then arrival — the rules of ``visits`` — with a measured
consultation time and a measured pause between patients.

Times are minutes since midnight of the clinic day. Every random draw comes from the ``rng`` given,
so a run is reproduced exactly by its seed.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

import simpy

# Service times at check-in are not recorded by the hospital's systems (only the moment a patient
# is checked in is); these are the assumed (min, mode, max) minutes, documented in
# docs/modules/simulation.md.
KIOSK_MINUTES = (0.5, 1.0, 2.5)
DESK_MINUTES = (1.0, 2.0, 4.0)


@dataclass
class Behaviour:
    """How patients and doctors behave, measured from the hospital's data (see ``measure``)."""

    arrival_offsets: list[float]  # check-in minus booked slot start, minutes
    no_show_rate: float
    phone_share: float
    kiosk_share: float
    desk_share: float
    priority_share: float
    gaps: list[float]  # pause between one patient's end and the next call, minutes
    start_delays: list[float]  # first call minus session start when patients were waiting


@dataclass
class Setup:
    """The clinic's rules that a scenario may change."""

    opens_minutes: int
    late_grace_minutes: int
    kiosks: int
    desks: int
    consultation_factor: float = 1.0
    fixed_start_delay: float | None = None


@dataclass
class DoctorDay:
    start: float
    end: float
    slot_starts: list[float]  # one entry per booked (not cancelled) appointment
    consult: list[float]  # this doctor's measured consultation minutes


@dataclass
class HalfDay:
    doctors: list[DoctorDay]


@dataclass
class Tally:
    """What one run observed."""

    waits: list[float] = field(default_factory=list)  # check-in to call, minutes
    check_in_waits: list[float] = field(default_factory=list)  # queueing at kiosk or desk
    overtimes: list[float] = field(default_factory=list)  # per doctor session, minutes after the end
    busy: float = 0.0
    scheduled: float = 0.0
    booked: int = 0
    seen: int = 0
    sessions: int = 0


def draw(rng: random.Random, values: list[float]) -> float:
    return values[int(rng.random() * len(values))]


@dataclass(order=True)
class _Waiting:
    priority: int
    order_time: float
    arrived: float
    checked_in: float = field(compare=False)


class _Doctor:
    def __init__(self, day: DoctorDay, expected: int) -> None:
        self.day = day
        self.expected = expected
        self.waiting: list[_Waiting] = []
        self.wake: simpy.Event | None = None

    def arrive(self, patient: _Waiting) -> None:
        bisect.insort(self.waiting, patient)
        if self.wake is not None and not self.wake.triggered:
            self.wake.succeed()


def _check_in_minutes(rng: random.Random, spec: tuple[float, float, float]) -> float:
    low, mode, high = spec
    return rng.triangular(low, high, mode)


def run_half_day(
    rng: random.Random, half_day: HalfDay, behaviour: Behaviour, setup: Setup, tally: Tally
) -> None:
    grace = setup.late_grace_minutes
    doctors: list[_Doctor] = []
    arrivals: list[tuple[float, float, _Doctor, str]] = []
    walk_shares = behaviour.kiosk_share + behaviour.desk_share
    for day in half_day.doctors:
        coming: list[tuple[float, float, str]] = []
        for slot_start in day.slot_starts:
            tally.booked += 1
            if rng.random() < behaviour.no_show_rate:
                continue
            arrived = slot_start + draw(rng, behaviour.arrival_offsets)
            pick = rng.random()
            if pick < behaviour.phone_share and arrived >= slot_start - setup.opens_minutes:
                way = "phone"
            elif walk_shares <= 0 or rng.random() < behaviour.kiosk_share / walk_shares:
                way = "kiosk" if setup.kiosks > 0 else "desk"
            else:
                way = "desk" if setup.desks > 0 else "kiosk"
            coming.append((arrived, slot_start, way))
        doctor = _Doctor(day, len(coming))
        doctors.append(doctor)
        arrivals.extend((arrived, slot_start, doctor, way) for arrived, slot_start, way in coming)
    if not doctors:
        return
    origin = min([d.day.start for d in doctors] + [a[0] for a in arrivals])
    env = simpy.Environment(initial_time=origin)
    kiosks = simpy.Resource(env, capacity=setup.kiosks) if setup.kiosks > 0 else None
    desks = simpy.Resource(env, capacity=setup.desks) if setup.desks > 0 else None
    arrivals.sort(key=lambda a: a[0])
    priorities = [1 if rng.random() < behaviour.priority_share else 2 for _ in arrivals]
    kiosk_times = [_check_in_minutes(rng, KIOSK_MINUTES) for _ in arrivals]
    desk_times = [_check_in_minutes(rng, DESK_MINUTES) for _ in arrivals]

    def patient(n: int, arrived: float, slot_start: float, doctor: _Doctor, way: str):  # type: ignore[no-untyped-def]
        yield env.timeout(arrived - env.now)
        if way != "phone":
            resource = kiosks if way == "kiosk" else desks
            assert resource is not None
            with resource.request() as turn:
                yield turn
                tally.check_in_waits.append(env.now - arrived)
                yield env.timeout(kiosk_times[n] if way == "kiosk" else desk_times[n])
        checked_in = env.now
        late = checked_in > slot_start + grace
        doctor.arrive(_Waiting(priorities[n], checked_in if late else slot_start, checked_in, checked_in))

    def work(doctor: _Doctor):  # type: ignore[no-untyped-def]
        day = doctor.day
        delay = (
            setup.fixed_start_delay
            if setup.fixed_start_delay is not None
            else draw(rng, behaviour.start_delays)
        )
        yield env.timeout(max(0.0, day.start + delay - env.now))
        seen = 0
        last_end = None
        while seen < doctor.expected:
            if not doctor.waiting:
                doctor.wake = env.event()
                yield doctor.wake
                doctor.wake = None
            chosen = doctor.waiting.pop(0)
            tally.waits.append(env.now - chosen.checked_in)
            minutes = max(0.5, draw(rng, day.consult) * setup.consultation_factor)
            tally.busy += minutes
            yield env.timeout(minutes)
            last_end = env.now
            seen += 1
            if seen < doctor.expected:
                yield env.timeout(draw(rng, behaviour.gaps))
        tally.seen += seen
        tally.overtimes.append(max(0.0, (last_end or day.start) - day.end))

    for n, (arrived, slot_start, doctor, way) in enumerate(arrivals):
        env.process(patient(n, arrived, slot_start, doctor, way))
    for doctor in doctors:
        tally.sessions += 1
        tally.scheduled += doctor.day.end - doctor.day.start
        env.process(work(doctor))
    env.run()
