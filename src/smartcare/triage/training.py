"""Labelled texts the hospital adds to the classifier's training (``smartcare triage-train``).

A CSV with the columns ``text,department_code`` (UTF-8, header required), for example texts
that triage nurses labelled. Every row is checked (non-empty text of at most 2,000 characters,
a code of the national catalog) and the file is rejected as a whole with each bad row listed.
Accepted files are kept under ``VAR_DIR/triage/labelled/`` so every restart and every app
server that shares the directory trains the same model; the engine retrains when they change.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from smartcare.core.errors import InvalidInput
from smartcare.triage.model import Example, model_dir

MAX_TEXT = 2000


class TrainingFileInvalid(InvalidInput):
    code = "TRIAGE-010"
    message = gettext_lazy("The training file has %(count)s problems; nothing was added.")


def labelled_dir() -> Path:
    path = model_dir() / "labelled"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_labelled_csv(raw: bytes, known_codes: set[str]) -> list[Example]:
    problems: dict[str, list[str]] = {}
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TrainingFileInvalid(errors={"file": [_("The file is not UTF-8 text.")]}, count=1) from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"text", "department_code"} <= set(reader.fieldnames):
        raise TrainingFileInvalid(
            errors={"file": [_("The header must contain the columns text and department_code.")]}, count=1
        )
    examples = []
    for line, row in enumerate(reader, start=2):
        body = (row.get("text") or "").strip()
        code = (row.get("department_code") or "").strip()
        if not body or len(body) > MAX_TEXT:
            problems.setdefault(f"line {line}", []).append(_("The text must have 1 to 2,000 characters."))
        if code not in known_codes:
            problems.setdefault(f"line {line}", []).append(_("Unknown department code %s.") % code)
        if body and code in known_codes:
            examples.append(Example(body, code))
    if problems:
        raise TrainingFileInvalid(errors=problems, count=sum(len(v) for v in problems.values()))
    if not examples:
        raise TrainingFileInvalid(errors={"file": [_("The file has no rows.")]}, count=1)
    return examples


def add_labelled_file(raw: bytes, known_codes: set[str], *, replace: bool = False) -> tuple[Path, int]:
    examples = read_labelled_csv(raw, known_codes)
    directory = labelled_dir()
    if replace:
        for old in directory.glob("*.csv"):
            old.unlink()
    path = directory / f"{hashlib.sha256(raw).hexdigest()[:16]}.csv"
    temporary = path.with_suffix(f".{os.getpid()}.tmp")  # workers may train at the same time
    temporary.write_bytes(raw)
    temporary.replace(path)
    from smartcare.triage.engine import refresh

    refresh()
    return path, len(examples)


def stored_files() -> list[Path]:
    return sorted(labelled_dir().glob("*.csv"))


def stored_version() -> str:
    return ",".join(p.stem for p in stored_files())


def stored_examples() -> list[Example]:
    examples: list[Example] = []
    for path in stored_files():
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            if row.get("text") and row.get("department_code"):
                examples.append(Example(row["text"].strip(), row["department_code"].strip()))
    return examples
