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
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from smartcare import __version__
from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditHead
from smartcare.audit.services import record
from smartcare.core import clock, context


def pg_dbname() -> str:
    """A libpq connection string for pg_dump/pg_restore: DATABASE_URL, so that every part of it
    (host, socket, sslmode...) applies, but always naming the database Django is using (under
    the test runner that is ``test_<name>``; the URL's own database must not be dumped or
    overwritten instead)."""
    name = str(settings.DATABASES["default"]["NAME"])
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return name
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(name, safe="")))


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
                    ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", f"--dbname={pg_dbname()}"],
                    check=True,
                    env=pg_env(),
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
                    # The keys in force (environment or var/secrets.json), retired ones included,
                    # so that the archive restores readable identifiers on any machine.
                    keys = work / "secrets.json"
                    keys.write_text(
                        json.dumps(
                            {
                                "secret_key": settings.SECRET_KEY,
                                "field_key": settings.SMARTCARE_FIELD_KEY,
                                "field_keys_retired": list(settings.SMARTCARE_FIELD_KEYS_RETIRED),
                            }
                        )
                    )
                    keys.chmod(0o600)
                    archive.add(keys, arcname="secrets.json")
            partial.replace(target)
        self.stdout.write(
            self.style.SUCCESS(
                f"backup written: {target} ({vendor}, audit #{manifest['audit_last_sequence']})"
            )
        )
