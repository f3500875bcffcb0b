"""What the pages and the API show of a triage result: names in the active language (the other
language beside them), the department the hospital actually has for each suggestion, and where
to book it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from smartcare.organization.models import Department
from smartcare.triage.selectors import GENERAL_PRACTICE_CODE, bookable_department, emergency_department
from smartcare.triage.types import DepartmentSuggestion, TriageResult


def is_english(language: str) -> bool:
    return (language or "").lower().startswith("en")


def booking_path(record_id: int, code: str) -> str:
    return reverse("triage:book", kwargs={"record_id": record_id, "code": code})


@dataclass
class Card:
    """One suggested department as the patient sees it."""

    code: str
    name: str
    other_name: str
    score: float
    percent: int
    department: Department | None  # what the hospital has for it (the code or an ancestor)
    booking_url: str | None
    matched: list[str] = field(default_factory=list)  # names of the findings that point here
    conditions: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def substitute(self) -> bool:
        """The hospital has no clinic for the exact code; it books the parent department."""
        return self.department is not None and self.department.code != self.code


def _card(
    suggestion: DepartmentSuggestion, result: TriageResult, record_id: int | None, english: bool
) -> Card:
    names = {f.key: (f.name_en if english else f.name_zh) for f in result.findings}
    matched: list[str] = []
    for condition in suggestion.conditions:
        for key in condition.matched:
            name = names.get(key)
            if name and name not in matched:
                matched.append(name)
    department = bookable_department(suggestion.code)
    return Card(
        code=suggestion.code,
        name=suggestion.name_en if english else suggestion.name_zh,
        other_name=suggestion.name_zh if english else suggestion.name_en,
        score=suggestion.score,
        percent=max(0, min(100, round(suggestion.score * 100))),
        department=department,
        booking_url=booking_path(record_id, suggestion.code)
        if department is not None and record_id is not None
        else None,
        matched=matched,
        conditions=[
            (c.name_en if english else c.name_zh) + (f" ({c.icd10})" if c.icd10 else "")
            for c in suggestion.conditions[:3]
        ],
        reasons=list(suggestion.reasons_en if english else suggestion.reasons_zh),
    )


def present(result: TriageResult, *, record_id: int | None, language: str) -> dict[str, Any]:
    """Template context for one answer of the assistant."""
    english = is_english(language)
    question = result.question
    context: dict[str, Any] = {
        "result": result,
        "status": result.status,
        "record_id": record_id,
        "findings": [f.name_en if english else f.name_zh for f in result.findings],
        "negated": [f.name_en if english else f.name_zh for f in result.negated],
        "red_flags": [
            {
                "key": r.key,
                "name": r.name_en if english else r.name_zh,
                "reason": r.reason_en if english else r.reason_zh,
                "action": r.action,
                "conditions": (", " if english else "、").join(
                    c.name_en if english else c.name_zh for c in r.conditions
                ),
            }
            for r in result.red_flags
        ],
        "call_120": result.action == "call_120",
        "question": {
            "key": question.key,
            "text": question.question_en if english else question.question_zh,
            "other_text": question.question_zh if english else question.question_en,
        }
        if question is not None
        else None,
        "cards": [_card(s, result, record_id, english) for s in result.departments[:3]],
    }
    if result.status == "emergency":
        context["emergency_department"] = emergency_department()
    if result.status == "unclear":
        context["general_practice"] = bookable_department(GENERAL_PRACTICE_CODE)
    return context
