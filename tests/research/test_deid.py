"""De-identification building blocks, with hand-computed answers."""

from __future__ import annotations

import datetime as dt

from smartcare.research import deid


def test_pseudonym_is_stable_per_project_and_differs_across_projects() -> None:
    a1 = deid.pseudonym("key-a", "person-1")
    assert a1 == deid.pseudonym("key-a", "person-1")
    assert a1 != deid.pseudonym("key-b", "person-1")
    assert a1 != deid.pseudonym("key-a", "person-2")
    assert a1.startswith("R") and len(a1) == 17 and "person-1" not in a1


def test_date_offset_is_stable_nonzero_and_bounded() -> None:
    offsets = [deid.date_offset_days("key", f"p{i}") for i in range(500)]
    assert all(o != 0 and -365 <= o <= 365 for o in offsets)
    assert any(o < 0 for o in offsets) and any(o > 0 for o in offsets)
    assert offsets[7] == deid.date_offset_days("key", "p7")
    assert len(set(offsets)) > 200  # not one offset for everybody


def test_shift_keeps_intervals() -> None:
    days = deid.date_offset_days("key", "p1")
    a = dt.datetime(2025, 3, 1, 8, 30)
    b = dt.datetime(2025, 6, 17, 14, 0)
    assert deid.shift(b, days) - deid.shift(a, days) == b - a
    assert deid.shift(dt.date(2025, 1, 1), 10) == dt.date(2025, 1, 11)
    assert deid.shift(None, 10) is None


def test_ages_over_89_are_grouped() -> None:
    assert deid.age_label(89) == "89"
    assert deid.age_label(90) == "90+"
    assert deid.age_label(104) == "90+"
    assert deid.age_on(dt.date(1930, 6, 1), dt.date(2026, 5, 31)) == 95


def test_scrubber_removes_names_phones_and_ids() -> None:
    scrubber = deid.Scrubber(names=["王小明", "李四"], identifiers=["MRN90000001"])
    text = (
        "王小明自述胸痛，家属李四陪同；小明既往高血压。电话 138-1234-5678 或 021-64041990，"
        "身份证 31010419800517002X，病历号 MRN90000001，复查。"
    )
    out = scrubber.scrub(text)
    for secret in (
        "王小明",
        "李四",
        "小明",
        "138-1234-5678",
        "021-64041990",
        "31010419800517002X",
        "MRN90000001",
    ):
        assert secret not in out
    assert out.count(deid.NAME_MASK) == 3
    assert deid.PHONE_MASK in out and deid.ID_MASK in out
    assert "胸痛" in out and "高血压" in out  # clinical words stay
    assert scrubber.scrub(None) is None


def test_scrubber_leaves_clinical_numbers() -> None:
    out = deid.Scrubber().scrub("BP 150/95 mmHg, HbA1c 7.8 %, glucose 11.2 mmol/L, 2025-03-01")
    assert out == "BP 150/95 mmHg, HbA1c 7.8 %, glucose 11.2 mmol/L, 2025-03-01"


def _person(age: int, sex: str, region: str, visit: dt.date) -> dict[str, object]:
    return {"age": age, "sex": sex, "region": region, "first_visit": visit}


def test_k_anonymity_generalizes_then_suppresses() -> None:
    people = {}
    # 10 women aged 60-64 in two counties of city 3101, first visits in 2025 (different months)
    for i in range(10):
        people[f"w{i}"] = _person(
            60 + i % 5, "female", "310104" if i % 2 else "310105", dt.date(2025, 1 + i, 3)
        )
    # 6 men aged 70-74 in 3101
    for i in range(6):
        people[f"m{i}"] = _person(70 + i % 5, "male", "310101", dt.date(2025, 2 + i, 3))
    # one outlier: a 95-year-old man from another province
    people["x"] = _person(95, "male", "440301", dt.date(2024, 5, 1))
    result = deid.k_anonymize(people, 5, max_suppression=0.1)
    # step 0 (exact) would suppress everyone; step 1 (5-year bands, city, year) leaves only the outlier
    assert result.report["step"] == 1
    assert result.suppressed == ["x"]
    assert result.report["released"] == 16
    assert result.released["w0"] == {
        "age": "60-64",
        "sex": "female",
        "region": "310100",
        "first_visit": "2025",
    }
    assert deid.is_k_anonymous(result.released.values(), 5)
    assert result.report["smallest_class"] == 6


def test_k_anonymity_last_step_suppresses_whatever_is_left() -> None:
    people = {
        f"p{i}": _person(30 + 20 * i, "female" if i % 2 else "male", "110101", dt.date(2025, 1, 1))
        for i in range(4)
    }
    result = deid.k_anonymize(people, 5)
    assert result.report["step"] == len(deid.LADDER) - 1
    assert result.released == {}
    assert len(result.suppressed) == 4


def test_is_k_anonymous() -> None:
    rows = [{"age": "60-64", "sex": "f", "region": "3101", "first_visit": "2025"}] * 5
    assert deid.is_k_anonymous(rows, 5)
    assert not deid.is_k_anonymous([*rows, {"age": "90+", "sex": "m", "region": "*", "first_visit": "*"}], 5)
