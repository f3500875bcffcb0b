"""Red flags in patients' own words, and near misses that must not raise one.

``data/red_flag_texts.csv`` holds texts written the way a patient or a relative types them on a
phone: ``flag`` is the red flag the text must raise, or ``none`` for a near miss (a harmless
complaint, or a danger sign that is denied) that must not be an emergency. ``age``, ``sex`` and
``pregnant`` (true, false or empty) are what the form would send and satisfy the flag's
conditions.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from smartcare.knowledge.models import RedFlag
from smartcare.triage.engine import triage
from smartcare.triage.types import TriageRequest

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "red_flag_texts.csv"
NEAR_MISS = "none"
PREGNANT = {"true": True, "false": False, "": None}


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for line, row in enumerate(rows, start=2):
        row["line"] = str(line)
    return rows


ROWS = _rows()
FLAG_ROWS = [r for r in ROWS if r["flag"] != NEAR_MISS]
NEAR_MISS_ROWS = [r for r in ROWS if r["flag"] == NEAR_MISS]


def _id(row: dict[str, str]) -> str:
    return f"{row['flag']}-{row['language']}-line{row['line']}"


def _request(row: dict[str, str]) -> TriageRequest:
    return TriageRequest(
        text=row["text"],
        age=int(row["age"]) if row["age"] else None,
        sex=row["sex"],
        pregnant=PREGNANT[row["pregnant"]],
    )


def test_the_file_is_well_formed() -> None:
    assert list(ROWS[0])[:6] == ["flag", "language", "text", "age", "sex", "pregnant"]
    for row in ROWS:
        assert row["language"] in ("zh", "en"), row
        assert row["text"].strip(), row
        assert row["age"] == "" or row["age"].isdigit(), row
        assert row["sex"] in ("male", "female", ""), row
        assert row["pregnant"] in PREGNANT, row
    assert len(NEAR_MISS_ROWS) >= 20


@pytest.mark.parametrize("row", FLAG_ROWS, ids=_id)
def test_patient_words_raise_the_red_flag(row: dict[str, str]) -> None:
    result = triage(_request(row))
    fired = [f.key for f in result.red_flags]
    assert result.status == "emergency", (row["text"], [f.key for f in result.findings])
    assert row["flag"] in fired, (row["text"], [f.key for f in result.findings], fired)


@pytest.mark.parametrize("row", NEAR_MISS_ROWS, ids=_id)
def test_near_misses_are_not_an_emergency(row: dict[str, str]) -> None:
    result = triage(_request(row))
    assert result.status != "emergency", (
        row["text"],
        [f.key for f in result.findings],
        [f.key for f in result.red_flags],
    )


def test_every_active_red_flag_has_a_chinese_and_an_english_text() -> None:
    active = set(RedFlag.objects.filter(is_active=True).values_list("key", flat=True))
    assert active, "the knowledge seed is not loaded"
    covered = {(r["flag"], r["language"]) for r in FLAG_ROWS}
    missing = sorted(
        f"{key} ({language})" for key in active for language in ("zh", "en") if (key, language) not in covered
    )
    assert not missing, missing
    unknown = sorted({r["flag"] for r in FLAG_ROWS} - active)
    assert not unknown, f"rows for flags that are not active red flags: {unknown}"
