"""eGFR by CKD-EPI 2021 against published examples, and unit handling."""

from __future__ import annotations

import pytest

from smartcare.cdss.clinical import ckd_epi_2021, creatinine_mg_dl, dose_in_mg, egfr
from tests.cdss.helpers import facts, obs


@pytest.mark.parametrize(
    ("creatinine", "age", "sex", "expected"),
    [
        # NKF CKD-EPI 2021 calculator examples (Inker et al., NEJM 2021; race-free equation).
        (1.0, 50, "female", 69),
        (1.0, 50, "male", 92),
        (0.7, 50, "female", 105),
        (0.9, 50, "male", 104),
        (2.0, 70, "male", 35),
    ],
)
def test_ckd_epi_2021(creatinine: float, age: int, sex: str, expected: int) -> None:
    assert round(ckd_epi_2021(creatinine, age, sex)) == expected


def test_creatinine_units() -> None:
    assert creatinine_mg_dl(88.4, "umol/L") == pytest.approx(1.0)
    assert creatinine_mg_dl(88.4, "µmol/L") == pytest.approx(1.0)
    assert creatinine_mg_dl(1.2, "mg/dL") == 1.2
    assert creatinine_mg_dl(106, "") == pytest.approx(1.2, abs=0.01)  # no unit but clearly µmol/L


def test_egfr_uses_latest_creatinine_and_skips_children() -> None:
    f = facts(
        age=50, sex="male", observations=[obs("2160-0", 300, 100, "umol/L"), obs("2160-0", 88.4, 2, "umol/L")]
    )
    assert round(egfr(f) or 0) == 92
    assert egfr(facts(age=10, observations=[obs("2160-0", 50, 2, "umol/L")])) is None
    assert egfr(facts(age=50)) is None


def test_dose_units() -> None:
    assert dose_in_mg(1, "g") == 1000
    assert dose_in_mg(100, "mcg") == pytest.approx(0.1)
    assert dose_in_mg(5, "mL") is None


# --- Review findings: recency and sex (an old creatinine beat a newer reported eGFR) --------------


def test_the_most_recent_of_creatinine_and_reported_egfr_is_used() -> None:
    from smartcare.cdss.clinical import renal_function

    old_creatinine_new_egfr = facts(
        age=60, sex="male", observations=[obs("2160-0", 300, 40, "umol/L"), obs("98979-8", 75, 3, "mL/min")]
    )
    renal = renal_function(old_creatinine_new_egfr)
    assert renal.status == "known" and renal.source == "reported" and renal.egfr == 75
    new_creatinine_old_egfr = facts(
        age=60, sex="male", observations=[obs("98979-8", 75, 40), obs("2160-0", 300, 3, "umol/L")]
    )
    renal = renal_function(new_creatinine_old_egfr)
    assert renal.source == "creatinine" and (renal.egfr or 0) < 20


def test_values_older_than_the_window_are_not_used() -> None:
    from smartcare.cdss.clinical import renal_function

    stale = facts(age=60, sex="male", observations=[obs("2160-0", 300, 120, "umol/L")])
    renal = renal_function(stale)
    assert renal.status == "stale" and renal.egfr is None and renal.when is not None
    assert egfr(stale) is None
    assert renal_function(stale, max_age_days=180).status == "known"


def test_unknown_sex_does_not_compute_ckd_epi_silently() -> None:
    from smartcare.cdss.clinical import renal_function

    unknown = facts(age=60, sex="", observations=[obs("2160-0", 300, 5, "umol/L")])
    renal = renal_function(unknown)
    assert renal.status == "not_computable" and renal.egfr is None and renal.reason == "sex"
    with_reported = facts(
        age=60, sex="", observations=[obs("2160-0", 300, 5, "umol/L"), obs("33914-3", 25, 20)]
    )
    assert renal_function(with_reported).egfr == 25


@pytest.mark.django_db
def test_renal_card_says_when_renal_function_is_stale_or_unknown() -> None:
    from django.utils import translation

    from tests.cdss.helpers import fired, keys, med

    with translation.override("en"):
        stale = facts(
            drafts=[med("drug:metformin", 500, per_day=2)],
            age=70,
            observations=[obs("2160-0", 300, 200, "umol/L")],
        )
        found = {f.rule.key: f for f in fired(stale)}
        assert "renal.metformin_egfr_30" not in found  # a value of 200 days ago is not used
        card = found["coverage.renal_function_unknown"]
        assert "Metformin" in card.summary and "older than 90 days" in card.summary
        no_sex = facts(
            drafts=[med("drug:metformin")], age=70, sex="", observations=[obs("2160-0", 300, 5, "umol/L")]
        )
        card = {f.rule.key: f for f in fired(no_sex)}["coverage.renal_function_unknown"]
        assert "sex" in card.summary
    recent = facts(drafts=[med("drug:metformin")], age=70, observations=[obs("2160-0", 70, 5, "umol/L")])
    assert "coverage.renal_function_unknown" not in keys(recent)
    # a young patient without any kidney result: no card for every NSAID or metformin order
    assert "coverage.renal_function_unknown" not in keys(facts(drafts=[med("drug:metformin")], age=40))
    # an older one without any result: the card asks for it
    assert "coverage.renal_function_unknown" in keys(facts(drafts=[med("drug:metformin")], age=75))
    # nothing renally relevant ordered: no card
    assert "coverage.renal_function_unknown" not in keys(
        facts(drafts=[med("drug:amlodipine")], age=75, observations=[obs("2160-0", 300, 200, "umol/L")])
    )
