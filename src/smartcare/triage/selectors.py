"""Reads for triage: where the hospital sees a suggested department, the follow-up questions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smartcare.knowledge.models import FollowUpQuestion
from smartcare.organization.models import Department, NationalDepartmentCode

EMERGENCY_CODE = "20"  # 急诊医学科 in the national catalog
GENERAL_PRACTICE_CODE = "02"  # 全科医疗科


def bookable_department(code: str) -> Department | None:
    """The hospital's active department for a national ``code``, else for the nearest ancestor code
    the hospital has (03.04 cardiology -> 03 internal medicine), else ``None``."""
    seen: set[str] = set()
    current: str | None = code
    while current and current not in seen:
        seen.add(current)
        found = (
            Department.objects.filter(national_code_id=current, is_active=True)
            .select_related("national_code", "campus")
            .first()
        )
        if found is not None:
            return found
        current = (
            NationalDepartmentCode.objects.filter(code=current).values_list("parent_id", flat=True).first()
        )
    return None


def emergency_department() -> Department | None:
    return (
        Department.objects.filter(national_code_id=EMERGENCY_CODE, is_active=True)
        .select_related("campus")
        .first()
    )


def unknown_question_keys(keys: Iterable[str]) -> list[str]:
    """The keys among ``keys`` that name no active follow-up question."""
    wanted = set(keys)
    if not wanted:
        return []
    known = set(FollowUpQuestion.objects.filter(key__in=wanted, is_active=True).values_list("key", flat=True))
    return sorted(wanted - known)


def questions_by_key(keys: Iterable[str]) -> dict[str, Any]:
    """Follow-up questions by key (to show the answered ones again in the conversation)."""
    return {q.key: q for q in FollowUpQuestion.objects.filter(key__in=set(keys))}
