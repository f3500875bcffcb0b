"""``smartcare backup FILE``: one archive with the database, uploaded files and a manifest."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from smartcare import __version__
from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditHead
from smartcare.audit.services import record
from smartcare.core import clock, context


def pg_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        {
            "PGHOST": str(db.get("HOST") or "127.0.0.1"),
            "PGPORT": str(db.get("PORT") or 5432),
            "PGUSER": str(db.get("USER") or ""),
            "PGDATABASE": str(db["NAME"]),
        }
    )
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return env


class Command(BaseCommand):
    help = "Back up the database (SQLite online backup or pg_dump) and media into one .tar.gz archive."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", help="Archive to write, e.g. backups/smartcare-2026-11-25.tar.gz")
        parser.add_argument(
            "--include-keys",
            action="store_true",
            help="Also store var/secrets.json (the field key). Keep such an archive offline.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = Path(options["path"]).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        vendor = connection.vendor
        # A backup is an export of every patient's data: it goes into the audit trail first,
        # so the archive contains its own export event.
        with context.acting(context.RequestContext(channel="cli")):
            record(
                None,
                AuditAction.EXPORT,
                actor_username="cli:backup",
                obj=("backup", target.name),
                detail={"include_keys": bool(options["include_keys"])},
            )
        head = AuditHead.objects.filter(id=1).first()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if vendor == "sqlite":
                dump = work / "database.sqlite3"
                source = sqlite3.connect(str(settings.DATABASES["default"]["NAME"]))
                destination = sqlite3.connect(str(dump))
                with destination:
                    source.backup(destination)  # consistent online copy, WAL included
                source.close()
                destination.close()
            elif vendor == "postgresql":
                dump = work / "database.pgdump"
                if shutil.which("pg_dump") is None:
                    raise CommandError("BAK-001 pg_dump is not installed (Debian: postgresql-client)")
                subprocess.run(
                    ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}"], check=True, env=pg_env()
                )
            else:
                raise CommandError(f"BAK-002 unsupported database: {vendor}")
            manifest = {
                "format": 1,
                "smartcare_version": __version__,
                "database": vendor,
                "created_at": clock.now().isoformat(),
                "audit_last_sequence": head.last_sequence if head else 0,
                "audit_last_hash": head.last_hash if head else "",
                "includes_keys": bool(options["include_keys"]),
            }
            (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
            partial = target.with_suffix(".partial")
            with tarfile.open(partial, "w:gz") as archive:
                archive.add(work / "manifest.json", arcname="manifest.json")
                archive.add(dump, arcname=dump.name)
                if Path(settings.MEDIA_ROOT).exists():
                    archive.add(settings.MEDIA_ROOT, arcname="media")
                if options["include_keys"]:
                    archive.add(Path(settings.VAR_DIR) / "secrets.json", arcname="secrets.json")
            partial.replace(target)
        self.stdout.write(
            self.style.SUCCESS(
                f"backup written: {target} ({vendor}, audit #{manifest['audit_last_sequence']})"
            )
        )
