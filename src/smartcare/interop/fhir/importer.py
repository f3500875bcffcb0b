"""Bulk import of FHIR files: Bundles (``.json``, e.g. Synthea's output) and bulk-export NDJSON
(``.ndjson``, one resource type per file).

Each resource is taken on its own (as in a batch): a rejected resource is reported with its
reason, and what refers to it is rejected too; the rest is written. Importing the same files again
changes nothing (the resources are found by fullUrl, source id and identifiers, and their content
is compared). Speed comes from doing little per resource: validation with ``fhir.resources`` runs
in worker processes when there is enough to validate, rows are written with one bulk insert per
table and chunk, and the whole run writes one audit event with the counts.

Order: Synthea's hospital and practitioner files first, then other Bundles in name order; NDJSON
files by type (patients before what refers to them), so references by ``Type/id`` find what the
earlier files wrote.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock, context
from smartcare.interop.fhir import compiled
from smartcare.interop.fhir.engine import REJECTED, SKIPPED, Entry, Writer, counts_of, rejection
from smartcare.interop.fhir.errors import ImportFileError, InvalidJson
from smartcare.interop.fhir.registry import mapping_for
from smartcare.interop.fhir.validation import problems as validation_problems
from smartcare.interop.fhir.validation import validate_file_entries
from smartcare.interop.models import ImportRun

IMPORT_USERNAME = "fhir-import"
FIRST_FILES = ("hospitalInformation", "practitionerInformation")
# Below this many bytes validation runs in this process: starting workers would cost more.
PARALLEL_FROM_BYTES = 4 * 1024 * 1024


def import_user() -> User:
    """The account rows imported from the command line are recorded by (it cannot sign in)."""
    user, _created = User.objects.get_or_create(
        username=IMPORT_USERNAME,
        defaults={
            "role": Role.DEVICE,
            "is_active": False,
            "display_name": "FHIR import",
            "password": make_password(None),
        },
    )
    return user


@dataclass
class ImportFile:
    path: Path
    kind: str  # "bundle" or "ndjson"
    rank: int = 0


@dataclass
class ImportResult:
    run: ImportRun
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0
    resources: int = 0
    bundles: int = 0
    seconds: float = 0.0

    def total(self, outcome: str) -> int:
        return sum(c.get(outcome, 0) for c in self.counts.values())


def collect_files(paths: list[str | Path]) -> tuple[list[ImportFile], list[str]]:
    """The files to import in order, and the paths that are not FHIR files."""
    found: list[Path] = []
    ignored: list[str] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if candidate.is_file() and candidate.suffix.lower() in (".json", ".ndjson"):
                    found.append(candidate)
        elif path.is_file() and path.suffix.lower() in (".json", ".ndjson"):
            found.append(path)
        elif path.exists():
            ignored.append(str(path))
        else:
            raise ImportFileError(path=str(path), reason="no such file or folder")
    files = []
    for path in dict.fromkeys(found):
        if path.suffix.lower() == ".ndjson":
            files.append(ImportFile(path, "ndjson", rank=_ndjson_rank(path)))
        else:
            first = any(path.name.startswith(prefix) for prefix in FIRST_FILES)
            files.append(ImportFile(path, "bundle", rank=-1 if first else 0))
    bundles = sorted((f for f in files if f.kind == "bundle"), key=lambda f: (f.rank, str(f.path)))
    ndjson = sorted((f for f in files if f.kind == "ndjson"), key=lambda f: (f.rank, str(f.path)))
    return bundles + ndjson, ignored


def _ndjson_rank(path: Path) -> int:
    resource_type = path.name.split(".")[0]
    try:
        with path.open(encoding="utf-8") as stream:
            for line in stream:
                if line.strip():
                    resource_type = str(json.loads(line).get("resourceType") or resource_type)
                    break
    except (OSError, ValueError, AttributeError):
        pass
    mapping = mapping_for(resource_type)
    return mapping.rank if mapping is not None else 99


Verdicts = Callable[[int], list[tuple[str, str]]]


def _bundle_entries(item: ImportFile, verdicts: Verdicts | None) -> list[Entry]:
    try:
        with item.path.open(encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidJson(reason=f"{item.path.name}: {str(exc).splitlines()[0][:200]}") from None
    if isinstance(data, dict) and data.get("resourceType") != "Bundle" and "resourceType" in data:
        data = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": data}]}
    if not isinstance(data, dict) or not isinstance(data.get("entry", []), list):
        raise ImportFileError(path=str(item.path), reason="not a FHIR Bundle or resource")
    entries = []
    for index, raw in enumerate(data.get("entry") or []):
        resource = raw.get("resource") if isinstance(raw, dict) else None
        if resource is None:
            continue
        entry = Entry(
            resource=resource,
            index=index,
            full_url=str(raw.get("fullUrl") or ""),
            where=f"{item.path.name} entry {index}",
        )
        # Validated by a worker, or by the writer; either way only when the resource is not an
        # unchanged re-import (the writer asks for the worker's verdict when it needs it).
        if verdicts is not None:
            entry.verdict = _one(verdicts, index)
        entries.append(entry)
    return entries


def _one(verdicts: Verdicts, key: int) -> Callable[[], list[tuple[str, str]]]:
    return lambda: verdicts(key)


def _ndjson_entries(item: ImportFile, verdicts: Verdicts | None) -> Iterator[Entry]:
    try:
        stream = item.path.open(encoding="utf-8")
    except OSError as exc:
        raise ImportFileError(path=str(item.path), reason=str(exc)) from None
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            where = f"{item.path.name} line {number}"
            try:
                resource = json.loads(line)
            except ValueError as exc:
                entry = Entry(resource=None, index=number, where=where)
                entry.problems = [("", f"not JSON: {str(exc).splitlines()[0][:160]}")]
                yield entry
                continue
            entry = Entry(resource=resource, index=number, where=where)
            if verdicts is not None:
                entry.verdict = _one(verdicts, number)
            yield entry


class _Validation:
    """Validation of whole files in worker processes (only verdicts come back)."""

    def __init__(self, files: list[ImportFile], workers: int, validate: Callable[..., Any]):
        self.pool: ProcessPoolExecutor | None = None
        self.futures: dict[Path, Future[list[tuple[int, list[tuple[str, str]]]]]] = {}
        if workers > 0 and files:
            # spawn: the workers import only fhir.resources, never this process's database connection
            self.pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            )
            for item in files:
                self.futures[item.path] = self.pool.submit(validate, str(item.path), item.kind)

    def verdicts(self, item: ImportFile) -> Verdicts | None:
        """A lookup of the worker's verdict on one entry of the file, waiting for it on first use."""
        future = self.futures.get(item.path)
        if future is None:
            return None
        found: dict[int, list[tuple[str, str]]] = {}
        loaded = False

        def lookup(key: int) -> list[tuple[str, str]]:
            nonlocal loaded, found
            if not loaded:
                found, loaded = dict(future.result()), True
            return found.get(key, [])

        return lookup

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def default_workers(files: list[ImportFile], validator: str = "compiled") -> int:
    """Worker processes for validation: none for small imports (starting them costs seconds);
    with the model classes one per core; with the compiled rules (about ten times cheaper) one,
    beside this process."""
    size = sum(f.path.stat().st_size for f in files)
    threshold = PARALLEL_FROM_BYTES if validator == "models" else PARALLEL_FROM_BYTES * 8
    if size < threshold:
        return 0
    cores = os.cpu_count() or 1
    return max(1, min(4, cores)) if validator == "models" else 1


def import_paths(
    paths: list[str | Path],
    *,
    actor: Any = None,
    source: str = "import",
    workers: int | None = None,
    chunk_size: int = 3000,
    progress: Callable[[int, int], None] | None = None,
    validator: str = "compiled",
) -> ImportResult:
    """Import files and folders; returns the counts per type and the rejected resources.

    ``actor`` None is the command line (rows are recorded by the ``fhir-import`` account).
    ``progress(files_done, resources_done)`` is called after each file. ``validator``: the
    ``fhir.resources`` rules compiled (``compiled``, the default) or its model classes
    (``models``, about ten times slower; the same verdicts)."""
    started = time.perf_counter()
    files, ignored = collect_files(paths)
    row_user = actor if getattr(actor, "pk", None) else import_user()
    run = ImportRun.objects.create(
        actor=row_user if actor is not None else None,
        channel=context.current().channel,
        source=source[:100],
        files=[str(f.path) for f in files],
    )
    validate_file: Callable[..., Any]
    if validator == "models":
        check, validate_file = validation_problems, validate_file_entries
    else:
        check, validate_file = compiled.problems, compiled.validate_file_entries
    writer = Writer(actor, importing=True, source=source, system_user=row_user, audit_each=False, check=check)
    validation = _Validation(
        files, default_workers(files, validator) if workers is None else workers, validate_file
    )
    result = ImportResult(run=run, files=len(files))
    counts: dict[str, dict[str, int]] = {}
    rejected: list[dict[str, Any]] = []
    pending: list[Entry] = []

    def flush() -> None:
        if not pending:
            return
        with transaction.atomic():
            writer.write(pending)
            for resource_type, per_type in counts_of(pending).items():
                target = counts.setdefault(resource_type, {})
                for outcome, number in per_type.items():
                    target[outcome] = target.get(outcome, 0) + number
            rejected.extend(rejection(e) for e in pending if e.outcome in (REJECTED, SKIPPED))
            ImportRun.objects.filter(pk=run.pk).update(counts=counts, rejected=rejected[:5000])
        result.resources += len(pending)
        pending.clear()

    try:
        for done, item in enumerate(files, start=1):
            verdicts = validation.verdicts(item)
            try:
                if item.kind == "bundle":
                    pending.extend(_bundle_entries(item, verdicts))
                    result.bundles += 1
                    if len(pending) >= chunk_size:
                        flush()
                else:
                    for entry in _ndjson_entries(item, verdicts):
                        pending.append(entry)
                        if len(pending) >= chunk_size:
                            flush()
                    flush()  # the next file may be another type that refers to this one
            except (InvalidJson, ImportFileError) as exc:
                rejected.append(
                    {
                        "where": item.path.name,
                        "resource_type": "",
                        "outcome": REJECTED,
                        "code": exc.code,
                        "reason": exc.detail,
                    }
                )
            if progress is not None:
                progress(done, result.resources + len(pending))
        flush()
    finally:
        validation.close()
    for path in ignored:
        rejected.append(
            {
                "where": path,
                "resource_type": "",
                "outcome": SKIPPED,
                "code": "",
                "reason": "not a .json or .ndjson file",
            }
        )
    with transaction.atomic():
        ImportRun.objects.filter(pk=run.pk).update(
            counts=counts, rejected=rejected[:5000], finished_at=clock.now()
        )
        record(
            actor,
            AuditAction.CREATE,
            obj=("interop.ImportRun", run.pk),
            actor_username="" if actor is not None else "cli:import-fhir",
            detail={
                "counts": counts,
                "files": len(files),
                "patients": len(writer.patients_touched),
                "source": source,
            },
        )
    run.refresh_from_db()
    result.counts = counts
    result.rejected = rejected
    result.seconds = time.perf_counter() - started
    return result
