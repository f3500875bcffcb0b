"""``smartcare triage-train [FILE]``: add the hospital's labelled texts and train the classifier."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from smartcare.core.errors import CodedError
from smartcare.organization.models import NationalDepartmentCode
from smartcare.triage.engine import get_engine
from smartcare.triage.training import add_labelled_file, stored_examples, stored_files


class Command(BaseCommand):
    help = (
        "Train the triage text classifier on texts generated from the knowledge graph plus the "
        "labelled texts given (CSV with text,department_code). Without FILE, retrain on what is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, nargs="?")
        parser.add_argument("--replace", action="store_true", help="drop the texts added before")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path | None = options["file"]
        added = 0
        if path is not None:
            if not path.is_file():
                raise CommandError(f"TRIAGE-010 file not found: {path}")
            codes = set(NationalDepartmentCode.objects.values_list("code", flat=True))
            try:
                _, added = add_labelled_file(path.read_bytes(), codes, replace=options["replace"])
            except CodedError as exc:
                problems = getattr(exc, "errors", {})
                lines = [f"{where}: {'; '.join(map(str, texts))}" for where, texts in problems.items()]
                raise CommandError("\n".join([f"{exc.code} {exc.detail}", *lines])) from exc
        started = time.perf_counter()
        engine = get_engine()
        self.stdout.write(
            json.dumps(
                {
                    "added": added,
                    "labelled_files": len(stored_files()),
                    "labelled_texts": len(stored_examples()),
                    "model": engine.model_version,
                    "graph": engine.graph.version,
                    "departments": len(engine.classes),
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
        )
