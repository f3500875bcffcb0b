"""Agreement between the requester's working diagnosis and the expert's.

Same ICD-10 code, or the same category at a configurable level: ``level`` is how many characters of
the code (without the dot) must agree; 3 is the ICD-10 three-character category (I21.0 and I21.4
agree, I21 and I25 do not), 1 compares chapters by letter. Set ``TELEMEDICINE_CONCORDANCE_LEVEL``.
"""

from __future__ import annotations

from django.conf import settings

from smartcare.telemedicine.choices import Concordance


def configured_level() -> int:
    level = int(getattr(settings, "TELEMEDICINE_CONCORDANCE_LEVEL", 3))
    return max(1, min(level, 7))


def _bare(code: str) -> str:
    return str(code or "").strip().upper().replace(".", "")


def compare(working: str, expert: str, level: int | None = None) -> Concordance:
    level = configured_level() if level is None else level
    a, b = _bare(working), _bare(expert)
    if not a or not b:
        return Concordance.DISCORDANT
    if a == b:
        return Concordance.SAME_CODE
    if len(a) >= level and len(b) >= level and a[:level] == b[:level]:
        return Concordance.SAME_CATEGORY
    return Concordance.DISCORDANT


def is_concordant(value: str) -> bool:
    return value in (Concordance.SAME_CODE, Concordance.SAME_CATEGORY)
