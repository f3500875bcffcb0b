"""The OMOP CDM export: table shapes, vocabulary mapping (shipped and Athena), unmapped codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from smartcare.research import omop
from smartcare.research.errors import OmopExportInvalid
from tests.research.lake_world import build_fixture_lake

pytestmark = pytest.mark.django_db  # the export is audited

# Columns of OMOP CDM v5.4 (required and optional), in the specification's order.
CDM_COLUMNS = {
    "person": [
        "person_id",
        "gender_concept_id",
        "year_of_birth",
        "month_of_birth",
        "day_of_birth",
        "birth_datetime",
        "race_concept_id",
        "ethnicity_concept_id",
        "location_id",
        "provider_id",
        "care_site_id",
        "person_source_value",
        "gender_source_value",
        "gender_source_concept_id",
        "race_source_value",
        "race_source_concept_id",
        "ethnicity_source_value",
        "ethnicity_source_concept_id",
    ],
    "visit_occurrence": [
        "visit_occurrence_id",
        "person_id",
        "visit_concept_id",
        "visit_start_date",
        "visit_start_datetime",
        "visit_end_date",
        "visit_end_datetime",
        "visit_type_concept_id",
        "provider_id",
        "care_site_id",
        "visit_source_value",
        "visit_source_concept_id",
        "admitted_from_concept_id",
        "admitted_from_source_value",
        "discharged_to_concept_id",
        "discharged_to_source_value",
        "preceding_visit_occurrence_id",
    ],
    "condition_occurrence": [
        "condition_occurrence_id",
        "person_id",
        "condition_concept_id",
        "condition_start_date",
        "condition_start_datetime",
        "condition_end_date",
        "condition_end_datetime",
        "condition_type_concept_id",
        "condition_status_concept_id",
        "stop_reason",
        "provider_id",
        "visit_occurrence_id",
        "visit_detail_id",
        "condition_source_value",
        "condition_source_concept_id",
        "condition_status_source_value",
    ],
    "drug_exposure": [
        "drug_exposure_id",
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_exposure_start_datetime",
        "drug_exposure_end_date",
        "drug_exposure_end_datetime",
        "verbatim_end_date",
        "drug_type_concept_id",
        "stop_reason",
        "refills",
        "quantity",
        "days_supply",
        "sig",
        "route_concept_id",
        "lot_number",
        "provider_id",
        "visit_occurrence_id",
        "visit_detail_id",
        "drug_source_value",
        "drug_source_concept_id",
        "route_source_value",
        "dose_unit_source_value",
    ],
    "measurement": [
        "measurement_id",
        "person_id",
        "measurement_concept_id",
        "measurement_date",
        "measurement_datetime",
        "measurement_time",
        "measurement_type_concept_id",
        "operator_concept_id",
        "value_as_number",
        "value_as_concept_id",
        "unit_concept_id",
        "range_low",
        "range_high",
        "provider_id",
        "visit_occurrence_id",
        "visit_detail_id",
        "measurement_source_value",
        "measurement_source_concept_id",
        "unit_source_value",
        "unit_source_concept_id",
        "value_source_value",
    ],
    "observation": [
        "observation_id",
        "person_id",
        "observation_concept_id",
        "observation_date",
        "observation_datetime",
        "observation_type_concept_id",
        "value_as_number",
        "value_as_string",
        "value_as_concept_id",
        "qualifier_concept_id",
        "unit_concept_id",
        "provider_id",
        "visit_occurrence_id",
        "visit_detail_id",
        "observation_source_value",
        "observation_source_concept_id",
        "unit_source_value",
        "qualifier_source_value",
        "value_source_value",
    ],
}


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return build_fixture_lake(tmp_path / "lake")


def _read(path: Path) -> list[dict[str, Any]]:
    con = duckdb.connect()
    cursor = con.execute(f"SELECT * FROM '{path}'")  # noqa: S608
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_tables_have_the_cdm_shape(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "omop"
    report = omop.export(out, root=root, withdrawn=set())
    for table, columns in CDM_COLUMNS.items():
        con = duckdb.connect()
        described = con.execute(f"DESCRIBE SELECT * FROM '{out / (table + '.parquet')}'").fetchall()  # noqa: S608
        assert [row[0] for row in described] == columns, table
    assert {t: report["tables"][t]["rows"] for t in CDM_COLUMNS} == {
        "person": 6,
        "visit_occurrence": 5,
        "condition_occurrence": 7,
        "drug_exposure": 5,
        "measurement": 6,
        "observation": 0,
    }


def test_shipped_vocabulary_maps_gender_visits_and_loinc(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "omop"
    report = omop.export(out, root=root, withdrawn=set())
    people = {p["person_source_value"]: p for p in _read(out / "person.parquet")}
    assert people["a"]["gender_concept_id"] == 8532
    assert people["b"]["gender_concept_id"] == 8507
    assert (people["a"]["year_of_birth"], people["a"]["month_of_birth"]) == (1960, 1)
    visits = {v["visit_source_value"]: v["visit_concept_id"] for v in _read(out / "visit_occurrence.parquet")}
    assert visits == {"outpatient": 9202, "inpatient": 9201, "emergency": 9203}
    measures = {
        (m["measurement_source_value"], m["measurement_concept_id"])
        for m in _read(out / "measurement.parquet")
    }
    assert ("4548-4", 3004410) in measures  # HbA1c
    conditions = _read(out / "condition_occurrence.parquet")
    assert {c["condition_concept_id"] for c in conditions} == {0}  # ICD-10 needs the Athena vocabulary
    assert {c["condition_source_value"] for c in conditions} == {
        "E11.9",
        "E11",
        "E10.9",
        "I10",
        "E11.65",
        "J45.9",
    }
    # the report lists every unmapped code with its rows
    with (out / "unmapped_codes.csv").open(encoding="utf-8") as handle:
        rows = {(r["table"], r["source_value"]): int(r["rows"]) for r in csv.DictReader(handle)}
    assert rows[("condition_occurrence", "I10")] == 2
    assert rows[("drug_exposure", "A10AE04")] == 1
    assert report["tables"]["condition_occurrence"] == {
        "rows": 7,
        "mapped_rows": 0,
        "unmapped_rows": 7,
        "unmapped_codes": 6,
        "file": "condition_occurrence.parquet",
    }
    assert json.loads((out / "omop_report.json").read_text())["vocabulary"] == "shipped"


def test_athena_vocabulary_maps_source_codes_to_standard_concepts(root: Path, tmp_path: Path) -> None:
    vocab = tmp_path / "athena"
    vocab.mkdir()
    header = "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\tconcept_code\tvalid_start_date\tvalid_end_date\tinvalid_reason\n"
    (vocab / "CONCEPT.csv").write_text(
        header
        + "45576876\tType 2 diabetes mellitus without complications\tCondition\tICD10\tICD10 code\t\tE11.9\t19700101\t20991231\t\n"
        + "201826\tType 2 diabetes mellitus\tCondition\tSNOMED\tClinical Finding\tS\t44054006\t19700101\t20991231\t\n"
        + "21600744\tinsulin glargine; parenteral\tDrug\tATC\tATC 5th\t\tA10AE04\t19700101\t20991231\t\n"
        + "1502905\tinsulin glargine\tDrug\tRxNorm\tIngredient\tS\t274783\t19700101\t20991231\t\n",
        encoding="utf-8",
    )
    (vocab / "CONCEPT_RELATIONSHIP.csv").write_text(
        "concept_id_1\tconcept_id_2\trelationship_id\tvalid_start_date\tvalid_end_date\tinvalid_reason\n"
        "45576876\t201826\tMaps to\t19700101\t20991231\t\n"
        "21600744\t1502905\tMaps to\t19700101\t20991231\t\n",
        encoding="utf-8",
    )
    out = tmp_path / "omop"
    report = omop.export(out, root=root, withdrawn=set(), vocabulary_dir=vocab, file_format="csv")
    with (out / "condition_occurrence.csv").open(encoding="utf-8") as handle:
        mapped = {
            r["condition_source_value"]: (r["condition_concept_id"], r["condition_source_concept_id"])
            for r in csv.DictReader(handle)
        }
    assert mapped["E11.9"] == ("201826", "45576876")
    assert mapped["E11.65"] == ("0", "0")
    with (out / "drug_exposure.csv").open(encoding="utf-8") as handle:
        drugs = {r["drug_source_value"]: r["drug_concept_id"] for r in csv.DictReader(handle)}
    assert drugs["A10AE04"] == "1502905"
    assert report["vocabulary"] == "athena"
    assert report["tables"]["condition_occurrence"]["mapped_rows"] == 1


def test_withdrawn_patients_are_left_out(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "omop"
    report = omop.export(out, root=root, withdrawn={"a"})
    assert report["excluded_withdrawn"] == 1
    people = [p["person_source_value"] for p in _read(out / "person.parquet")]
    assert "a" not in people and len(people) == 5
    assert all(v["person_id"] in range(1, 6) for v in _read(out / "visit_occurrence.parquet"))
    assert report["tables"]["visit_occurrence"]["rows"] == 3  # a's two visits are gone


def test_bad_options_are_refused(root: Path, tmp_path: Path) -> None:
    with pytest.raises(OmopExportInvalid):
        omop.export(tmp_path / "o", root=root, file_format="xlsx", withdrawn=set())
    with pytest.raises(OmopExportInvalid):
        omop.export(tmp_path / "o", root=root, vocabulary_dir=tmp_path, withdrawn=set())


def test_the_command_writes_the_tables_and_the_report(root: Path, tmp_path: Path) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "lake", "omop", "--dir", str(root), "--out", str(tmp_path / "cdm"), "--format", "csv", stdout=out
    )
    assert json.loads(out.getvalue().strip().splitlines()[-1])["vocabulary"] == "shipped"
    assert sorted(p.name for p in (tmp_path / "cdm").iterdir()) == sorted(
        [f"{t}.csv" for t in CDM_COLUMNS] + ["omop_report.json", "unmapped_codes.csv"]
    )
