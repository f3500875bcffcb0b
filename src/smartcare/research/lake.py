"""The analytics lake: the operational record copied into partitioned Parquet files, read with DuckDB.

``build()`` (``smartcare lake build``) extracts patients under a pseudonymous key and their
encounters, diagnoses, medications, lab results, vital signs, procedures, note texts, follow-up
outcomes and device readings into one directory per table under ``lake_dir()``:

    <lake>/persons/data.parquet
    <lake>/<table>/year=<YYYY>/data.parquet      (event tables, by the year of the event)
    <lake>/_schema.json                          (the schema below, machine-readable)
    <lake>/_lake.json                            (the last build: when, which run, rows per table)

Hive-style ``year=`` directories are what DuckDB, Spark and Trino all read as a partition column.

**Incremental.** A build reads only what changed since the previous successful build (the
``LakeRun`` log): rows whose ``updated_at`` is at or after the previous run's start, and in the
append-only sources without ``updated_at`` (results, vital signs, device readings, questionnaire
answers) rows whose id is above the previous run's largest id. Changed rows are *upserted* by their
``row_key``: every partition that holds an old copy of a changed row, or receives a new one, is
rewritten once (read, drop the old copies, add the new rows, write to a temporary file, rename).

**Deletes.** Each build also compares the keys of the rows that should be in the lake (a
cheap key-only query per source) with the keys in the lake, and removes the rows whose source is
gone or no longer qualifies (an order cancelled, a diagnosis ruled out, a note back in draft).

**Not seen incrementally** (a ``--full`` rebuild picks them up): a value corrected in place in an
append-only source (an edited lab value keeps its id and has no ``updated_at``), and rows changed
with ``QuerySet.update()``/``bulk_update()``, which do not touch ``updated_at``.

**Pseudonymous key.** No patient id, name, resident ID or phone is written. Every row carries
``person_key = person_key(patient_id)``: HMAC-SHA256 of the patient id under the research key,
as 32 hex characters. The key is ``SMARTCARE_RESEARCH_PERSON_KEY`` when set, otherwise derived
from ``SECRET_KEY``; changing it changes every key, so the lake must then be rebuilt with
``--full``, and saved cohort results (which are lists of keys) go stale. Exports to researchers
never contain ``person_key``: they get a project-specific pseudonym instead.

The lake holds health information, including note text: it is as confidential as the database,
lives under ``SMARTCARE_VAR_DIR`` (mode 0700) and is read only by the research services.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from smartcare.core import clock

logger = logging.getLogger("smartcare.research.lake")

SCHEMA_VERSION = 2  # 2: person_num in every table
# A running build older than this is taken to have died (the process was killed).
STALE_RUN_HOURS = 6
CHUNK = 5000


# --- configuration ------------------------------------------------------------------------------


def lake_dir() -> Path:
    """``SMARTCARE_LAKE_DIR``, or ``<SMARTCARE_VAR_DIR>/lake``."""
    configured = os.environ.get("SMARTCARE_LAKE_DIR") or getattr(settings, "SMARTCARE_LAKE_DIR", "")
    return Path(configured) if configured else Path(settings.VAR_DIR) / "lake"


def _research_key() -> bytes:
    configured = os.environ.get("SMARTCARE_RESEARCH_PERSON_KEY") or getattr(
        settings, "SMARTCARE_RESEARCH_PERSON_KEY", ""
    )
    if configured:
        return configured.encode()
    # Derived, so that a fresh installation works without configuration; domain-separated from
    # every other use of SECRET_KEY.
    return hmac.new(
        settings.SECRET_KEY.encode(), b"smartcare.research.person_key.v1", hashlib.sha256
    ).digest()


def person_key(patient_id: int) -> str:
    """The lake's pseudonymous key of a patient: HMAC-SHA256(research key, str(patient_id)),
    first 32 hex characters (128 bits). Stable across builds; not reversible without the key."""
    return hmac.new(_research_key(), str(int(patient_id)).encode(), hashlib.sha256).hexdigest()[:32]


def person_num(key: str) -> int:
    """The first 60 bits of a person key as an integer: the lake's join and set-operation column
    (integers hash and compare several times faster than 32-character strings). Unique in
    practice (a collision among a million people has a chance of about 1 in 10^6, and
    a build checks for one)."""
    return int(key[:15], 16)


def person_keys(patient_ids: Iterable[int]) -> set[str]:
    key = _research_key()
    return {hmac.new(key, str(int(p)).encode(), hashlib.sha256).hexdigest()[:32] for p in patient_ids}


# --- schema ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str


@dataclass(frozen=True)
class LakeTable:
    name: str
    doc: str
    columns: tuple[Column, ...]
    partitioned: bool = True  # by ``year`` of the event

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


S, I64, I32, F64, B, D, TS = (
    pa.string(),
    pa.int64(),
    pa.int32(),
    pa.float64(),
    pa.bool_(),
    pa.date32(),
    pa.timestamp("us"),
)
_KEY = Column("row_key", S, "source row, e.g. '123' or 'problem:45' (unique in the table; for upserts)")
_PK = Column("person_key", S, "pseudonymous patient key (HMAC of the patient id)")
_NUM = Column("person_num", I64, "the person key's first 60 bits as an integer (for joins)")
_ENC = Column("encounter_key", S, "row_key of the encounter, if any")

TABLES: dict[str, LakeTable] = {
    t.name: t
    for t in (
        LakeTable(
            "persons",
            "One row per patient.",
            (
                _PK,
                _NUM,
                Column("birth_date", D, "date of birth"),
                Column("birth_year", I32, "year of birth"),
                Column("sex", S, "male / female / other / unknown"),
                Column("region_code", S, "6-digit administrative division of the resident ID (registration)"),
                Column("insurance_type", S, "urban_employee / resident / commercial / self_pay"),
                Column("is_deceased", B, "recorded as deceased"),
                Column("updated_at", TS, "last change of the source row (local time)"),
            ),
            partitioned=False,
        ),
        LakeTable(
            "encounters",
            "Visits and stays (planned and cancelled encounters are left out).",
            (
                _KEY,
                _PK,
                _NUM,
                Column("kind", S, "outpatient / inpatient / emergency"),
                Column("status", S, "in_progress / finished"),
                Column("department_code", S, "national department code"),
                Column("started_at", TS, "start (local time)"),
                Column("ended_at", TS, "end (local time)"),
                Column("admitted_at", TS, "admission of a stay"),
                Column("discharged_at", TS, "discharge of a stay"),
            ),
        ),
        LakeTable(
            "diagnoses",
            "Encounter diagnoses (not ruled out) and problem-list entries, ICD-10.",
            (
                _KEY,
                _PK,
                _NUM,
                _ENC,
                Column("icd10", S, "ICD-10 code as recorded, e.g. E11.9"),
                Column("icd10_category", S, "3-character category, e.g. E11"),
                Column("source", S, "encounter / problem_list"),
                Column("is_primary", B, "primary diagnosis of the encounter"),
                Column("status", S, "provisional / confirmed (encounter); active / resolved (problem list)"),
                Column("diagnosed_at", TS, "encounter start, or the problem's onset / recording"),
            ),
        ),
        LakeTable(
            "medications",
            "Signed medication orders.",
            (
                _KEY,
                _PK,
                _NUM,
                _ENC,
                Column("drug_key", S, "knowledge graph key, e.g. drug:metformin"),
                Column("atc_code", S, "ATC code where known"),
                Column("name", S, "name as ordered"),
                Column("dose", F64, "dose"),
                Column("dose_unit", S, "dose unit"),
                Column("route", S, "route"),
                Column("frequency_per_day", F64, "times per day"),
                Column("duration_days", I32, "days"),
                Column("status", S, "signed / active / completed / discontinued"),
                Column("started_at", TS, "signed (local time)"),
                Column("ended_at", TS, "ended (local time)"),
            ),
        ),
        LakeTable(
            "labs",
            "Results: lab values and measured exam findings.",
            (
                _KEY,
                _PK,
                _NUM,
                _ENC,
                Column("code", S, "LOINC code or exam:<slug>"),
                Column("loinc", S, "LOINC code when the code is one"),
                Column("name", S, "test name"),
                Column("value", F64, "numeric value"),
                Column("value_text", S, "text value"),
                Column("unit", S, "unit"),
                Column("reference_low", F64, "reference range low"),
                Column("reference_high", F64, "reference range high"),
                Column("flag", S, "'' normal, H, L, HH, LL, A"),
                Column("observed_at", TS, "observed (local time)"),
            ),
        ),
        LakeTable(
            "vitals",
            "Vital signs recorded in the hospital.",
            (
                _KEY,
                _PK,
                _NUM,
                _ENC,
                Column("kind", S, "bp / hr / temp / spo2 / weight / height / rr"),
                Column("value", F64, "value (systolic for bp)"),
                Column("value2", F64, "diastolic for bp"),
                Column("unit", S, "unit"),
                Column("measured_at", TS, "measured (local time)"),
            ),
        ),
        LakeTable(
            "procedures",
            "Signed procedure and imaging orders.",
            (
                _KEY,
                _PK,
                _NUM,
                _ENC,
                Column("kind", S, "procedure / imaging"),
                Column("item", S, "knowledge graph key, e.g. exam:chest-ct"),
                Column("code", S, "code where known"),
                Column("name", S, "name as ordered"),
                Column("status", S, "signed / active / completed / discontinued"),
                Column("ordered_at", TS, "signed (local time)"),
                Column("performed_at", TS, "completed (local time)"),
            ),
        ),
        LakeTable(
            "notes",
            "Signed clinical notes: the free-text sections researchers ask for most (scrub before export).",
            (
                _KEY,
                _PK,
                _NUM,
                _ENC,
                Column("kind", S, "progress / admission / discharge_summary / visit_summary / referral"),
                Column("chief_complaint", S, "chief complaint (free text)"),
                Column("assessment", S, "assessment (free text)"),
                Column("signed_at", TS, "signed (local time)"),
            ),
        ),
        LakeTable(
            "followups",
            "Follow-up outcomes: care plans (how they ended), care tasks done or missed, "
            "questionnaire answers (patient-reported outcomes and satisfaction).",
            (
                _KEY,
                _PK,
                _NUM,
                Column("kind", S, "plan / task / questionnaire"),
                Column("code", S, "plan category, task kind or questionnaire key"),
                Column(
                    "status",
                    S,
                    "plan: active/completed/cancelled; task: done/missed; questionnaire: answered",
                ),
                Column("score_percent", F64, "questionnaire score (0–100)"),
                Column("satisfied", B, "satisfaction survey: satisfied"),
                Column("occurred_at", TS, "plan start, task done/missed, answer submitted (local time)"),
            ),
        ),
        LakeTable(
            "device_readings",
            "Home and wearable device readings.",
            (
                _KEY,
                _PK,
                _NUM,
                Column("kind", S, "blood_pressure / glucose / spo2 / weight / heart_rate / steps / ..."),
                Column("value", F64, "value (systolic for blood pressure)"),
                Column("value2", F64, "diastolic"),
                Column("pulse", F64, "pulse"),
                Column("unit", S, "unit"),
                Column("context", S, "glucose context (fasting, after meal, ...)"),
                Column("flag", S, "threshold flag"),
                Column("source", S, "device / manual / ..."),
                Column("measured_at", TS, "measured (local time)"),
            ),
        ),
    )
}
# The column that gives an event its year partition.
TIME_COLUMN = {
    "encounters": "started_at",
    "diagnoses": "diagnosed_at",
    "medications": "started_at",
    "labs": "observed_at",
    "vitals": "measured_at",
    "procedures": "ordered_at",
    "notes": "signed_at",
    "followups": "occurred_at",
    "device_readings": "measured_at",
}


def schema_document() -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "time": "local wall-clock time of the hospital (TIMESTAMP without time zone)",
        "tables": {
            t.name: {
                "doc": t.doc,
                "path": f"{t.name}/year=<YYYY>/data.parquet" if t.partitioned else f"{t.name}/data.parquet",
                "partitioned_by": ["year"] if t.partitioned else [],
                "columns": [{"name": c.name, "type": str(c.type), "doc": c.doc} for c in t.columns],
            }
            for t in TABLES.values()
        },
    }


# --- extraction ---------------------------------------------------------------------------------


def _local(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value


def _day_start(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time()) if day else None


def _num(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal | int | float) else None


def _loinc(code: str) -> str:
    # LOINC codes are digits, a dash and a check digit (4548-4).
    head, _sep, check = (code or "").partition("-")
    return code if head.isdigit() and check.isdigit() and len(check) == 1 else ""


def _region(national_id: str | None) -> str:
    value = (national_id or "").strip()
    return value[:6] if len(value) >= 6 and value[:6].isdigit() else ""


@dataclass
class Source:
    """Where one lake table's rows come from: ``changed(since, after_id)`` yields the rows to
    upsert; ``keys()`` the row keys that should be in the lake now."""

    table: str
    changed: Callable[[dt.datetime | None, dict[str, int]], Iterator[dict[str, Any]]]
    keys: Callable[[], set[str]]
    high_water: Callable[[], dict[str, int]] = field(default=dict)


def _iterate(queryset: Any, *fields: str) -> Iterator[dict[str, Any]]:
    yield from queryset.values(*fields).iterator(chunk_size=CHUNK)


def _since(queryset: Any, since: dt.datetime | None, *names: str) -> Any:
    if since is None:
        return queryset
    condition = Q()
    for name in names:
        condition |= Q(**{f"{name}__gte": since})
    return queryset.filter(condition)


def _after(queryset: Any, high: dict[str, int], name: str) -> Any:
    last = high.get(name)
    return queryset.filter(pk__gt=last) if last is not None else queryset


def _max_id(model: Any) -> int:
    from django.db.models import Max

    return int(model.objects.aggregate(m=Max("pk"))["m"] or 0)


def _persons_source() -> Source:
    from smartcare.patients.models import Patient

    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        # The resident ID is encrypted: model instances decrypt it (only its region prefix is kept).
        qs = _since(Patient.objects.all(), since, "updated_at").only(
            "pk", "birth_date", "sex", "national_id", "insurance_type", "is_deceased", "updated_at"
        )
        for p in qs.iterator(chunk_size=CHUNK):
            yield {
                "person_key": person_key(p.pk),
                "birth_date": p.birth_date,
                "birth_year": p.birth_date.year if p.birth_date else None,
                "sex": p.sex,
                "region_code": _region(p.national_id),
                "insurance_type": p.insurance_type,
                "is_deceased": p.is_deceased,
                "updated_at": _local(p.updated_at),
            }

    def keys() -> set[str]:
        return person_keys(Patient.objects.values_list("pk", flat=True))

    return Source("persons", changed, keys)


def _encounter_rows() -> Any:
    from smartcare.emr.choices import EncounterStatus
    from smartcare.emr.models import Encounter

    return Encounter.objects.filter(status__in=[EncounterStatus.IN_PROGRESS, EncounterStatus.FINISHED])


def _encounters_source() -> Source:
    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        qs = _since(_encounter_rows(), since, "updated_at")
        for r in _iterate(
            qs,
            "pk",
            "patient_id",
            "kind",
            "status",
            "department__national_code_id",
            "started_at",
            "ended_at",
            "admitted_at",
            "discharged_at",
            "created_at",
        ):
            yield {
                "row_key": str(r["pk"]),
                "person_key": person_key(r["patient_id"]),
                "kind": r["kind"],
                "status": r["status"],
                "department_code": r["department__national_code_id"] or "",
                "started_at": _local(r["started_at"] or r["created_at"]),
                "ended_at": _local(r["ended_at"]),
                "admitted_at": _local(r["admitted_at"]),
                "discharged_at": _local(r["discharged_at"]),
            }

    def keys() -> set[str]:
        return {str(pk) for pk in _encounter_rows().values_list("pk", flat=True)}

    return Source("encounters", changed, keys)


def _diagnoses_source() -> Source:
    from smartcare.emr.choices import DiagnosisStatus, EncounterStatus
    from smartcare.emr.models import Diagnosis, Problem

    def diagnoses() -> Any:
        return Diagnosis.objects.exclude(status=DiagnosisStatus.RULED_OUT).filter(
            encounter__status__in=[EncounterStatus.IN_PROGRESS, EncounterStatus.FINISHED]
        )

    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        # A diagnosis takes its date from its encounter, so a changed encounter re-sends it.
        qs = _since(diagnoses(), since, "updated_at", "encounter__updated_at")
        for r in _iterate(
            qs,
            "pk",
            "encounter_id",
            "encounter__patient_id",
            "icd10_id",
            "is_primary",
            "status",
            "encounter__started_at",
            "created_at",
        ):
            yield {
                "row_key": str(r["pk"]),
                "person_key": person_key(r["encounter__patient_id"]),
                "encounter_key": str(r["encounter_id"]),
                "icd10": r["icd10_id"],
                "icd10_category": r["icd10_id"][:3],
                "source": "encounter",
                "is_primary": r["is_primary"],
                "status": r["status"],
                "diagnosed_at": _local(r["encounter__started_at"] or r["created_at"]),
            }
        for r in _iterate(
            _since(Problem.objects.all(), since, "updated_at"),
            "pk",
            "patient_id",
            "icd10_id",
            "status",
            "onset",
            "created_at",
        ):
            yield {
                "row_key": f"problem:{r['pk']}",
                "person_key": person_key(r["patient_id"]),
                "encounter_key": None,
                "icd10": r["icd10_id"],
                "icd10_category": r["icd10_id"][:3],
                "source": "problem_list",
                "is_primary": False,
                "status": r["status"],
                "diagnosed_at": _day_start(r["onset"]) or _local(r["created_at"]),
            }

    def keys() -> set[str]:
        found = {str(pk) for pk in diagnoses().values_list("pk", flat=True)}
        return found | {f"problem:{pk}" for pk in Problem.objects.values_list("pk", flat=True)}

    return Source("diagnoses", changed, keys)


_SIGNED_ORDER = ("signed", "active", "completed", "discontinued")


def _orders(*kinds: str) -> Any:
    from smartcare.emr.models import Order

    return Order.objects.filter(kind__in=kinds, status__in=_SIGNED_ORDER)


def _medications_source() -> Source:
    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        for r in _iterate(
            _since(_orders("medication"), since, "updated_at"),
            "pk",
            "patient_id",
            "encounter_id",
            "item",
            "code",
            "name",
            "dose",
            "dose_unit",
            "route",
            "frequency_per_day",
            "duration_days",
            "status",
            "signed_at",
            "ordered_at",
            "ended_at",
        ):
            yield {
                "row_key": str(r["pk"]),
                "person_key": person_key(r["patient_id"]),
                "encounter_key": str(r["encounter_id"]) if r["encounter_id"] else None,
                "drug_key": r["item"],
                "atc_code": r["code"],
                "name": r["name"],
                "dose": _num(r["dose"]),
                "dose_unit": r["dose_unit"],
                "route": r["route"],
                "frequency_per_day": _num(r["frequency_per_day"]),
                "duration_days": r["duration_days"],
                "status": r["status"],
                "started_at": _local(r["signed_at"] or r["ordered_at"]),
                "ended_at": _local(r["ended_at"]),
            }

    def keys() -> set[str]:
        return {str(pk) for pk in _orders("medication").values_list("pk", flat=True)}

    return Source("medications", changed, keys)


def _procedures_source() -> Source:
    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        for r in _iterate(
            _since(_orders("procedure", "imaging"), since, "updated_at"),
            "pk",
            "patient_id",
            "encounter_id",
            "kind",
            "item",
            "code",
            "name",
            "status",
            "signed_at",
            "ordered_at",
            "ended_at",
        ):
            yield {
                "row_key": str(r["pk"]),
                "person_key": person_key(r["patient_id"]),
                "encounter_key": str(r["encounter_id"]) if r["encounter_id"] else None,
                "kind": r["kind"],
                "item": r["item"],
                "code": r["code"],
                "name": r["name"],
                "status": r["status"],
                "ordered_at": _local(r["signed_at"] or r["ordered_at"]),
                "performed_at": _local(r["ended_at"]) if r["status"] == "completed" else None,
            }

    def keys() -> set[str]:
        return {str(pk) for pk in _orders("procedure", "imaging").values_list("pk", flat=True)}

    return Source("procedures", changed, keys)


def _labs_source() -> Source:
    from smartcare.emr.models import Observation

    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        for r in _iterate(
            _after(Observation.objects.all(), high, "labs"),
            "pk",
            "patient_id",
            "encounter_id",
            "code",
            "name",
            "value",
            "value_text",
            "unit",
            "reference_low",
            "reference_high",
            "flag",
            "observed_at",
        ):
            yield {
                "row_key": str(r["pk"]),
                "person_key": person_key(r["patient_id"]),
                "encounter_key": str(r["encounter_id"]) if r["encounter_id"] else None,
                "code": r["code"],
                "loinc": _loinc(r["code"]),
                "name": r["name"],
                "value": r["value"],
                "value_text": r["value_text"],
                "unit": r["unit"],
                "reference_low": r["reference_low"],
                "reference_high": r["reference_high"],
                "flag": r["flag"],
                "observed_at": _local(r["observed_at"]),
            }

    def keys() -> set[str]:
        return {str(pk) for pk in Observation.objects.values_list("pk", flat=True)}

    return Source("labs", changed, keys, lambda: {"labs": _max_id(Observation)})


def _vitals_source() -> Source:
    from smartcare.emr.models import VitalSign

    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        for r in _iterate(
            _after(VitalSign.objects.all(), high, "vitals"),
            "pk",
            "patient_id",
            "encounter_id",
            "kind",
            "value",
            "value2",
            "unit",
            "measured_at",
        ):
            yield {
                "row_key": str(r["pk"]),
                "person_key": person_key(r["patient_id"]),
                "encounter_key": str(r["encounter_id"]) if r["encounter_id"] else None,
                "kind": r["kind"],
                "value": r["value"],
                "value2": r["value2"],
                "unit": r["unit"],
                "measured_at": _local(r["measured_at"]),
            }

    def keys() -> set[str]:
        return {str(pk) for pk in VitalSign.objects.values_list("pk", flat=True)}

    return Source("vitals", changed, keys, lambda: {"vitals": _max_id(VitalSign)})


def _notes_source() -> Source:
    from smartcare.emr.models import Note

    def notes() -> Any:
        return Note.objects.filter(status__in=["signed", "amended"])

    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        # Note sections are encrypted fields: read through model instances, which decrypt them.
        qs = (
            _since(notes(), since, "updated_at")
            .select_related("encounter")
            .only("pk", "kind", "chief_complaint", "assessment", "signed_at", "encounter__patient_id")
        )
        for n in qs.iterator(chunk_size=CHUNK):
            yield {
                "row_key": str(n.pk),
                "person_key": person_key(n.encounter.patient_id),
                "encounter_key": str(n.encounter_id),
                "kind": n.kind,
                "chief_complaint": n.chief_complaint or "",
                "assessment": n.assessment or "",
                "signed_at": _local(n.signed_at),
            }

    def keys() -> set[str]:
        return {str(pk) for pk in notes().values_list("pk", flat=True)}

    return Source("notes", changed, keys)


def _followups_source() -> Source:
    from smartcare.followup.models import CarePlan, CareTask, QuestionnaireResponse

    def tasks() -> Any:
        return CareTask.objects.filter(status__in=["done", "missed"])

    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        for r in _iterate(
            _since(CarePlan.objects.all(), since, "updated_at"),
            "pk",
            "patient_id",
            "template__category",
            "status",
            "start_date",
        ):
            yield {
                "row_key": f"plan:{r['pk']}",
                "person_key": person_key(r["patient_id"]),
                "kind": "plan",
                "code": r["template__category"],
                "status": r["status"],
                "score_percent": None,
                "satisfied": None,
                "occurred_at": _day_start(r["start_date"]),
            }
        for r in _iterate(
            _since(tasks(), since, "updated_at"),
            "pk",
            "patient_id",
            "kind",
            "status",
            "completed_at",
            "missed_at",
            "due_on",
        ):
            yield {
                "row_key": f"task:{r['pk']}",
                "person_key": person_key(r["patient_id"]),
                "kind": "task",
                "code": r["kind"],
                "status": r["status"],
                "score_percent": None,
                "satisfied": None,
                "occurred_at": _local(r["completed_at"] or r["missed_at"]) or _day_start(r["due_on"]),
            }
        for r in _iterate(
            _after(QuestionnaireResponse.objects.all(), high, "questionnaire_answers"),
            "pk",
            "patient_id",
            "questionnaire__key",
            "score_percent",
            "satisfied",
            "submitted_at",
        ):
            yield {
                "row_key": f"answer:{r['pk']}",
                "person_key": person_key(r["patient_id"]),
                "kind": "questionnaire",
                "code": r["questionnaire__key"],
                "status": "answered",
                "score_percent": _num(r["score_percent"]),
                "satisfied": r["satisfied"],
                "occurred_at": _local(r["submitted_at"]),
            }

    def keys() -> set[str]:
        found = {f"plan:{pk}" for pk in CarePlan.objects.values_list("pk", flat=True)}
        found |= {f"task:{pk}" for pk in tasks().values_list("pk", flat=True)}
        return found | {f"answer:{pk}" for pk in QuestionnaireResponse.objects.values_list("pk", flat=True)}

    return Source(
        "followups", changed, keys, lambda: {"questionnaire_answers": _max_id(QuestionnaireResponse)}
    )


def _readings_source() -> Source:
    from smartcare.monitoring.models import Reading

    def changed(since: dt.datetime | None, high: dict[str, int]) -> Iterator[dict[str, Any]]:
        for r in _iterate(
            _after(Reading.objects.all(), high, "device_readings"),
            "pk",
            "patient_id",
            "kind",
            "value",
            "value2",
            "pulse",
            "unit",
            "context",
            "flag",
            "source",
            "measured_at",
        ):
            yield {
                "row_key": str(r["pk"]),
                "person_key": person_key(r["patient_id"]),
                "kind": r["kind"],
                "value": r["value"],
                "value2": r["value2"],
                "pulse": r["pulse"],
                "unit": r["unit"],
                "context": r["context"],
                "flag": r["flag"],
                "source": r["source"],
                "measured_at": _local(r["measured_at"]),
            }

    def keys() -> set[str]:
        return {str(pk) for pk in Reading.objects.values_list("pk", flat=True)}

    return Source("device_readings", changed, keys, lambda: {"device_readings": _max_id(Reading)})


def sources() -> list[Source]:
    return [
        _persons_source(),
        _encounters_source(),
        _diagnoses_source(),
        _medications_source(),
        _labs_source(),
        _vitals_source(),
        _procedures_source(),
        _notes_source(),
        _followups_source(),
        _readings_source(),
    ]


# --- writing ------------------------------------------------------------------------------------


def to_arrow(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    spec = TABLES[table]
    for row in rows:
        if row.get("person_num") is None and row.get("person_key"):
            row["person_num"] = person_num(row["person_key"])
    return pa.Table.from_pylist(rows, schema=spec.schema)


def _partition_files(root: Path, table: str) -> dict[int | None, Path]:
    """Existing data files of a table: year -> file (``None`` for an unpartitioned table)."""
    base = root / table
    if not TABLES[table].partitioned:
        path = base / "data.parquet"
        return {None: path} if path.exists() else {}
    found: dict[int | None, Path] = {}
    if base.exists():
        for part in base.glob("year=*/data.parquet"):
            found[int(part.parent.name.split("=", 1)[1])] = part
    return found


# Rows are written sorted by the columns cohort criteria filter on, in row groups of ROW_GROUP rows:
# the Parquet min/max statistics of each row group then let DuckDB (and Spark, Trino) skip every
# row group that cannot match ("E11" reads the few row groups holding E-codes, not the table).
CLUSTER = {
    "persons": ("sex", "birth_date"),
    "encounters": ("kind", "department_code"),
    "diagnoses": ("icd10_category", "icd10"),
    "medications": ("atc_code", "drug_key"),
    "labs": ("code", "observed_at"),
    "vitals": ("kind",),
    "procedures": ("kind", "item"),
    "notes": ("kind",),
    "followups": ("kind", "code"),
    "device_readings": ("kind",),
}
ROW_GROUP = 100_000


def _write_atomic(path: Path, data: pa.Table, table: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if table in CLUSTER and data.num_rows:
        data = data.sort_by([(name, "ascending") for name in CLUSTER[table]])
    pq.write_table(data, tmp, compression="zstd", row_group_size=ROW_GROUP)
    os.replace(tmp, path)


def _years(data: pa.Table, table: str) -> pa.Array:
    column = data.column(TIME_COLUMN[table])
    return pc.fill_null(pc.year(column), 0)


def write_table(root: Path, table: str, data: pa.Table) -> None:
    """Replace a whole table with ``data`` (a full build; the benchmark's synthetic lake)."""
    spec = TABLES[table]
    data = data.select(spec.column_names).cast(spec.schema)
    base = root / table
    if base.exists():
        shutil.rmtree(base)
    if not spec.partitioned:
        _write_atomic(base / "data.parquet", data, table)
        return
    years = _years(data, table)
    for year in sorted(set(years.to_pylist())):
        _write_atomic(base / f"year={year}" / "data.parquet", data.filter(pc.equal(years, year)), table)


def _key_column(table: str) -> str:
    return "person_key" if table == "persons" else "row_key"


def upsert(root: Path, table: str, changed: pa.Table, deleted: set[str]) -> tuple[int, int]:
    """Write ``changed`` rows (replacing older copies with the same key) and drop ``deleted`` keys,
    rewriting only the partitions concerned. Returns (rows written, old copies removed)."""
    spec = TABLES[table]
    key = _key_column(table)
    files = _partition_files(root, table)
    replaced = pa.array(sorted(set(changed.column(key).to_pylist()) | deleted), type=pa.string())
    incoming: dict[int | None, pa.Table] = {}
    if changed.num_rows:
        if spec.partitioned:
            years = _years(changed, table)
            for year in set(years.to_pylist()):
                incoming[year] = changed.filter(pc.equal(years, year))
        else:
            incoming[None] = changed
    removed = 0
    touched = set(incoming)
    if len(replaced):
        for year, path in files.items():
            keys = pq.read_table(path, columns=[key]).column(key)
            if pc.any(pc.is_in(keys, value_set=replaced)).as_py():
                touched.add(year)
    for year in touched:
        path = files.get(year) or (
            root / table / (f"year={year}" if spec.partitioned else "") / "data.parquet"
        )
        parts = []
        if path.exists():
            old = pq.read_table(path).select(spec.column_names).cast(spec.schema)
            keep = pc.invert(pc.is_in(old.column(key), value_set=replaced))
            kept = old.filter(keep)
            removed += old.num_rows - kept.num_rows
            parts.append(kept)
        if year in incoming:
            parts.append(incoming[year].cast(spec.schema))
        merged = pa.concat_tables(parts) if parts else spec.schema.empty_table()
        if merged.num_rows:
            _write_atomic(path, merged, table)
        elif path.exists():
            path.unlink()
            if spec.partitioned:
                shutil.rmtree(path.parent, ignore_errors=True)
    return changed.num_rows, removed


def _check_person_nums(root: Path) -> None:
    path = root / "persons" / "data.parquet"
    if path.exists():
        nums = pq.read_table(path, columns=["person_num"]).column("person_num")
        if len(pc.unique(nums)) != len(nums):
            raise RuntimeError("two person keys share their first 60 bits; set another research key")


def lake_keys(root: Path, table: str) -> set[str]:
    key = _key_column(table)
    found: set[str] = set()
    for path in _partition_files(root, table).values():
        found.update(pq.read_table(path, columns=[key]).column(key).to_pylist())
    return found


def write_metadata(root: Path, info: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in (("_schema.json", schema_document()), ("_lake.json", info)):
        tmp = root / f".{name}.tmp"
        tmp.write_text(json.dumps(content, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, root / name)


def is_built(root: Path | None = None) -> bool:
    return ((root or lake_dir()) / "_lake.json").exists()


def schema_version(root: Path | None = None) -> int | None:
    """The schema version the lake at ``root`` was written with (None: not built)."""
    path = (root or lake_dir()) / "_schema.json"
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("version", 0))
    except (OSError, ValueError, AttributeError):
        return None


# --- building -----------------------------------------------------------------------------------


@dataclass
class BuildResult:
    run_id: int
    full: bool
    tables: dict[str, dict[str, int]]
    seconds: float


def build(*, full: bool = False, root: Path | None = None, user: Any = None) -> BuildResult:
    """Bring the lake up to date (``full``: rebuild from scratch). One build at a time (RES-003)."""
    from django.db import transaction

    from smartcare.audit.choices import AuditAction
    from smartcare.audit.services import record
    from smartcare.research.errors import LakeBuildRunning
    from smartcare.research.models import LakeRun, LakeRunStatus

    root = Path(root or lake_dir())
    stale = clock.now() - dt.timedelta(hours=STALE_RUN_HOURS)
    with transaction.atomic():
        LakeRun.objects.filter(status=LakeRunStatus.RUNNING, started_at__lt=stale).update(
            status=LakeRunStatus.FAILED, error="stale: no end recorded", finished_at=clock.now()
        )
        if LakeRun.objects.select_for_update().filter(status=LakeRunStatus.RUNNING).exists():
            raise LakeBuildRunning()
        previous = (
            LakeRun.objects.filter(status=LakeRunStatus.DONE, lake_dir=str(root))
            .order_by("-started_at")
            .first()
        )
        if previous is None or not is_built(root) or schema_version(root) != SCHEMA_VERSION:
            full = True
        run = LakeRun.objects.create(
            full=full,
            lake_dir=str(root),
            watermark=None if full else previous.started_at,  # type: ignore[union-attr]
            started_by=user if getattr(user, "is_authenticated", False) else None,
        )
    began = clock.now()
    try:
        if full and root.exists():
            for spec in TABLES.values():
                shutil.rmtree(root / spec.name, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        since = run.watermark
        high = {} if full else dict(previous.high_water if previous else {})
        new_high: dict[str, int] = {}
        summary: dict[str, dict[str, int]] = {}
        for source in sources():
            new_high.update(source.high_water())  # read before the rows: nothing is skipped
            rows = list(source.changed(since, high))
            changed = to_arrow(source.table, rows)
            wanted = source.keys()
            deleted = lake_keys(root, source.table) - wanted if not full else set()
            # A row changed and then gone in the same interval is not written.
            if changed.num_rows:
                key = _key_column(source.table)
                keep = pc.is_in(changed.column(key), value_set=pa.array(list(wanted), type=pa.string()))
                changed = changed.filter(keep)
            upserted, _removed = upsert(root, source.table, changed, deleted)
            if source.table == "persons":
                _check_person_nums(root)
            summary[source.table] = {
                "upserted": upserted,
                "deleted": len(deleted),
                "rows": len(lake_keys(root, source.table)),
            }
        seconds = (clock.now() - began).total_seconds()
        write_metadata(
            root,
            {"run": run.pk, "built_at": clock.now().isoformat(), "full": full, "tables": summary},
        )
        run.status = LakeRunStatus.DONE
        run.tables = summary
        run.high_water = new_high
        run.finished_at = clock.now()
        run.save(update_fields=["status", "tables", "high_water", "finished_at"])
        record(
            user,
            AuditAction.EXPORT,
            obj=run,
            actor_username="" if user else "smartcare lake build",
            reason="analytics lake build",
            detail={"full": full, "tables": summary},
        )
        return BuildResult(run.pk, full, summary, seconds)
    except Exception as exc:
        run.status = LakeRunStatus.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = clock.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise


def last_build() -> Any:
    from smartcare.research.models import LakeRun, LakeRunStatus

    return LakeRun.objects.filter(status=LakeRunStatus.DONE).order_by("-started_at").first()


# --- querying -----------------------------------------------------------------------------------

_DUCK_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
}


def _empty_view(spec: LakeTable) -> str:
    columns = ", ".join(f"CAST(NULL AS {_DUCK_TYPES[c.type]}) AS {c.name}" for c in spec.columns)
    if spec.partitioned:
        columns += ", CAST(NULL AS BIGINT) AS year"
    return f"SELECT {columns} WHERE false"


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def connect(root: Path | None = None, *, require: bool = True, threads: int | None = None) -> Any:
    """An in-memory DuckDB connection with one view per lake table (an empty, typed view for a
    table with no rows yet). ``require``: refuse (RES-002) when the lake was never built."""
    import duckdb

    from smartcare.research.errors import LakeNotBuilt, LakeSchemaOutdated

    root = Path(root or lake_dir())
    if require and not is_built(root):
        raise LakeNotBuilt()
    if require and schema_version(root) != SCHEMA_VERSION:
        raise LakeSchemaOutdated()
    # Parquet footers are cached between queries of one connection; row order is not needed.
    con = duckdb.connect(":memory:", config={"enable_object_cache": True, "preserve_insertion_order": False})
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    for spec in TABLES.values():
        # Any Parquet file of the table: ours are data.parquet, Spark's or DuckDB's part-*.parquet.
        pattern = root / spec.name / ("year=*" if spec.partitioned else "") / "*.parquet"
        if not any((root / spec.name).glob("year=*/*.parquet" if spec.partitioned else "*.parquet")):
            con.execute(f"CREATE VIEW {spec.name} AS {_empty_view(spec)}")
        elif spec.partitioned:
            con.execute(
                f"CREATE VIEW {spec.name} AS SELECT * FROM read_parquet({_quote_path(pattern)}, "  # noqa: S608 (fixed names)
                "hive_partitioning = true)"
            )
        else:
            con.execute(f"CREATE VIEW {spec.name} AS SELECT * FROM read_parquet({_quote_path(pattern)})")  # noqa: S608
    return con


def table_counts(root: Path | None = None) -> dict[str, int]:
    con = connect(root, require=False)
    try:
        return {name: int(con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]) for name in TABLES}  # noqa: S608
    finally:
        con.close()
