"""``smartcare lake build``: what is extracted, under which key, and incremental updates and deletes."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.utils import timezone

from smartcare.core import clock
from smartcare.emr.icd10 import ensure_icd10
from smartcare.emr.models import Diagnosis, Encounter, Note, Observation, Order, VitalSign
from smartcare.research import lake
from smartcare.research.errors import LakeBuildRunning
from smartcare.research.models import LakeRun, LakeRunStatus
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _at(day: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.fromisoformat(day + " 10:00"))


@pytest.fixture()
def record(hospital: Any) -> dict[str, Any]:
    """Two patients with an encounter each; the first has diabetes, insulin, an HbA1c, a vital
    sign and a signed note; the second a cancelled encounter and a ruled-out diagnosis."""
    ensure_icd10()
    doctor = hospital.user("doctor")
    alice = PatientFactory(name="李秀英", birth_date=dt.date(1958, 3, 4))
    bob = PatientFactory(name="王建国", sex="male", birth_date=dt.date(1990, 7, 1))
    visit = Encounter.objects.create(
        patient=alice,
        kind="outpatient",
        department=hospital.cardiology,
        status="finished",
        started_at=_at("2024-05-01"),
        ended_at=_at("2024-05-01") + dt.timedelta(minutes=20),
    )
    cancelled = Encounter.objects.create(
        patient=bob,
        kind="outpatient",
        department=hospital.cardiology,
        status="cancelled",
        started_at=_at("2024-06-01"),
    )
    stay = Encounter.objects.create(
        patient=bob,
        kind="inpatient",
        department=hospital.cardiology,
        status="finished",
        started_at=_at("2023-02-01"),
        ended_at=_at("2023-02-05"),
    )
    dx = Diagnosis.objects.create(encounter=visit, icd10_id="E11.9", is_primary=True, recorded_by=doctor)
    Diagnosis.objects.create(encounter=stay, icd10_id="I10", status="ruled_out", recorded_by=doctor)
    insulin = Order.objects.create(
        encounter=visit,
        patient=alice,
        kind="medication",
        status="completed",
        item="drug:insulin-glargine",
        name="甘精胰岛素",
        code="A10AE04",
        dose="10",
        dose_unit="U",
        ordered_by=doctor,
        signed_at=_at("2024-05-01"),
    )
    Observation.objects.create(
        patient=alice,
        encounter=visit,
        code="4548-4",
        name="HbA1c",
        value=8.1,
        unit="%",
        observed_at=_at("2024-05-01"),
    )
    VitalSign.objects.create(
        patient=alice,
        encounter=visit,
        kind="bp",
        value=150,
        value2=95,
        unit="mmHg",
        measured_at=_at("2024-05-01"),
        recorded_by=doctor,
    )
    Note.objects.create(
        encounter=visit,
        author=doctor,
        status="signed",
        chief_complaint="口渴多饮三个月",
        assessment="2型糖尿病，血糖控制不佳",
        signed_at=_at("2024-05-01"),
        writing_seconds=300,
    )
    Note.objects.create(encounter=visit, author=doctor, chief_complaint="草稿不入湖")
    return {
        "alice": alice,
        "bob": bob,
        "visit": visit,
        "cancelled": cancelled,
        "stay": stay,
        "dx": dx,
        "insulin": insulin,
        "doctor": doctor,
    }


def _rows(root: Path, table: str) -> list[dict[str, Any]]:
    con = lake.connect(root)
    try:
        cursor = con.execute(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def test_full_build_extracts_every_table_under_the_pseudonymous_key(
    record: dict[str, Any], tmp_path: Path
) -> None:
    result = lake.build(root=tmp_path)
    alice, bob = record["alice"], record["bob"]
    assert result.full
    persons = {row["person_key"]: row for row in _rows(tmp_path, "persons")}
    key = lake.person_key(alice.pk)
    assert len(key) == 32 and key != str(alice.pk)
    assert persons[key]["birth_date"] == dt.date(1958, 3, 4)
    assert persons[key]["sex"] == "female"
    assert persons[key]["region_code"] == alice.national_id[:6]
    assert persons[lake.person_key(bob.pk)]["sex"] == "male"
    # the cancelled encounter and the ruled-out diagnosis stay out
    assert [(r["row_key"], r["kind"]) for r in _rows(tmp_path, "encounters")] == [
        (str(record["visit"].pk), "outpatient"),
        (str(record["stay"].pk), "inpatient"),
    ]
    assert [(r["icd10"], r["icd10_category"], r["person_key"]) for r in _rows(tmp_path, "diagnoses")] == [
        ("E11.9", "E11", key)
    ]
    [med] = _rows(tmp_path, "medications")
    assert (med["atc_code"], med["drug_key"], med["year"]) == ("A10AE04", "drug:insulin-glargine", 2024)
    [lab] = _rows(tmp_path, "labs")
    assert (lab["loinc"], lab["value"]) == ("4548-4", 8.1)
    [vital] = _rows(tmp_path, "vitals")
    assert (vital["value"], vital["value2"]) == (150, 95)
    [note] = _rows(tmp_path, "notes")  # the draft stays out
    assert note["chief_complaint"] == "口渴多饮三个月"
    # partitioned by year, readable as plain Parquet files
    assert (tmp_path / "encounters" / "year=2023" / "data.parquet").exists()
    assert pq.read_table(tmp_path / "persons" / "data.parquet").num_rows == 2 + 4  # the hospital's 4 patients
    schema = json.loads((tmp_path / "_schema.json").read_text())
    assert "region_code" in [c["name"] for c in schema["tables"]["persons"]["columns"]]


def test_no_direct_identifier_reaches_the_lake(record: dict[str, Any], tmp_path: Path) -> None:
    lake.build(root=tmp_path)
    content = b"".join(p.read_bytes() for p in tmp_path.rglob("*.parquet"))
    for patient in (record["alice"], record["bob"]):
        for value in (patient.name, patient.national_id, patient.phone, patient.medical_record_number):
            assert value.encode() not in content


def test_incremental_build_upserts_changes_and_removes_what_is_gone(
    record: dict[str, Any], tmp_path: Path
) -> None:
    first = lake.build(root=tmp_path)
    # nothing changed: nothing is rewritten
    quiet = lake.build(root=tmp_path)
    assert not quiet.full
    assert all(t["upserted"] == 0 and t["deleted"] == 0 for t in quiet.tables.values())
    run = LakeRun.objects.get(pk=quiet.run_id)
    assert run.watermark == LakeRun.objects.get(pk=first.run_id).started_at

    alice = record["alice"]
    visit = record["visit"]
    visit.started_at = _at("2025-01-10")  # moves to another year partition, its diagnosis with it
    visit.ended_at = _at("2025-01-10") + dt.timedelta(minutes=20)
    visit.save()
    Observation.objects.create(
        patient=alice, code="4548-4", name="HbA1c", value=7.0, unit="%", observed_at=_at("2025-01-10")
    )
    record["insulin"].status = "cancelled"
    record["insulin"].save()
    VitalSign.objects.all().delete()
    result = lake.build(root=tmp_path)

    assert result.tables["encounters"]["upserted"] == 1
    assert result.tables["labs"] == {"upserted": 1, "deleted": 0, "rows": 2}
    assert result.tables["medications"] == {"upserted": 0, "deleted": 1, "rows": 0}
    assert result.tables["vitals"] == {"upserted": 0, "deleted": 1, "rows": 0}
    encounters = {r["row_key"]: r for r in _rows(tmp_path, "encounters")}
    assert encounters[str(visit.pk)]["year"] == 2025
    assert len(encounters) == 2  # moved, not copied
    [dx] = _rows(tmp_path, "diagnoses")
    assert dx["year"] == 2025
    assert not (tmp_path / "encounters" / "year=2024").exists()
    assert sorted(r["value"] for r in _rows(tmp_path, "labs")) == [7.0, 8.1]
    assert _rows(tmp_path, "medications") == []


def test_one_build_at_a_time(record: dict[str, Any], tmp_path: Path) -> None:
    LakeRun.objects.create(lake_dir=str(tmp_path), status=LakeRunStatus.RUNNING)
    with pytest.raises(LakeBuildRunning) as caught:
        lake.build(root=tmp_path)
    assert caught.value.code == "RES-003"
    # a run that died long ago does not block
    LakeRun.objects.update(started_at=clock.now() - dt.timedelta(hours=lake.STALE_RUN_HOURS + 1))
    assert lake.build(root=tmp_path).full


def test_the_command_builds_and_reports(record: dict[str, Any], tmp_path: Path) -> None:
    out = StringIO()
    call_command("lake", "build", "--dir", str(tmp_path), stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["full"] is True
    assert "persons" in out.getvalue()
    out = StringIO()
    call_command("lake", "status", "--dir", str(tmp_path), stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["diagnoses"] == 1


def test_bad_command_options_are_coded(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="RES-006"):
        call_command("lake", "omop", "--dir", str(tmp_path), stdout=StringIO())
    with pytest.raises(CommandError, match="RES-006"):
        call_command("lake", "omop", "--dir", str(tmp_path), "--out", str(tmp_path / "o"), "--format", "xlsx")


def test_person_key_is_keyed(settings: Any, monkeypatch: Any) -> None:
    first = lake.person_key(42)
    assert first == lake.person_key(42)
    monkeypatch.setenv("SMARTCARE_RESEARCH_PERSON_KEY", "another-key")
    assert lake.person_key(42) != first


def test_a_lake_of_an_older_schema_is_refused_and_rebuilt(record: dict[str, Any], tmp_path: Path) -> None:
    from smartcare.research.errors import LakeSchemaOutdated

    lake.build(root=tmp_path)
    schema = json.loads((tmp_path / "_schema.json").read_text())
    schema["version"] = lake.SCHEMA_VERSION - 1
    (tmp_path / "_schema.json").write_text(json.dumps(schema))
    with pytest.raises(LakeSchemaOutdated) as caught:
        lake.connect(tmp_path)
    assert caught.value.code == "RES-009"
    assert lake.build(root=tmp_path).full  # the next build starts over
    lake.connect(tmp_path).close()
