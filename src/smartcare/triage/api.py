"""Triage API: a complaint in, the engine's answer out, for the hospital app, mini-programs and the
website. Public like the department directory; an API token or the session is used when sent, so
the record knows who asked."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import translation
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.utils import check_csrf
from pydantic import Field

from smartcare.accounts.auth import ApiKeyHeaderToken, BearerToken
from smartcare.triage import services
from smartcare.triage.choices import TriageChannel
from smartcare.triage.presenting import booking_path
from smartcare.triage.types import TriageRequest

router = Router(tags=["triage"])

LANGUAGES = ("zh-hans", "en")


def _session_or_anonymous(request: HttpRequest) -> Any:
    """After the token checks: the signed-in session (with its CSRF check, as for every session
    call), else an anonymous caller. A call with a token that did not check out is refused."""
    if request.headers.get("Authorization") or request.headers.get("X-API-Key"):
        return None
    user: Any = request.user
    if user.is_authenticated:
        if check_csrf(request):
            raise HttpError(403, "CSRF check Failed")
        return user
    return True


class TriageIn(Schema):
    text: str = Field(
        description="The complaint in the patient's words, Chinese or English (1-2000 characters)"
    )
    age: int | None = Field(default=None, description="Age in completed years (0-120)")
    age_months: int | None = Field(default=None, description="Age in completed months, for babies")
    sex: str = Field(default="", description='"male", "female" or "" (unknown)')
    pregnant: bool | None = None
    answers: dict[str, bool | None] = Field(
        default_factory=dict,
        description="Follow-up question id -> yes (true) / no (false); null for 'not sure'",
    )
    language: str | None = Field(
        default=None, description='"zh-hans" or "en"; the request\'s language if absent'
    )


class FindingOut(Schema):
    key: str
    name_zh: str
    name_en: str
    negated: bool
    surface: str
    from_answer: bool


class ConditionOut(Schema):
    key: str
    name_zh: str
    name_en: str
    icd10: str
    score: float
    matched: list[str]


class DepartmentOut(Schema):
    code: str
    name_zh: str
    name_en: str
    score: float
    conditions: list[ConditionOut]
    reasons_zh: list[str]
    reasons_en: list[str]
    booking_code: str | None = Field(description="The hospital's department that books this suggestion")
    location: str | None
    booking_url: str | None = Field(description="Follow to book (null: the hospital has no such clinic)")


class WarnedConditionOut(Schema):
    key: str
    name_zh: str
    name_en: str


class RedFlagOut(Schema):
    key: str
    name_zh: str
    name_en: str
    action: str
    reason_zh: str
    reason_en: str
    findings: list[str]
    conditions: list[WarnedConditionOut] = Field(description="Conditions the red flag warns of")


class QuestionOut(Schema):
    key: str
    question_zh: str
    question_en: str
    symptom: str
    separates: list[str]


class TriageOut(Schema):
    record_id: int
    status: str = Field(description="emergency, question, departments or unclear")
    findings: list[FindingOut]
    negated: list[FindingOut]
    red_flags: list[RedFlagOut]
    action: str = Field(description='"call_120", "emergency" or ""')
    departments: list[DepartmentOut]
    question: QuestionOut | None
    rules: list[str]
    elapsed_ms: float
    model_version: str


@router.post(
    "/",
    response=TriageOut,
    auth=[BearerToken(), ApiKeyHeaderToken(), _session_or_anonymous],
    summary="Triage a complaint: emergency, a follow-up question, or departments to book",
)
def triage(request: HttpRequest, payload: TriageIn) -> dict[str, Any]:
    language = payload.language if payload.language in LANGUAGES else translation.get_language() or "zh-hans"
    answers = {key: value for key, value in payload.answers.items() if value is not None}
    skipped = [key for key, value in payload.answers.items() if value is None]
    request_obj = TriageRequest(
        text=payload.text,
        age=payload.age,
        age_months=payload.age_months,
        sex=payload.sex,
        pregnant=payload.pregnant,
        answers=answers,
    )
    record, result = services.run_triage(
        request_obj, user=request.user, channel=TriageChannel.API, language=language, skipped=skipped
    )
    body = result.as_dict()
    body["record_id"] = record.pk
    for department in body["departments"]:
        bookable = services.bookable_department(department["code"])
        department["booking_code"] = bookable.code if bookable else None
        department["location"] = (bookable.location or None) if bookable else None
        department["booking_url"] = (
            request.build_absolute_uri(booking_path(record.pk, department["code"])) if bookable else None
        )
    return body
