"""``smartcare lake build [--full]``, ``smartcare lake status``, ``smartcare lake omop --out DIR``.

``build`` brings the analytics lake up to date (only what changed since the last build; ``--full``
rebuilds it) and prints the rows per table; ``status`` shows the last builds; ``omop`` exports the
lake to OMOP CDM tables (``--format parquet|csv``, ``--vocabulary`` an OHDSI Athena download) with
a report of unmapped codes. The lake directory is ``SMARTCARE_LAKE_DIR`` (default
``<SMARTCARE_VAR_DIR>/lake``) unless ``--dir`` is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from smartcare.core.errors import CodedError
from smartcare.research import lake
from smartcare.research.errors import LakeOptionInvalid


class Command(BaseCommand):
    help = "Build the research analytics lake, show its status, or export it to OMOP."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["build", "status", "omop"])
        parser.add_argument("--full", action="store_true", help="build: rebuild everything")
        parser.add_argument("--dir", help="lake directory (default: SMARTCARE_LAKE_DIR or <var>/lake)")
        parser.add_argument("--out", help="omop: output directory")
        parser.add_argument("--format", default="parquet", help="omop: parquet (default) or csv")
        parser.add_argument("--vocabulary", help="omop: directory of an OHDSI Athena vocabulary download")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(options["dir"]) if options.get("dir") else lake.lake_dir()
        try:
            if options["action"] == "build":
                self._build(root, options["full"])
            elif options["action"] == "status":
                self._status(root)
            else:
                self._omop(root, options)
        except CodedError as error:
            raise CommandError(f"{error.code} {error.detail}") from error

    def _build(self, root: Path, full: bool) -> None:
        result = lake.build(full=full, root=root)
        for name, figures in result.tables.items():
            self.stdout.write(
                f"{name:16} {figures['rows']:>10} rows  (+{figures['upserted']} changed, -{figures['deleted']} removed)"
            )
        self.stdout.write(
            json.dumps(
                {
                    "run": result.run_id,
                    "full": result.full,
                    "seconds": round(result.seconds, 2),
                    "lake": str(root),
                }
            )
        )

    def _status(self, root: Path) -> None:
        from smartcare.research.models import LakeRun

        if not lake.is_built(root):
            self.stdout.write(f"not built: {root}")
        for run in LakeRun.objects.filter(lake_dir=str(root))[:5]:
            self.stdout.write(
                f"{run.pk:>5} {run.started_at:%Y-%m-%d %H:%M:%S} {run.status:8} "
                f"{'full' if run.full else 'incremental'} {run.error[:80]}"
            )
        if lake.is_built(root):
            self.stdout.write(json.dumps(lake.table_counts(root)))

    def _omop(self, root: Path, options: dict[str, Any]) -> None:
        from smartcare.research import omop

        if not options.get("out"):
            raise LakeOptionInvalid(reason="--out", field="out")
        if options["format"] not in ("parquet", "csv"):
            raise LakeOptionInvalid(reason="--format", field="format")
        vocabulary = Path(options["vocabulary"]) if options.get("vocabulary") else None
        if vocabulary is not None and not vocabulary.is_dir():
            raise LakeOptionInvalid(reason="--vocabulary", field="vocabulary")
        report = omop.export(
            Path(options["out"]), file_format=options["format"], vocabulary_dir=vocabulary, root=root
        )
        for name, figures in report["tables"].items():
            self.stdout.write(
                f"{name:22} {figures['rows']:>10} rows  {figures['unmapped_rows']:>8} unmapped "
                f"({figures['unmapped_codes']} codes)"
            )
        self.stdout.write(json.dumps({"out": options["out"], "vocabulary": report["vocabulary"]}))
