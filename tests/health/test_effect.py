"""Effect evaluation on fixtures with a known answer, and the indicator selector."""

from __future__ import annotations

import datetime as dt

import pytest

from smartcare.core import clock
from smartcare.health import effect as fx
from smartcare.health import selectors
from smartcare.health.models import AdherenceReport, Advice, Enrolment, Programme, RiskAssessment
from tests.factories import PatientFactory, TestHospital

ENROLLED_CHANGES = [(0.20, 0.14), (0.20, 0.15), (0.20, 0.16), (0.20, 0.12)]  # -6, -5, -4, -8 points
COMPARISON_CHANGES = [(0.20, 0.19), (0.20, 0.20), (0.20, 0.18), (0.20, 0.21)]  # -1, 0, -2, +1 points


def _pairs(changes: list[tuple[float, float]], start: int) -> list[fx.Pair]:
    return [
        fx.Pair(start + i, "male", a, b, {"systolic_bp": 150}, {"systolic_bp": 140 - i})
        for i, (a, b) in enumerate(changes)
    ]


def test_effect_on_a_fixture_with_a_known_answer() -> None:
    effect = fx.evaluate(_pairs(ENROLLED_CHANGES, 1), _pairs(COMPARISON_CHANGES, 100))
    # Enrolled: mean -0.0575, sd 0.017078; t(0.975, 3) = 3.182446 -> -0.0575 +/- 0.027175.
    assert effect.risk_enrolled.estimate == pytest.approx(-0.0575)
    assert effect.risk_enrolled.low == pytest.approx(-0.0846753, abs=1e-6)
    assert effect.risk_enrolled.high == pytest.approx(-0.0303247, abs=1e-6)
    # Difference -0.0575 - (-0.005) = -0.0525, Welch interval (-0.079172, -0.025828), as
    # scipy.stats.ttest_ind(equal_var=False).confidence_interval() gives.
    assert effect.risk_difference.estimate == pytest.approx(-0.0525)
    assert effect.risk_difference.low == pytest.approx(-0.0791722, abs=1e-6)
    assert effect.risk_difference.high == pytest.approx(-0.0258278, abs=1e-6)
    assert effect.risk_difference.excludes_zero
    # Relative reductions 30%, 25%, 20%, 40%: three of four reach 25%; Wilson 95% (0.3006, 0.9544).
    assert (effect.reduced.count, effect.reduced.n) == (3, 4)
    assert effect.reduced.low == pytest.approx(0.3006, abs=1e-4)
    assert effect.reduced.high == pytest.approx(0.9544, abs=1e-4)
    enrolled_sbp, _comparison_sbp, _difference = effect.measures["systolic_bp"]
    assert enrolled_sbp.estimate == pytest.approx(-11.5)  # 150 -> 140, 139, 138, 137
    assert effect.measures["ldl"][0].n == 0


def test_intervals_need_two_values() -> None:
    assert fx.mean_interval([]).estimate is None
    one = fx.mean_interval([0.1])
    assert one.estimate == 0.1 and one.low is None
    assert fx.wilson(0, 0).share is None


def test_matching_on_sex_and_baseline_risk_within_the_caliper() -> None:
    enrolled = [fx.Pair(1, "male", 0.20, 0.15), fx.Pair(2, "female", 0.10, 0.08)]
    candidates = [
        fx.Pair(10, "male", 0.25, 0.25),  # too far
        fx.Pair(11, "male", 0.19, 0.19),
        fx.Pair(12, "female", 0.20, 0.20),  # wrong sex for 1, too far for 2
        fx.Pair(13, "female", 0.105, 0.10),
    ]
    assert [p.patient_id for p in fx.match(enrolled, candidates)] == [13, 11]
    assert fx.match(enrolled, [fx.Pair(20, "male", 0.3, 0.3)]) == []


def _assessment(patient: object, risk: float, when: dt.datetime, sbp: float) -> RiskAssessment:
    return RiskAssessment.objects.create(
        patient=patient,
        model="pce",
        model_version="goff-2013",
        risk=risk,
        inputs={},
        drivers=[],
        measures={"systolic_bp": sbp},
        fingerprint=f"{risk}-{when}",
        source="demo",
        computed_at=when,
    )


def test_programme_effect_and_indicator_from_the_database(h: TestHospital) -> None:
    programme = Programme.objects.get(key="cardiovascular-risk")
    start = clock.now() - dt.timedelta(days=200)
    later = clock.now() - dt.timedelta(days=10)
    for i, (before, after) in enumerate(ENROLLED_CHANGES):
        patient = PatientFactory(sex="male")
        baseline = _assessment(patient, before, start, 150)
        _assessment(patient, after, later, 140)
        enrolment = Enrolment.objects.create(
            programme=programme,
            patient=patient,
            enrolled_on=start.date(),
            baseline=baseline,
            department=h.cardiology,
        )
        advice = Advice.objects.create(
            patient=patient, assessment=baseline, enrolment=enrolment, rule="low-salt", category="diet"
        )
        AdherenceReport.objects.create(
            advice=advice,
            patient=patient,
            reported_on=clock.today(),
            level="followed" if i < 2 else "not_followed",
        )
    for before, after in COMPARISON_CHANGES:
        patient = PatientFactory(sex="male")
        _assessment(patient, before, start, 150)
        _assessment(patient, after, later, 148)
    # A patient enrolled too recently has no follow-up yet and is not counted.
    recent = PatientFactory(sex="male")
    Enrolment.objects.create(
        programme=programme,
        patient=recent,
        enrolled_on=clock.today(),
        baseline=_assessment(recent, 0.2, clock.now(), 150),
    )
    effect = fx.programme_effect(programme)
    assert (effect.enrolled, effect.compared) == (4, 4)
    assert effect.risk_difference.estimate == pytest.approx(-0.0525)
    assert (effect.reduced.count, effect.reduced.n) == (3, 4)
    assert (effect.reduced_adherent.count, effect.reduced_adherent.n) == (2, 2)  # -6 and -5 points
    by_department = fx.programme_effect(programme, department_id=h.cardiology.pk)
    assert by_department.enrolled == 4
    assert fx.programme_effect(programme, department_id=h.neurology.pk).enrolled == 0

    indicator = selectors.risk_reduction_indicator(clock.today() - dt.timedelta(days=30), clock.today())
    assert (indicator.evaluated, indicator.reduced) == (4, 3)
    assert indicator.share == pytest.approx(0.75)
    # The same figure split by day and department, as the KPI cockpit stores it.
    by_day = selectors.risk_reduction_by_day(clock.today() - dt.timedelta(days=30), clock.today())
    assert tuple(map(sum, zip(*by_day.values(), strict=True))) == (3, 4)
    assert {department for _day, department in by_day} == {h.cardiology.pk}
    empty = selectors.risk_reduction_indicator(
        clock.today() - dt.timedelta(days=400), clock.today() - dt.timedelta(days=300)
    )
    assert empty.evaluated == 0 and empty.share is None
    table = selectors.effect_table()
    assert [(r.programme.key, r.department) for r in table if r.programme == programme] == [
        ("cardiovascular-risk", None),
        ("cardiovascular-risk", h.cardiology),
    ]
