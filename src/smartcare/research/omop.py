# ruff: noqa: S608 - fixed table and column names and paths we chose; no user text reaches the SQL
"""Export of the analytics lake to OMOP CDM v5.4 tables, so the hospital can take part in OHDSI
network studies (the network sends analysis code; the data stay in the hospital).

Tables written: ``person``, ``visit_occurrence``, ``condition_occurrence``, ``drug_exposure``,
``measurement`` (lab results, vital signs, device readings) and ``observation`` (follow-up
outcomes), as Parquet or CSV, plus ``unmapped_codes.csv`` and ``omop_report.json``.

Vocabulary mapping, in this order:

1. concepts shipped with smartcare (``data/omop_concepts.csv``): gender, visit and type concepts,
   and the standard LOINC concepts of the common lab tests and vital signs;
2. when ``vocabulary_dir`` points at an OHDSI Athena download (``CONCEPT.csv`` and
   ``CONCEPT_RELATIONSHIP.csv``, tab-separated; free after registration, not redistributable
   by us), every ICD-10, LOINC and ATC source code is looked up there and followed through its
   ``Maps to`` relationship to the standard concept (SNOMED for conditions, RxNorm for drugs).

Source codes always go to the ``*_source_value`` columns; a row whose code has no standard
concept keeps ``*_concept_id = 0`` (the OMOP convention) and its code is listed in the report of
unmapped codes with its row count. Patients who withdrew research consent are left out.
Identifiers: ``person_id`` numbers the lake's person keys in order (stable for one lake);
``visit_occurrence_id`` is the encounter's row key; other ids number the rows.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from smartcare.research import lake
from smartcare.research.errors import OmopExportInvalid

CONCEPTS_FILE = Path(__file__).parent / "data" / "omop_concepts.csv"
OMOP_TABLES = (
    "person",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "measurement",
    "observation",
)
# Vital sign and device reading kinds -> LOINC (value, and value2 for the diastolic pressure).
VITAL_LOINC = {
    "bp": ("8480-6", "8462-4"),
    "blood_pressure": ("8480-6", "8462-4"),
    "hr": ("8867-4", None),
    "heart_rate": ("8867-4", None),
    "temp": ("8310-5", None),
    "spo2": ("59408-5", None),
    "weight": ("29463-7", None),
    "height": ("8302-2", None),
    "rr": ("9279-1", None),
    "glucose": ("2339-0", None),
}


def _csv_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _load_vocabulary(con: Any, vocabulary_dir: Path | None) -> bool:
    """Create ``source_map(vocabulary, code, source_concept_id, concept_id)``."""
    con.execute(
        "CREATE TABLE shipped AS SELECT vocabulary, code, CAST(concept_id AS BIGINT) AS concept_id "
        f"FROM read_csv({_csv_path(CONCEPTS_FILE)}, header = true, all_varchar = true)"
    )
    if vocabulary_dir is None:
        con.execute(
            "CREATE TABLE source_map AS SELECT vocabulary, code, CAST(0 AS BIGINT) AS source_concept_id, "
            "concept_id FROM shipped"
        )
        return False
    concept = vocabulary_dir / "CONCEPT.csv"
    relation = vocabulary_dir / "CONCEPT_RELATIONSHIP.csv"
    if not concept.exists() or not relation.exists():
        raise OmopExportInvalid(reason="CONCEPT.csv / CONCEPT_RELATIONSHIP.csv", field="vocabulary")
    options = "delim = '\t', header = true, quote = '', all_varchar = true"
    con.execute(f"CREATE VIEW concept AS SELECT * FROM read_csv({_csv_path(concept)}, {options})")
    con.execute(
        f"CREATE VIEW concept_relationship AS SELECT * FROM read_csv({_csv_path(relation)}, {options})"
    )
    con.execute(
        """
        CREATE TABLE athena AS
        SELECT c.vocabulary_id AS vocabulary, c.concept_code AS code,
               CAST(c.concept_id AS BIGINT) AS source_concept_id,
               CAST(coalesce(max(CASE WHEN t.standard_concept = 'S' THEN t.concept_id END),
                             max(CASE WHEN c.standard_concept = 'S' THEN c.concept_id END), '0') AS BIGINT) AS concept_id
        FROM concept c
        LEFT JOIN concept_relationship r
          ON r.concept_id_1 = c.concept_id AND r.relationship_id = 'Maps to' AND coalesce(r.invalid_reason, '') = ''
        LEFT JOIN concept t ON t.concept_id = r.concept_id_2
        WHERE c.vocabulary_id IN ('ICD10', 'ICD10CM', 'LOINC', 'ATC')
        GROUP BY c.vocabulary_id, c.concept_code, c.concept_id
        """
    )
    con.execute(
        """
        CREATE TABLE source_map AS
        SELECT coalesce(a.vocabulary, s.vocabulary) AS vocabulary, coalesce(a.code, s.code) AS code,
               coalesce(a.source_concept_id, 0) AS source_concept_id,
               CASE WHEN coalesce(a.concept_id, 0) <> 0 THEN a.concept_id ELSE coalesce(s.concept_id, 0) END AS concept_id
        FROM athena a FULL OUTER JOIN shipped s ON a.vocabulary = s.vocabulary AND a.code = s.code
        """
    )
    return True


def _statements() -> dict[str, str]:
    vitals = " UNION ALL ".join(
        f"SELECT '{kind}' AS kind, '{first}' AS loinc, {('NULL' if second is None else repr(second))} AS loinc2"
        for kind, (first, second) in VITAL_LOINC.items()
    )
    return {
        "person": """
            SELECT p.person_id,
                   coalesce(g.concept_id, 0) AS gender_concept_id,
                   CAST(year(s.birth_date) AS INTEGER) AS year_of_birth,
                   CAST(month(s.birth_date) AS INTEGER) AS month_of_birth,
                   CAST(day(s.birth_date) AS INTEGER) AS day_of_birth,
                   CAST(s.birth_date AS TIMESTAMP) AS birth_datetime,
                   0 AS race_concept_id, 0 AS ethnicity_concept_id,
                   NULL::BIGINT AS location_id, NULL::BIGINT AS provider_id, NULL::BIGINT AS care_site_id,
                   s.person_key AS person_source_value, s.sex AS gender_source_value, 0 AS gender_source_concept_id,
                   NULL::VARCHAR AS race_source_value, 0 AS race_source_concept_id,
                   NULL::VARCHAR AS ethnicity_source_value, 0 AS ethnicity_source_concept_id
            FROM persons s JOIN person_ids p USING (person_key)
            LEFT JOIN source_map g ON g.vocabulary = 'Gender' AND g.code = s.sex
        """,
        "visit_occurrence": """
            SELECT CAST(e.row_key AS BIGINT) AS visit_occurrence_id, p.person_id,
                   coalesce(v.concept_id, 0) AS visit_concept_id,
                   CAST(e.started_at AS DATE) AS visit_start_date, e.started_at AS visit_start_datetime,
                   CAST(coalesce(e.ended_at, e.discharged_at, e.started_at) AS DATE) AS visit_end_date,
                   coalesce(e.ended_at, e.discharged_at, e.started_at) AS visit_end_datetime,
                   32817 AS visit_type_concept_id, NULL::BIGINT AS provider_id, NULL::BIGINT AS care_site_id,
                   e.kind AS visit_source_value, 0 AS visit_source_concept_id,
                   0 AS admitted_from_concept_id, NULL::VARCHAR AS admitted_from_source_value,
                   0 AS discharged_to_concept_id, NULL::VARCHAR AS discharged_to_source_value,
                   NULL::BIGINT AS preceding_visit_occurrence_id
            FROM encounters e JOIN person_ids p USING (person_key)
            LEFT JOIN source_map v ON v.vocabulary = 'Visit' AND v.code = e.kind
        """,
        "condition_occurrence": """
            SELECT row_number() OVER (ORDER BY d.row_key) AS condition_occurrence_id, p.person_id,
                   coalesce(m.concept_id, m2.concept_id, 0) AS condition_concept_id,
                   CAST(d.diagnosed_at AS DATE) AS condition_start_date, d.diagnosed_at AS condition_start_datetime,
                   NULL::DATE AS condition_end_date, NULL::TIMESTAMP AS condition_end_datetime,
                   32817 AS condition_type_concept_id,
                   CASE WHEN d.is_primary THEN 32902 WHEN d.source = 'encounter' THEN 32908 ELSE 0 END
                       AS condition_status_concept_id,
                   NULL::VARCHAR AS stop_reason, NULL::BIGINT AS provider_id,
                   TRY_CAST(d.encounter_key AS BIGINT) AS visit_occurrence_id, NULL::BIGINT AS visit_detail_id,
                   d.icd10 AS condition_source_value,
                   coalesce(m.source_concept_id, m2.source_concept_id, 0) AS condition_source_concept_id,
                   d.status AS condition_status_source_value
            FROM diagnoses d JOIN person_ids p USING (person_key)
            LEFT JOIN source_map m ON m.vocabulary = 'ICD10' AND m.code = d.icd10
            LEFT JOIN source_map m2 ON m2.vocabulary = 'ICD10CM' AND m2.code = d.icd10 AND m.code IS NULL
        """,
        "drug_exposure": """
            SELECT row_number() OVER (ORDER BY d.row_key) AS drug_exposure_id, p.person_id,
                   coalesce(m.concept_id, 0) AS drug_concept_id,
                   CAST(d.started_at AS DATE) AS drug_exposure_start_date, d.started_at AS drug_exposure_start_datetime,
                   CAST(coalesce(d.ended_at, d.started_at + to_days(coalesce(d.duration_days, 1))) AS DATE)
                       AS drug_exposure_end_date,
                   coalesce(d.ended_at, d.started_at + to_days(coalesce(d.duration_days, 1))) AS drug_exposure_end_datetime,
                   CAST(d.ended_at AS DATE) AS verbatim_end_date,
                   32838 AS drug_type_concept_id,
                   CASE WHEN d.status = 'discontinued' THEN 'discontinued' END AS stop_reason,
                   NULL::INTEGER AS refills, d.dose * coalesce(d.frequency_per_day, 1) * coalesce(d.duration_days, 1) AS quantity,
                   d.duration_days AS days_supply, NULL::VARCHAR AS sig, 0 AS route_concept_id,
                   NULL::VARCHAR AS lot_number, NULL::BIGINT AS provider_id,
                   TRY_CAST(d.encounter_key AS BIGINT) AS visit_occurrence_id, NULL::BIGINT AS visit_detail_id,
                   coalesce(nullif(d.atc_code, ''), nullif(d.drug_key, ''), d.name) AS drug_source_value,
                   coalesce(m.source_concept_id, 0) AS drug_source_concept_id,
                   d.route AS route_source_value, d.dose_unit AS dose_unit_source_value
            FROM medications d JOIN person_ids p USING (person_key)
            LEFT JOIN source_map m ON m.vocabulary = 'ATC' AND m.code = d.atc_code
        """,
        "measurement": f"""
            WITH vital_codes AS ({vitals}),
            rows AS (
                SELECT 'lab:' || l.row_key AS k, l.person_key, nullif(l.loinc, '') AS loinc, l.code AS source,
                       l.observed_at AS at, l.value, l.value_text, l.unit, l.reference_low, l.reference_high,
                       TRY_CAST(l.encounter_key AS BIGINT) AS visit
                FROM labs l
                UNION ALL
                SELECT 'vital:' || v.row_key, v.person_key, c.loinc, 'vital:' || v.kind, v.measured_at, v.value,
                       NULL, v.unit, NULL, NULL, TRY_CAST(v.encounter_key AS BIGINT)
                FROM vitals v LEFT JOIN vital_codes c ON c.kind = v.kind
                UNION ALL
                SELECT 'vital2:' || v.row_key, v.person_key, c.loinc2, 'vital:' || v.kind || ':diastolic',
                       v.measured_at, v.value2, NULL, v.unit, NULL, NULL, TRY_CAST(v.encounter_key AS BIGINT)
                FROM vitals v JOIN vital_codes c ON c.kind = v.kind WHERE v.value2 IS NOT NULL
                UNION ALL
                SELECT 'device:' || r.row_key, r.person_key, c.loinc, 'device:' || r.kind, r.measured_at, r.value,
                       NULL, r.unit, NULL, NULL, NULL
                FROM device_readings r LEFT JOIN vital_codes c ON c.kind = r.kind
                UNION ALL
                SELECT 'device2:' || r.row_key, r.person_key, c.loinc2, 'device:' || r.kind || ':diastolic',
                       r.measured_at, r.value2, NULL, r.unit, NULL, NULL, NULL
                FROM device_readings r JOIN vital_codes c ON c.kind = r.kind WHERE r.value2 IS NOT NULL
            )
            SELECT row_number() OVER (ORDER BY x.k) AS measurement_id, p.person_id,
                   coalesce(m.concept_id, 0) AS measurement_concept_id,
                   CAST(x.at AS DATE) AS measurement_date, x.at AS measurement_datetime,
                   NULL::VARCHAR AS measurement_time, 32817 AS measurement_type_concept_id,
                   NULL::BIGINT AS operator_concept_id, x.value AS value_as_number,
                   NULL::BIGINT AS value_as_concept_id, NULL::BIGINT AS unit_concept_id,
                   x.reference_low AS range_low, x.reference_high AS range_high, NULL::BIGINT AS provider_id,
                   x.visit AS visit_occurrence_id, NULL::BIGINT AS visit_detail_id,
                   coalesce(x.loinc, x.source) AS measurement_source_value,
                   coalesce(m.source_concept_id, 0) AS measurement_source_concept_id,
                   x.unit AS unit_source_value, NULL::BIGINT AS unit_source_concept_id,
                   coalesce(CAST(x.value AS VARCHAR), x.value_text) AS value_source_value
            FROM rows x JOIN person_ids p USING (person_key)
            LEFT JOIN source_map m ON m.vocabulary = 'LOINC' AND m.code = x.loinc
        """,
        "observation": """
            SELECT row_number() OVER (ORDER BY f.row_key) AS observation_id, p.person_id,
                   0 AS observation_concept_id,
                   CAST(f.occurred_at AS DATE) AS observation_date, f.occurred_at AS observation_datetime,
                   32817 AS observation_type_concept_id, f.score_percent AS value_as_number,
                   f.status AS value_as_string, NULL::BIGINT AS value_as_concept_id,
                   NULL::BIGINT AS qualifier_concept_id, NULL::BIGINT AS unit_concept_id,
                   NULL::BIGINT AS provider_id, NULL::BIGINT AS visit_occurrence_id, NULL::BIGINT AS visit_detail_id,
                   'followup:' || f.kind || ':' || coalesce(f.code, '') AS observation_source_value,
                   0 AS observation_source_concept_id,
                   CASE WHEN f.score_percent IS NOT NULL THEN '%' END AS unit_source_value,
                   NULL::VARCHAR AS qualifier_source_value, f.status AS value_source_value
            FROM followups f JOIN person_ids p USING (person_key)
        """,
    }


# Which column of each table carries the concept, and which the source code (for the report).
CONCEPT_COLUMNS = {
    "person": ("gender_concept_id", "gender_source_value"),
    "visit_occurrence": ("visit_concept_id", "visit_source_value"),
    "condition_occurrence": ("condition_concept_id", "condition_source_value"),
    "drug_exposure": ("drug_concept_id", "drug_source_value"),
    "measurement": ("measurement_concept_id", "measurement_source_value"),
    "observation": ("observation_concept_id", "observation_source_value"),
}


def export(
    out_dir: Path,
    *,
    file_format: str = "parquet",
    vocabulary_dir: Path | None = None,
    root: Path | None = None,
    withdrawn: set[str] | None = None,
    actor: Any = None,
) -> dict[str, Any]:
    """Write the OMOP tables and the unmapped-codes report to ``out_dir``; returns the report."""
    if file_format not in ("parquet", "csv"):
        raise OmopExportInvalid(reason="format", field="format")
    import pyarrow as pa

    from smartcare.research.cohorts import withdrawn_keys

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = lake.connect(root)
    try:
        with_athena = _load_vocabulary(con, Path(vocabulary_dir) if vocabulary_dir else None)
        excluded = withdrawn_keys() if withdrawn is None else withdrawn
        con.register("withdrawn", pa.table({"person_key": pa.array(sorted(excluded), type=pa.string())}))
        con.execute(
            "CREATE TABLE person_ids AS SELECT person_key, row_number() OVER (ORDER BY person_key) AS person_id "
            "FROM persons WHERE person_key NOT IN (SELECT person_key FROM withdrawn)"
        )
        report: dict[str, Any] = {
            "cdm_version": "5.4",
            "vocabulary": "athena" if with_athena else "shipped",
            "excluded_withdrawn": int(
                con.execute(
                    "SELECT count(*) FROM persons WHERE person_key IN (SELECT person_key FROM withdrawn)"
                ).fetchall()[0][0]
            ),
            "tables": {},
        }
        unmapped_rows: list[tuple[str, str, int]] = []
        for name, sql in _statements().items():
            con.execute(f"CREATE TABLE omop_{name} AS {sql}")
            target = out_dir / f"{name}.{file_format}"
            options = (
                "FORMAT parquet, COMPRESSION zstd" if file_format == "parquet" else "FORMAT csv, HEADER true"
            )
            con.execute(f"COPY omop_{name} TO {_csv_path(target)} ({options})")
            concept, source = CONCEPT_COLUMNS[name]
            rows, mapped = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {concept} <> 0) FROM omop_{name}"
            ).fetchall()[0]
            missing = con.execute(
                f"SELECT coalesce({source}, ''), count(*) FROM omop_{name} WHERE {concept} = 0 "
                "GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
            unmapped_rows.extend((name, code, int(n)) for code, n in missing)
            report["tables"][name] = {
                "rows": int(rows),
                "mapped_rows": int(mapped),
                "unmapped_rows": int(rows) - int(mapped),
                "unmapped_codes": len(missing),
                "file": target.name,
            }
        with (out_dir / "unmapped_codes.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["table", "source_value", "rows"])
            writer.writerows(unmapped_rows)
        (out_dir / "omop_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        from smartcare.audit.choices import AuditAction
        from smartcare.audit.services import record

        record(
            actor,
            AuditAction.EXPORT,
            obj=("research.OmopExport", str(out_dir)),
            actor_username="" if actor else "smartcare lake omop",
            reason="OMOP CDM export of the analytics lake",
            detail={name: t["rows"] for name, t in report["tables"].items()},
        )
        return report
    finally:
        con.close()
