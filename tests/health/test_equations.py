"""The validated equations against published worked examples and hand calculations.

Sources of the worked examples:
* PCE: Goff DC Jr et al., 2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk,
  Circulation 2014;129(suppl 2):S49-S73, Appendix 7 Table A, "Example": a 55-year-old,
  total cholesterol 213 mg/dL, HDL 50 mg/dL, untreated systolic 120 mmHg, non-smoker, no diabetes.
  Published individual sums and risks: white women -29.67 / 2.1%, African American women
  86.16 / 3.0%, white men 60.69 / 5.3%, African American men 18.97 / 6.1%.
* Framingham: D'Agostino RB Sr et al., Circulation 2008;117:743-753, the paper's two examples:
  a woman of 61, total cholesterol 180, HDL 47, untreated systolic 124, smoker, no diabetes:
  10.48%; a man of 53, total cholesterol 161, HDL 55, treated systolic 125, non-smoker, diabetic:
  15.62%.
* FINDRISC: Lindstrom & Tuomilehto, Diabetes Care 2003;26:725-731, points added by hand from the
  table (shared/data/risk/findrisc_points.md).
"""

from __future__ import annotations

import csv
import json
import math
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from smartcare.health import equations
from smartcare.health.errors import OutsideValidatedRange, RiskInputInvalid, UnknownModel, UnknownUnit

EXAMPLE = {
    "age": 55,
    "total_cholesterol": 213,
    "total_cholesterol_unit": "mg/dL",
    "hdl": 50,
    "hdl_unit": "mg/dL",
    "systolic_bp": 120,
    "bp_treated": False,
    "smoker": False,
    "diabetes": False,
}


@pytest.mark.parametrize(
    ("sex", "race", "published_sum", "published_risk"),
    [
        ("female", "white", -29.67, 0.021),
        ("female", "black", 86.16, 0.030),
        ("male", "white", 60.69, 0.053),
        ("male", "black", 18.97, 0.061),
    ],
)
def test_pce_reproduces_the_guideline_example(
    sex: str, race: str, published_sum: float, published_risk: float
) -> None:
    result = equations.compute("pce", {**EXAMPLE, "sex": sex, "race": race})
    total, _c = equations.pce_sum(result.inputs)
    assert total == pytest.approx(published_sum, abs=0.01)
    # The guideline computed its risks from sums rounded to two decimals: for white men 60.69
    # gives 5.33%, the unrounded 60.6995 gives 5.38%. Both agree within a tenth of a point.
    assert result.risk == pytest.approx(published_risk, abs=0.001)


def test_pce_by_hand_for_a_white_woman() -> None:
    # -29.799 ln55 + 4.884 ln55² + 13.540 ln213 - 3.114 ln55 ln213 - 13.578 ln50 + 3.149 ln55 ln50
    # + 1.957 ln120 = -29.6767; risk = 1 - 0.9665 ^ exp(-29.6767 + 29.18) = 0.02052
    a, tc, hdl, sbp = math.log(55), math.log(213), math.log(50), math.log(120)
    total = (
        -29.799 * a
        + 4.884 * a * a
        + 13.540 * tc
        - 3.114 * a * tc
        - 13.578 * hdl
        + 3.149 * a * hdl
        + 1.957 * sbp
    )
    by_hand = 1 - 0.9665 ** math.exp(total + 29.18)
    result = equations.compute("pce", {**EXAMPLE, "sex": "female", "race": "white"})
    assert result.risk == pytest.approx(by_hand, rel=1e-12)
    assert result.risk == pytest.approx(0.02052, abs=0.00001)


def test_other_race_uses_the_white_equations() -> None:
    other = equations.compute("pce", {**EXAMPLE, "sex": "male", "race": "other"})
    white = equations.compute("pce", {**EXAMPLE, "sex": "male", "race": "white"})
    assert other.risk == white.risk


def test_pce_treated_blood_pressure_and_smoking_raise_the_risk() -> None:
    base = equations.compute("pce", {**EXAMPLE, "sex": "male", "race": "white"}).risk
    treated = equations.compute("pce", {**EXAMPLE, "sex": "male", "race": "white", "bp_treated": True}).risk
    smoker = equations.compute("pce", {**EXAMPLE, "sex": "male", "race": "white", "smoker": True}).risk
    assert base < treated and base < smoker


@pytest.mark.parametrize(
    ("inputs", "published"),
    [
        (
            {
                "age": 61,
                "sex": "female",
                "total_cholesterol": 180,
                "hdl": 47,
                "systolic_bp": 124,
                "smoker": True,
            },
            0.1048,
        ),
        (
            {
                "age": 53,
                "sex": "male",
                "total_cholesterol": 161,
                "hdl": 55,
                "systolic_bp": 125,
                "bp_treated": True,
                "diabetes": True,
            },
            0.1562,
        ),
    ],
)
def test_framingham_reproduces_the_papers_examples(inputs: dict[str, Any], published: float) -> None:
    result = equations.compute("framingham", {**EXAMPLE, **inputs})
    assert result.risk == pytest.approx(published, abs=0.0001)
    assert result.as_dict()["horizon_years"] == 10


def test_mmol_per_litre_is_converted_before_the_equation() -> None:
    in_mmol = {
        **EXAMPLE,
        "sex": "female",
        "race": "white",
        "total_cholesterol": 213 / 38.67,
        "total_cholesterol_unit": "mmol/L",
        "hdl": 50 / 38.67,
        "hdl_unit": "mmol/L",
    }
    result = equations.compute("pce", in_mmol)
    assert result.inputs["total_cholesterol"] == pytest.approx(213, abs=0.01)
    assert result.inputs["hdl"] == pytest.approx(50, abs=0.01)
    assert result.risk == pytest.approx(0.02052, abs=0.00001)
    assert equations.cholesterol_mg_dl(5.2, "mmol/L", "tc") == pytest.approx(201.08, abs=0.01)
    assert equations.cholesterol_mg_dl(200, " MG/DL ", "tc") == 200


def test_an_unknown_unit_is_refused() -> None:
    with pytest.raises(UnknownUnit) as error:
        equations.compute("pce", {**EXAMPLE, "sex": "female", "race": "white", "hdl_unit": "g/L"})
    assert error.value.code == "HL-004"


@pytest.mark.parametrize(
    ("model", "change", "field"),
    [
        ("pce", {"age": 39}, "age"),
        ("pce", {"age": 80}, "age"),
        ("pce", {"total_cholesterol": 129}, "total_cholesterol"),
        (
            "pce",
            {"total_cholesterol": 9.0, "total_cholesterol_unit": "mmol/L"},
            "total_cholesterol",
        ),  # 348 mg/dL
        ("pce", {"hdl": 101}, "hdl"),
        ("pce", {"systolic_bp": 201}, "systolic_bp"),
        ("framingham", {"age": 29}, "age"),
        ("framingham", {"age": 75}, "age"),
    ],
)
def test_inputs_outside_the_validated_range_are_refused(
    model: str, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(OutsideValidatedRange) as error:
        equations.compute(model, {**EXAMPLE, "sex": "male", "race": "white", **change})
    assert error.value.code == "HL-003"
    assert error.value.field == field
    assert error.value.status == 422


def test_framingham_accepts_ages_the_pce_refuses() -> None:
    assert equations.compute("framingham", {**EXAMPLE, "sex": "male", "age": 35}).risk > 0


def test_missing_and_malformed_inputs_are_named() -> None:
    with pytest.raises(RiskInputInvalid) as error:
        equations.compute("pce", {"age": "old", "sex": "x", "smoker": "maybe"})
    assert error.value.code == "HL-002"
    assert {"age", "sex", "race", "total_cholesterol", "hdl", "systolic_bp", "smoker"} <= set(
        error.value.errors
    )


def test_unknown_model() -> None:
    with pytest.raises(UnknownModel) as error:
        equations.compute("qrisk3", {})
    assert error.value.code == "HL-001"


def test_drivers_show_what_each_factor_adds() -> None:
    result = equations.compute(
        "pce",
        {
            **EXAMPLE,
            "sex": "male",
            "race": "white",
            "smoker": True,
            "systolic_bp": 160,
            "total_cholesterol": 260,
        },
    )
    factors = [d.factor for d in result.drivers]
    contributions = [d.contribution for d in result.drivers]
    assert contributions == sorted(contributions, reverse=True)
    assert {"smoker", "systolic_bp", "total_cholesterol", "age"} <= set(factors)
    smoker = next(d for d in result.drivers if d.factor == "smoker")
    without = equations.compute(
        "pce", {**EXAMPLE, "sex": "male", "race": "white", "systolic_bp": 160, "total_cholesterol": 260}
    )
    assert smoker.contribution == pytest.approx(result.risk - without.risk)
    assert result.optimal_risk is not None and result.optimal_risk < result.risk


FINDRISC = {
    "age": 50,
    "sex": "male",
    "bmi": 27,
    "waist_cm": 98,
    "physically_active": False,
    "daily_vegetables": True,
    "bp_medication": True,
    "high_glucose_history": False,
    "family_history": "second_degree",
}


def test_findrisc_points_by_hand() -> None:
    # age 45-54: 2, BMI 25-30: 1, waist men 94-102: 3, inactive: 2, vegetables daily: 0,
    # antihypertensives: 2, no high glucose: 0, grandparent/aunt/uncle/cousin: 3 -> 13, moderate.
    result = equations.compute("findrisc", FINDRISC)
    assert result.score == 13
    assert result.band == "moderate"
    assert result.risk == 0.17


@pytest.mark.parametrize(
    ("score", "band", "risk"),
    [
        (0, "low", 0.01),
        (6, "low", 0.01),
        (7, "slightly_elevated", 0.04),
        (11, "slightly_elevated", 0.04),
        (12, "moderate", 0.17),
        (14, "moderate", 0.17),
        (15, "high", 0.33),
        (20, "high", 0.33),
        (21, "very_high", 0.5),
        (26, "very_high", 0.5),
    ],
)
def test_findrisc_bands(score: int, band: str, risk: float) -> None:
    found, found_risk, _text = equations.findrisc_band(score)
    assert (found, found_risk) == (band, risk)


def test_findrisc_boundaries_of_the_point_table() -> None:
    def points(**change: Any) -> dict[str, int]:
        return equations.findrisc_points({**FINDRISC, **change})

    assert [points(age=a)["age"] for a in (44, 45, 54, 55, 64, 65)] == [0, 2, 2, 3, 3, 4]
    assert [points(bmi=b)["bmi"] for b in (24.9, 25, 30, 30.1)] == [0, 1, 1, 3]
    assert [points(waist_cm=w)["waist_cm"] for w in (93.9, 94, 102, 102.1)] == [0, 3, 3, 4]
    assert [points(sex="female", waist_cm=w)["waist_cm"] for w in (79.9, 80, 88, 88.1)] == [0, 3, 3, 4]
    assert points(family_history="first_degree")["family_history"] == 5
    assert points(high_glucose_history=True)["high_glucose_history"] == 5
    worst = equations.compute(
        "findrisc",
        {
            **FINDRISC,
            "age": 70,
            "bmi": 35,
            "waist_cm": 110,
            "daily_vegetables": False,
            "high_glucose_history": True,
            "family_history": "first_degree",
        },
    )
    assert worst.score == 26 and worst.band == "very_high"


def test_findrisc_computes_bmi_from_weight_and_height() -> None:
    raw = {k: v for k, v in FINDRISC.items() if k != "bmi"}
    result = equations.compute("findrisc", {**raw, "weight_kg": 81, "height_cm": 180})
    assert result.inputs["bmi"] == 25.0


def test_findrisc_refuses_implausible_measures() -> None:
    with pytest.raises(OutsideValidatedRange):
        equations.compute("findrisc", {**FINDRISC, "waist_cm": 20})
    with pytest.raises(RiskInputInvalid) as error:
        equations.compute("findrisc", {**FINDRISC, "family_history": "cousin"})
    assert "family_history" in error.value.errors


def test_the_command_prints_one_json_object_on_its_last_line() -> None:
    out = StringIO()
    call_command(
        "risk_score", "pce", "--input", json.dumps({**EXAMPLE, "sex": "female", "race": "white"}), stdout=out
    )
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["model"] == "pce"
    assert result["risk"] == pytest.approx(0.0205, abs=0.0001)
    assert result["age_range"] == [40, 79]
    assert result["citation"].startswith("Goff")


def test_the_command_prints_the_coded_error_and_fails() -> None:
    out = StringIO()
    with pytest.raises(SystemExit) as exit_code:
        call_command(
            "risk_score",
            "pce",
            "--input",
            json.dumps({**EXAMPLE, "age": 85, "sex": "female", "race": "white"}),
            stdout=out,
        )
    assert exit_code.value.code == 1
    problem = json.loads(out.getvalue().strip().splitlines()[-1])
    assert problem["code"] == "HL-003" and problem["field"] == "age"
    with pytest.raises(SystemExit):
        call_command("risk_score", "findrisc", "--input", "{not json", stdout=StringIO())


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "risk"


@pytest.mark.skipif(not SHARED.exists(), reason="reference data not on this machine")
def test_coefficients_match_the_reference_files() -> None:
    with (SHARED / "pooled_cohort_equations_coefficients.csv").open() as f:
        for row in csv.DictReader(f):
            c = equations.PCE_COEFFICIENTS[(row["ethnicity"], row["sex"])]
            for column, key in (
                ("ln_age_coef", "ln_age"),
                ("ln_age_squared_coef", "ln_age_sq"),
                ("ln_totchol_coef", "ln_tc"),
                ("ln_age_totchol_coef", "ln_age_ln_tc"),
                ("ln_hdl_coef", "ln_hdl"),
                ("ln_age_hdl_coef", "ln_age_ln_hdl"),
                ("ln_treated_sbp_coef", "ln_treated_sbp"),
                ("ln_age_treated_sbp_coef", "ln_age_ln_treated_sbp"),
                ("ln_untreated_sbp_coef", "ln_untreated_sbp"),
                ("ln_age_untreated_sbp_coef", "ln_age_ln_untreated_sbp"),
                ("smoker_coef", "smoker"),
                ("ln_age_smoker_coef", "ln_age_smoker"),
                ("diabetic_coef", "diabetes"),
                ("group_mean_coef", "mean"),
                ("baseline_survival", "baseline_survival"),
            ):
                assert c[key] == float(row[column]), (row["ethnicity"], row["sex"], column)
    with (SHARED / "framingham_2008_general_cvd_coefficients.csv").open() as f:
        for row in csv.DictReader(f):
            c = equations.FRAMINGHAM_COEFFICIENTS[row["sex"]]
            for column, key in (
                ("ln_age_coef", "ln_age"),
                ("ln_totchol_coef", "ln_tc"),
                ("ln_hdl_coef", "ln_hdl"),
                ("ln_untreated_sbp_coef", "ln_untreated_sbp"),
                ("ln_treated_sbp_coef", "ln_treated_sbp"),
                ("smoker_coef", "smoker"),
                ("diabetic_coef", "diabetes"),
                ("group_mean_coef", "mean"),
                ("baseline_survival", "baseline_survival"),
            ):
                assert c[key] == float(row[column]), (row["sex"], column)
