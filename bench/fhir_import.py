#!/usr/bin/env python
"""FHIR import benchmark: import a folder of Bundles into a fresh database and time it.

    .venv/bin/python bench/fhir_import.py PATH --db sqlite|postgres [--generate N] [--encounters E]
        [--workers W] [--database-url URL] [--reimport] [--keep]

PATH is a folder (or file) of FHIR Bundles, e.g. Synthea's ``output/fhir``. With ``--generate N``
and an empty or missing PATH, N Synthea-like patients are written there first
(``smartcare.interop.fhir.synthetic``: about 11 resources per encounter, ``--encounters`` per
patient on average, the same mix as Synthea's Bundles: observations, immunizations, conditions,
medication requests, procedures, reports, document references, claims, explanations of benefit).

Each run: a fresh database (a temporary SMARTCARE_VAR_DIR with its SQLite file, or the PostgreSQL
database of --database-url dropped and created again), migrations, a hospital with the import
department (national code 02), then ``import_paths`` exactly as ``smartcare import-fhir`` runs it
(``--validator compiled``: fhir.resources' rules compiled to pydantic-core schemas, the default;
``models``: fhir.resources' model classes; ``--workers`` processes validating beside the import).
Only the import is timed. ``--reimport`` imports the same files a second time and times that too (nothing changes).

Progress goes to stderr; the last line of stdout is one JSON object:
``{"db", "bundles", "resources", "seconds", "resources_per_s", "rejected", ...}`` with the counts
per type, the CPU seconds of this process and the load average during the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/bench_fhir_import"


def log(message: str) -> None:
    print(f"[fhir-import {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="folder or file of FHIR Bundles")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--database-url", default=DEFAULT_PG_URL, help="PostgreSQL database (dropped and created)"
    )
    parser.add_argument("--generate", type=int, default=0, help="write N Synthea-like patients to PATH first")
    parser.add_argument("--encounters", type=int, default=30, help="encounters per generated patient (mean)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--workers", type=int, default=None, help="validation processes (default: one per core)"
    )
    parser.add_argument("--validator", choices=("compiled", "models"), default="compiled")
    parser.add_argument("--reimport", action="store_true", help="import the same files again and time it")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and database")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="bench-fhir-"))
    os.environ["SMARTCARE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "smartcare.settings"
    if args.db == "postgres":
        os.environ["DATABASE_URL"] = args.database_url
        fresh_postgres(args.database_url)
    else:
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT / "src"))

    path = Path(args.path)
    if args.generate and (not path.exists() or not any(path.iterdir())):
        from smartcare.interop.fhir.synthetic import write_population

        log(f"writing {args.generate} Synthea-like patients to {path}")
        write_population(path, args.generate, seed=args.seed, encounters=args.encounters)

    import django

    django.setup()
    from django.core.management import call_command

    from smartcare.core import context
    from smartcare.interop.fhir.importer import collect_files, default_workers, import_paths
    from smartcare.organization.catalog import load_department_catalog
    from smartcare.organization.models import Campus, Department, Hospital, NationalDepartmentCode

    try:
        log(f"migrating a fresh {args.db} database")
        call_command("migrate", verbosity=0)
        if not NationalDepartmentCode.objects.exists():
            load_department_catalog()
        hospital = Hospital.objects.create(code="BENCH", name_zh="基准医院", name_en="Bench Hospital")
        campus = Campus.objects.create(hospital=hospital, code="MAIN", name_zh="总院", name_en="Main")
        general = NationalDepartmentCode.objects.get(code="02")
        Department.objects.create(
            hospital=hospital,
            campus=campus,
            national_code=general,
            name_zh=general.name_zh,
            name_en=general.name_en,
        )
        files, _ignored = collect_files([path])
        workers = default_workers(files, args.validator) if args.workers is None else args.workers
        log(f"importing {len(files)} files with {workers} validation workers")
        load_before = os.getloadavg()[0]
        cpu_before = time.process_time()
        started = time.perf_counter()
        with context.acting(context.RequestContext(channel="cli")):
            result = import_paths([path], workers=workers, validator=args.validator)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        load_after = os.getloadavg()[0]
        rejected = result.total("rejected")
        summary: dict[str, Any] = {
            "db": args.db,
            "bundles": result.bundles,
            "resources": result.resources,
            "seconds": round(seconds, 2),
            "resources_per_s": round(result.resources / seconds, 1) if seconds else None,
            "rejected": rejected,
            "skipped": result.total("skipped"),
            "kept_as_fhir": result.total("stored"),
            "workers": workers,
            "validator": args.validator,
            "main_process_cpu_seconds": round(cpu, 2),
            "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
            "cores": os.cpu_count(),
            "counts": result.counts,
        }
        log(
            f"{result.resources} resources in {seconds:.1f} s ({summary['resources_per_s']}/s), {rejected} rejected"
        )
        if args.reimport:
            started = time.perf_counter()
            with context.acting(context.RequestContext(channel="cli")):
                again = import_paths([path], workers=workers, validator=args.validator)
            reimport = time.perf_counter() - started
            summary["reimport_seconds"] = round(reimport, 2)
            summary["reimport_unchanged"] = again.total("unchanged")
            summary["reimport_created"] = again.total("created") + again.total("stored")
            log(f"re-import: {again.total('unchanged')} unchanged in {reimport:.1f} s")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
            if args.db == "postgres":
                drop_postgres(args.database_url)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
