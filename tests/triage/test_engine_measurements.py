"""Numbers in complaints: blood pressure, blood sugar and temperature become findings."""

from __future__ import annotations

import pytest

from smartcare.triage.engine import triage
from smartcare.triage.measurements import readings
from smartcare.triage.types import TriageRequest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BP has been around 150/95 at home", {"sign:high_blood_pressure_reading"}),
        ("量了一下190/120，头疼得厉害", {"sign:severely_elevated_bp", "sign:high_blood_pressure_reading"}),
        ("blood pressure is 200 over 130", {"sign:severely_elevated_bp", "sign:high_blood_pressure_reading"}),
        ("血压 85/50 头晕", {"sign:low_blood_pressure"}),
        ("高压180，低压110", {"sign:severely_elevated_bp", "sign:high_blood_pressure_reading"}),
        ("测血糖2.8，人迷迷糊糊的", {"sign:low_blood_glucose"}),
        ("my sugar is 25", {"sign:very_high_blood_glucose"}),
        ("blood glucose 180 mg/dl", {"sign:high_blood_glucose"}),
        ("孩子发烧38.5度", {"symptom:fever"}),
        ("temp 102F since last night", {"symptom:fever"}),
    ],
)
def test_readings_above_or_below_the_cut_offs(text: str, expected: set[str]) -> None:
    assert {r.finding for r in readings(text)} == expected


@pytest.mark.parametrize(
    "text",
    [
        "走了3/4的路",
        "12/25 appointment",
        "血压120/80正常",
        "吃了1/2片",
        "体温36.5度",
        "血糖5.6",
        "room 38 on floor 2",
    ],
)
def test_normal_values_and_other_numbers_are_no_findings(text: str) -> None:
    assert readings(text) == []


@pytest.mark.django_db
def test_a_crisis_reading_with_headache_is_an_emergency() -> None:
    result = triage(TriageRequest(text="量了一下190/120，头疼得厉害", age=60, sex="male"))
    assert result.status == "emergency"
    assert "rf_hypertensive_emergency" in {f.key for f in result.red_flags}
