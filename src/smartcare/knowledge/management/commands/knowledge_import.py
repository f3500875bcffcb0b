"""``smartcare knowledge-import FILE [--format auto|smartcare|jsonl] [--origin NAME] [--version V]``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from smartcare.core import context
from smartcare.core.errors import CodedError, InvalidInput
from smartcare.knowledge.models import KnowledgeRelease
from smartcare.knowledge.services import FORMATS, detect_format, import_knowledge_file


class Command(BaseCommand):
    help = (
        "Import a knowledge file as one release of a dataset: smartcare JSON (data/FORMAT.md) or "
        "JSON lines with one disease per line (QASystemOnMedicalKG's medical.json). The file is "
        "checked completely first; a bad file writes nothing."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        # --version names the release here, replacing Django's "print the Django version".
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="the file to import")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default="auto",
            help="auto: .jsonl and files of disease lines are jsonl, anything else smartcare",
        )
        parser.add_argument(
            "--origin",
            default="",
            help="dataset name (default: the file name without extension); a new release of the "
            "same dataset replaces what the previous one wrote",
        )
        parser.add_argument(
            "--version",
            dest="release_version",
            default="",
            help="release version for jsonl files (default: the file's date); smartcare files carry their own",
        )

        parser.add_argument(
            "--force",
            action="store_true",
            help="import even when the release retires red flags or more than half of the dataset",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"KNOW-001 no such file: {path}")
        raw = path.read_bytes()
        version = options["release_version"]
        kind = options["format"] if options["format"] != "auto" else detect_format(raw, path.name)
        if kind == "jsonl" and not version:
            modified = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
            version = modified.date().isoformat()
        try:
            with context.acting(context.RequestContext(channel="cli")):
                release, changed = import_knowledge_file(
                    None,
                    raw,
                    file_name=path.name,
                    format=kind,
                    origin=options["origin"],
                    version=version,
                    force=options["force"],
                )
        except CodedError as exc:
            for where, problems in getattr(exc, "errors", {}).items():
                for problem in problems:
                    self.stderr.write(f"{where}: {problem}")
            label = "" if not isinstance(exc, InvalidInput) or not exc.field else f" ({exc.field})"
            raise CommandError(f"{exc.code}{label}: {exc.detail}") from exc
        self.print_release(release, changed)

    def print_release(self, release: KnowledgeRelease, changed: bool) -> None:
        state = "imported" if changed else "unchanged (this file is already the latest release)"
        self.stdout.write(
            f"release {release.pk}: {release.origin} {release.version} ({release.format}) {state}"
        )
        for name, count in release.counts.items():
            self.stdout.write(f"  {name}: {count}")
        report = release.report or {}
        unmapped = report.get("unmapped_departments", [])
        if "unmapped_departments" in report:
            self.stdout.write(f"unmapped departments: {len(unmapped)}")
            for entry in unmapped:
                examples = ", ".join(entry.get("examples", []))
                self.stdout.write(f"  {entry['name']}: {entry['count']} (e.g. {examples})")
            without = report.get("diseases_without_department_count", 0)
            self.stdout.write(f"diseases without a department: {without}")
            listed = report.get("diseases_without_department", [])
            if listed:
                self.stdout.write("  " + ", ".join(listed))
        if report:
            self.stdout.write("report: " + json.dumps(report, ensure_ascii=False, sort_keys=True))
