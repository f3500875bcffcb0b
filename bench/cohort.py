#!/usr/bin/env python
# ruff: noqa: S608 - generated SQL over constants of this script
"""Cohort queries over a synthetic analytics lake of N patients.

    .venv/bin/python bench/cohort.py [--patients 1000000] [--repeat 3] [--threads 2] [--keep DIR]

Builds a lake with the schema of ``smartcare.research.lake`` (every table, year-partitioned
Parquet) for ``--patients`` synthetic people, with a realistic mix: chronic conditions at adult
prevalences (hypertension 25 %, type 2 diabetes 11 %, hyperlipidaemia 15 %, coronary disease 7 %,
CKD 5 %, asthma 4 %, COPD 3 %, depression 4 %, atrial fibrillation 2 %, heart failure 2 %, lung
cancer 0.5 %) that rise with age, acute diagnoses at about 3.5 visits per person over 2019–2025,
the usual drugs of those conditions (metformin, insulin, antihypertensives, statins,
anticoagulants, antibiotics ...) and lab results (HbA1c higher in diabetics, creatinine higher in
CKD, glucose, potassium, haemoglobin). The lake is generated with DuckDB SQL (deterministic hashes,
no database needed) and checked against the lake schema.

Then it runs 12 representative cohort definitions through the same compiler and runner as the
cohort builder (``smartcare.research.cohorts.run``), each ``--repeat`` times, counting (the live
count of the builder) with 0.5 % of the people excluded for withdrawn consent. Per query the
median time is kept; ``p50_ms`` and ``max_ms`` are over the queries. ``keys_max_ms`` is the
slowest query when the person keys are fetched too (what an export does).

The last line of stdout is ``{"patients", "queries", "p50_ms", "max_ms", "build_s", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcare.settings")

# name, ICD-10 code, base prevalence, extra prevalence per decade over 40
CHRONIC = [
    ("htn", "I10", 0.10, 0.05),
    ("t2dm", "E11.9", 0.04, 0.025),
    ("lipid", "E78.5", 0.06, 0.03),
    ("chd", "I25.1", 0.01, 0.02),
    ("ckd", "N18.3", 0.01, 0.012),
    ("asthma", "J45.9", 0.04, 0.0),
    ("copd", "J44.9", 0.005, 0.008),
    ("depr", "F32.9", 0.04, 0.0),
    ("af", "I48.9", 0.002, 0.006),
    ("hf", "I50.9", 0.002, 0.006),
    ("lungca", "C34.9", 0.001, 0.0015),
]
ACUTE = [
    "J06.9",
    "K29.7",
    "M54.5",
    "R51",
    "J20.9",
    "N39.0",
    "K52.9",
    "L30.9",
    "H10.9",
    "S93.4",
    "R10.4",
    "J02.9",
    "A09.9",
    "M17.9",
    "I83.9",
    "K80.2",
    "J18.9",
    "R05",
    "B34.9",
    "Z00.0",
]
# condition -> (ATC, drug key, share of the condition's patients)
DRUGS = [
    ("t2dm", "A10BA02", "drug:metformin", 0.8),
    ("t2dm", "A10AE04", "drug:insulin-glargine", 0.22),
    ("htn", "C08CA01", "drug:amlodipine", 0.5),
    ("htn", "C09CA01", "drug:losartan", 0.3),
    ("htn", "C09AA02", "drug:enalapril", 0.15),
    ("lipid", "C10AA05", "drug:atorvastatin", 0.7),
    ("chd", "B01AC06", "drug:aspirin", 0.7),
    ("af", "B01AA03", "drug:warfarin", 0.4),
    ("af", "B01AF01", "drug:rivaroxaban", 0.3),
    ("hf", "C03CA01", "drug:furosemide", 0.6),
    ("asthma", "R03AC02", "drug:salbutamol", 0.8),
    ("copd", "R03BB04", "drug:tiotropium", 0.6),
    ("depr", "N06AB06", "drug:sertraline", 0.5),
]
ACUTE_DRUGS = [
    ("J01CA04", "drug:amoxicillin"),
    ("N02BE01", "drug:paracetamol"),
    ("M01AE01", "drug:ibuprofen"),
    ("J01FA10", "drug:azithromycin"),
    ("A02BC01", "drug:omeprazole"),
    ("J01DC02", "drug:cefuroxime"),
]

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("type 2 diabetes", {"type": "diagnosis", "codes": ["E11"]}),
    (
        "diabetics aged 60+ on insulin since 2023",
        {
            "and": [
                {"type": "diagnosis", "codes": ["E11"]},
                {"type": "age", "min": 60},
                {"type": "medication", "atc": ["A10A"], "window": {"from": "2023-01-01"}},
            ]
        },
    ),
    (
        "untreated hypertension",
        {
            "and": [
                {"type": "diagnosis", "codes": ["I10-I15"]},
                {"not": {"type": "medication", "atc": ["C02", "C03", "C07", "C08", "C09"]}},
            ]
        },
    ),
    (
        "latest HbA1c >= 9 in the last year",
        {
            "type": "lab",
            "code": "4548-4",
            "op": ">=",
            "value": 9,
            "which": "latest",
            "window": {"days_before": 365},
        },
    ),
    (
        "CKD with creatinine > 150 in two years",
        {
            "and": [
                {"type": "diagnosis", "codes": ["N18"]},
                {"type": "lab", "code": "2160-0", "op": ">", "value": 150, "window": {"days_before": 730}},
            ]
        },
    ),
    (
        "women 18-45 with asthma",
        {
            "and": [
                {"type": "sex", "values": ["female"]},
                {"type": "age", "min": 18, "max": 45},
                {"type": "diagnosis", "codes": ["J45"]},
            ]
        },
    ),
    (
        "heart failure admissions in 2024",
        {
            "and": [
                {"type": "diagnosis", "codes": ["I50"], "window": {"from": "2024-01-01", "to": "2024-12-31"}},
                {
                    "type": "encounter",
                    "kinds": ["inpatient"],
                    "window": {"from": "2024-01-01", "to": "2024-12-31"},
                },
            ]
        },
    ),
    (
        "AF or HF, 75+, no anticoagulant",
        {
            "and": [
                {"or": [{"type": "diagnosis", "codes": ["I48"]}, {"type": "diagnosis", "codes": ["I50"]}]},
                {"type": "age", "min": 75},
                {"not": {"type": "medication", "atc": ["B01AA", "B01AF"]}},
            ]
        },
    ),
    (
        "diabetes, HbA1c 7-9, on a statin",
        {
            "and": [
                {"type": "diagnosis", "codes": ["E10-E14"]},
                {"type": "lab", "code": "4548-4", "op": "between", "value": 7, "value2": 9},
                {"type": "medication", "atc": ["C10AA"]},
            ]
        },
    ),
    (
        "emergency visits in the last 90 days",
        {"type": "encounter", "kinds": ["emergency"], "window": {"days_before": 90}},
    ),
    (
        "diabetes with insulin or poor control, no lung cancer",
        {
            "and": [
                {"type": "diagnosis", "codes": ["E11"]},
                {
                    "or": [
                        {"type": "medication", "atc": ["A10A"]},
                        {"type": "lab", "code": "4548-4", "op": ">=", "value": 8, "which": "latest"},
                    ]
                },
                {"not": {"type": "diagnosis", "codes": ["C34"]}},
            ]
        },
    ),
    (
        "men 65+ with COPD admitted since 2022",
        {
            "and": [
                {"type": "sex", "values": ["male"]},
                {"type": "age", "min": 65},
                {"type": "diagnosis", "codes": ["J44"]},
                {"type": "encounter", "kinds": ["inpatient"], "window": {"from": "2022-01-01"}},
            ]
        },
    ),
]
INDEX_DATE = "2025-12-31"


def _u(seed: str, *columns: str) -> str:
    """A uniform number in [0, 1) from a hash of the columns (deterministic)."""
    return f"(hash({', '.join(columns)}, '{seed}') % 1000000) / 1000000.0"


def _pick(options: list[str], seed: str, *columns: str) -> str:
    values = ", ".join("'" + o + "'" for o in options)
    return f"[{values}][1 + CAST(hash({', '.join(columns)}, '{seed}') % {len(options)} AS INTEGER)]"


def _ts(seed: str, *columns: str) -> str:
    """A time between 2019-01-01 and 2025-12-31."""
    return f"TIMESTAMP '2019-01-01 08:00:00' + to_seconds(CAST(({_u(seed, *columns)}) * 220838400 AS BIGINT))"


def generate(con: Any, root: Path, patients: int) -> None:
    from smartcare.research import lake

    con.execute(f"""
        CREATE TABLE p AS
        SELECT i, substr(md5(CAST(i AS VARCHAR)), 1, 32) AS person_key,
               DATE '1930-01-01' + CAST(floor(power({_u("age", "i")}, 0.8) * 32500) AS INTEGER) AS birth_date,
               CASE WHEN {_u("sex", "i")} < 0.49 THEN 'male' ELSE 'female' END AS sex
        FROM range({patients}) t(i)
    """)
    con.execute("ALTER TABLE p ADD COLUMN decades DOUBLE")
    con.execute("UPDATE p SET decades = greatest(0, (DATE '2025-01-01' - birth_date) / 3652.5 - 4)")
    # chronic conditions per person
    flags = ", ".join(
        f"{_u(name, 'i')} < {base} + {slope} * decades AS {name}" for name, _c, base, slope in CHRONIC
    )
    con.execute(f"CREATE TABLE c AS SELECT i, person_key, {flags} FROM p")
    regions = [
        "310104",
        "310115",
        "110105",
        "440305",
        "320102",
        "330106",
        "510107",
        "420106",
        "610113",
        "370102",
    ]

    def copy(table: str, sql: str) -> None:
        spec = lake.TABLES[table]
        select = ", ".join(
            "CAST(('0x' || substr(person_key, 1, 15)) AS BIGINT) AS person_num"  # lake.person_num
            if c.name == "person_num"
            else f"CAST({c.name} AS {lake._DUCK_TYPES[c.type]}) AS {c.name}"
            for c in spec.columns
        )
        target = root / table
        order = ", ".join(lake.CLUSTER[table])  # the lake writer's order (row-group skipping)
        options = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {lake.ROW_GROUP}"
        if spec.partitioned:
            time_column = lake.TIME_COLUMN[table]
            con.execute(
                f"COPY (SELECT {select}, year({time_column}) AS year FROM ({sql}) ORDER BY year, {order}) TO '{target}' "
                f"({options}, PARTITION_BY (year), OVERWRITE_OR_IGNORE true)"
            )
        else:
            target.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT {select} FROM ({sql}) ORDER BY {order}) TO '{target / 'data.parquet'}' ({options})"
            )

    copy(
        "persons",
        f"""
        SELECT person_key, birth_date, year(birth_date) AS birth_year, sex,
               {_pick(regions, "region", "i")} AS region_code,
               {_pick(["urban_employee", "resident", "commercial", "self_pay"], "ins", "i")} AS insurance_type,
               {_u("dead", "i")} < 0.01 AS is_deceased, TIMESTAMP '2025-12-31 00:00:00' AS updated_at
        FROM p
    """,
    )
    # about 3.5 encounters a person, more for the old
    con.execute(f"""
        CREATE TABLE e AS
        SELECT p.i, p.person_key, p.i * 16 + j AS eid, {_ts("enc", "p.i", "j")} AS started_at,
               CASE WHEN {_u("kind", "p.i", "j")} < 0.82 THEN 'outpatient'
                    WHEN {_u("kind", "p.i", "j")} < 0.92 THEN 'emergency' ELSE 'inpatient' END AS kind
        FROM p, range(16) r(j)
        WHERE j < 1 + CAST(({_u("visits", "p.i")}) * (3 + 2 * least(p.decades, 4)) AS INTEGER)
    """)
    copy(
        "encounters",
        f"""
        SELECT CAST(eid AS VARCHAR) AS row_key, person_key, kind, 'finished' AS status,
               {_pick(["03.04", "03.03", "03.01", "02", "04", "05", "07", "12", "20"], "dept", "eid")} AS department_code,
               started_at, started_at + INTERVAL 30 MINUTE AS ended_at,
               CASE WHEN kind = 'inpatient' THEN started_at END AS admitted_at,
               CASE WHEN kind = 'inpatient' THEN started_at + INTERVAL 5 DAY END AS discharged_at
        FROM e
    """,
    )
    chronic_rows = " UNION ALL ".join(
        f"SELECT c.i, c.person_key, '{code}' AS icd10, k FROM c, range(2) r(k) WHERE c.{name}"
        for name, code, _b, _s in CHRONIC
    )
    copy(
        "diagnoses",
        f"""
        SELECT 'c' || i || '-' || icd10 || '-' || k AS row_key, person_key, NULL AS encounter_key, icd10,
               substr(icd10, 1, 3) AS icd10_category, 'encounter' AS source, k = 0 AS is_primary,
               'confirmed' AS status, {_ts("dx", "i", "icd10", "k")} AS diagnosed_at
        FROM ({chronic_rows})
        UNION ALL
        SELECT 'a' || eid, person_key, CAST(eid AS VARCHAR), {_pick(ACUTE, "acute", "eid")} AS icd10,
               substr({_pick(ACUTE, "acute", "eid")}, 1, 3), 'encounter', true, 'confirmed', started_at
        FROM e
    """,
    )
    drug_rows = " UNION ALL ".join(
        f"SELECT c.i, c.person_key, '{atc}' AS atc, '{key}' AS drug_key, k FROM c, range(3) r(k) "
        f"WHERE c.{cond} AND {_u(atc, 'c.i')} < {share}"
        for cond, atc, key, share in DRUGS
    )
    acute_atc = [a for a, _k in ACUTE_DRUGS]
    copy(
        "medications",
        f"""
        SELECT 'c' || i || '-' || atc || '-' || k AS row_key, person_key, NULL AS encounter_key, drug_key,
               atc AS atc_code, substr(drug_key, 6) AS name, 10.0 AS dose, 'mg' AS dose_unit, 'oral' AS route,
               1.0 AS frequency_per_day, 90 AS duration_days, 'completed' AS status,
               {_ts("rx", "i", "atc", "k")} AS started_at, NULL AS ended_at
        FROM ({drug_rows})
        UNION ALL
        SELECT 'a' || eid, person_key, CAST(eid AS VARCHAR), 'drug:acute', {_pick(acute_atc, "arx", "eid")},
               'acute', 500.0, 'mg', 'oral', 3.0, 7, 'completed', started_at, NULL
        FROM e WHERE {_u("acute-rx", "eid")} < 0.45
    """,
    )
    normal = "sqrt(-2 * ln(greatest({a}, 1e-9))) * cos(2 * pi() * {b})"
    z = normal.format(a=_u("z1", "i", "k"), b=_u("z2", "i", "k"))
    copy(
        "labs",
        f"""
        SELECT 'h' || c.i || '-' || k AS row_key, c.person_key, NULL AS encounter_key, '4548-4' AS code,
               '4548-4' AS loinc, 'HbA1c' AS name,
               round(CASE WHEN c.t2dm THEN 7.6 + 1.3 * {z} ELSE 5.5 + 0.4 * {z} END, 1) AS value,
               '' AS value_text, '%' AS unit, 4.0 AS reference_low, 6.0 AS reference_high, '' AS flag,
               {_ts("hba1c", "c.i", "k")} AS observed_at
        FROM c, range(4) r(k) WHERE k < CASE WHEN c.t2dm THEN 4 ELSE CAST({_u("h", "c.i")} < 0.3 AS INTEGER) END
        UNION ALL
        SELECT 'k' || c.i || '-' || k, c.person_key, NULL, '2160-0', '2160-0', 'Creatinine',
               round(CASE WHEN c.ckd THEN 180 + 50 * {z} ELSE 75 + 15 * {z} END, 0), '', 'umol/L', 45.0, 110.0, '',
               {_ts("cr", "c.i", "k")}
        FROM c, range(2) r(k) WHERE {_u("crs", "c.i", "k")} < CASE WHEN c.ckd THEN 1 ELSE 0.4 END
        UNION ALL
        SELECT 'g' || c.i || '-' || k, c.person_key, NULL, '2345-7', '2345-7', 'Glucose',
               round(CASE WHEN c.t2dm THEN 8.5 + 2 * {z} ELSE 5.2 + 0.6 * {z} END, 1), '', 'mmol/L', 3.9, 6.1, '',
               {_ts("glu", "c.i", "k")}
        FROM c, range(2) r(k) WHERE {_u("glus", "c.i", "k")} < 0.5
        UNION ALL
        SELECT 'x' || c.i || '-' || k, c.person_key, NULL, {_pick(["2823-3", "718-7"], "oth", "c.i", "k")},
               {_pick(["2823-3", "718-7"], "oth", "c.i", "k")}, 'Other',
               round(4.2 + 0.4 * {z}, 1), '', '', NULL, NULL, '', {_ts("oth", "c.i", "k")}
        FROM c, range(2) r(k) WHERE {_u("oths", "c.i", "k")} < 0.5
    """,
    )
    copy(
        "vitals",
        f"""
        SELECT 'v' || eid AS row_key, person_key, CAST(eid AS VARCHAR) AS encounter_key, 'bp' AS kind,
               round(110 + 40 * {_u("sbp", "eid")}) AS value, round(70 + 20 * {_u("dbp", "eid")}) AS value2,
               'mmHg' AS unit, started_at AS measured_at
        FROM e WHERE {_u("vit", "eid")} < 0.4
    """,
    )
    copy(
        "procedures",
        f"""
        SELECT 'pr' || eid AS row_key, person_key, CAST(eid AS VARCHAR) AS encounter_key, 'imaging' AS kind,
               'exam:chest-ct' AS item, '' AS code, 'Chest CT' AS name, 'completed' AS status,
               started_at AS ordered_at, started_at + INTERVAL 2 HOUR AS performed_at
        FROM e WHERE {_u("proc", "eid")} < 0.1
    """,
    )
    copy(
        "notes",
        f"""
        SELECT 'n' || eid AS row_key, person_key, CAST(eid AS VARCHAR) AS encounter_key, 'progress' AS kind,
               '咳嗽三天' AS chief_complaint, '上呼吸道感染' AS assessment, started_at AS signed_at
        FROM e WHERE {_u("note", "eid")} < 0.05
    """,
    )
    copy(
        "followups",
        f"""
        SELECT 'f' || i AS row_key, person_key, 'questionnaire' AS kind, 'pro-diabetes' AS code, 'answered' AS status,
               round(100 * {_u("score", "i")}, 1) AS score_percent, NULL AS satisfied, {_ts("fu", "i")} AS occurred_at
        FROM c WHERE t2dm AND {_u("fus", "i")} < 0.5
    """,
    )
    copy(
        "device_readings",
        f"""
        SELECT 'r' || i || '-' || k AS row_key, person_key, 'glucose' AS kind, round(5 + 5 * {_u("rd", "i", "k")}, 1) AS value,
               NULL AS value2, NULL AS pulse, 'mmol/L' AS unit, 'fasting' AS context, '' AS flag, 'device' AS source,
               {_ts("rdt", "i", "k")} AS measured_at
        FROM c, range(5) r(k) WHERE t2dm AND {_u("rds", "i")} < 0.3
    """,
    )
    lake.write_metadata(root, {"synthetic": True, "patients": patients})


def check_schema(root: Path) -> None:
    """Every table's files carry exactly the lake schema's columns and types."""
    from smartcare.research import lake

    con = lake.connect(root)
    try:
        for spec in lake.TABLES.values():
            described = {row[0]: row[1] for row in con.execute(f"DESCRIBE {spec.name}").fetchall()}
            for column in spec.columns:
                expected = lake._DUCK_TYPES[column.type]
                if described.get(column.name) != expected:
                    raise SystemExit(
                        f"schema mismatch in {spec.name}.{column.name}: {described.get(column.name)}"
                    )
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", help="build the lake in this directory and keep it")
    args = parser.parse_args()
    if args.patients < 100 or args.repeat < 1 or args.threads < 1:
        parser.error("--patients at least 100, --repeat and --threads at least 1")

    import django

    django.setup()
    import datetime as dt

    import duckdb

    from smartcare.research import cohorts, lake

    load = os.getloadavg()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="smartcare-cohort-bench-"))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    try:
        started = time.perf_counter()
        con = duckdb.connect()  # insertion order kept: the ORDER BY of each table is what is written
        con.execute(f"SET threads = {args.threads}")
        generate(con, root, args.patients)
        con.close()
        build_s = time.perf_counter() - started
        check_schema(root)
        sizes = {t: sum(f.stat().st_size for f in (root / t).rglob("*.parquet")) for t in lake.TABLES}

        query = lake.connect(root, threads=args.threads)
        rows = {t: int(query.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in lake.TABLES}
        withdrawn = {
            r[0]
            for r in query.execute(
                "SELECT person_key FROM persons USING SAMPLE 0.5 PERCENT (bernoulli, 7)"
            ).fetchall()
        }
        index = dt.date.fromisoformat(INDEX_DATE)
        results: list[dict[str, Any]] = []
        for name, criteria in QUERIES:
            times, count = [], 0
            for _ in range(args.repeat):
                result = cohorts.run(
                    {"criteria": criteria}, index_date=index, with_keys=False, con=query, withdrawn=withdrawn
                )
                times.append(result.elapsed_ms)
                count = result.count
            keyed = cohorts.run({"criteria": criteria}, index_date=index, con=query, withdrawn=withdrawn)
            results.append(
                {
                    "name": name,
                    "count": count,
                    "median_ms": round(statistics.median(times), 1),
                    "first_ms": round(times[0], 1),
                    "keys_ms": round(keyed.elapsed_ms, 1),
                }
            )
            print(
                f"{name:55} {count:>9} {statistics.median(times):8.1f} ms  (first {times[0]:.1f}, with keys {keyed.elapsed_ms:.1f})"
            )
        query.close()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    medians = [float(r["median_ms"]) for r in results]
    summary = {
        "patients": args.patients,
        "queries": len(results),
        "p50_ms": round(statistics.median(medians), 1),
        "max_ms": round(max(medians), 1),
        "build_s": round(build_s, 1),
        "first_run_max_ms": round(max(r["first_ms"] for r in results), 1),
        "keys_max_ms": round(max(r["keys_ms"] for r in results), 1),
        "threads": args.threads,
        "rows": rows,
        "lake_mb": round(sum(sizes.values()) / 1e6, 1),
        "load_before": [round(x, 2) for x in load],
        "results": results,
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
