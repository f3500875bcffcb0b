"""A small hand-made lake for the cohort tests: six people whose cohort membership is counted by
hand in the tests (index date 2025-01-01)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from smartcare.research import lake

INDEX = dt.date(2025, 1, 1)


def _t(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + " 09:00:00")


PERSONS = [
    # key, sex, birth date: ages at 2025-01-01 are 65, 59 (60 the next day), 60 (that day), 34, 84, 25
    ("a", "female", dt.date(1960, 1, 1)),
    ("b", "male", dt.date(1965, 1, 2)),
    ("c", "female", dt.date(1965, 1, 1)),
    ("d", "male", dt.date(1990, 6, 15)),
    ("e", "female", dt.date(1940, 3, 1)),
    ("f", "male", dt.date(2000, 1, 1)),
]
DIAGNOSES = [
    ("1", "a", "E11.9", "encounter", "2024-05-01"),
    ("problem:1", "b", "E11", "problem_list", "2023-02-01"),
    ("2", "c", "E10.9", "encounter", "2022-01-01"),
    ("3", "d", "I10", "encounter", "2024-12-31"),
    ("4", "e", "E11.65", "encounter", "2020-06-01"),
    ("5", "e", "I10", "encounter", "2021-01-01"),
    ("6", "f", "J45.9", "encounter", "2024-01-01"),
]
MEDICATIONS = [
    ("1", "a", "drug:insulin-glargine", "A10AE04", "2024-06-01"),
    ("2", "b", "drug:metformin", "A10BA02", "2023-03-01"),
    ("3", "e", "drug:insulin-human", "A10AB01", "2019-01-01"),
    ("4", "e", "drug:enalapril", "C09AA02", "2021-01-01"),
    ("5", "d", "drug:amlodipine", "C08CA01", "2024-12-31"),
]
LABS = [
    ("1", "a", "4548-4", 8.5, "2024-06-01"),
    ("2", "a", "4548-4", 6.5, "2024-11-01"),
    ("3", "b", "4548-4", 7.2, "2023-03-01"),
    ("4", "c", "4548-4", 6.0, "2024-10-01"),
    ("5", "e", "4548-4", 9.1, "2020-01-01"),
    ("6", "d", "2160-0", 80.0, "2024-12-31"),
]
ENCOUNTERS = [
    ("1", "a", "outpatient", "03.04", "2024-05-01"),
    ("2", "a", "inpatient", "03.04", "2024-06-01"),
    ("3", "d", "emergency", "02", "2024-12-31"),
    ("4", "e", "inpatient", "03.04", "2020-06-01"),
    ("5", "f", "outpatient", "03.03", "2024-01-01"),
]


def rows() -> dict[str, list[dict[str, Any]]]:
    return {
        "persons": [
            {
                "person_key": key,
                "birth_date": born,
                "birth_year": born.year,
                "sex": sex,
                "region_code": "310104",
                "insurance_type": "resident",
                "is_deceased": False,
                "updated_at": _t("2024-12-01"),
            }
            for key, sex, born in PERSONS
        ],
        "diagnoses": [
            {
                "row_key": rk,
                "person_key": pk,
                "encounter_key": None,
                "icd10": code,
                "icd10_category": code[:3],
                "source": source,
                "is_primary": source == "encounter",
                "status": "confirmed" if source == "encounter" else "active",
                "diagnosed_at": _t(day),
            }
            for rk, pk, code, source, day in DIAGNOSES
        ],
        "medications": [
            {
                "row_key": rk,
                "person_key": pk,
                "encounter_key": None,
                "drug_key": drug,
                "atc_code": atc,
                "name": drug.split(":")[1],
                "dose": 10.0,
                "dose_unit": "mg",
                "route": "oral",
                "frequency_per_day": 1.0,
                "duration_days": 30,
                "status": "completed",
                "started_at": _t(day),
                "ended_at": None,
            }
            for rk, pk, drug, atc, day in MEDICATIONS
        ],
        "labs": [
            {
                "row_key": rk,
                "person_key": pk,
                "encounter_key": None,
                "code": code,
                "loinc": code,
                "name": "HbA1c" if code == "4548-4" else "Creatinine",
                "value": value,
                "value_text": "",
                "unit": "%",
                "reference_low": None,
                "reference_high": None,
                "flag": "",
                "observed_at": _t(day),
            }
            for rk, pk, code, value, day in LABS
        ],
        "encounters": [
            {
                "row_key": rk,
                "person_key": pk,
                "kind": kind,
                "status": "finished",
                "department_code": dept,
                "started_at": _t(day),
                "ended_at": _t(day) + dt.timedelta(hours=1),
                "admitted_at": None,
                "discharged_at": None,
            }
            for rk, pk, kind, dept, day in ENCOUNTERS
        ],
    }


def build_fixture_lake(root: Path) -> Path:
    for table, data in rows().items():
        lake.write_table(root, table, lake.to_arrow(table, data))
    lake.write_metadata(root, {"fixture": True})
    return root
