"""``smartcare restore FILE``: put back a backup made by ``smartcare backup``."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from smartcare.core.management.commands.backup import pg_env


class Command(BaseCommand):
    help = "Restore a backup archive into the configured database (replaces its content)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation")

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
            except (tarfile.TarError, OSError, ValueError, KeyError) as exc:
                raise CommandError(f"BAK-004 not a smartcare backup: {exc}") from exc
            vendor = connections["default"].vendor
            if manifest.get("database") != vendor:
                raise CommandError(
                    f"BAK-005 backup is of a {manifest.get('database')} database; this installation uses {vendor}"
                )
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
                        f"--dbname={env['PGDATABASE']}",
                        str(work / "database.pgdump"),
                    ],
                    check=True,
                    env=env,
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
        status = "intact" if result.ok else f"BROKEN at {result.first_bad_sequence}: {result.problem}"
        self.stdout.write(
            self.style.SUCCESS(
                f"restored {manifest['created_at']} ({vendor}); audit chain {status}, {result.checked} events"
            )
        )
        if manifest.get("audit_last_sequence") and result.checked != manifest["audit_last_sequence"]:
            self.stdout.write(self.style.WARNING("audit event count differs from the backup's manifest"))
