"""`smartcare backup` and `smartcare restore`: a round trip brings the data and the audit chain back."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from smartcare.accounts.models import CareRelationship, User
from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent, AuditHead
from smartcare.audit.services import record, verify_chain
from smartcare.organization.catalog import load_department_catalog
from smartcare.patients.models import Patient
from smartcare.patients.services import PatientData, register_patient
from tests.factories import build_hospital, make_national_id

ON_SQLITE = django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


def committed_hospital() -> Any:
    """build_hospital() for transactional tests: the flush between them also empties the
    national department catalog that a data migration loaded."""
    load_department_catalog()
    return build_hospital()


def snapshot() -> dict[str, Any]:
    head = AuditHead.objects.first()
    return {
        "patients": sorted(Patient.objects.values_list("pk", "name", "medical_record_number")),
        "identifiers": sorted((p.pk, p.national_id, p.phone) for p in Patient.objects.all()),
        "users": sorted(User.objects.values_list("username", flat=True)),
        "relationships": CareRelationship.objects.count(),
        "audit": (AuditEvent.objects.count(), head.last_sequence, head.last_hash) if head else None,
    }


def round_trip(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = Path(settings.MEDIA_ROOT) / "imaging" / "study-1.txt"
    upload.parent.mkdir(parents=True)
    upload.write_text("an uploaded file")

    hospital = committed_hospital()
    registered = register_patient(
        hospital.user("frontdesk"),
        PatientData(name="备份患者", national_id=make_national_id(), phone="13955556666"),
    )
    record(hospital.user("doctor"), AuditAction.READ, patient=registered, obj=registered)

    archive = tmp_path / "backups" / "smartcare.tar.gz"
    out = io.StringIO()
    call_command("backup", str(archive), stdout=out)
    assert "backup written" in out.getvalue()
    # The backup is an export of every record: its own event is in the trail, and in the archive.
    export = AuditEvent.objects.order_by("-sequence").first()
    assert export is not None
    assert (export.action, export.actor_username) == (AuditAction.EXPORT, "cli:backup")
    before = snapshot()
    with tarfile.open(archive, "r:gz") as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    dump = "database.sqlite3" if connection.vendor == "sqlite" else "database.pgdump"
    assert {"manifest.json", dump, "media/imaging/study-1.txt"} <= names
    assert "secrets.json" not in names  # keys only with --include-keys
    assert manifest["database"] == connection.vendor
    assert manifest["audit_last_sequence"] == before["audit"][1]
    assert manifest["audit_last_hash"] == before["audit"][2]
    assert not list(archive.parent.glob("*.partial"))

    # Lose and change data after the backup.
    Patient.objects.filter(pk=registered.pk).update(name="改过的名字")
    hospital.patient_elsewhere.delete()  # type: ignore[union-attr]
    User.objects.filter(username="researcher").delete()
    record(None, AuditAction.SYSTEM, actor_username="after the backup")
    upload.unlink()
    assert snapshot() != before

    out = io.StringIO()
    call_command("restore", str(archive), "--yes", stdout=out)
    assert "audit chain intact" in out.getvalue()
    assert "differs" not in out.getvalue()
    after = snapshot()
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    # The restored chain is the backed-up one, followed by the restore's own event.
    restored = AuditEvent.objects.filter(sequence__lte=manifest["audit_last_sequence"])
    assert restored.count() == before["audit"][0]
    assert (
        AuditEvent.objects.get(sequence=manifest["audit_last_sequence"]).hash == manifest["audit_last_hash"]
    )
    assert not AuditEvent.objects.filter(actor_username="after the backup").exists()
    latest = AuditEvent.objects.order_by("-sequence").first()
    assert latest is not None
    assert (latest.sequence, latest.actor_username) == (manifest["audit_last_sequence"] + 1, "cli:restore")
    assert Patient.objects.get(pk=registered.pk).name == "备份患者"
    assert Patient.objects.by_national_id(registered.national_id).get().pk == registered.pk
    result = verify_chain()
    assert result.ok, result.problem
    assert result.checked == manifest["audit_last_sequence"] + 1
    assert upload.read_text() == "an uploaded file"

    # The restored database is live: new work appends to the restored chain.
    record(None, AuditAction.SYSTEM, actor_username="after the restore")
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not ON_SQLITE, reason="the SQLite round trip (the PostgreSQL one is below)")
def test_sqlite_round_trip(tmp_path: Path, settings: Any) -> None:
    round_trip(tmp_path, settings)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_round_trip(tmp_path: Path, settings: Any) -> None:
    round_trip(tmp_path, settings)


@pytest.mark.django_db(transaction=True)
def test_backup_with_keys(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "no-media"
    archive = tmp_path / "with-keys.tar.gz"
    call_command("backup", str(archive), "--include-keys", stdout=io.StringIO())
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        secrets = json.load(tar.extractfile("secrets.json"))  # type: ignore[arg-type]
    assert manifest["includes_keys"] is True
    assert manifest["audit_last_sequence"] == 1  # its own export event
    # The keys in force, so that the identifiers can be read wherever the archive is restored.
    assert secrets["field_key"] == settings.SMARTCARE_FIELD_KEY
    assert secrets["field_keys_retired"] == list(settings.SMARTCARE_FIELD_KEYS_RETIRED)
    assert not any(name.startswith("media") for name in names)


# --- archives that must be refused without touching the database ------------------------------------


def _archive(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            source = path.parent / f"src-{name}"
            source.write_bytes(content)
            tar.add(source, arcname=name)
    return path


def _manifest(**overrides: Any) -> bytes:
    manifest = {"format": 1, "database": connection.vendor, "created_at": "2026-01-01T00:00:00+00:00"}
    manifest.update(overrides)
    return json.dumps(manifest).encode()


DUMP = "database.sqlite3" if ON_SQLITE else "database.pgdump"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda d: d / "missing.tar.gz", "BAK-003", id="missing-file"),
        pytest.param(
            lambda d: (d / "junk.tar.gz").write_bytes(b"not an archive") and d / "junk.tar.gz",
            "BAK-004",
            id="junk",
        ),
        pytest.param(lambda d: _archive(d / "a.tar.gz", {DUMP: b"x"}), "BAK-004", id="no-manifest"),
        pytest.param(
            lambda d: _archive(d / "a.tar.gz", {"manifest.json": b"{broken", DUMP: b"x"}),
            "BAK-004",
            id="bad-manifest",
        ),
        pytest.param(
            lambda d: _archive(d / "a.tar.gz", {"manifest.json": b"[1, 2]", DUMP: b"x"}),
            "BAK-004",
            id="manifest-not-object",
        ),
        pytest.param(
            lambda d: _archive(d / "a.tar.gz", {"manifest.json": _manifest()}), "BAK-004", id="no-dump"
        ),
        pytest.param(
            lambda d: _archive(d / "a.tar.gz", {"manifest.json": _manifest(database="oracle"), DUMP: b"x"}),
            "BAK-005",
            id="other-database",
        ),
    ],
)
def test_bad_archive_is_refused(hospital: Any, tmp_path: Path, make: Any, code: str) -> None:
    before = snapshot()
    with pytest.raises(CommandError) as caught:
        call_command("restore", str(make(tmp_path)), "--yes", stdout=io.StringIO())
    assert str(caught.value).startswith(code)
    assert snapshot() == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not ON_SQLITE, reason="a damaged SQLite copy; pg_restore checks its own input")
def test_damaged_sqlite_copy_does_not_replace_the_database(tmp_path: Path) -> None:
    committed_hospital()
    before = snapshot()
    archive = _archive(
        tmp_path / "a.tar.gz", {"manifest.json": _manifest(), DUMP: b"SQLite format 3\x00" + b"\x00" * 200}
    )
    with pytest.raises(CommandError, match=r"^BAK-004"):
        call_command("restore", str(archive), "--yes", stdout=io.StringIO())
    assert snapshot() == before
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_restore_asks_first(tmp_path: Path, settings: Any, monkeypatch: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "no-media"
    committed_hospital()
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    record(None, AuditAction.SYSTEM, actor_username="kept")
    before = snapshot()
    assert before["audit"][0] == 2
    questions: list[str] = []

    def answer(question: str) -> str:
        questions.append(question)
        return "n"

    monkeypatch.setattr("builtins.input", answer)
    with pytest.raises(CommandError, match="cancelled"):
        call_command("restore", str(archive), stdout=io.StringIO())
    assert len(questions) == 1
    assert snapshot() == before


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")  # only NAME is read; no connection is made
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://smartcare:p%40ss@db.example:6543/smartcare?sslmode=require",
            "postgres://smartcare:p%40ss@db.example:6543/test_smartcare?sslmode=require",
        ),
        ("postgresql://127.0.0.1/smartcare", "postgresql://127.0.0.1/test_smartcare"),
        ("", "test_smartcare"),
        ("sqlite:///var/smartcare.sqlite3", "test_smartcare"),
    ],
)
def test_pg_tools_use_the_database_django_uses(
    settings: Any, monkeypatch: Any, url: str, expected: str
) -> None:
    """pg_dump and pg_restore keep the URL's connection options but never another database's name:
    under the test runner the URL still names the real database."""
    from smartcare.core.management.commands.backup import pg_dbname

    settings.DATABASES = {"default": {**settings.DATABASES["default"], "NAME": "test_smartcare"}}
    monkeypatch.setenv("DATABASE_URL", url)
    assert pg_dbname() == expected


@pytest.mark.django_db(transaction=True)
def test_restore_with_keys(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "no-media"
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    with_keys, without_keys = tmp_path / "with.tar.gz", tmp_path / "without.tar.gz"
    call_command("backup", str(with_keys), "--include-keys", stdout=io.StringIO())
    call_command("backup", str(without_keys), stdout=io.StringIO())
    record(None, AuditAction.SYSTEM, actor_username="kept")
    before = snapshot()

    # Asking for keys that the archive lacks is refused before anything is replaced.
    with pytest.raises(CommandError, match=r"^BAK-006"):
        call_command("restore", str(without_keys), "--yes", "--with-keys", stdout=io.StringIO())
    assert snapshot() == before
    assert not (settings.VAR_DIR / "secrets.json").exists()

    out = io.StringIO()
    call_command("restore", str(with_keys), "--yes", "--with-keys", stdout=out)
    written = json.loads((settings.VAR_DIR / "secrets.json").read_text())
    assert written["field_key"] == settings.SMARTCARE_FIELD_KEY
    assert (settings.VAR_DIR / "secrets.json").stat().st_mode & 0o077 == 0
    assert "keys written" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_restoring_a_broken_chain_is_reported(tmp_path: Path, settings: Any) -> None:
    """The data comes back, but the operator is told (AUD-001) that the trail was already broken."""
    settings.MEDIA_ROOT = tmp_path / "no-media"
    for n in range(3):
        record(None, AuditAction.SYSTEM, actor_username=f"event-{n}")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AuditEvent._meta.db_table} SET reason = 'edited' WHERE sequence = 2")  # noqa: S608
    archive = tmp_path / "broken.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    AuditEvent.objects.filter(sequence=3).update(actor_username="changed later")
    with pytest.raises(CommandError, match=r"^AUD-001") as caught:
        call_command("restore", str(archive), "--yes", stdout=io.StringIO())
    assert "event 2" in str(caught.value)
    assert AuditEvent.objects.get(sequence=3).actor_username == "event-2"  # restored nonetheless
