"""Rules that turn a risk, its drivers and the patient's measures into personalised advice.

Thresholds, with their source:
* blood pressure 130 mmHg systolic and above: lifestyle and home measurement (2017 ACC/AHA high
  blood pressure guideline; Chinese hypertension guideline 2018 for salt below 5 g a day);
* overweight from a body mass index of 24 kg/m², the Chinese adult cut-off (WS/T 428-2013);
* total cholesterol 200 mg/dL (5.2 mmol/L) or LDL 130 mg/dL (3.4 mmol/L) and above: lipid control
  (Chinese adult dyslipidaemia guideline 2016, "borderline high");
* 10-year ASCVD risk 7.5% and above: the doctor reviews statin therapy (ACC/AHA 2013);
* systolic 140 mmHg and above although treated: the doctor reviews the blood pressure medicines;
* FINDRISC 12 points and above (moderate risk or higher): diet and activity to prevent diabetes,
  and the doctor checks fasting glucose or HbA1c (Lindstrom & Tuomilehto 2003).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from smartcare.health.choices import AdviceCategory


@dataclass(frozen=True)
class AdviceRule:
    key: str
    category: str
    text: Promise
    applies: Callable[[Mapping[str, Any]], bool]
    education_key: str = ""
    for_doctor: bool = False


def _num(profile: Mapping[str, Any], name: str) -> float | None:
    value = profile.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _at_least(name: str, limit: float) -> Callable[[Mapping[str, Any]], bool]:
    def check(profile: Mapping[str, Any]) -> bool:
        value = _num(profile, name)
        return value is not None and value >= limit

    return check


def _cv_risk_at_least(limit: float) -> Callable[[Mapping[str, Any]], bool]:
    def check(profile: Mapping[str, Any]) -> bool:
        risk = _num(profile, "cv_risk")
        return risk is not None and risk >= limit

    return check


def _lipids_high(profile: Mapping[str, Any]) -> bool:
    tc, ldl = _num(profile, "total_cholesterol"), _num(profile, "ldl")
    return (tc is not None and tc >= 200) or (ldl is not None and ldl >= 130)


def _treated_bp_high(profile: Mapping[str, Any]) -> bool:
    sbp = _num(profile, "systolic_bp")
    return bool(profile.get("bp_treated")) and sbp is not None and sbp >= 140


RULE_LIST: tuple[AdviceRule, ...] = (
    AdviceRule(
        "stop-smoking",
        AdviceCategory.SMOKING,
        _("Stop smoking. It is the single change that lowers your heart risk most; ask us for help to quit."),
        lambda p: bool(p.get("smoker")),
        education_key="quit-smoking",
    ),
    AdviceRule(
        "bp-home-measurement",
        AdviceCategory.BLOOD_PRESSURE,
        _("Measure your blood pressure at home twice a week and bring the values to your next visit."),
        _at_least("systolic_bp", 130),
        education_key="home-bp-measurement",
    ),
    AdviceRule(
        "low-salt",
        AdviceCategory.DIET,
        _("Eat less salt: less than 5 g a day (one level teaspoon), fewer pickles and sauces."),
        _at_least("systolic_bp", 130),
        education_key="low-salt-diet",
    ),
    AdviceRule(
        "lose-weight",
        AdviceCategory.WEIGHT,
        _(
            "Aim to lose a twentieth (5%) of your weight over six months: smaller portions, fewer sweet drinks."
        ),
        _at_least("bmi", 24),
    ),
    AdviceRule(
        "move-more",
        AdviceCategory.EXERCISE,
        _("Be active at least 30 minutes a day, for example brisk walking, five days a week."),
        lambda p: p.get("physically_active") is False or (_num(p, "bmi") or 0) >= 28,
    ),
    AdviceRule(
        "lipid-diet",
        AdviceCategory.LIPIDS,
        _("Lower your cholesterol: less fatty meat and fried food, more fish, beans and whole grains."),
        _lipids_high,
    ),
    AdviceRule(
        "diabetes-prevention-diet",
        AdviceCategory.DIET,
        _("Your diabetes risk is raised: vegetables at every meal, less white rice and sweets."),
        _at_least("findrisc_score", 12),
        education_key="diabetes-diet",
    ),
    AdviceRule(
        "statin-review",
        AdviceCategory.MEDICATION_REVIEW,
        _("10-year ASCVD risk at or above 7.5%: discuss statin therapy with the patient (ACC/AHA 2013)."),
        _cv_risk_at_least(0.075),
        for_doctor=True,
    ),
    AdviceRule(
        "bp-medication-review",
        AdviceCategory.MEDICATION_REVIEW,
        _("Systolic pressure of 140 mmHg or more despite treatment: review the blood pressure medicines."),
        _treated_bp_high,
        for_doctor=True,
    ),
    AdviceRule(
        "glucose-check",
        AdviceCategory.MEDICATION_REVIEW,
        _("FINDRISC of 12 points or more: check fasting glucose or HbA1c."),
        _at_least("findrisc_score", 12),
        for_doctor=True,
    ),
)
RULES: dict[str, AdviceRule] = {r.key: r for r in RULE_LIST}


def advise(profile: Mapping[str, Any]) -> list[AdviceRule]:
    """The rules that apply to ``profile``: the patient's current inputs (mg/dL, mmHg, booleans),
    ``cv_risk`` (PCE, or Framingham when the PCE does not apply), ``findrisc_score``, ``bmi``, ``ldl``."""
    return [rule for rule in RULE_LIST if rule.applies(profile)]
