"""De-identified exports of a saved cohort for an approved research project.

An export is one ZIP file with one table per lake table (``persons`` plus the chosen event tables)
as CSV or Parquet, and ``deidentification_report.json``. What happens to the data:

1. The gate: the requester is an investigator of the project, the project is approved and its
   ethics approval is valid today (RES-044 / RES-045 otherwise).
2. The cohort's people minus everyone whose latest research consent decision is a withdrawal.
3. Read from the lake (which holds no names, resident IDs, phone numbers, addresses or one codes);
   the lake's ``person_key`` and row keys are dropped, the project's pseudonym replaces the person,
   encounter keys get a project-specific pseudonym too.
4. Every date and time of a patient is shifted by that patient's offset for this project.
5. Free-text columns are scrubbed of the cohort patients' names, their emergency contacts' names,
   their phone numbers, resident IDs, record numbers and insurance numbers, then of anything that
   looks like a phone or ID number.
6. k-anonymity on age (90+ grouped), sex, region and first-visit date: generalize along the ladder,
   then suppress people in classes smaller than k; suppressed people are left out of every table.

The file is stored under ``<SMARTCARE_VAR_DIR>/research/exports/`` and downloaded through the
project's page or API; creation and every download are audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.research import deid
from smartcare.research.consent import withdrawn_patient_ids
from smartcare.research.errors import ExportInvalid, ExportNotFound
from smartcare.research.models import ExportFormat, ResearchExport, ResearchProject
from smartcare.research.projects import require_open_project, visible_projects

EVENT_TABLES = (
    "encounters",
    "diagnoses",
    "medications",
    "labs",
    "vitals",
    "procedures",
    "notes",
    "followups",
)
DEFAULT_TABLES = ("encounters", "diagnoses", "medications", "labs")
# Free-text columns that are scrubbed (all other string columns are codes from closed lists).
FREE_TEXT = {
    "notes": ("chief_complaint", "assessment"),
    "labs": ("value_text",),
    "medications": ("name",),
    "procedures": ("name",),
}
# What an export keeps of each lake table: an allowlist, so a column added to the lake later is not
# exported until someone decides it may be (tests/research/test_export.py checks every lake column
# is either here or in DROPPED).
EXPORTED: dict[str, tuple[str, ...]] = {
    "encounters": (
        "kind",
        "status",
        "department_code",
        "started_at",
        "ended_at",
        "admitted_at",
        "discharged_at",
    ),
    "diagnoses": ("icd10", "icd10_category", "source", "is_primary", "status", "diagnosed_at"),
    "medications": (
        "drug_key",
        "atc_code",
        "name",
        "dose",
        "dose_unit",
        "route",
        "frequency_per_day",
        "duration_days",
        "status",
        "started_at",
        "ended_at",
    ),
    "labs": (
        "code",
        "loinc",
        "name",
        "value",
        "value_text",
        "unit",
        "reference_low",
        "reference_high",
        "flag",
        "observed_at",
    ),
    "vitals": ("kind", "value", "value2", "unit", "measured_at"),
    "procedures": ("kind", "item", "code", "name", "status", "ordered_at", "performed_at"),
    "notes": ("kind", "chief_complaint", "assessment", "signed_at"),
    "followups": ("kind", "code", "status", "score_percent", "satisfied", "occurred_at"),
    "device_readings": (
        "kind",
        "value",
        "value2",
        "pulse",
        "unit",
        "context",
        "flag",
        "source",
        "measured_at",
    ),
}
# Lake columns never exported: keys that link back to the lake or the source rows, exact birth data.
DROPPED = (
    "row_key",
    "person_key",
    "person_num",
    "encounter_key",
    "updated_at",
    "birth_date",
    "birth_year",
    "year",
)


def export_dir() -> Path:
    path = Path(settings.VAR_DIR) / "research" / "exports"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@dataclass
class ExportRequest:
    file_format: str
    cohort_version_id: int | None = None
    tables: tuple[str, ...] = DEFAULT_TABLES
    k: int | None = None


def _validate(project: ResearchProject, request: ExportRequest) -> tuple[str, tuple[str, ...], int]:
    if request.file_format not in ExportFormat.values:
        raise ExportInvalid(reason="file_format", field="file_format")
    tables = tuple(dict.fromkeys(request.tables or ()))
    if not tables or any(t not in EVENT_TABLES for t in tables):
        raise ExportInvalid(reason="tables", field="tables")
    k = project.k_anonymity if request.k is None else request.k
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 50:
        raise ExportInvalid(reason="k", field="k")
    return request.file_format, tables, k


def _cohort_keys(
    user: Any, project: ResearchProject, version_id: Any
) -> tuple[set[str], str, dict[str, Any]]:
    """The person keys of a saved cohort version whose owner is on the project."""
    from smartcare.research import cohorts
    from smartcare.research.models import CohortVersion

    try:
        pk = int(version_id)
    except (TypeError, ValueError):
        raise ExportInvalid(reason="cohort", field="cohort_version_id") from None
    version = CohortVersion.objects.select_related("cohort").filter(pk=pk).first()
    if version is None or not project.is_member(version.cohort.owner):
        raise ExportInvalid(reason="cohort", field="cohort_version_id")
    result = cohorts.run(version)
    ref = {
        "cohort_version": version.pk,
        "cohort": version.cohort_id,
        "index_date": result.index_date.isoformat(),
        "withdrawn_excluded_by_cohort": result.excluded_withdrawn,
    }
    return set(result.person_keys), str(version), ref


def _source_identifiers(keys: set[str]) -> tuple[list[str], list[str]]:
    """Names and identifier strings of the cohort's patients, to scrub from free text."""
    from smartcare.patients.models import Patient
    from smartcare.research.lake import person_key

    ids = [
        pid
        for pid in Patient.objects.values_list("pk", flat=True).iterator(chunk_size=5000)
        if person_key(pid) in keys
    ]
    names: list[str] = []
    identifiers: list[str] = []
    for start in range(0, len(ids), 2000):
        for p in Patient.objects.filter(pk__in=ids[start : start + 2000]).only(
            "name",
            "emergency_contact_name",
            "national_id",
            "phone",
            "emergency_contact_phone",
            "medical_record_number",
            "insurance_number",
            "one_code",
            "address",
        ):
            names += [p.name, p.emergency_contact_name]
            identifiers += [
                p.national_id,
                p.phone,
                p.emergency_contact_phone,
                p.medical_record_number,
                p.insurance_number,
                p.one_code,
                p.address,
            ]
    return names, identifiers


def _rows(con: Any, table: str, keys: list[str]) -> list[dict[str, Any]]:
    import pyarrow as pa

    con.register("export_keys", pa.table({"k": pa.array(keys, pa.string())}))
    try:
        cursor = con.execute(f"SELECT t.* FROM {table} t JOIN export_keys e ON t.person_key = e.k")  # noqa: S608
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.unregister("export_keys")


@dataclass
class Dataset:
    tables: dict[str, list[dict[str, Any]]]
    report: dict[str, Any]
    patients: int
    withdrawn_excluded: int


def build_dataset(
    project: ResearchProject, keys: set[str], tables: tuple[str, ...], k: int, *, con: Any = None
) -> Dataset:
    """The de-identified tables for ``keys`` (lake person keys). Pure data work, no audit."""
    from smartcare.research.lake import connect, person_keys

    withdrawn = person_keys(withdrawn_patient_ids()) & keys
    keys = keys - withdrawn
    project_key = project.pseudonym_key
    con = con or connect()
    key_list = sorted(keys)
    persons = _rows(con, "persons", key_list)
    events = {t: _rows(con, t, key_list) for t in tables}
    first_visit: dict[str, dt.date] = {}
    for row in _rows(con, "encounters", key_list) if "encounters" not in events else events["encounters"]:
        started = row.get("started_at")
        if started is not None:
            day = started.date() if isinstance(started, dt.datetime) else started
            pk = row["person_key"]
            if pk not in first_visit or day < first_visit[pk]:
                first_visit[pk] = day
    today = clock.today()
    pid_of = {pk: deid.pseudonym(project_key, pk) for pk in key_list}
    offset_of = {pk: deid.date_offset_days(project_key, pk) for pk in key_list}
    people = {
        pid_of[p["person_key"]]: {
            "age": deid.age_on(p.get("birth_date"), today),
            "sex": p.get("sex"),
            "region": p.get("region_code"),
            "first_visit": deid.shift(first_visit.get(p["person_key"]), offset_of[p["person_key"]]),
        }
        for p in persons
    }
    result = deid.k_anonymize(people, k)
    names, identifiers = _source_identifiers(keys)
    scrubber = deid.Scrubber(names=names, identifiers=identifiers)

    out: dict[str, list[dict[str, Any]]] = {"persons": []}
    for p in persons:
        pid = pid_of[p["person_key"]]
        general = result.released.get(pid)
        if general is None:
            continue
        out["persons"].append(
            {
                "research_id": pid,
                "age": general["age"],
                "sex": general["sex"],
                "region": general["region"],
                "first_visit": general["first_visit"],
                "insurance_type": p.get("insurance_type"),
                "is_deceased": p.get("is_deceased"),
            }
        )
    scrubbed = 0
    for table, rows in events.items():
        text_columns = FREE_TEXT.get(table, ())
        cleaned = []
        for row in rows:
            pk = row["person_key"]
            pid = pid_of[pk]
            if pid not in result.released:
                continue
            new: dict[str, Any] = {"research_id": pid}
            if "encounter_key" in row:
                new["encounter_id"] = deid.encounter_pseudonym(project_key, row["encounter_key"])
            for name in EXPORTED[table]:
                if name not in row:
                    continue
                value = row[name]
                if isinstance(value, dt.date | dt.datetime):
                    value = deid.shift(value, offset_of[pk])
                elif name in text_columns and isinstance(value, str):
                    clean = scrubber.scrub(value)
                    scrubbed += clean != value
                    value = clean
                new[name] = value
            cleaned.append(new)
        out[table] = cleaned
    report = {
        "project": project.pk,
        "generated_at": clock.now().isoformat(),
        "k_anonymity": result.report,
        "suppressed_people": len(result.suppressed),
        "withdrawn_excluded": len(withdrawn),
        "date_shift": f"per patient, 1 to {deid.MAX_SHIFT_DAYS} days either way, intervals kept",
        "identifiers_removed": [
            "name",
            "resident ID",
            "phone",
            "address",
            "medical record number",
            "insurance number",
            "one code",
            "emergency contact",
            "lake person key",
            "source row keys",
        ],
        "free_text_scrubbed": {t: list(c) for t, c in FREE_TEXT.items() if t in out},
        "free_text_values_changed": scrubbed,
        "rows": {t: len(r) for t, r in out.items()},
    }
    return Dataset(
        tables=out, report=report, patients=len(keys) + len(withdrawn), withdrawn_excluded=len(withdrawn)
    )


PERSON_COLUMNS = ("research_id", "age", "sex", "region", "first_visit", "insurance_type", "is_deceased")


def columns_of(table: str) -> list[str]:
    """The columns an export table has (also when it has no rows)."""
    if table == "persons":
        return list(PERSON_COLUMNS)
    from smartcare.research.lake import TABLES

    names = TABLES[table].column_names
    head = ["research_id"] + (["encounter_id"] if "encounter_key" in names else [])
    return head + [c for c in EXPORTED[table] if c in names]


def _csv_bytes(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()) if rows else columns)
    writer.writeheader()
    if rows:
        for row in rows:
            writer.writerow(
                {
                    k: ("" if v is None else v.isoformat() if isinstance(v, dt.date) else v)
                    for k, v in row.items()
                }
            )
    return buffer.getvalue().encode("utf-8-sig")


def _parquet_bytes(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    empty = pa.table({c: pa.array([], pa.string()) for c in columns})
    pq.write_table(pa.Table.from_pylist(rows) if rows else empty, sink)
    return sink.getvalue()


def write_archive(dataset: Dataset, file_format: str, path: Path) -> str:
    """Write the ZIP; returns its SHA-256."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table, rows in dataset.tables.items():
            if file_format == ExportFormat.CSV:
                archive.writestr(f"{table}.csv", _csv_bytes(rows, columns_of(table)))
            else:
                archive.writestr(f"{table}.parquet", _parquet_bytes(rows, columns_of(table)))
        archive.writestr(
            "deidentification_report.json",
            json.dumps(dataset.report, ensure_ascii=False, indent=2, default=str),
        )
    tmp.replace(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@transaction.atomic
def create_export(
    actor: Any,
    project: ResearchProject,
    request: ExportRequest,
    *,
    person_keys: set[str] | None = None,
    cohort_label: str = "",
) -> ResearchExport:
    """Export the cohort (``request.cohort_version_id``, or ``person_keys`` given by a caller that
    already ran it) for the project. Refused unless the project is open for the actor."""
    require_capability(actor, "research.projects")
    require_open_project(actor, project)
    file_format, tables, k = _validate(project, request)
    ref: dict[str, Any] = {}
    if person_keys is None:
        if request.cohort_version_id is None:
            raise ExportInvalid(reason="cohort", field="cohort_version_id")
        person_keys, cohort_label, ref = _cohort_keys(actor, project, request.cohort_version_id)
    dataset = build_dataset(project, set(person_keys), tables, k)
    export = ResearchExport.objects.create(
        project=project,
        requested_by=actor,
        cohort_label=(cohort_label or "—")[:200],
        cohort_ref=ref,
        file_format=file_format,
        k_anonymity=k,
        patients=dataset.patients,
        rows=sum(len(r) for r in dataset.tables.values()),
        suppressed=dataset.report["suppressed_people"],
        withdrawn_excluded=dataset.withdrawn_excluded + int(ref.get("withdrawn_excluded_by_cohort", 0)),
        report=dataset.report,
        file_name="",
        sha256="",
    )
    folder = export_dir() / str(project.pk)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"export-{export.pk}-{file_format}.zip"
    export.sha256 = write_archive(dataset, file_format, path)
    export.file_name = str(path.relative_to(export_dir()))
    export.save(update_fields=["sha256", "file_name", "updated_at"])
    record(
        actor,
        AuditAction.EXPORT,
        obj=export,
        reason=project.ethics_number,
        detail={
            "project": project.pk,
            "format": file_format,
            "tables": list(tables),
            "k": k,
            "patients": dataset.patients,
            "released": dataset.report["k_anonymity"]["released"],
            "suppressed": dataset.report["suppressed_people"],
            "withdrawn_excluded": dataset.withdrawn_excluded,
            **ref,
        },
    )
    return export


def get_export(user: Any, export_id: Any) -> ResearchExport:
    require_capability(user, "research.projects")
    try:
        pk = int(export_id)
    except (TypeError, ValueError):
        raise ExportNotFound() from None
    export = (
        ResearchExport.objects.filter(pk=pk, project__in=visible_projects(user))
        .select_related("project")
        .first()
    )
    if export is None:
        raise ExportNotFound()
    return export


@transaction.atomic
def open_download(actor: Any, export: ResearchExport) -> Path:
    """The file to send: only to an investigator while the project is open; audited and counted."""
    require_open_project(actor, export.project)
    path = export_dir() / export.file_name
    if not export.file_name or not path.is_file():
        raise ExportNotFound()
    ResearchExport.objects.filter(pk=export.pk).update(downloads=F("downloads") + 1)
    record(actor, AuditAction.EXPORT, obj=export, reason="download", detail={"sha256": export.sha256})
    return path
