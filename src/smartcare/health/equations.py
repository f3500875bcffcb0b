"""Validated risk equations, exactly as published.

* ``pce``: ACC/AHA Pooled Cohort Equations, 10-year risk of a first hard ASCVD event.
  Goff DC Jr et al., 2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk,
  Circulation 2014;129(suppl 2):S49-S73, Table A (coefficients) and its worked example.
* ``framingham``: general cardiovascular disease, 10-year risk (office version with lipids).
  D'Agostino RB Sr et al., Circulation 2008;117:743-753, Table 2.
* ``findrisc``: Finnish Diabetes Risk Score. Lindstrom J, Tuomilehto J, Diabetes Care
  2003;26:725-731, with the public questionnaire's age band over 64.

The coefficients are written here (they were checked against ``../shared/data/risk/``, taken
from the MIT-licensed estimateCVRisk R package; a test compares them when the files are present).
Nothing is approximated: each result is ``1 - S0 ** exp(sum - mean)`` with the published
baseline survival S0 and group mean. Inputs outside the validated range are refused
(``OutsideValidatedRange``), never extrapolated.

Cholesterol from Chinese laboratories comes in mmol/L; the equations use mg/dL. Cholesterol has a
molar mass of 386.65 g/mol, so 1 mmol/L = 38.67 mg/dL (the factor laboratories use).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from smartcare.health.errors import OutsideValidatedRange, RiskInputInvalid, UnknownModel, UnknownUnit

CHOLESTEROL_MG_DL_PER_MMOL_L = 38.67
GLUCOSE_MG_DL_PER_MMOL_L = 18.016

# --- Coefficients ---------------------------------------------------------------------------------

# Goff et al. 2013, Table A. Keys: (race group, sex). "aa" is African American.
PCE_COEFFICIENTS: dict[tuple[str, str], dict[str, float]] = {
    ("white", "female"): {
        "ln_age": -29.799,
        "ln_age_sq": 4.884,
        "ln_tc": 13.540,
        "ln_age_ln_tc": -3.114,
        "ln_hdl": -13.578,
        "ln_age_ln_hdl": 3.149,
        "ln_treated_sbp": 2.019,
        "ln_age_ln_treated_sbp": 0.0,
        "ln_untreated_sbp": 1.957,
        "ln_age_ln_untreated_sbp": 0.0,
        "smoker": 7.574,
        "ln_age_smoker": -1.665,
        "diabetes": 0.661,
        "mean": -29.18,
        "baseline_survival": 0.9665,
    },
    ("aa", "female"): {
        "ln_age": 17.114,
        "ln_age_sq": 0.0,
        "ln_tc": 0.940,
        "ln_age_ln_tc": 0.0,
        "ln_hdl": -18.920,
        "ln_age_ln_hdl": 4.475,
        "ln_treated_sbp": 29.291,
        "ln_age_ln_treated_sbp": -6.432,
        "ln_untreated_sbp": 27.820,
        "ln_age_ln_untreated_sbp": -6.087,
        "smoker": 0.691,
        "ln_age_smoker": 0.0,
        "diabetes": 0.874,
        "mean": 86.61,
        "baseline_survival": 0.9533,
    },
    ("white", "male"): {
        "ln_age": 12.344,
        "ln_age_sq": 0.0,
        "ln_tc": 11.853,
        "ln_age_ln_tc": -2.664,
        "ln_hdl": -7.990,
        "ln_age_ln_hdl": 1.769,
        "ln_treated_sbp": 1.797,
        "ln_age_ln_treated_sbp": 0.0,
        "ln_untreated_sbp": 1.764,
        "ln_age_ln_untreated_sbp": 0.0,
        "smoker": 7.837,
        "ln_age_smoker": -1.795,
        "diabetes": 0.658,
        "mean": 61.18,
        "baseline_survival": 0.9144,
    },
    ("aa", "male"): {
        "ln_age": 2.469,
        "ln_age_sq": 0.0,
        "ln_tc": 0.302,
        "ln_age_ln_tc": 0.0,
        "ln_hdl": -0.307,
        "ln_age_ln_hdl": 0.0,
        "ln_treated_sbp": 1.916,
        "ln_age_ln_treated_sbp": 0.0,
        "ln_untreated_sbp": 1.809,
        "ln_age_ln_untreated_sbp": 0.0,
        "smoker": 0.549,
        "ln_age_smoker": 0.0,
        "diabetes": 0.645,
        "mean": 19.54,
        "baseline_survival": 0.8954,
    },
}

# D'Agostino et al. 2008, Table 2 (general CVD, with total and HDL cholesterol).
FRAMINGHAM_COEFFICIENTS: dict[str, dict[str, float]] = {
    "female": {
        "ln_age": 2.32888,
        "ln_tc": 1.20904,
        "ln_hdl": -0.70833,
        "ln_untreated_sbp": 2.76157,
        "ln_treated_sbp": 2.82263,
        "smoker": 0.52873,
        "diabetes": 0.69154,
        "mean": 26.1931,
        "baseline_survival": 0.95012,
    },
    "male": {
        "ln_age": 3.06117,
        "ln_tc": 1.12370,
        "ln_hdl": -0.93263,
        "ln_untreated_sbp": 1.93303,
        "ln_treated_sbp": 1.99881,
        "smoker": 0.65451,
        "diabetes": 0.57367,
        "mean": 23.9802,
        "baseline_survival": 0.88936,
    },
}

# Lindstrom & Tuomilehto 2003: points, and the published 10-year risk of each band.
FINDRISC_BANDS: tuple[tuple[int, int, str, float, Promise], ...] = (
    (0, 6, "low", 0.01, _("low: about 1 in 100 will develop diabetes")),
    (7, 11, "slightly_elevated", 0.04, _("slightly elevated: about 1 in 25 will develop diabetes")),
    (12, 14, "moderate", 0.17, _("moderate: about 1 in 6 will develop diabetes")),
    (15, 20, "high", 0.33, _("high: about 1 in 3 will develop diabetes")),
    (21, 26, "very_high", 0.50, _("very high: about 1 in 2 will develop diabetes")),
)

# The guideline's "optimal risk factors" (Goff 2013): used to show what each factor adds.
OPTIMAL = {"total_cholesterol": 170.0, "hdl": 50.0, "systolic_bp": 110.0}


# --- Results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Driver:
    factor: str  # input field
    label: str
    contribution: (
        float  # absolute risk (fraction) the factor adds over its optimal value; points for FINDRISC
    )
    modifiable: bool = True


@dataclass(frozen=True)
class ModelSpec:
    key: str
    name: Promise
    version: str
    outcome: Promise
    population: Promise
    age_range: tuple[int, int]
    horizon_years: int
    citation: str
    compute: Callable[[dict[str, Any]], RiskResult]
    plain_outcome: Promise  # for patients: "a heart attack or stroke in the next 10 years"


@dataclass(frozen=True)
class RiskResult:
    model: str
    version: str
    risk: float  # fraction, 0..1
    inputs: dict[str, Any]  # normalised: mg/dL, mmHg, booleans
    drivers: list[Driver] = field(default_factory=list)
    score: int | None = None  # points (FINDRISC)
    band: str = ""
    optimal_risk: float | None = None  # same person with optimal modifiable factors

    @property
    def spec(self) -> ModelSpec:
        return MODELS[self.model]

    def as_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "model": self.model,
            "version": self.version,
            "risk": round(self.risk, 6),
            "risk_percent": round(self.risk * 100, 1),
            "horizon_years": spec.horizon_years,
            "outcome": str(spec.outcome),
            "score": self.score,
            "band": self.band,
            "optimal_risk": round(self.optimal_risk, 6) if self.optimal_risk is not None else None,
            "population": str(spec.population),
            "age_range": list(spec.age_range),
            "citation": spec.citation,
            "inputs": self.inputs,
            "drivers": [
                {
                    "factor": d.factor,
                    "label": d.label,
                    "contribution": round(d.contribution, 6),
                    "modifiable": d.modifiable,
                }
                for d in self.drivers
            ],
        }


# --- Input validation ------------------------------------------------------------------------


class _Reader:
    """Reads and checks raw inputs, collecting every problem before raising (HL-002)."""

    def __init__(self, raw: Mapping[str, Any], model_name: str):
        if not isinstance(raw, Mapping):
            raise RiskInputInvalid(errors={"input": [str(_("Expected a JSON object."))]})
        self.raw = raw
        self.model_name = model_name
        self.errors: dict[str, list[str]] = {}

    def missing(self, name: str) -> None:
        self.errors.setdefault(name, []).append(str(_("This input is required.")))

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            self.missing(name)
            return None
        if isinstance(value, bool):
            self.errors.setdefault(name, []).append(str(_("Expected a number.")))
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.errors.setdefault(name, []).append(str(_("Expected a number.")))
            return None
        if not math.isfinite(number):
            self.errors.setdefault(name, []).append(str(_("Expected a number.")))
            return None
        return number

    def flag(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if isinstance(value, bool):
            return value
        if value in (0, 1) and not isinstance(value, float):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.strip().lower() in ("true", "yes", "1")
        if value is None:
            self.missing(name)
        else:
            self.errors.setdefault(name, []).append(str(_("Expected true or false.")))
        return None

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.raw.get(name)
        text = str(value).strip().lower() if value is not None else ""
        if not text:
            self.missing(name)
            return None
        if text not in allowed:
            self.errors.setdefault(name, []).append(
                str(_("Expected one of: %(allowed)s.") % {"allowed": ", ".join(allowed)})
            )
            return None
        return text

    def check(self) -> None:
        if self.errors:
            raise RiskInputInvalid(errors=self.errors)


def cholesterol_mg_dl(value: float, unit: str, field_name: str) -> float:
    """``value`` in ``unit`` (mg/dL or mmol/L) as mg/dL."""
    normalised = str(unit or "").strip().lower().replace(" ", "")
    if normalised in ("mg/dl",):
        return value
    if normalised in ("mmol/l",):
        return value * CHOLESTEROL_MG_DL_PER_MMOL_L
    raise UnknownUnit(field=field_name, unit=unit or "-", field_name=field_name, accepted="mg/dL, mmol/L")


def _within(model: str, name: str, value: float, low: float, high: float, unit: str = "") -> None:
    if not low <= value <= high:
        raise OutsideValidatedRange(
            field=name,
            name=name,
            model=model,
            low=_fmt(low),
            high=_fmt(high),
            unit=unit,
            value=_fmt(value),
            errors={name: [str(_("Outside %(low)s-%(high)s.") % {"low": _fmt(low), "high": _fmt(high)})]},
        )


def _fmt(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


# --- Pooled Cohort Equations and Framingham share their inputs ---------------------------------------

# Ranges of the ACC/AHA guideline and its risk estimator (Goff 2013): ages 40-79, total
# cholesterol 130-320 mg/dL, HDL 20-100 mg/dL, systolic blood pressure 90-200 mmHg.
PCE_RANGES = {
    "age": (40.0, 79.0, _("years")),
    "total_cholesterol": (130.0, 320.0, "mg/dL"),
    "hdl": (20.0, 100.0, "mg/dL"),
    "systolic_bp": (90.0, 200.0, "mmHg"),
}
# D'Agostino 2008 derived the model in participants aged 30-74 free of CVD. The paper gives no
# laboratory limits; we apply the same physiological limits as for the PCE so that no
# implausible value is extrapolated.
FRAMINGHAM_RANGES = {
    "age": (30.0, 74.0, _("years")),
    "total_cholesterol": (130.0, 320.0, "mg/dL"),
    "hdl": (20.0, 100.0, "mg/dL"),
    "systolic_bp": (90.0, 200.0, "mmHg"),
}


def _cv_inputs(raw: Mapping[str, Any], model: str, ranges: dict[str, Any], *, race: bool) -> dict[str, Any]:
    reader = _Reader(raw, model)
    age = reader.number("age")
    sex = reader.choice("sex", ("female", "male"))
    race_value = reader.choice("race", ("white", "black", "other")) if race else None
    tc = reader.number("total_cholesterol")
    hdl = reader.number("hdl")
    sbp = reader.number("systolic_bp")
    treated = reader.flag("bp_treated")
    smoker = reader.flag("smoker")
    diabetes = reader.flag("diabetes")
    tc_unit = raw.get("total_cholesterol_unit")
    hdl_unit = raw.get("hdl_unit")
    if tc is not None and not tc_unit:
        reader.missing("total_cholesterol_unit")
    if hdl is not None and not hdl_unit:
        reader.missing("hdl_unit")
    reader.check()
    assert age is not None and tc is not None and hdl is not None and sbp is not None
    tc_mg = cholesterol_mg_dl(tc, str(tc_unit), "total_cholesterol_unit")
    hdl_mg = cholesterol_mg_dl(hdl, str(hdl_unit), "hdl_unit")
    values = {"age": age, "total_cholesterol": tc_mg, "hdl": hdl_mg, "systolic_bp": sbp}
    name = str(MODELS[model].name)
    for key, (low, high, unit) in ranges.items():
        _within(name, key, values[key], low, high, str(unit))
    inputs: dict[str, Any] = {
        "age": age,
        "sex": sex,
        "total_cholesterol": round(tc_mg, 2),
        "hdl": round(hdl_mg, 2),
        "systolic_bp": sbp,
        "bp_treated": treated,
        "smoker": smoker,
        "diabetes": diabetes,
    }
    if race:
        inputs["race"] = race_value
    return inputs


def pce_sum(inputs: Mapping[str, Any]) -> tuple[float, dict[str, float]]:
    """The individual sum of the PCE and the coefficients used (white equations for 'other')."""
    group = "aa" if inputs["race"] == "black" else "white"
    c = PCE_COEFFICIENTS[(group, inputs["sex"])]
    ln_age = math.log(inputs["age"])
    ln_tc = math.log(inputs["total_cholesterol"])
    ln_hdl = math.log(inputs["hdl"])
    ln_sbp = math.log(inputs["systolic_bp"])
    smoker = 1.0 if inputs["smoker"] else 0.0
    total = (
        c["ln_age"] * ln_age
        + c["ln_age_sq"] * ln_age**2
        + c["ln_tc"] * ln_tc
        + c["ln_age_ln_tc"] * ln_age * ln_tc
        + c["ln_hdl"] * ln_hdl
        + c["ln_age_ln_hdl"] * ln_age * ln_hdl
        + c["smoker"] * smoker
        + c["ln_age_smoker"] * ln_age * smoker
        + c["diabetes"] * (1.0 if inputs["diabetes"] else 0.0)
    )
    if inputs["bp_treated"]:
        total += c["ln_treated_sbp"] * ln_sbp + c["ln_age_ln_treated_sbp"] * ln_age * ln_sbp
    else:
        total += c["ln_untreated_sbp"] * ln_sbp + c["ln_age_ln_untreated_sbp"] * ln_age * ln_sbp
    return total, c


def pce_risk(inputs: Mapping[str, Any]) -> float:
    total, c = pce_sum(inputs)
    return 1.0 - c["baseline_survival"] ** math.exp(total - c["mean"])


def framingham_sum(inputs: Mapping[str, Any]) -> tuple[float, dict[str, float]]:
    c = FRAMINGHAM_COEFFICIENTS[inputs["sex"]]
    sbp_coef = c["ln_treated_sbp"] if inputs["bp_treated"] else c["ln_untreated_sbp"]
    total = (
        c["ln_age"] * math.log(inputs["age"])
        + c["ln_tc"] * math.log(inputs["total_cholesterol"])
        + c["ln_hdl"] * math.log(inputs["hdl"])
        + sbp_coef * math.log(inputs["systolic_bp"])
        + c["smoker"] * (1.0 if inputs["smoker"] else 0.0)
        + c["diabetes"] * (1.0 if inputs["diabetes"] else 0.0)
    )
    return total, c


def framingham_risk(inputs: Mapping[str, Any]) -> float:
    total, c = framingham_sum(inputs)
    return 1.0 - c["baseline_survival"] ** math.exp(total - c["mean"])


CV_LABELS = {
    "total_cholesterol": _("Total cholesterol"),
    "hdl": _("HDL cholesterol"),
    "systolic_bp": _("Systolic blood pressure"),
    "bp_treated": _("Blood pressure treatment"),
    "smoker": _("Smoking"),
    "diabetes": _("Diabetes"),
    "age": _("Age"),
}


def _cv_drivers(
    inputs: dict[str, Any], risk_of: Callable[[Mapping[str, Any]], float]
) -> tuple[list[Driver], float]:
    """What each modifiable factor adds: the risk minus the risk with that factor optimal (the
    guideline's optimal values), largest first; and the risk with all of them optimal."""
    risk = risk_of(inputs)
    drivers: list[Driver] = []
    changes: dict[str, dict[str, Any]] = {
        "total_cholesterol": {"total_cholesterol": OPTIMAL["total_cholesterol"]},
        "hdl": {"hdl": OPTIMAL["hdl"]},
        "systolic_bp": {"systolic_bp": OPTIMAL["systolic_bp"], "bp_treated": False},
        "smoker": {"smoker": False},
        "diabetes": {"diabetes": False},
    }
    for factor, change in changes.items():
        if factor == "hdl" and inputs["hdl"] >= OPTIMAL["hdl"]:
            continue
        if (
            factor in ("total_cholesterol", "systolic_bp")
            and inputs[factor] <= OPTIMAL[factor]
            and not (factor == "systolic_bp" and inputs["bp_treated"])
        ):
            continue
        if factor in ("smoker", "diabetes") and not inputs[factor]:
            continue
        gain = risk - risk_of({**inputs, **change})
        if gain > 0:
            drivers.append(Driver(factor, str(CV_LABELS[factor]), gain, factor != "diabetes"))
    optimal = risk_of({**inputs, **OPTIMAL, "bp_treated": False, "smoker": False, "diabetes": False})
    drivers.append(Driver("age", str(CV_LABELS["age"]), max(optimal, 0.0), False))
    drivers.sort(key=lambda d: -d.contribution)
    return drivers, optimal


def compute_pce(raw: dict[str, Any]) -> RiskResult:
    inputs = _cv_inputs(raw, "pce", PCE_RANGES, race=True)
    drivers, optimal = _cv_drivers(inputs, pce_risk)
    return RiskResult("pce", MODELS["pce"].version, pce_risk(inputs), inputs, drivers, optimal_risk=optimal)


def compute_framingham(raw: dict[str, Any]) -> RiskResult:
    inputs = _cv_inputs(raw, "framingham", FRAMINGHAM_RANGES, race=False)
    drivers, optimal = _cv_drivers(inputs, framingham_risk)
    return RiskResult(
        "framingham",
        MODELS["framingham"].version,
        framingham_risk(inputs),
        inputs,
        drivers,
        optimal_risk=optimal,
    )


# --- FINDRISC -----------------------------------------------------------------------------------

FAMILY_HISTORY = ("none", "second_degree", "first_degree")
# The questionnaire is for adults; it was derived in Finns aged 35-64 and is scored up to old age
# (the public form has a band for over 64). Body measures outside these limits are typing errors.
FINDRISC_RANGES = {
    "age": (18.0, 110.0, _("years")),
    "bmi": (12.0, 80.0, "kg/m²"),
    "waist_cm": (40.0, 200.0, "cm"),
}
FINDRISC_LABELS = {
    "age": _("Age"),
    "bmi": _("Body mass index"),
    "waist_cm": _("Waist circumference"),
    "physically_active": _("Less than 30 minutes of activity a day"),
    "daily_vegetables": _("Vegetables or fruit not every day"),
    "bp_medication": _("Blood pressure medicine"),
    "high_glucose_history": _("High blood glucose found before"),
    "family_history": _("Diabetes in the family"),
}


def findrisc_points(inputs: Mapping[str, Any]) -> dict[str, int]:
    """Points of each item (Lindstrom & Tuomilehto 2003)."""
    age, bmi, waist = inputs["age"], inputs["bmi"], inputs["waist_cm"]
    if age < 45:
        age_points = 0
    elif age < 55:
        age_points = 2
    elif age < 65:
        age_points = 3
    else:
        age_points = 4
    bmi_points = 0 if bmi < 25 else (1 if bmi <= 30 else 3)
    low, high = (94, 102) if inputs["sex"] == "male" else (80, 88)
    waist_points = 0 if waist < low else (3 if waist <= high else 4)
    return {
        "age": age_points,
        "bmi": bmi_points,
        "waist_cm": waist_points,
        "physically_active": 0 if inputs["physically_active"] else 2,
        "daily_vegetables": 0 if inputs["daily_vegetables"] else 1,
        "bp_medication": 2 if inputs["bp_medication"] else 0,
        "high_glucose_history": 5 if inputs["high_glucose_history"] else 0,
        "family_history": {"none": 0, "second_degree": 3, "first_degree": 5}[inputs["family_history"]],
    }


def findrisc_band(score: int) -> tuple[str, float, Promise]:
    for low, high, band, risk, text in FINDRISC_BANDS:
        if low <= score <= high:
            return band, risk, text
    raise ValueError(score)


def compute_findrisc(raw: dict[str, Any]) -> RiskResult:
    reader = _Reader(raw, "findrisc")
    age = reader.number("age")
    sex = reader.choice("sex", ("female", "male"))
    bmi: float | None
    if raw.get("bmi") not in (None, ""):
        bmi = reader.number("bmi")
    elif raw.get("weight_kg") not in (None, "") or raw.get("height_cm") not in (None, ""):
        weight, height = reader.number("weight_kg"), reader.number("height_cm")
        bmi = weight / (height / 100) ** 2 if weight and height and height > 0 else None
        if weight is not None and height is not None and bmi is None:
            reader.errors.setdefault("height_cm", []).append(str(_("Expected a positive number.")))
    else:
        reader.missing("bmi")
        bmi = None
    waist = reader.number("waist_cm")
    active = reader.flag("physically_active")
    vegetables = reader.flag("daily_vegetables")
    medication = reader.flag("bp_medication")
    glucose = reader.flag("high_glucose_history")
    family = reader.choice("family_history", FAMILY_HISTORY)
    reader.check()
    assert age is not None and bmi is not None and waist is not None
    name = str(MODELS["findrisc"].name)
    for key, value in (("age", age), ("bmi", bmi), ("waist_cm", waist)):
        low, high, unit = FINDRISC_RANGES[key]
        _within(name, key, value, low, high, str(unit))
    inputs: dict[str, Any] = {
        "age": age,
        "sex": sex,
        "bmi": round(bmi, 1),
        "waist_cm": waist,
        "physically_active": active,
        "daily_vegetables": vegetables,
        "bp_medication": medication,
        "high_glucose_history": glucose,
        "family_history": family,
    }
    points = findrisc_points(inputs)
    score = sum(points.values())
    band, risk, _text = findrisc_band(score)
    fixed = {"age", "family_history", "high_glucose_history"}
    drivers = sorted(
        (Driver(k, str(FINDRISC_LABELS[k]), float(v), k not in fixed) for k, v in points.items() if v),
        key=lambda d: -d.contribution,
    )
    optimal_score = sum(v for k, v in points.items() if k in fixed)
    return RiskResult(
        "findrisc",
        MODELS["findrisc"].version,
        risk,
        inputs,
        drivers,
        score=score,
        band=band,
        optimal_risk=findrisc_band(optimal_score)[1],
    )


MODELS: dict[str, ModelSpec] = {
    "pce": ModelSpec(
        key="pce",
        name=_("Pooled Cohort Equations (ACC/AHA 2013)"),
        version="goff-2013",
        outcome=_("first heart attack, coronary death or stroke in 10 years"),
        population=_(
            "US adults aged 40-79 without cardiovascular disease (white and African American cohorts; "
            "other groups use the white equations and may be over- or underestimated)"
        ),
        age_range=(40, 79),
        horizon_years=10,
        citation="Goff DC Jr et al. Circulation 2014;129(suppl 2):S49-S73, Table A",
        compute=compute_pce,
        plain_outcome=_("a heart attack or a stroke in the next 10 years"),
    ),
    "framingham": ModelSpec(
        key="framingham",
        name=_("Framingham general cardiovascular risk (2008)"),
        version="dagostino-2008",
        outcome=_("any cardiovascular disease event in 10 years"),
        population=_("Framingham Heart Study participants aged 30-74 without cardiovascular disease"),
        age_range=(30, 74),
        horizon_years=10,
        citation="D'Agostino RB Sr et al. Circulation 2008;117:743-753, Table 2",
        compute=compute_framingham,
        plain_outcome=_("a heart or blood vessel disease in the next 10 years"),
    ),
    "findrisc": ModelSpec(
        key="findrisc",
        name=_("Finnish Diabetes Risk Score (FINDRISC)"),
        version="lindstrom-2003",
        outcome=_("type 2 diabetes in 10 years"),
        population=_("Finnish adults (derived at ages 35-64); the questionnaire is scored for adults"),
        age_range=(18, 110),
        horizon_years=10,
        citation="Lindstrom J, Tuomilehto J. Diabetes Care 2003;26:725-731",
        compute=compute_findrisc,
        plain_outcome=_("type 2 diabetes in the next 10 years"),
    ),
}


def compute(model: str, raw: Any) -> RiskResult:
    """The risk of ``model`` for the raw inputs, or a coded error (HL-001..HL-004)."""
    key = str(model or "").strip().lower()
    spec = MODELS.get(key)
    if spec is None:
        raise UnknownModel(field="model", model=key or "-", known=", ".join(MODELS))
    if not isinstance(raw, Mapping):
        raise RiskInputInvalid(errors={"input": [str(_("Expected a JSON object."))]})
    return spec.compute(dict(raw))
