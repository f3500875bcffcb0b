"""De-identification building blocks for research exports.

- ``pseudonym``: a per-project pseudonymous ID (HMAC-SHA256 under the project's own key), so the
  same patient has unrelated IDs in two projects and nobody without the key can link them back.
- ``date_offset_days`` / ``shift``: every date of one patient moves by the same random number of
  days (1 to 365, either way), derived from the project key, so intervals between a patient's
  events are kept exactly while calendar dates are hidden. Stable per (project, patient).
- ``age_label``: ages of 90 or more become "90+" (HIPAA Safe Harbor).
- ``Scrubber``: removes names (the source patients' own names, their emergency contacts', and the
  names given to it), phone numbers, resident ID numbers, and given identifier strings from free
  text.
- ``k_anonymize``: global recoding of the quasi-identifiers (age, sex, region, first-visit date)
  along a generalization ladder until every combination is shared by at least ``k`` people, with
  the rest suppressed; returns a report of what was generalized and suppressed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_SHIFT_DAYS = 365
# Share of people the ladder may suppress at one level before it generalizes further.
MAX_SUPPRESSION = 0.05


def _mac(key: str, message: str) -> bytes:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()


def pseudonym(project_key: str, person_key: str) -> str:
    """The patient's ID in this project: 'R' + 16 hex characters (64 bits) of an HMAC."""
    return "R" + _mac(project_key, "id:" + person_key).hex()[:16]


def encounter_pseudonym(project_key: str, encounter_key: str | None) -> str | None:
    if not encounter_key:
        return None
    return "E" + _mac(project_key, "enc:" + encounter_key).hex()[:16]


def date_offset_days(project_key: str, person_key: str) -> int:
    """A non-zero offset in [-365, 365] days, the same for every date of the patient in the project."""
    raw = int.from_bytes(_mac(project_key, "shift:" + person_key)[:8], "big")
    magnitude = raw % MAX_SHIFT_DAYS + 1
    return magnitude if (raw >> 32) & 1 else -magnitude


def shift(value: Any, days: int) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value + dt.timedelta(days=days)
    return value


def age_on(birth: dt.date | None, day: dt.date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def age_label(age: int | None) -> str:
    if age is None:
        return ""
    return "90+" if age >= 90 else str(age)


# --- free text -----------------------------------------------------------------------------------

# Mainland mobile numbers (with optional +86 / spaces / dashes), landlines with area code.
_PHONE = re.compile(
    r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)|(?<!\d)0\d{2,3}[\s-]?\d{7,8}(?!\d)"
)
# Resident ID (18 characters, last may be X), old 15-digit IDs, and long digit runs (card,
# insurance and record numbers).
_ID = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15}|\d{9,14})(?![0-9A-Za-z])")
_MRN = re.compile(r"(?<![0-9A-Za-z])(?:MRN|P)[0-9A-Za-z_-]{6,}(?![0-9A-Za-z])")

NAME_MASK = "[姓名]"
PHONE_MASK = "[电话]"
ID_MASK = "[证件号]"


@dataclass
class Scrubber:
    """Replaces the given names and identifier strings, then any phone or ID-like number."""

    names: Iterable[str] = ()
    identifiers: Iterable[str] = ()
    _names: re.Pattern[str] | None = field(init=False, default=None)
    _identifiers: re.Pattern[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        names = {n.strip() for n in self.names if n and len(n.strip()) >= 2}
        # Chinese names are also written with a title ("王先生") or without the family name; keep to
        # the full name and the given name of two characters or more, to avoid erasing common words.
        for n in list(names):
            if re.fullmatch(r"[\u4e00-\u9fff]{3,4}", n):
                names.add(n[1:])
        idents = {i.strip() for i in self.identifiers if i and len(i.strip()) >= 4}
        if names:
            self._names = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
        if idents:
            self._identifiers = re.compile(
                "|".join(re.escape(i) for i in sorted(idents, key=len, reverse=True)), re.IGNORECASE
            )

    def scrub(self, text: Any) -> Any:
        if not isinstance(text, str) or not text:
            return text
        text = _PHONE.sub(PHONE_MASK, text)
        if self._identifiers is not None:
            text = self._identifiers.sub(ID_MASK, text)
        text = _ID.sub(ID_MASK, text)
        text = _MRN.sub(ID_MASK, text)
        if self._names is not None:
            text = self._names.sub(NAME_MASK, text)
        return text


# --- k-anonymity ---------------------------------------------------------------------------------

QUASI_IDENTIFIERS = ("age", "sex", "region", "first_visit")


def _age_band(age: int | None, width: int) -> str:
    if age is None:
        return "*"
    if age >= 90:
        return "90+"
    if width <= 1:
        return str(age)
    low = age // width * width
    return f"{low}-{min(low + width - 1, 89)}"


def _region(code: str | None, digits: int) -> str:
    code = code or ""
    if digits == 0 or len(code) < digits:
        return "*"
    return code[:digits] + "0" * (6 - digits)


def _visit(day: dt.date | None, level: int) -> str:
    if day is None:
        return "*"
    if level == 0:
        return day.strftime("%Y-%m")
    if level == 1:
        return str(day.year)
    return "*"


# (age band width, region digits, first-visit level): each step coarser than the one before.
LADDER: tuple[tuple[int, int, int], ...] = (
    (1, 6, 0),
    (5, 4, 1),
    (10, 4, 1),
    (10, 2, 1),
    (10, 2, 2),
    (20, 2, 2),
    (20, 0, 2),
)
_AGE_NAMES = {1: "years", 5: "5-year bands", 10: "10-year bands", 20: "20-year bands"}
_REGION_NAMES = {6: "county (6 digits)", 4: "city (4 digits)", 2: "province (2 digits)", 0: "removed"}
_VISIT_NAMES = {0: "month", 1: "year", 2: "removed"}


@dataclass
class KAnonymityResult:
    released: dict[str, dict[str, str]]  # pseudonym -> generalized quasi-identifiers
    suppressed: list[str]
    report: dict[str, Any]


def generalize(person: dict[str, Any], step: tuple[int, int, int]) -> dict[str, str]:
    width, digits, visit = step
    return {
        "age": _age_band(person.get("age"), width),
        "sex": person.get("sex") or "*",
        "region": _region(person.get("region"), digits),
        "first_visit": _visit(person.get("first_visit"), visit),
    }


def k_anonymize(
    people: dict[str, dict[str, Any]],
    k: int,
    *,
    ladder: Sequence[tuple[int, int, int]] = LADDER,
    max_suppression: float = MAX_SUPPRESSION,
) -> KAnonymityResult:
    """``people``: pseudonym -> {"age": int, "sex": str, "region": 6-digit str, "first_visit": date}.

    Walks the ladder until the people in classes smaller than ``k`` are at most ``max_suppression``
    of everyone (the last step accepts any number), then suppresses them. Every released
    combination of quasi-identifiers is then shared by at least ``k`` released people."""
    if k < 1:
        raise ValueError("k must be at least 1")
    total = len(people)
    chosen = len(ladder) - 1
    generalized: dict[str, dict[str, str]] = {}
    small: set[str] = set()
    tried = []
    for index, step in enumerate(ladder):
        generalized = {pid: generalize(p, step) for pid, p in people.items()}
        classes = Counter(tuple(g.values()) for g in generalized.values())
        small = {pid for pid, g in generalized.items() if classes[tuple(g.values())] < k}
        tried.append({"step": index, "would_suppress": len(small)})
        if len(small) <= max_suppression * total or index == len(ladder) - 1:
            chosen = index
            break
    released = {pid: g for pid, g in generalized.items() if pid not in small}
    sizes = Counter(tuple(g.values()) for g in released.values())
    width, digits, visit = ladder[chosen]
    report = {
        "k": k,
        "quasi_identifiers": list(QUASI_IDENTIFIERS),
        "people": total,
        "released": len(released),
        "suppressed": len(small),
        "step": chosen,
        "generalized": {
            "age": _AGE_NAMES.get(width, f"{width}-year bands"),
            "sex": "kept",
            "region": _REGION_NAMES.get(digits, str(digits)),
            "first_visit": _VISIT_NAMES.get(visit, str(visit)),
        },
        "ages_over_89": "90+",
        "equivalence_classes": len(sizes),
        "smallest_class": min(sizes.values()) if sizes else 0,
        "steps_tried": tried,
    }
    return KAnonymityResult(released=released, suppressed=sorted(small), report=report)


def is_k_anonymous(
    rows: Iterable[dict[str, Any]], k: int, columns: Sequence[str] = QUASI_IDENTIFIERS
) -> bool:
    counts = Counter(tuple(r.get(c) for c in columns) for r in rows)
    return all(n >= k for n in counts.values())
