"""Effect of intervention programmes, with confidence intervals.

For each enrolled patient: the risk (the programme's model) and the measures (systolic blood
pressure, LDL, HbA1c, weight) at enrolment (the baseline assessment) and at follow-up (the latest
assessment at least ``MIN_FOLLOW_UP_DAYS`` later). The comparison group: patients never enrolled in
the programme who had two assessments of the same model as far apart, matched one to one on sex and
baseline risk (nearest neighbour within ``CALIPER``, without replacement), so that regression to
the mean and secular trends affect both groups alike.

Reported: the mean change in each group with a 95% t-interval, the difference between the groups
(Welch's t-interval), and the share of enrolled patients whose risk fell by at least 25% of its
baseline (the plan's indicator) with a 95% Wilson interval, overall and among those who followed
the advice (mean adherence of at least one half).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartcare.health.choices import ADHERENCE_SCORE

MIN_FOLLOW_UP_DAYS = 90
CALIPER = 0.02  # absolute risk, for matching comparison patients
REDUCTION_TARGET = 0.25
MEASURES = ("systolic_bp", "ldl", "hba1c", "weight")


@dataclass(frozen=True)
class Pair:
    """One patient's baseline and follow-up."""

    patient_id: int
    sex: str
    baseline_risk: float
    follow_up_risk: float
    baseline_measures: dict[str, Any] = field(default_factory=dict)
    follow_up_measures: dict[str, Any] = field(default_factory=dict)
    adherence: float | None = None  # mean adherence score 0..1, None without reports
    department_id: int | None = None

    @property
    def change(self) -> float:
        return self.follow_up_risk - self.baseline_risk

    @property
    def relative_reduction(self) -> float:
        return (
            (self.baseline_risk - self.follow_up_risk) / self.baseline_risk if self.baseline_risk > 0 else 0.0
        )

    def measure_change(self, name: str) -> float | None:
        before, after = self.baseline_measures.get(name), self.follow_up_measures.get(name)
        if isinstance(before, int | float) and isinstance(after, int | float):
            return float(after) - float(before)
        return None


@dataclass(frozen=True)
class Interval:
    estimate: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class Share:
    count: int
    n: int
    share: float | None
    low: float | None
    high: float | None


@dataclass
class Effect:
    enrolled: int
    compared: int
    risk_enrolled: Interval
    risk_comparison: Interval
    risk_difference: Interval
    measures: dict[str, tuple[Interval, Interval, Interval]]  # name -> enrolled, comparison, difference
    reduced: Share  # risk fell by >= 25%
    reduced_adherent: Share


def _quantile(distribution: str, q: float, df: float | None = None) -> float:
    # scipy.stats is imported on first use: importing it costs about a second at start-up.
    from scipy import stats

    if distribution == "t":
        return float(stats.t.ppf(q, df))
    return float(stats.norm.ppf(q))


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    n = len(values)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, None, None, 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = _quantile("t", (1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def difference_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Interval:
    """Mean of ``a`` minus mean of ``b`` with Welch's t-interval (unequal variances)."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        estimate = (sum(a) / na - sum(b) / nb) if na and nb else None
        return Interval(estimate, None, None, na + nb)
    ma, mb = sum(a) / na, sum(b) / nb
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0:
        return Interval(ma - mb, ma - mb, ma - mb, na + nb)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    half = _quantile("t", (1 + level) / 2, df) * math.sqrt(se2)
    return Interval(ma - mb, ma - mb - half, ma - mb + half, na + nb)


def wilson(count: int, n: int, level: float = 0.95) -> Share:
    if n == 0:
        return Share(0, 0, None, None, None)
    z = _quantile("norm", (1 + level) / 2)
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Share(count, n, p, max(0.0, centre - half), min(1.0, centre + half))


def match(enrolled: Sequence[Pair], candidates: Iterable[Pair], caliper: float = CALIPER) -> list[Pair]:
    """One comparison patient per enrolled patient: same sex, nearest baseline risk within the
    caliper (the lower risk on a tie), each candidate used once; enrolled patients are taken from
    the lowest baseline risk up. Enrolled patients without a match get none. Per sex the candidates
    are kept sorted, so each match is a binary search and not a scan."""
    pools: dict[str, list[Pair]] = {}
    for candidate in sorted(candidates, key=lambda p: (p.baseline_risk, p.patient_id)):
        pools.setdefault(candidate.sex, []).append(candidate)
    keys = {sex: [p.baseline_risk for p in pool] for sex, pool in pools.items()}
    matched: list[Pair] = []
    for person in sorted(enrolled, key=lambda p: (p.baseline_risk, p.patient_id)):
        pool, risks = pools.get(person.sex), keys.get(person.sex)
        if not pool or risks is None:
            continue
        at = bisect.bisect_left(risks, person.baseline_risk)
        best = None
        for index in (at - 1, at):
            if 0 <= index < len(pool):
                distance = abs(pool[index].baseline_risk - person.baseline_risk)
                if distance <= caliper and (best is None or distance < best[1]):
                    best = (index, distance)
        if best is not None:
            matched.append(pool.pop(best[0]))
            risks.pop(best[0])
    return matched


def evaluate(enrolled: Sequence[Pair], comparison: Sequence[Pair]) -> Effect:
    """The effect of a programme from the enrolled pairs and an already matched comparison group."""
    risk_a = [p.change for p in enrolled]
    risk_b = [p.change for p in comparison]
    measures = {}
    for name in MEASURES:
        a = [c for p in enrolled if (c := p.measure_change(name)) is not None]
        b = [c for p in comparison if (c := p.measure_change(name)) is not None]
        measures[name] = (mean_interval(a), mean_interval(b), difference_interval(a, b))
    adherent = [p for p in enrolled if p.adherence is not None and p.adherence >= 0.5]
    return Effect(
        enrolled=len(enrolled),
        compared=len(comparison),
        risk_enrolled=mean_interval(risk_a),
        risk_comparison=mean_interval(risk_b),
        risk_difference=difference_interval(risk_a, risk_b),
        measures=measures,
        reduced=wilson(sum(1 for p in enrolled if p.relative_reduction >= REDUCTION_TARGET), len(enrolled)),
        reduced_adherent=wilson(
            sum(1 for p in adherent if p.relative_reduction >= REDUCTION_TARGET), len(adherent)
        ),
    )


# --- From the database ---------------------------------------------------------------------------


def _assessments(model: str, patient_ids: Iterable[int] | None = None) -> dict[int, list[Any]]:
    from smartcare.health.models import RiskAssessment

    rows = RiskAssessment.objects.filter(model=model).order_by("computed_at", "pk")
    if patient_ids is not None:
        rows = rows.filter(patient_id__in=list(patient_ids))
    grouped: dict[int, list[Any]] = {}
    for row in rows.only("pk", "patient_id", "risk", "measures", "computed_at"):
        grouped.setdefault(row.patient_id, []).append(row)
    return grouped


def _follow_up(rows: list[Any], after: dt.datetime, until: dt.datetime | None) -> Any:
    due = after + dt.timedelta(days=MIN_FOLLOW_UP_DAYS)
    later = [r for r in rows if r.computed_at >= due and (until is None or r.computed_at <= until)]
    return later[-1] if later else None


def _adherence(enrolment_ids: list[int]) -> dict[int, float]:
    from smartcare.health.models import AdherenceReport

    sums: dict[int, list[float]] = {}
    for enrolment_id, level in AdherenceReport.objects.filter(
        advice__enrolment_id__in=enrolment_ids
    ).values_list("advice__enrolment_id", "level"):
        sums.setdefault(enrolment_id, []).append(ADHERENCE_SCORE.get(level, 0.0))
    return {k: sum(v) / len(v) for k, v in sums.items()}


def programme_pairs(
    programme: Any, *, department_id: int | None = None, until: dt.datetime | None = None
) -> tuple[list[Pair], list[Pair]]:
    """Enrolled pairs of ``programme`` (optionally of one department) and their matched comparison."""
    from smartcare.health.models import Enrolment
    from smartcare.patients.models import Patient

    enrolments = Enrolment.objects.filter(programme=programme).select_related("baseline")
    if department_id is not None:
        enrolments = enrolments.filter(department_id=department_id)
    enrolments_list = list(enrolments)
    all_enrolled = set(Enrolment.objects.filter(programme=programme).values_list("patient_id", flat=True))
    grouped = _assessments(programme.risk_model)
    sexes = dict(Patient.objects.filter(pk__in=list(grouped)).values_list("pk", "sex"))
    adherence = _adherence([e.pk for e in enrolments_list])
    enrolled: list[Pair] = []
    for enrolment in enrolments_list:
        base = enrolment.baseline
        later = _follow_up(grouped.get(enrolment.patient_id, []), base.computed_at, until)
        if later is None:
            continue
        enrolled.append(
            Pair(
                enrolment.patient_id,
                str(sexes.get(enrolment.patient_id, "")),
                base.risk,
                later.risk,
                base.measures or {},
                later.measures or {},
                adherence.get(enrolment.pk),
                enrolment.department_id,
            )
        )
    candidates: list[Pair] = []
    for patient_id, rows in grouped.items():
        if patient_id in all_enrolled or len(rows) < 2:
            continue
        later = _follow_up(rows, rows[0].computed_at, until)
        if later is None:
            continue
        candidates.append(
            Pair(
                patient_id,
                str(sexes.get(patient_id, "")),
                rows[0].risk,
                later.risk,
                rows[0].measures or {},
                later.measures or {},
            )
        )
    return enrolled, match(enrolled, candidates)


def programme_effect(programme: Any, *, department_id: int | None = None) -> Effect:
    enrolled, comparison = programme_pairs(programme, department_id=department_id)
    return evaluate(enrolled, comparison)
