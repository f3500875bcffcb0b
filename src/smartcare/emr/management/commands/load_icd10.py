"""``smartcare load-icd10 FILE.csv [--json]``: load a full ICD-10 code set (e.g. the national clinical
edition) into the diagnosis table. Columns: ``code,name_zh,name_en`` and optionally ``chapter``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from smartcare.emr.errors import MalformedCodeFile
from smartcare.emr.icd10 import load_code_file


class Command(BaseCommand):
    help = (
        "Load ICD-10 codes from a UTF-8 CSV with the columns code,name_zh,name_en (chapter optional): "
        "new codes are created, known ones updated, bad rows rejected with a coded reason."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="CSV: code,name_zh,name_en[,chapter] with a header line")
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            error = MalformedCodeFile(line=0, reason=f"file not found: {path}")
            raise CommandError(f"{error.code} {error.detail}")
        try:
            result = load_code_file(path.read_bytes(), source=path.name)
        except MalformedCodeFile as exc:
            raise CommandError(f"{exc.code} {exc.detail}") from None
        rejected = [r.as_dict() for r in result.rejected]
        summary = {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "rejected": rejected,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
            return
        for row in rejected:
            self.stdout.write(f"line {row['line']}: {row['code']} rejected: {row['error']} {row['reason']}")
        self.stdout.write(
            f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
            f"{len(rejected)} rejected"
        )
