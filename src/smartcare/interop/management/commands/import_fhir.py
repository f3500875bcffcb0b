"""``smartcare import-fhir PATH... [--source NAME] [--workers N] [--report FILE]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from smartcare.core import context
from smartcare.core.errors import CodedError
from smartcare.interop.fhir.engine import OUTCOMES
from smartcare.interop.fhir.importer import collect_files, import_paths


class Command(BaseCommand):
    help = (
        "Import FHIR R4 files and folders: Bundles (.json, e.g. Synthea output) and bulk-export NDJSON "
        "(.ndjson, one resource type per file). Prints the counts per type (created, updated, unchanged, "
        "kept as FHIR, linked, rejected, skipped) and each rejected resource with its reason. Importing "
        "the same data again creates no duplicates."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", help="files or folders")
        parser.add_argument(
            "--source",
            default="import",
            help="name of the system the files come from: NDJSON resources are known by source|Type/id, "
            "so give each exporting server its own name (default: import)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="processes validating with fhir.resources (default: one per core for large imports, 0: none)",
        )
        parser.add_argument(
            "--validator",
            choices=("compiled", "models"),
            default="compiled",
            help="compiled: fhir.resources' rules compiled to one schema per type (default); models: "
            "fhir.resources' model classes (the same verdicts, about ten times slower)",
        )
        parser.add_argument("--chunk-size", type=int, default=3000, help="resources per database transaction")
        parser.add_argument(
            "--report", default="", help="also write the counts and rejections to this JSON file"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            files, _ignored = collect_files(options["paths"])
        except CodedError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        bar = tqdm(
            total=len(files),
            unit="file",
            file=sys.stderr,
            disable=options["no_progress"] or not files,
            dynamic_ncols=True,
        )

        def progress(done: int, resources: int) -> None:
            bar.n = done
            bar.set_postfix(resources=resources, refresh=False)
            bar.refresh()

        try:
            with context.acting(context.RequestContext(channel="cli")):
                result = import_paths(
                    options["paths"],
                    source=options["source"],
                    workers=options["workers"],
                    chunk_size=max(1, options["chunk_size"]),
                    progress=progress,
                    validator=options["validator"],
                )
        except CodedError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        finally:
            bar.close()
        self.print_summary(result)
        if options["report"]:
            Path(options["report"]).write_text(
                json.dumps(
                    {"run": result.run.pk, "counts": result.counts, "rejected": result.rejected},
                    ensure_ascii=False,
                    indent=2,
                ),
                encoding="utf-8",
            )

    def print_summary(self, result: Any) -> None:
        columns = [o for o in OUTCOMES if any(c.get(o) for c in result.counts.values())] or ["created"]
        width = max([len("type"), *[len(t) for t in result.counts]]) + 2
        self.stdout.write("type".ljust(width) + "".join(c.rjust(11) for c in columns))
        for resource_type in sorted(result.counts):
            row = result.counts[resource_type]
            self.stdout.write(
                resource_type.ljust(width) + "".join(str(row.get(c, 0)).rjust(11) for c in columns)
            )
        self.stdout.write("total".ljust(width) + "".join(str(result.total(c)).rjust(11) for c in columns))
        self.stdout.write(
            f"import {result.run.pk}: {result.files} files, {result.resources} resources "
            f"in {result.seconds:.1f} s"
        )
        if result.rejected:
            self.stdout.write(f"rejected or skipped ({len(result.rejected)}):")
            for item in result.rejected:
                label = f"{item.get('code')} " if item.get("code") else ""
                kind = f"{item['resource_type']} " if item.get("resource_type") else ""
                self.stdout.write(f"  {item['where']}: {kind}{label}{item['reason']}")
