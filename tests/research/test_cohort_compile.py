"""The cohort compiler against a hand-counted lake (tests/research/lake_world.py, index 2025-01-01)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smartcare.research import cohorts, lake
from smartcare.research.errors import CriteriaInvalid
from tests.research.lake_world import INDEX, build_fixture_lake


@pytest.fixture(scope="module")
def con(tmp_path_factory: Any) -> Any:
    root = build_fixture_lake(Path(tmp_path_factory.mktemp("lake")))
    connection = lake.connect(root)
    yield connection
    connection.close()


def members(con: Any, criteria: dict[str, Any], withdrawn: set[str] | None = None, **kw: Any) -> list[str]:
    result = cohorts.run(
        {"criteria": criteria}, con=con, withdrawn=withdrawn or set(), index_date=INDEX, **kw
    )
    assert result.count == len(result.person_keys)
    return result.person_keys


DX = "diagnosis"


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["E11"], ["a", "b", "e"]),  # the category includes E11.9, E11.65 and E11 itself
        (["E11.6"], ["e"]),  # a subdivision includes its children (E11.65), not E11.9
        (["E11.9"], ["a"]),
        (["E10-E14"], ["a", "b", "c", "e"]),  # a range of categories
        (["I10", "J45"], ["d", "e", "f"]),
        (["e11"], ["a", "b", "e"]),  # codes are upper-cased
    ],
)
def test_icd10_hierarchy(con: Any, codes: list[str], expected: list[str]) -> None:
    assert members(con, {"type": DX, "codes": codes}) == expected


def test_diagnosis_windows_absolute_and_relative(con: Any) -> None:
    assert members(con, {"type": DX, "codes": ["E11"], "window": {"from": "2023-01-01"}}) == ["a", "b"]
    assert members(con, {"type": DX, "codes": ["E11"], "window": {"to": "2023-02-01"}}) == ["b", "e"]
    # 365 days before 2025-01-01 is 2024-01-02: only a's diagnosis of 2024-05-01
    assert members(con, {"type": DX, "codes": ["E11"], "window": {"days_before": 365, "days_after": 0}}) == [
        "a"
    ]
    # primary-only leaves out b's problem-list entry
    assert members(con, {"type": DX, "codes": ["E11"], "primary_only": True}) == ["a", "e"]


def test_age_at_index_date_counts_birthdays_exactly(con: Any) -> None:
    # c turns 60 on the index date (in), b the day after (out)
    assert members(con, {"type": "age", "min": 60}) == ["a", "c", "e"]
    assert members(con, {"type": "age", "max": 59}) == ["b", "d", "f"]
    assert members(con, {"type": "age", "min": 25, "max": 60}) == ["b", "c", "d", "f"]


def test_sex(con: Any) -> None:
    assert members(con, {"type": "sex", "values": ["female"]}) == ["a", "c", "e"]


def test_medications_by_atc_hierarchy_and_drug_key(con: Any) -> None:
    assert members(con, {"type": "medication", "atc": ["A10A"]}) == ["a", "e"]
    assert members(con, {"type": "medication", "atc": ["A10"]}) == ["a", "b", "e"]
    assert members(con, {"type": "medication", "drugs": ["drug:metformin"]}) == ["b"]
    assert members(con, {"type": "medication", "atc": ["A10A"], "window": {"from": "2023-01-01"}}) == ["a"]


def test_lab_thresholds_any_latest_and_windows(con: Any) -> None:
    a1c = {"type": "lab", "code": "4548-4"}
    assert members(con, {**a1c, "op": ">=", "value": 7}) == ["a", "b", "e"]
    # a's latest HbA1c is 6.5, so a drops out when the latest result must be high
    assert members(con, {**a1c, "op": ">=", "value": 7, "which": "latest"}) == ["b", "e"]
    assert members(con, {**a1c, "op": ">=", "value": 7, "window": {"from": "2023-01-01"}}) == ["a", "b"]
    assert members(con, {**a1c, "op": "between", "value": 6, "value2": 7}) == ["a", "c"]
    assert members(con, {**a1c, "op": "<", "value": 6.5}) == ["c"]
    # latest within the last 365 days: a (6.5) and c (6.0) have one; neither is >= 7
    assert (
        members(con, {**a1c, "op": ">=", "value": 7, "which": "latest", "window": {"days_before": 365}}) == []
    )


def test_encounter_kinds_departments_and_dates(con: Any) -> None:
    assert members(con, {"type": "encounter", "kinds": ["inpatient"]}) == ["a", "e"]
    assert members(con, {"type": "encounter", "kinds": ["inpatient"], "window": {"from": "2023-01-01"}}) == [
        "a"
    ]
    both = {
        "type": "encounter",
        "kinds": ["emergency", "outpatient"],
        "window": {"from": "2024-01-01", "to": "2024-12-31"},
    }
    assert members(con, both) == ["a", "d", "f"]
    assert members(con, {"type": "encounter", "departments": ["03.04"]}) == ["a", "e"]


def test_nested_and_or_not(con: Any) -> None:
    # diabetes (E11), aged 60 or more, treated with insulin since 2023
    study = {
        "and": [
            {"type": DX, "codes": ["E11"]},
            {"type": "age", "min": 60},
            {"type": "medication", "atc": ["A10A"], "window": {"from": "2023-01-01"}},
        ]
    }
    assert members(con, study) == ["a"]
    # any diabetes, not on insulin ever
    assert members(
        con, {"and": [{"type": DX, "codes": ["E10-E14"]}, {"not": {"type": "medication", "atc": ["A10A"]}}]}
    ) == ["b", "c"]
    # (E11 and not male) or I10
    nested = {
        "or": [
            {"and": [{"type": DX, "codes": ["E11"]}, {"not": {"type": "sex", "values": ["male"]}}]},
            {"type": DX, "codes": ["I10"]},
        ]
    }
    assert members(con, nested) == ["a", "d", "e"]
    # a NOT at the top is the complement within all persons
    assert members(con, {"not": {"type": "sex", "values": ["female"]}}) == ["b", "d", "f"]
    # an AND of NOTs only: neither diabetic nor hypertensive
    assert members(
        con, {"and": [{"not": {"type": DX, "codes": ["E10-E14"]}}, {"not": {"type": DX, "codes": ["I10"]}}]}
    ) == ["f"]
    # NOT of a group
    assert members(con, {"not": {"or": [{"type": DX, "codes": ["E11"]}, {"type": "age", "max": 30}]}}) == [
        "c",
        "d",
    ]


def test_withdrawn_consent_is_excluded_and_counted(con: Any) -> None:
    result = cohorts.run(
        {"criteria": {"type": DX, "codes": ["E11"]}}, con=con, withdrawn={"a", "d"}, index_date=INDEX
    )
    assert result.person_keys == ["b", "e"]
    assert result.count == 2
    assert result.excluded_withdrawn == 1  # d was not in the cohort anyway


def test_index_date_from_the_definition(con: Any) -> None:
    # at 2024-01-01, c (born 1965-01-01) turns 59; b (born a day later) is still 58
    result = cohorts.run(
        {"index_date": "2024-01-01", "criteria": {"type": "age", "min": 59, "max": 59}},
        con=con,
        withdrawn=set(),
    )
    assert result.index_date.isoformat() == "2024-01-01"
    assert result.person_keys == ["c"]


def test_generated_sql_is_shown_and_uses_partitions() -> None:
    sql = cohorts.compile_sql(
        {"criteria": {"type": DX, "codes": ["E11", "I10-I15"], "window": {"from": "2023-01-01"}}},
        index_date=INDEX,
    )
    assert "icd10_category = 'E11'" in sql
    assert "icd10_category BETWEEN 'I10' AND 'I15'" in sql
    assert "year >= 2023" in sql
    assert "EXCEPT SELECT person_num FROM withdrawn" in sql


def test_validation_canonicalises() -> None:
    clean = cohorts.validate({"criteria": {"type": DX, "codes": ["e11", "E11", " I10 "]}})
    assert clean == {"criteria": {"type": DX, "codes": ["E11", "I10"]}}
    assert cohorts.validate('{"criteria": {"type": "age", "min": 60}}') == {
        "criteria": {"type": "age", "min": 60}
    }


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({"criteria": {"type": "weight"}}, "criteria.type"),
        ({"criteria": {"type": DX, "codes": ["E1"]}}, "criteria.codes[0]"),
        ({"criteria": {"type": DX, "codes": ["I15-I10"]}}, "criteria.codes[0]"),
        ({"criteria": {"type": DX, "codes": []}}, "criteria.codes"),
        ({"criteria": {"type": DX, "codes": ["E11'; DROP TABLE persons; --"]}}, "criteria.codes[0]"),
        ({"criteria": {"type": "age", "min": 70, "max": 60}}, "criteria.max"),
        ({"criteria": {"type": "age", "min": "sixty"}}, "criteria.min"),
        ({"criteria": {"type": "age"}}, "criteria"),
        ({"criteria": {"type": "sex", "values": ["woman"]}}, "criteria.values[0]"),
        ({"criteria": {"type": "lab", "code": "4548-4", "op": "~", "value": 7}}, "criteria.op"),
        ({"criteria": {"type": "lab", "code": "4548-4", "op": ">=", "value": "high"}}, "criteria.value"),
        ({"criteria": {"type": "lab", "code": "4548-4", "op": "between", "value": 7}}, "criteria.value2"),
        ({"criteria": {"type": "lab", "code": "HbA1c", "op": ">=", "value": 7}}, "criteria.code"),
        ({"criteria": {"type": "medication"}}, "criteria"),
        ({"criteria": {"type": "medication", "atc": ["A1"]}}, "criteria.atc[0]"),
        (
            {
                "criteria": {
                    "type": DX,
                    "codes": ["E11"],
                    "window": {"from": "2024-02-01", "to": "2024-01-01"},
                }
            },
            "criteria.window.to",
        ),
        (
            {"criteria": {"type": DX, "codes": ["E11"], "window": {"from": "yesterday"}}},
            "criteria.window.from",
        ),
        ({"criteria": {"type": DX, "codes": ["E11"], "colour": "red"}}, "criteria.colour"),
        ({"criteria": {"and": []}}, "criteria.and"),
        ({"criteria": {"and": [{"type": "age", "min": 1}], "or": []}}, "criteria"),
        (
            {"criteria": {"or": [{"type": "age", "min": 1}, {"not": {"type": "bogus"}}]}},
            "criteria.or[1].not.type",
        ),
        ({"criteria": "E11"}, "criteria"),
        ({}, "criteria"),
        ("not json", "definition"),
        ({"index_date": "2025-13-01", "criteria": {"type": "age", "min": 1}}, "index_date"),
    ],
)
def test_bad_criteria_get_res_001_with_the_path(definition: Any, path: str) -> None:
    with pytest.raises(CriteriaInvalid) as caught:
        cohorts.validate(definition)
    assert caught.value.code == "RES-001"
    assert caught.value.field == path


def test_too_deep_and_too_many() -> None:
    node: dict[str, Any] = {"type": "age", "min": 1}
    for _ in range(cohorts.MAX_DEPTH + 1):
        node = {"not": node}
    with pytest.raises(CriteriaInvalid):
        cohorts.validate({"criteria": node})
    many = {"or": [{"type": "age", "min": i % 100} for i in range(cohorts.MAX_NODES + 1)]}
    with pytest.raises(CriteriaInvalid):
        cohorts.validate({"criteria": many})


def test_an_unbuilt_lake_is_refused(tmp_path: Path) -> None:
    from smartcare.research.errors import LakeNotBuilt

    with pytest.raises(LakeNotBuilt):
        lake.connect(tmp_path / "nothing")
