"""De-identified exports: gates, consent, no direct identifier, date shifting, k-anonymity."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.research import deid, exports, lake
from smartcare.research.consent import record_research_consent
from smartcare.research.models import ProjectStatus, ResearchExport, ResearchProject
from tests.factories import build_hospital
from tests.research.export_world import build_export_lake


@pytest.fixture()
def h(db: Any) -> Any:
    return build_hospital()


@pytest.fixture()
def world(h: Any, tmp_path: Path, monkeypatch: Any, settings: Any) -> dict[str, Any]:
    """24 patients in a hand-made lake: two encounters each 17 days apart, and a note whose free
    text names the patient, the emergency contact, the phone and the resident ID."""
    settings.VAR_DIR = tmp_path / "var"
    root = tmp_path / "lake"
    monkeypatch.setenv("SMARTCARE_LAKE_DIR", str(root))
    patients, encounters = build_export_lake(root)
    today = clock.today()
    project = ResearchProject.objects.create(
        title="Chest pain",
        aims="aims",
        ethics_number="IRB-2026-001",
        ethics_valid_from=today - dt.timedelta(days=10),
        ethics_valid_until=today + dt.timedelta(days=100),
        principal_investigator=h.user("researcher"),
        status=ProjectStatus.APPROVED,
    )
    return {
        "patients": patients,
        "keys": {lake.person_key(p.pk) for p in patients},
        "project": project,
        "encounters": encounters,
    }


def _read(export: ResearchExport) -> dict[str, Any]:
    path = exports.export_dir() / export.file_name
    out: dict[str, Any] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            if name.endswith(".csv"):
                out[name[:-4]] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
            elif name.endswith(".parquet"):
                out[name[:-8]] = pq.read_table(io.BytesIO(data)).to_pylist()
            else:
                out[name] = json.loads(data)
    out["_raw"] = path.read_bytes()
    return out


def _text(content: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in content.items() if k != "_raw"}, ensure_ascii=False, default=str)


def _export(h: Any, world: dict[str, Any], fmt: str = "csv", **kwargs: Any) -> ResearchExport:
    request = exports.ExportRequest(file_format=fmt, tables=("encounters", "notes"), **kwargs)
    return exports.create_export(h.user("researcher"), world["project"], request, person_keys=world["keys"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_contains_no_direct_identifier(h: Any, world: dict[str, Any], fmt: str) -> None:
    export = _export(h, world, fmt)
    content = _read(export)
    text = _text(content)
    assert content["notes"], "the notes were exported"
    for p in world["patients"]:
        for secret in (
            p.name,
            p.name[1:],
            p.emergency_contact_name,
            p.national_id,
            p.phone,
            p.emergency_contact_phone,
            p.medical_record_number,
            p.insurance_number,
            p.one_code,
            p.address,
            str(lake.person_key(p.pk)),
        ):
            assert secret not in text, secret
    # the clinical content survives the scrubbing
    assert "考虑冠心病" in text and "胸闷三天" in text
    assert deid.NAME_MASK in text and deid.PHONE_MASK in text and deid.ID_MASK in text


def test_dates_are_shifted_and_intervals_kept(h: Any, world: dict[str, Any]) -> None:
    content = _read(_export(h, world))
    project_key = world["project"].pseudonym_key
    by_person: dict[str, list[dt.datetime]] = {}
    for row in content["encounters"]:
        by_person.setdefault(row["research_id"], []).append(dt.datetime.fromisoformat(row["started_at"]))
    assert by_person
    source: dict[str, tuple[str, list[dt.datetime]]] = {}
    for e in world["encounters"]:
        pid = deid.pseudonym(project_key, e["person_key"])
        source.setdefault(pid, (e["person_key"], []))[1].append(e["started_at"])
    for pid, starts in by_person.items():
        first, second = sorted(starts)
        assert second - first == dt.timedelta(days=17, hours=2)
        person_key, original = source[pid]
        shift = first - min(original)
        assert shift == dt.timedelta(days=deid.date_offset_days(project_key, person_key)) != dt.timedelta(0)


def test_persons_are_k_anonymous_and_the_report_says_what_was_done(h: Any, world: dict[str, Any]) -> None:
    export = _export(h, world, k=5)
    content = _read(export)
    persons = content["persons"]
    assert deid.is_k_anonymous(persons, 5)
    report = content["deidentification_report.json"]
    assert report["k_anonymity"]["k"] == 5
    assert report["k_anonymity"]["released"] == len(persons)
    assert report["k_anonymity"]["released"] + report["suppressed_people"] == 24
    assert export.suppressed == report["suppressed_people"]
    # the 96-year-old is grouped as 90+ or suppressed; no exact age above 89 anywhere
    assert all(not row["age"].isdigit() or int(row["age"]) < 90 for row in persons)
    # suppressed people are gone from the event tables too
    released = {row["research_id"] for row in persons}
    assert {row["research_id"] for row in content["encounters"]} <= released
    assert "birth_date" not in persons[0] and "person_key" not in persons[0]


def test_withdrawn_patients_never_appear(h: Any, world: dict[str, Any]) -> None:
    gone = world["patients"][0]
    record_research_consent(h.user("frontdesk"), gone, granted=False, note="phone call")
    back = world["patients"][1]
    record_research_consent(h.user("frontdesk"), back, granted=False)
    record_research_consent(h.user("frontdesk"), back, granted=True)
    export = _export(h, world, k=2)
    content = _read(export)
    project_key = world["project"].pseudonym_key
    ids = {row["research_id"] for table in ("persons", "encounters", "notes") for row in content[table]}
    assert deid.pseudonym(project_key, lake.person_key(gone.pk)) not in ids
    assert export.withdrawn_excluded == 1
    assert content["deidentification_report.json"]["withdrawn_excluded"] == 1


def test_pseudonyms_differ_between_projects(h: Any, world: dict[str, Any]) -> None:
    first = {r["research_id"] for r in _read(_export(h, world, k=2))["persons"]}
    other = world["project"]
    other.pk = None
    other.pseudonym_key = "another-key"
    other.save()
    second = {
        r["research_id"]
        for r in _read(
            exports.create_export(
                h.user("researcher"),
                other,
                exports.ExportRequest("csv", tables=("encounters",), k=2),
                person_keys=world["keys"],
            )
        )["persons"]
    }
    assert first and second and not first & second


def test_export_is_audited_and_download_too(h: Any, world: dict[str, Any]) -> None:
    export = _export(h, world)
    event = AuditEvent.objects.filter(action="export", object_id=str(export.pk)).first()
    assert event is not None and event.actor == h.user("researcher")
    assert event.detail["patients"] == 24
    path = exports.open_download(h.user("researcher"), export)
    assert path.is_file()
    export.refresh_from_db()
    assert export.downloads == 1
    assert (
        AuditEvent.objects.filter(action="export", object_id=str(export.pk), reason="download").count() == 1
    )


@pytest.mark.parametrize(
    "change,code",
    [
        ({"status": ProjectStatus.SUBMITTED}, "RES-044"),
        ({"status": ProjectStatus.REJECTED}, "RES-044"),
        ({"status": ProjectStatus.CLOSED}, "RES-044"),
        ({"expired": True}, "RES-045"),
        ({"future": True}, "RES-045"),
    ],
)
def test_only_open_projects_export(h: Any, world: dict[str, Any], change: dict[str, Any], code: str) -> None:
    project = world["project"]
    today = clock.today()
    if change.get("expired"):
        project.ethics_valid_from, project.ethics_valid_until = (
            today - dt.timedelta(days=400),
            today - dt.timedelta(days=1),
        )
    elif change.get("future"):
        project.ethics_valid_from, project.ethics_valid_until = (
            today + dt.timedelta(days=1),
            today + dt.timedelta(days=9),
        )
    else:
        project.status = change["status"]
    project.save()
    with pytest.raises(CodedError) as excinfo:
        _export(h, world)
    assert excinfo.value.code == code
    assert not ResearchExport.objects.exists()


def test_download_refused_after_expiry(h: Any, world: dict[str, Any]) -> None:
    export = _export(h, world)
    ResearchProject.objects.filter(pk=world["project"].pk).update(
        ethics_valid_until=clock.today() - dt.timedelta(days=1),
        ethics_valid_from=clock.today() - dt.timedelta(days=30),
    )
    export.refresh_from_db()
    with pytest.raises(CodedError) as excinfo:
        exports.open_download(h.user("researcher"), export)
    assert excinfo.value.code == "RES-045"


def test_non_member_cannot_export(h: Any, world: dict[str, Any]) -> None:
    with pytest.raises(CodedError) as excinfo:
        exports.create_export(
            h.user("steward"), world["project"], exports.ExportRequest("csv"), person_keys=world["keys"]
        )
    assert excinfo.value.code == "RES-041"
    with pytest.raises(CodedError) as excinfo:
        exports.create_export(
            h.user("doctor"), world["project"], exports.ExportRequest("csv"), person_keys=world["keys"]
        )
    assert excinfo.value.code == "CORE-403"


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"file_format": "xlsx"},
        {"file_format": "csv", "tables": ("persons",)},
        {"file_format": "csv", "tables": ()},
        {"file_format": "csv", "k": 1},
        {"file_format": "csv", "k": 500},
    ],
)
def test_bad_export_requests_write_nothing(
    h: Any, world: dict[str, Any], request_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(CodedError) as excinfo:
        exports.create_export(
            h.user("researcher"),
            world["project"],
            exports.ExportRequest(**request_kwargs),
            person_keys=world["keys"],
        )
    assert excinfo.value.code == "RES-048"
    assert not ResearchExport.objects.exists()
    assert not list(exports.export_dir().rglob("*.zip"))


def test_api_export_of_a_saved_cohort_and_download(h: Any, world: dict[str, Any]) -> None:
    from django.test import Client

    from smartcare.research.cohort_services import save_cohort

    version = save_cohort(
        h.user("researcher"), name="Women", definition={"criteria": {"type": "sex", "values": ["female"]}}
    )
    client = Client()
    client.force_login(h.user("researcher"))
    project = world["project"]
    response = client.post(
        f"/api/research/projects/{project.pk}/exports",
        json.dumps({"cohort_version_id": version.pk, "file_format": "parquet", "tables": ["notes"], "k": 2}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["patients"] == 12  # the 12 women of the 24
    assert body["report"]["rows"]["persons"] + body["suppressed"] == 12
    download = client.get(f"/api/research/exports/{body['id']}/download")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    data = b"".join(download.streaming_content)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == [
        "persons.parquet",
        "notes.parquet",
        "deidentification_report.json",
    ]
    # another researcher's cohort cannot be exported through this project
    other = save_cohort(
        h.user("steward"), name="Other", definition={"criteria": {"type": "sex", "values": ["male"]}}
    )
    refused = client.post(
        f"/api/research/projects/{project.pk}/exports",
        json.dumps({"cohort_version_id": other.pk, "file_format": "csv"}),
        content_type="application/json",
    )
    assert refused.status_code == 400 and refused.json()["code"] == "RES-048"


def test_an_empty_cohort_exports_headers_only(h: Any, world: dict[str, Any]) -> None:
    export = exports.create_export(
        h.user("researcher"),
        world["project"],
        exports.ExportRequest(file_format="csv", tables=("encounters", "notes")),
        person_keys=set(),
    )
    with zipfile.ZipFile(exports.export_dir() / export.file_name) as archive:
        persons = archive.read("persons.csv").decode("utf-8-sig").splitlines()
        notes = archive.read("notes.csv").decode("utf-8-sig").splitlines()
    assert persons == [",".join(exports.PERSON_COLUMNS)]
    assert notes == ["research_id,encounter_id,kind,chief_complaint,assessment,signed_at"]
    assert export.rows == 0 and export.patients == 0


def test_every_lake_column_is_decided() -> None:
    """A column added to the lake must be allowlisted for export or dropped on purpose."""
    for table in exports.EVENT_TABLES:
        for column in lake.TABLES[table].column_names:
            assert column in exports.EXPORTED[table] or column in exports.DROPPED, (table, column)
    for column in lake.TABLES["persons"].column_names:
        assert (
            column in ("sex", "region_code", "insurance_type", "is_deceased") or column in exports.DROPPED
        ), column


def test_project_page_lists_the_export_and_downloads_it(h: Any, world: dict[str, Any]) -> None:
    from django.test import Client

    export = _export(h, world)
    client = Client()
    client.force_login(h.user("researcher"))
    page = client.get(f"/research/projects/{world['project'].pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert b'data-testid="export-row"' in page.content
    assert b"people released" in page.content
    download = client.get(f"/research/exports/{export.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()[0] == "persons.csv"
    # the steward sees the project and its exports but cannot download (not an investigator)
    client.force_login(h.user("steward"))
    assert client.get(f"/research/projects/{world['project'].pk}/").status_code == 200
    refused = client.get(f"/research/exports/{export.pk}/download/")
    assert refused.status_code == 404 and b"RES-041" in refused.content
