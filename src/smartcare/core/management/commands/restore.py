"""``smartcare restore FILE``: put back a backup made by ``smartcare backup``."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from smartcare.core.management.commands.backup import pg_dbname, pg_env


def check_sqlite_dump(path: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            status = db.execute("PRAGMA quick_check").fetchone()[0]
            migrated = db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
            ).fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"BAK-004 not a smartcare backup: {exc}") from exc
    if status != "ok" or not migrated:
        raise CommandError(f"BAK-004 not a smartcare backup: the database copy is damaged ({status})")


class Command(BaseCommand):
    help = "Restore a backup archive into the configured database (replaces its content)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation")
        parser.add_argument(
            "--with-keys",
            action="store_true",
            help="Also write the archive's keys to var/secrets.json (archives made with --include-keys)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["path"])
        if not source.exists():
            raise CommandError(f"BAK-003 backup not found: {source}")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            try:
                with tarfile.open(source, "r:gz") as archive:
                    archive.extractall(work, filter="data")
                manifest = json.loads((work / "manifest.json").read_text())
                if not isinstance(manifest, dict):
                    raise ValueError("the manifest is not an object")
            except (tarfile.TarError, OSError, ValueError, KeyError) as exc:
                raise CommandError(f"BAK-004 not a smartcare backup: {exc}") from exc
            vendor = connections["default"].vendor
            if manifest.get("database") != vendor:
                raise CommandError(
                    f"BAK-005 backup is of a {manifest.get('database')} database; this installation uses {vendor}"
                )
            # Check the dump before anything is replaced: a damaged archive must not cost the
            # live database (pg_restore --single-transaction protects PostgreSQL on its own).
            dump = work / ("database.sqlite3" if vendor == "sqlite" else "database.pgdump")
            if not dump.is_file():
                raise CommandError(f"BAK-004 not a smartcare backup: {dump.name} is missing")
            if vendor == "sqlite":
                check_sqlite_dump(dump)
            if options["with_keys"] and not (work / "secrets.json").exists():
                raise CommandError("BAK-006 this backup holds no keys (it was made without --include-keys)")
            if not options["yes"]:
                answer = input(
                    f"Replace the {vendor} database with the backup of {manifest['created_at']}? [y/N] "
                )
                if answer.strip().lower() not in {"y", "yes"}:
                    raise CommandError("restore cancelled")
            connections.close_all()
            if vendor == "sqlite":
                target = Path(settings.DATABASES["default"]["NAME"])
                staged = target.with_suffix(".restoring")
                shutil.copyfile(work / "database.sqlite3", staged)
                for suffix in ("-wal", "-shm"):
                    Path(str(target) + suffix).unlink(missing_ok=True)
                staged.replace(target)
            else:
                if shutil.which("pg_restore") is None:
                    raise CommandError("BAK-001 pg_restore is not installed (Debian: postgresql-client)")
                env = pg_env()
                subprocess.run(
                    [
                        "pg_restore",
                        "--clean",
                        "--if-exists",
                        "--no-owner",
                        "--single-transaction",
                        f"--dbname={pg_dbname()}",
                        str(work / "database.pgdump"),
                    ],
                    check=True,
                    env=env,
                )
            if options["with_keys"]:
                keys = work / "secrets.json"
                target_keys = Path(settings.VAR_DIR) / "secrets.json"
                shutil.copyfile(keys, target_keys)
                target_keys.chmod(0o600)
                self.stdout.write(
                    f"keys written to {target_keys}; set SMARTCARE_FIELD_KEY from it if you use the environment"
                )
            media = work / "media"
            if media.exists():
                shutil.copytree(media, settings.MEDIA_ROOT, dirs_exist_ok=True)
        from smartcare.audit.choices import AuditAction
        from smartcare.audit.services import record, verify_chain
        from smartcare.core import context

        result = verify_chain()
        with context.acting(context.RequestContext(channel="cli")):
            record(
                None,
                AuditAction.SYSTEM,
                actor_username="cli:restore",
                obj=("backup", source.name),
                detail={
                    "event": "restored",
                    "backup_created_at": manifest.get("created_at"),
                    "chain_ok_before": result.ok,
                },
            )
        if not result.ok:
            raise CommandError(
                f"AUD-001 restored {manifest['created_at']} ({vendor}), but the audit chain is broken at event "
                f"{result.first_bad_sequence}: {result.problem}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"restored {manifest['created_at']} ({vendor}); audit chain intact, {result.checked} events"
            )
        )
        if manifest.get("audit_last_sequence") and result.checked < manifest["audit_last_sequence"]:
            self.stdout.write(
                self.style.WARNING("the restored audit trail is shorter than the backup's manifest")
            )
