"""The ICD-10 code table shipped with smartcare (``data/icd10.csv``), loaded after ``migrate``.

The file holds WHO ICD-10 codes with Chinese and English titles: every code the knowledge graph
uses for its diseases plus the codes common in outpatient and ward practice. A hospital with a
licensed national edition (国家临床版) loads it with ``smartcare load-icd10 FILE`` (``load_code_file``):
rows with a bad code or name are rejected with a coded reason, the others created or updated; a file
that cannot be read as a whole loads nothing. After ``migrate`` only shipped codes that are missing
are added, so a loaded national edition keeps its names.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from smartcare.core.errors import CodedError
from smartcare.emr.errors import DuplicateIcd10Code, InvalidIcd10Code, MalformedCodeFile, MissingIcd10Name

ICD10_FILE = Path(__file__).parent / "data" / "icd10.csv"

# (first code, last code, chapter) of the WHO ICD-10 chapters, compared on the 3-character category.
CHAPTERS: tuple[tuple[str, str, str], ...] = (
    ("A00", "B99", "I"),
    ("C00", "D48", "II"),
    ("D50", "D89", "III"),
    ("E00", "E90", "IV"),
    ("F00", "F99", "V"),
    ("G00", "G99", "VI"),
    ("H00", "H59", "VII"),
    ("H60", "H95", "VIII"),
    ("I00", "I99", "IX"),
    ("J00", "J99", "X"),
    ("K00", "K93", "XI"),
    ("L00", "L99", "XII"),
    ("M00", "M99", "XIII"),
    ("N00", "N99", "XIV"),
    ("O00", "O99", "XV"),
    ("P00", "P96", "XVI"),
    ("Q00", "Q99", "XVII"),
    ("R00", "R99", "XVIII"),
    ("S00", "T98", "XIX"),
    ("V01", "Y98", "XX"),
    ("Z00", "Z99", "XXI"),
    ("U00", "U99", "XXII"),
)


def chapter_of(code: str) -> str:
    category = (code or "").upper()[:3]
    for first, last, chapter in CHAPTERS:
        if first <= category <= last:
            return chapter
    return ""


def read_rows(path: Path = ICD10_FILE) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def load_icd10(path: Path = ICD10_FILE) -> int:
    """Insert or update every row of the file; returns how many codes the table holds."""
    from smartcare.emr.models import Icd10Code

    rows = read_rows(path)
    existing = set(Icd10Code.objects.values_list("code", flat=True))
    new = [
        Icd10Code(code=r["code"], name_zh=r["name_zh"], name_en=r["name_en"], chapter=r["chapter"])
        for r in rows
        if r["code"] not in existing
    ]
    Icd10Code.objects.bulk_create(new, batch_size=500)
    changed = [
        Icd10Code(code=r["code"], name_zh=r["name_zh"], name_en=r["name_en"], chapter=r["chapter"])
        for r in rows
        if r["code"] in existing
    ]
    Icd10Code.objects.bulk_update(changed, ["name_zh", "name_en", "chapter"], batch_size=500)
    return Icd10Code.objects.count()


def ensure_icd10() -> None:
    """Load the table when it is empty (tests that flush the database call this)."""
    from smartcare.emr.models import Icd10Code

    if not Icd10Code.objects.exists():
        load_icd10()


def load_icd10_after_migrate(sender: Any, using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    """Add the shipped codes that are missing; never rename codes already there (a national
    edition loaded with ``load-icd10`` keeps its names)."""
    from smartcare.emr.models import Icd10Code

    rows = read_rows()
    existing = set(Icd10Code.objects.using(using).values_list("code", flat=True))
    missing = [r for r in rows if r["code"] not in existing]
    if missing:
        Icd10Code.objects.using(using).bulk_create(
            [
                Icd10Code(code=r["code"], name_zh=r["name_zh"], name_en=r["name_en"], chapter=r["chapter"])
                for r in missing
            ],
            batch_size=500,
        )


# --- Loading a national code set ------------------------------------------------------------------

REQUIRED_COLUMNS = ("code", "name_zh", "name_en")
CODE_MAX = 16
NAME_MAX = 200
# A letter, two digits, then optionally a dot and up to 12 letters or digits (WHO ``E11.9``; the
# national clinical edition's ``E11.900x001``).
CODE_PATTERN = re.compile(r"^[A-Z][0-9]{2}(?:\.[0-9A-Za-z]{1,12})?$")


@dataclass
class RejectedRow:
    line: int
    code: str
    error: CodedError

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "error": self.error.code, "reason": self.error.detail}


@dataclass
class CodeFile:
    rows: list[dict[str, str]] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def parse_code_file(data: bytes) -> CodeFile:
    """Read an ICD-10 CSV (columns ``code,name_zh,name_en`` and optionally ``chapter``, UTF-8 with a
    header). A file that is not UTF-8 CSV with these columns, or a line with more or fewer fields than
    the header, raises EMR-015; a row with a bad code (EMR-016), a missing name (EMR-017) or a code
    already on an earlier line (EMR-018) is rejected and reported."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedCodeFile(line=1, reason="not UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise MalformedCodeFile(line=1, reason=str(exc)) from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise MalformedCodeFile(line=1, reason="missing columns " + ", ".join(missing))
    reader.fieldnames = header
    parsed = CodeFile()
    first_line: dict[str, int] = {}
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw or any(value is None for value in raw.values()):
                raise MalformedCodeFile(line=line, reason=f"{len(header)} fields expected")
            code = raw["code"].strip()
            code = code[:1].upper() + code[1:]
            name_zh, name_en = raw["name_zh"].strip(), raw["name_en"].strip()
            error: CodedError | None = None
            if len(code) > CODE_MAX or not CODE_PATTERN.match(code):
                error = InvalidIcd10Code(code=code or '""')
            elif not name_zh or not name_en or len(name_zh) > NAME_MAX or len(name_en) > NAME_MAX:
                error = MissingIcd10Name(code=code)
            elif code in first_line:
                error = DuplicateIcd10Code(code=code, first=first_line[code])
            if error is not None:
                parsed.rejected.append(RejectedRow(line, code, error))
                continue
            first_line[code] = line
            chapter = (raw.get("chapter") or "").strip()[:8] or chapter_of(code)
            parsed.rows.append({"code": code, "name_zh": name_zh, "name_en": name_en, "chapter": chapter})
    except csv.Error as exc:
        raise MalformedCodeFile(line=reader.line_num, reason=str(exc)) from exc
    return parsed


@dataclass
class LoadResult:
    created: int
    updated: int
    unchanged: int
    rejected: list[RejectedRow]


@transaction.atomic
def load_code_file(data: bytes, *, source: str = "", actor: Any = None) -> LoadResult:
    """Create the new codes and update the names and chapters of known ones; idempotent (loading the
    same file again creates and updates nothing). Nothing is written when the file is malformed.
    The load is audited (file name and counts)."""
    from smartcare.audit.choices import AuditAction
    from smartcare.audit.services import record
    from smartcare.emr.models import Icd10Code

    parsed = parse_code_file(data)
    existing = {c.code: c for c in Icd10Code.objects.filter(code__in=[r["code"] for r in parsed.rows])}
    new: list[Icd10Code] = []
    changed: list[Icd10Code] = []
    unchanged = 0
    for row in parsed.rows:
        known = existing.get(row["code"])
        if known is None:
            new.append(Icd10Code(**row))
        elif (known.name_zh, known.name_en, known.chapter, known.is_active) != (
            row["name_zh"],
            row["name_en"],
            row["chapter"],
            True,
        ):
            known.name_zh, known.name_en, known.chapter, known.is_active = (
                row["name_zh"],
                row["name_en"],
                row["chapter"],
                True,
            )
            changed.append(known)
        else:
            unchanged += 1
    Icd10Code.objects.bulk_create(new, batch_size=500)
    Icd10Code.objects.bulk_update(changed, ["name_zh", "name_en", "chapter", "is_active"], batch_size=500)
    record(
        actor,
        AuditAction.UPDATE,
        reason="load-icd10",
        actor_username="" if actor is not None else "smartcare load-icd10",
        obj=("emr.icd10code", source[:100]),
        detail={
            "event": "icd10_loaded",
            "file": source,
            "created": len(new),
            "updated": len(changed),
            "rejected": len(parsed.rejected),
        },
    )
    return LoadResult(len(new), len(changed), unchanged, parsed.rejected)
