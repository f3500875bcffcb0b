"""The rostering problem, independent of Django: days, shift types, staff with their limits,
cover requirements, requests and the weights of the soft rules.

One model serves both the hospital's rosters and the Curtois & Qu benchmark. The benchmark uses
the subset it defines (soft cover with under/over weights, shift-on/off requests, its hard staff
limits); the hospital adds hard minimum cover per skill group, preferred shift types, fairness of
nights and weekends and the 80-90 % load band.

Days are indexes from 0 (the first day of the period); a roster never spans more than a few months.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ShiftDef:
    id: str
    minutes: int
    # Shift types that may not be worked on the day after this one (no early after a night,
    # or too little rest between the two).
    cannot_follow: frozenset[str] = frozenset()
    is_night: bool = False


@dataclass(frozen=True)
class MinuteLimit:
    """Worked minutes between ``first_day`` and ``last_day`` (inclusive) must lie in [min, max]."""

    first_day: int
    last_day: int
    min_minutes: int | None = None
    max_minutes: int | None = None


@dataclass
class StaffDef:
    id: str
    # Most shifts of each type in the period; a type missing here is unlimited, 0 forbids it.
    max_shifts: dict[str, int] = field(default_factory=dict)
    minute_limits: list[MinuteLimit] = field(default_factory=list)
    max_consecutive: int | None = None  # working days in a row
    min_consecutive: int | None = None  # a run of working days is at least this long
    min_days_off: int | None = None  # a run of days off is at least this long
    max_weekends: int | None = None  # weekends with at least one shift
    days_off: frozenset[int] = frozenset()  # may not work (approved leave, benchmark days off)
    groups: frozenset[str] = frozenset()  # cover groups the person counts for ("nurse", "nurse+icu")
    preferred_shifts: frozenset[str] = frozenset()  # soft: empty means no preference
    # The end of the previous roster: the shift worked the day before the period (for the shift
    # rotation) and how many days in a row had been worked by then (for the maximum).
    shift_before: str | None = None
    worked_before: int = 0
    name: str = ""

    def may_work(self, shift: str) -> bool:
        return self.max_shifts.get(shift, 1) > 0


@dataclass(frozen=True)
class CoverDef:
    """People on ``shift`` on ``day`` counting for ``group`` (None: everybody)."""

    day: int
    shift: str
    requirement: int
    group: str | None = None
    under_weight: int = 0  # soft: penalty per missing person
    over_weight: int = 0  # soft: penalty per person above the requirement
    hard_min: bool = False  # the requirement is a hard lower bound
    # The load band: with this many people the forecast workload keeps each of them between
    # 80 % and 90 % busy. Soft, weighted by ``Weights.load_band`` per person outside it.
    band_low: int | None = None
    band_high: int | None = None


@dataclass(frozen=True)
class RequestDef:
    """A wish: ``on`` to work ``shift`` (None: any shift) on ``day``, or not to (``on`` False)."""

    staff: str
    day: int
    shift: str | None
    on: bool
    weight: int


@dataclass
class Weights:
    """Weights of the soft rules beyond requests and cover (0 switches a rule off)."""

    preferred_shift: int = 0  # per shift not among the person's preferred types
    night_fairness: int = 0  # per night of spread (most nights minus fewest) among night workers
    weekend_fairness: int = 0  # per weekend day of spread among those who may work weekends
    load_band: int = 0  # per person on a shift outside the cover's load band


@dataclass
class Problem:
    name: str
    days: int
    shifts: list[ShiftDef]
    staff: list[StaffDef]
    covers: list[CoverDef] = field(default_factory=list)
    requests: list[RequestDef] = field(default_factory=list)
    weights: Weights = field(default_factory=Weights)
    # Each weekend as the day indexes it is made of (Saturday and Sunday inside the period).
    weekends: list[tuple[int, ...]] = field(default_factory=list)

    def shift(self, shift_id: str) -> ShiftDef:
        return self.shift_index[shift_id]

    @property
    def shift_index(self) -> dict[str, ShiftDef]:
        return {s.id: s for s in self.shifts}

    @property
    def staff_index(self) -> dict[str, StaffDef]:
        return {s.id: s for s in self.staff}

    @property
    def night_shifts(self) -> frozenset[str]:
        return frozenset(s.id for s in self.shifts if s.is_night)

    def weekend_days(self) -> frozenset[int]:
        return frozenset(d for weekend in self.weekends for d in weekend)


# A roster: (staff id, day) -> shift id. Days off are simply absent.
Roster = dict[tuple[str, int], str]


def weekends_from_monday(days: int) -> list[tuple[int, ...]]:
    """Weekends of a period that starts on a Monday (the benchmark's convention)."""
    weekends = []
    for saturday in range(5, days, 7):
        weekends.append(tuple(d for d in (saturday, saturday + 1) if d < days))
    return weekends
