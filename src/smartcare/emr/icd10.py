"""The ICD-10 code table shipped with smartcare (``data/icd10.csv``), loaded after ``migrate``.

The file holds WHO ICD-10 codes with Chinese and English titles: every code the knowledge graph
uses for its diseases plus the codes common in outpatient and ward practice. A hospital with a
licensed national edition (国家临床版) replaces the file or loads more rows with the admin.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

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
    from smartcare.emr.models import Icd10Code

    if Icd10Code.objects.using(using).count() != len(read_rows()):
        load_icd10()
