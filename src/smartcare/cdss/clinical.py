"""Clinical calculations used by the rules: renal function (CKD-EPI 2021 or a reported eGFR,
only when recent), latest results, dose units."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from smartcare.core import clock
from smartcare.emr.facts import ClinicalFacts, Observation

CREATININE_LOINC = ("2160-0", "38483-4", "14682-9")  # serum/plasma creatinine (mass, blood, molar)
EGFR_LOINC = ("98979-8", "62238-1", "33914-3")
WEIGHT_LOINC = "29463-7"
HEIGHT_LOINC = "8302-2"
UMOL_PER_MG_DL = 88.4
# Older kidney results are not used for eGFR-based checks: renal function changes (acute kidney
# injury, progression), and a dose judged on a stale value is not checked at all.
EGFR_MAX_AGE_DAYS = 90


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


@dataclass(frozen=True)
class RenalFunction:
    """The eGFR the rules may use, or why there is none.

    ``status``: ``known`` (``egfr`` is set), ``stale`` (the latest value is older than the window),
    ``not_computable`` (only a creatinine, and CKD-EPI cannot be applied: ``reason`` is ``sex``,
    ``age`` or ``child``) or ``missing`` (no creatinine or eGFR at all).
    """

    status: str
    egfr: float | None = None
    when: dt.datetime | None = None  # of the value used, or of the newest value found
    source: str = ""  # creatinine (CKD-EPI 2021) or reported (a laboratory eGFR)
    reason: str = ""


def renal_function(facts: ClinicalFacts, *, max_age_days: int = EGFR_MAX_AGE_DAYS) -> RenalFunction:
    """The most recent of a CKD-EPI 2021 eGFR from creatinine and a reported eGFR, if it is within
    ``max_age_days``. CKD-EPI needs the age and sex of an adult: it is never computed with a guessed
    sex; a reported eGFR is used instead, or the status says why there is none."""
    now = facts.as_of or clock.now()
    candidates: list[tuple[dt.datetime | None, float, str]] = []
    reason = ""
    creatinine = latest(facts, CREATININE_LOINC)
    if creatinine is not None and creatinine.value is not None and creatinine.value > 0:
        if facts.age_years is None:
            reason = "age"
        elif facts.age_years < 18:
            reason = "child"  # CKD-EPI is an adult equation
        elif facts.sex not in {"male", "female"}:
            reason = "sex"
        else:
            value = ckd_epi_2021(
                creatinine_mg_dl(creatinine.value, creatinine.unit), facts.age_years, facts.sex
            )
            candidates.append((creatinine.when, value, "creatinine"))
    reported = latest(facts, EGFR_LOINC)
    if reported is not None and reported.value is not None:
        candidates.append((reported.when, reported.value, "reported"))
    if not candidates:
        if creatinine is not None and reason:
            return RenalFunction("not_computable", when=creatinine.when, source="creatinine", reason=reason)
        return RenalFunction("missing")
    when, value, source = max(candidates, key=lambda c: c[0] or dt.datetime.min.replace(tzinfo=dt.UTC))
    if when is None or when < now - dt.timedelta(days=max_age_days):
        return RenalFunction("stale", when=when, source=source, reason="date" if when is None else "")
    return RenalFunction("known", egfr=value, when=when, source=source)


def egfr(facts: ClinicalFacts, *, max_age_days: int = EGFR_MAX_AGE_DAYS) -> float | None:
    """The usable eGFR (see ``renal_function``), or None."""
    return renal_function(facts, max_age_days=max_age_days).egfr


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
