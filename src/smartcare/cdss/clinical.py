"""Clinical calculations used by the rules: eGFR (CKD-EPI 2021), latest results, dose units."""

from __future__ import annotations

import datetime as dt

from smartcare.emr.facts import ClinicalFacts, Observation

CREATININE_LOINC = ("2160-0", "38483-4", "14682-9")  # serum/plasma creatinine (mass, blood, molar)
EGFR_LOINC = ("98979-8", "62238-1", "33914-3")
WEIGHT_LOINC = "29463-7"
HEIGHT_LOINC = "8302-2"
UMOL_PER_MG_DL = 88.4


def creatinine_mg_dl(value: float, unit: str) -> float:
    """Serum creatinine in mg/dL from mg/dL or µmol/L (values above 40 without a unit are µmol/L)."""
    normalized = unit.strip().lower().replace("μ", "u").replace("µ", "u")
    if normalized in {"umol/l", "micromol/l", "umol/liter"}:
        return value / UMOL_PER_MG_DL
    if normalized in {"mmol/l"}:
        return value * 1000 / UMOL_PER_MG_DL
    if not normalized and value > 40:
        return value / UMOL_PER_MG_DL
    return value


def ckd_epi_2021(creatinine_mg_per_dl: float, age_years: float, sex: str) -> float:
    """eGFR in mL/min/1.73 m² by the race-free CKD-EPI 2021 creatinine equation (Inker et al.,
    NEJM 2021): 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^-1.200 × 0.9938^age × 1.012 [female]."""
    female = sex == "female"
    kappa = 0.7 if female else 0.9
    alpha = -0.241 if female else -0.302
    ratio = creatinine_mg_per_dl / kappa
    egfr = 142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age_years
    return egfr * 1.012 if female else egfr


def latest(facts: ClinicalFacts, codes: tuple[str, ...] | set[str] | frozenset[str]) -> Observation | None:
    found: Observation | None = None
    for observation in facts.observations:
        if (
            observation.code in codes
            and observation.value is not None
            and (found is None or _when(observation) >= _when(found))
        ):
            found = observation
    return found


def _when(observation: Observation) -> dt.datetime:
    return observation.when or dt.datetime.min.replace(tzinfo=dt.UTC)


def egfr(facts: ClinicalFacts) -> float | None:
    """eGFR from the latest creatinine (adults only: the equation is not valid for children);
    a reported eGFR is used when there is no creatinine."""
    creatinine = latest(facts, CREATININE_LOINC)
    if creatinine is not None and creatinine.value is not None and facts.age_years is not None:
        if facts.age_years < 18 or facts.sex not in {"male", "female"} or creatinine.value <= 0:
            return None
        return ckd_epi_2021(creatinine_mg_dl(creatinine.value, creatinine.unit), facts.age_years, facts.sex)
    reported = latest(facts, EGFR_LOINC)
    return reported.value if reported is not None else None


def weight_kg(facts: ClinicalFacts) -> float | None:
    if facts.weight_kg:
        return facts.weight_kg
    observation = latest(facts, (WEIGHT_LOINC,))
    return observation.value if observation is not None else None


_TO_MG = {"mg": 1.0, "g": 1000.0, "mcg": 0.001, "ug": 0.001, "µg": 0.001, "μg": 0.001, "microgram": 0.001}


def dose_in_mg(dose: float | None, unit: str) -> float | None:
    if dose is None:
        return None
    factor = _TO_MG.get(unit.strip().lower())
    return dose * factor if factor is not None else None
