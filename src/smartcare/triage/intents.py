"""Service requests that are not symptoms (``data/intents.json``): vaccination, check-ups,
Chinese medicine, cosmetic procedures, rehabilitation, counselling and the like. A phrase
names what the patient asks for; the engine sends the request to the department that provides
the service, and the classifier learns the phrases too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

INTENTS = Path(__file__).parent / "data" / "intents.json"


@dataclass(frozen=True)
class Intent:
    key: str
    code: str
    phrases_zh: tuple[str, ...]
    phrases_en: tuple[str, ...]


@cache
def load_intents(path: Path = INTENTS) -> tuple[Intent, ...]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != "smartcare-triage-intents":
        raise ValueError(f"{path}: not a smartcare intents file")
    return tuple(
        Intent(
            key=f"intent:{item['id']}",
            code=item["department_code"],
            phrases_zh=tuple(item["phrases_zh"]),
            phrases_en=tuple(item["phrases_en"]),
        )
        for item in data["intents"]
    )
