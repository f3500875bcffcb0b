"""Run the model: the current setup against a scenario, with confidence intervals from repeated
seeded runs, and the validation of the model against a past month.

Replication ``r`` of the current setup and of the scenario use the same seed (``seed + r``:
common random numbers), so the difference between them is estimated with less noise than either
figure alone. The 95 % intervals are Student-t intervals over the replications.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
from collections import defaultdict
from typing import Any

from smartcare.core import clock
from smartcare.organization.models import Department
from smartcare.simulation.errors import InvalidRunOptions, InvalidValidationMonth
from smartcare.simulation.whatif.measure import ClinicData, SessionPlan, measure
from smartcare.simulation.whatif.model import DoctorDay, HalfDay, Setup, Tally, run_half_day
from smartcare.simulation.whatif.scenario import Scenario

# Calibration window before today (or before the validated month).
CALIBRATION_DAYS = 91
MAX_RUNS = 100
MAX_WEEKS = 12
# The model is accepted when the simulated mean wait of a past month is within this many minutes,
# or this share, of the measured one (whichever is larger).
TOLERANCE_MINUTES = 3.0
TOLERANCE_SHARE = 0.15

METRICS = (
    "wait_mean",
    "wait_p90",
    "waited_over_30_share",
    "check_in_wait_mean",
    "overtime_mean",
    "sessions_with_overtime_share",
    "staff_load",
    "patients_seen_per_week",
    "booked_per_week",
    "turned_away_per_week",
)


def check_options(runs: Any, weeks: Any, seed: Any) -> tuple[int, int, int]:
    try:
        runs, weeks, seed = int(runs), int(weeks), int(seed)
    except (TypeError, ValueError) as exc:
        raise InvalidRunOptions(problem="runs, weeks and seed must be whole numbers") from exc
    if not 2 <= runs <= MAX_RUNS:
        raise InvalidRunOptions(problem=f"runs must be between 2 and {MAX_RUNS}")
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidRunOptions(problem=f"weeks must be between 1 and {MAX_WEEKS}")
    if not 0 <= seed < 2**31:
        raise InvalidRunOptions(problem="seed must be between 0 and 2147483647")
    return runs, weeks, seed


def setup_for(data: ClinicData, scenario: Scenario) -> Setup:
    def pick(value: int | None, default: int) -> int:
        return default if value is None else value

    return Setup(
        opens_minutes=pick(scenario.opens_minutes, data.opens_minutes),
        late_grace_minutes=pick(scenario.late_grace_minutes, data.late_grace_minutes),
        kiosks=pick(scenario.kiosks, data.kiosks),
        desks=pick(scenario.desks, data.desks),
        consultation_factor=1 + scenario.consultation_change_percent / 100,
        fixed_start_delay=scenario.doctor_start_delay_minutes,
    )


def _scaled(rng: random.Random, n: int, percent: float) -> int:
    """``n`` booked patients changed by ``percent``, rounded at random so the mean is exact."""
    value = n * (1 + percent / 100)
    whole = math.floor(value)
    return whole + (rng.random() < value - whole)


def _seats(start: float, end: float, slot_minutes: int, capacity: int) -> list[float]:
    seats: list[float] = []
    moment = start
    while moment + slot_minutes <= end + 1e-9:
        seats.extend([moment] * capacity)
        moment += slot_minutes
    return seats


def _week(rng: random.Random, data: ClinicData, scenario: Scenario, tally: Tally, setup: Setup) -> int:
    """Simulate one week of the department's clinic; returns the patients turned away."""
    groups: dict[tuple[int, str], list[SessionPlan]] = defaultdict(list)
    for plan in data.plans:
        groups[(plan.weekday, plan.period)].append(plan)
    extras: dict[tuple[int, str], int] = defaultdict(int)
    for extra in scenario.extra_sessions:
        extras[(extra.weekday, extra.period)] += extra.doctors
    turned_away = 0
    for key in sorted(set(groups) | set(extras)):
        plans = groups.get(key, [])
        # (practitioner, start, end, slot length, capacity, booked) of each session held this week.
        held: list[tuple[int | None, float, float, int, int, int]] = []
        for plan in plans:
            if rng.random() >= plan.frequency:
                continue
            booked = _scaled(
                rng, plan.demand[int(rng.random() * len(plan.demand))], scenario.demand_change_percent
            )
            held.append(
                (
                    plan.practitioner_id,
                    plan.start,
                    plan.end,
                    plan.slot_minutes,
                    plan.capacity_per_slot,
                    booked,
                )
            )
        added = 0
        for _ in range(extras.get(key, 0)):
            model_plan = plans[0] if plans else _typical(data, key[1])
            if model_plan is None:
                continue
            added += 1
            held.append(
                (
                    None,
                    model_plan.start,
                    model_plan.end,
                    model_plan.slot_minutes,
                    model_plan.capacity_per_slot,
                    0,
                )
            )
        if not held:
            continue
        seats = [
            _seats(start, end, scenario.slot_minutes or slot, scenario.capacity_per_slot or capacity)
            for _p, start, end, slot, capacity, _n in held
        ]
        counts = [n for *_rest, n in held]
        if added:
            # Patients follow the free capacity: each booking moves to an extra doctor with the
            # share of the half-day's places that the extra doctors add.
            sizes = [len(s) for s in seats]
            total = sum(sizes)
            first_extra = len(held) - added
            extra_share = sum(sizes[first_extra:]) / total if total else 0
            extra_n = 0
            for i in range(first_extra):
                moved = sum(rng.random() < extra_share for _ in range(counts[i]))
                counts[i] -= moved
                extra_n += moved
            for j in range(first_extra, len(held)):
                counts[j] = extra_n // added + (j - first_extra < extra_n % added)
        doctors: list[DoctorDay] = []
        for (practitioner, start, end, *_rest), places, n in zip(held, seats, counts, strict=True):
            if n > len(places):
                turned_away += n - len(places)
                n = len(places)
            doctors.append(
                DoctorDay(
                    start=start,
                    end=end,
                    slot_starts=sorted(rng.sample(places, n)),
                    consult=data.consult_for(practitioner),
                )
            )
        run_half_day(rng, HalfDay(doctors), data.behaviour, setup, tally)
    return turned_away


def _typical(data: ClinicData, period: str) -> SessionPlan | None:
    candidates = [p for p in data.plans if p.period == period] or data.plans
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.frequency, -p.start))


def summarize(tally: Tally, weeks: float, turned_away: int = 0) -> dict[str, float]:
    waits = sorted(tally.waits) or [0.0]
    return {
        "wait_mean": statistics.fmean(waits),
        "wait_p90": waits[int(0.9 * (len(waits) - 1))],
        "waited_over_30_share": sum(w > 30 for w in waits) / len(waits),
        "check_in_wait_mean": statistics.fmean(tally.check_in_waits) if tally.check_in_waits else 0.0,
        "overtime_mean": statistics.fmean(tally.overtimes) if tally.overtimes else 0.0,
        "sessions_with_overtime_share": (
            sum(o > 0 for o in tally.overtimes) / len(tally.overtimes) if tally.overtimes else 0.0
        ),
        "staff_load": 100 * tally.busy / tally.scheduled if tally.scheduled else 0.0,
        "patients_seen_per_week": tally.seen / weeks,
        "booked_per_week": tally.booked / weeks,
        "turned_away_per_week": turned_away / weeks,
    }


def simulate(data: ClinicData, scenario: Scenario, *, weeks: int, seed: int) -> dict[str, float]:
    """One replication: ``weeks`` weeks of the department's clinic under ``scenario``."""
    rng = random.Random(seed)
    tally = Tally()
    setup = setup_for(data, scenario)
    turned_away = sum(_week(rng, data, scenario, tally, setup) for _ in range(weeks))
    return summarize(tally, weeks, turned_away)


def interval(values: list[float]) -> dict[str, float]:
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean": round(mean, 3), "low": round(mean, 3), "high": round(mean, 3)}
    from scipy import stats  # on first use: importing SciPy costs seconds at start-up

    half = float(stats.t.ppf(0.975, n - 1)) * statistics.stdev(values) / math.sqrt(n)
    return {"mean": round(mean, 3), "low": round(mean - half, 3), "high": round(mean + half, 3)}


def compare(
    data: ClinicData,
    scenario: Scenario,
    *,
    runs: int = 10,
    weeks: int = 4,
    seed: int = 1,
    progress: Any = None,
) -> dict[str, Any]:
    """The current setup and the scenario side by side, and their paired difference."""
    runs, weeks, seed = check_options(runs, weeks, seed)
    current: dict[str, list[float]] = defaultdict(list)
    changed: dict[str, list[float]] = defaultdict(list)
    for r in range(runs):
        base = simulate(data, Scenario(), weeks=weeks, seed=seed + r)
        other = simulate(data, scenario, weeks=weeks, seed=seed + r)
        for name in METRICS:
            current[name].append(base[name])
            changed[name].append(other[name])
        if progress is not None:
            progress(r + 1, runs)
    return {
        "department": data.department_code,
        "scenario": scenario.as_dict(),
        "runs": runs,
        "weeks": weeks,
        "seed": seed,
        "calibration": data.describe(),
        "metrics": {
            name: {
                "current": interval(current[name]),
                "scenario": interval(changed[name]),
                "difference": interval([b - a for a, b in zip(current[name], changed[name], strict=True)]),
            }
            for name in METRICS
        },
    }


def parse_month(value: str) -> tuple[dt.date, dt.date]:
    try:
        year, month = (int(part) for part in str(value).split("-"))
        first = dt.date(year, month, 1)
    except (TypeError, ValueError) as exc:
        raise InvalidValidationMonth(problem=str(value)[:20]) from exc
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    if last >= clock.today():
        raise InvalidValidationMonth(problem=str(value)[:20])
    return first, last


def last_full_month() -> str:
    first = clock.today().replace(day=1) - dt.timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def validate(department: Department, month: str, *, runs: int = 5, seed: int = 1) -> dict[str, Any]:
    """Fit on the 91 days before ``month``, replay that month's sessions as they were booked, and
    compare the simulated waits with the measured ones."""
    runs, _weeks, seed = check_options(runs, 1, seed)
    first, last = parse_month(month)
    calibration = measure(
        department, first - dt.timedelta(days=CALIBRATION_DAYS), first - dt.timedelta(days=1)
    )
    target = measure(department, first, last, with_actual=True)
    setup = setup_for(calibration, Scenario())
    groups: dict[tuple[dt.date, str], list[DoctorDay]] = defaultdict(list)
    for session in target.actual:
        groups[(session.date, session.period)].append(
            DoctorDay(
                start=session.start,
                end=session.end,
                slot_starts=session.slot_starts,
                consult=calibration.consult_for(session.practitioner_id),
            )
        )
    means: list[float] = []
    p90s: list[float] = []
    for r in range(runs):
        rng = random.Random(seed + r)
        tally = Tally()
        for key in sorted(groups):
            run_half_day(rng, HalfDay(groups[key]), calibration.behaviour, setup, tally)
        summary = summarize(tally, 1)
        means.append(summary["wait_mean"])
        p90s.append(summary["wait_p90"])
    measured = target.measured["measured_wait_mean"]
    simulated = interval(means)
    tolerance = max(TOLERANCE_MINUTES, TOLERANCE_SHARE * measured)
    difference = simulated["mean"] - measured
    # A one-doctor month has few sessions and its mean wait is itself uncertain: reported beside
    # the fixed tolerance, the difference against both figures' sampling error.
    noise = 1.96 * math.sqrt(
        target.measured["measured_wait_se"] ** 2 + ((simulated["high"] - simulated["low"]) / 3.92) ** 2
    )
    return {
        "department": department.code,
        "month": month,
        "calibration_window": [calibration.start.isoformat(), calibration.end.isoformat()],
        "sessions": len(target.actual),
        "measured_visits": target.measured["measured_visits"],
        "measured_wait_mean": measured,
        "measured_wait_p90": target.measured["measured_wait_p90"],
        "simulated_wait_mean": simulated,
        "simulated_wait_p90": interval(p90s),
        "difference_minutes": round(difference, 2),
        "tolerance_minutes": round(tolerance, 2),
        "within_tolerance": abs(difference) <= tolerance,
        "measured_wait_se": target.measured["measured_wait_se"],
        "sampling_error_minutes": round(noise, 2),
        "within_sampling_error": abs(difference) <= noise,
        "runs": runs,
        "seed": seed,
    }


def compare_department(
    department: Department,
    scenario: Scenario,
    *,
    runs: int = 10,
    weeks: int = 4,
    seed: int = 1,
    progress: Any = None,
) -> dict[str, Any]:
    """Fit on the last 91 days and compare."""
    runs, weeks, seed = check_options(runs, weeks, seed)
    today = clock.today()
    data = measure(department, today - dt.timedelta(days=CALIBRATION_DAYS), today - dt.timedelta(days=1))
    return compare(data, scenario, runs=runs, weeks=weeks, seed=seed, progress=progress)
