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
