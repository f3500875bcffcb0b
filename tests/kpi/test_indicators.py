"""Each indicator on the hand-counted week of ``cockpit_world`` (see its docstring), "no data"
where the data does not exist, status thresholds and period parsing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.kpi import selectors
from smartcare.kpi.errors import InvalidPeriod, UnknownIndicator
from smartcare.kpi.indicators import REGISTRY, get
from smartcare.kpi.periods import parse_period
from tests.factories import build_hospital
from tests.kpi.cockpit_world import WEEK, build_week

pytestmark = pytest.mark.django_db

PLAN_CODES = {
    "booking_success",
    "arrival_wait",
    "patient_satisfaction",
    "booking_lead_days",
    "followup_completion",
    "note_writing_minutes",
    "repeat_exam_rate",
    "length_of_stay",
    "cdss_usage",
    "tele_answered_24h",
    "staff_load",
    "equipment_utilization",
    "bed_occupancy",
    "bed_turnover",
    "staff_satisfaction",
    "research_projects",
    "risk_reduction",
    "cost_per_case",
    "tele_volume",
}


@pytest.fixture()
def week(db: Any) -> Any:
    return build_week()


def results(period: str = WEEK, department: Any = None) -> dict[str, selectors.Result]:
    evaluation = selectors.evaluate(period, department, use_facts=False)
    return {r.code: r for r in evaluation.results}


def test_every_indicator_of_the_plan_is_registered_with_a_definition() -> None:
    assert set(REGISTRY) == PLAN_CODES
    for indicator in REGISTRY.values():
        assert str(indicator.definition) and str(indicator.name)
        assert indicator.direction in ("higher", "lower", "range")
        assert indicator.target is not None or indicator.baseline_change is not None


def test_appointment_indicators_on_the_hand_counted_week(week: Any) -> None:
    r = results()
    assert (r["booking_success"].numerator, r["booking_success"].denominator) == (3, 4)
    assert r["booking_success"].value == pytest.approx(0.75)
    assert r["booking_success"].status == selectors.OFF_TARGET  # 0.75 < 0.95 * 0.95
    assert r["arrival_wait"].value == pytest.approx(30.0)
    assert r["arrival_wait"].status == selectors.ON_TARGET  # at most 30 minutes
    assert r["booking_lead_days"].value == pytest.approx(2.0)


def test_department_scope(week: Any) -> None:
    r = results(department=week.h.cardiology)
    assert r["arrival_wait"].value == pytest.approx(30.0)
    other = results(department=week.h.neurology)
    assert other["arrival_wait"].value is None
    assert other["arrival_wait"].status == selectors.NO_DATA
    # hospital-wide indicators have no department figure
    assert other["equipment_utilization"].status == selectors.NO_DATA


def test_stays_beds_and_baseline(week: Any) -> None:
    r = results("2026-03")
    assert r["length_of_stay"].value == pytest.approx(1.75)
    assert r["length_of_stay"].baseline == pytest.approx(5.0)  # 2025 is the default baseline year
    assert r["length_of_stay"].target == pytest.approx(4.5)  # 10 % shorter
    assert r["length_of_stay"].status == selectors.ON_TARGET
    w = results()
    assert (w["bed_occupancy"].numerator, w["bed_occupancy"].denominator) == (3, 28)
    assert w["bed_turnover"].value == pytest.approx(2 / 28 * 30)
    # baseline year 2025: one stay of 5 nights in June, 4 beds all year
    assert w["bed_occupancy"].baseline == pytest.approx(5 / (4 * 365))


def test_repeat_exams_decision_support_and_cost(week: Any) -> None:
    r = results()
    assert (r["repeat_exam_rate"].numerator, r["repeat_exam_rate"].denominator) == (1, 3)
    assert (r["cdss_usage"].numerator, r["cdss_usage"].denominator) == (1, 2)
    assert r["cdss_usage"].value == pytest.approx(0.5)
    assert r["cost_per_case"].value == pytest.approx(200.0)
    # no bills in 2025: no baseline, so no target and no status against it
    assert r["cost_per_case"].baseline is None
    assert r["cost_per_case"].status == selectors.NO_TARGET


def test_no_data_is_not_a_made_up_value(db: Any) -> None:
    build_hospital()
    r = results("2026-Q3")
    counts = {"research_projects", "tele_volume"}  # counts per period: zero is a real figure
    for code, result in r.items():
        if code in counts:
            assert result.value == 0
            continue
        assert result.value is None, code
        assert result.status == selectors.NO_DATA, code


def test_research_projects_without_the_selector_show_no_data(db: Any, monkeypatch: Any) -> None:
    import smartcare.research.selectors as research

    build_hospital()
    monkeypatch.delattr(research, "projects_registered")
    assert results("2026")["research_projects"].status == selectors.NO_DATA


def test_status_thresholds() -> None:
    higher, lower, band = get("patient_satisfaction"), get("arrival_wait"), get("staff_load")
    assert selectors.status_of(higher, 0.90, 0.90, None, 0.05) == selectors.ON_TARGET
    assert selectors.status_of(higher, 0.86, 0.90, None, 0.05) == selectors.AT_RISK  # >= 0.855
    assert selectors.status_of(higher, 0.85, 0.90, None, 0.05) == selectors.OFF_TARGET
    assert selectors.status_of(lower, 31.5, 30, None, 0.05) == selectors.AT_RISK
    assert selectors.status_of(lower, 31.6, 30, None, 0.05) == selectors.OFF_TARGET
    assert selectors.status_of(band, 0.85, 0.80, 0.90, 0.05) == selectors.ON_TARGET
    assert selectors.status_of(band, 0.93, 0.80, 0.90, 0.05) == selectors.AT_RISK
    assert selectors.status_of(band, 0.70, 0.80, 0.90, 0.05) == selectors.OFF_TARGET
    assert selectors.status_of(band, None, 0.80, 0.90, 0.05) == selectors.NO_DATA
    assert selectors.status_of(higher, 0.5, None, None, 0.05) == selectors.NO_TARGET


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        ("2026", "year", dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        ("2026-Q3", "quarter", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("2026-q4", "quarter", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("2026-09", "month", dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
        ("2026-02", "month", dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        ("2026-W37", "week", dt.date(2026, 9, 7), dt.date(2026, 9, 13)),
        ("2026-09-14", "day", dt.date(2026, 9, 14), dt.date(2026, 9, 14)),
    ],
)
def test_periods(text: str, kind: str, start: dt.date, end: dt.date) -> None:
    period = parse_period(text)
    assert (period.kind, period.start, period.end) == (kind, start, end)


@pytest.mark.parametrize(
    "text", ["", "2026-Q5", "2026-13", "2026-W60", "2026-02-30", "Q3", "2026/09", "x" * 100]
)
def test_bad_periods(text: str) -> None:
    with pytest.raises(InvalidPeriod) as caught:
        parse_period(text)
    assert caught.value.code == "KPI-001"


def test_unknown_indicator() -> None:
    with pytest.raises(UnknownIndicator):
        get("nope")
