"""Writes for triage: run the engine on a checked request and keep the record; remember the
department the person went on to book."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from smartcare.accounts.choices import Role
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock, context
from smartcare.core.errors import NotFound
from smartcare.core.ratelimit import check_rate
from smartcare.organization.models import Department
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.selectors import patient_for_user
from smartcare.triage import errors
from smartcare.triage.choices import TriageChannel
from smartcare.triage.engine import triage
from smartcare.triage.models import TriageRecord
from smartcare.triage.selectors import bookable_department, unknown_question_keys
from smartcare.triage.types import TriageRequest, TriageResult

__all__ = ["TEXT_LIMIT", "bookable_department", "channel_for", "check_request", "record_choice", "run_triage"]

TEXT_LIMIT = 2000
MAX_AGE = 120
SEXES = ("male", "female", "")
PREGNANCY_AGES = range(10, 61)  # outside these ages a pregnancy answer is ignored
MAX_ANSWERS = 20  # the pregnancy question is asked of women 12-55


def channel_for(user: Any) -> str:
    """The channel a page triage is recorded under: the kiosk device, the front desk, or the portal."""
    role = getattr(user, "role", "")
    if role == Role.DEVICE:
        return TriageChannel.KIOSK
    if role == Role.FRONT_DESK:
        return TriageChannel.DESK
    return TriageChannel.PORTAL


def check_request(request_obj: TriageRequest, skipped: Iterable[str] = ()) -> TriageRequest:
    """Validate and normalise a request in place (text trimmed, age derived from months, the
    pregnancy answer dropped where it cannot apply). Raises a TRIAGE-00x error, writing nothing."""
    text = (request_obj.text or "").strip()
    if not text:
        raise errors.TextMissing(field="text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a broken client
        raise errors.TextNotValid(field="text") from None
    if len(text) > TEXT_LIMIT:
        raise errors.TextTooLong(field="text", limit=TEXT_LIMIT)
    request_obj.text = text
    if request_obj.age is not None and not 0 <= request_obj.age <= MAX_AGE:
        raise errors.AgeOutOfRange(field="age")
    if request_obj.age_months is not None:
        if not 0 <= request_obj.age_months <= MAX_AGE * 12:
            raise errors.AgeOutOfRange(field="age_months")
        if request_obj.age is None:
            request_obj.age = request_obj.age_months // 12
        elif request_obj.age_months // 12 != request_obj.age:
            raise errors.AgeMonthsDisagree(field="age_months")
    request_obj.sex = (request_obj.sex or "").strip().lower()
    if request_obj.sex not in SEXES:
        raise errors.SexNotValid(field="sex")
    # A pregnancy answer is dropped only where it cannot apply; with the sex unknown it is kept,
    # so "pregnant: true" still reaches the pregnancy red flags.
    if request_obj.sex == "male" or (request_obj.age is not None and request_obj.age not in PREGNANCY_AGES):
        request_obj.pregnant = None
    keys = [*request_obj.answers, *skipped]
    if len(keys) > MAX_ANSWERS:
        raise errors.UnknownQuestion(field="answers", key=_("more than %s answers") % MAX_ANSWERS)
    unknown = unknown_question_keys(keys)
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise errors.UnknownQuestion(field="answers", key=shown)
    return request_obj


def _own_patient(user: Any) -> Any:
    """The signed-in patient's own record, opened through the access helper (the caller audits)."""
    if getattr(user, "role", "") != Role.PATIENT:
        return None
    patient = patient_for_user(user)
    if patient is None:
        return None
    return access_patient(user, patient, AccessAction.CLINICAL, audit=False)


def run_triage(
    request_obj: TriageRequest,
    *,
    user: Any,
    channel: str,
    language: str,
    skipped: Iterable[str] = (),
) -> tuple[TriageRecord, TriageResult]:
    """Check the request, run the engine and keep the record, atomically.

    ``skipped`` are follow-up questions answered "not sure": when the engine asks one of them
    again, the provisional ranking it gave is the answer (or "unclear" without one), so "not sure"
    never loops. A signed-in patient's record is linked to them, with an audit event.
    """
    authenticated = getattr(user, "is_authenticated", False)
    caller = f"user-{user.pk}" if authenticated else f"ip-{context.current().client_address or 'unknown'}"
    check_rate("triage", caller, settings.SMARTCARE_TRIAGE_RATE_PER_MINUTE)
    skipped = sorted(set(skipped) - set(request_obj.answers))
    check_request(request_obj, skipped)
    result = triage(request_obj)
    if result.status == "question" and result.question is not None and result.question.key in skipped:
        result.status = "departments" if result.departments else "unclear"
        result.question = None
    answers: dict[str, bool | None] = {**dict.fromkeys(skipped), **request_obj.answers}
    with transaction.atomic():
        patient = _own_patient(user) if authenticated else None
        triage_record = TriageRecord.objects.create(
            channel=channel,
            user=user if authenticated else None,
            patient=patient,
            language=(language or "")[:10],
            age=request_obj.age,
            age_months=request_obj.age_months,
            sex=request_obj.sex,
            pregnant=request_obj.pregnant,
            text=request_obj.text,
            status=result.status,
            findings=[f.key for f in result.findings],
            negated=[f.key for f in result.negated],
            red_flags=[r.key for r in result.red_flags],
            action=result.action,
            suggested_departments=[d.code for d in result.departments],
            question=result.question.key if result.question else "",
            answers=answers,
            model_version=result.model_version[:80],
            elapsed_ms=result.elapsed_ms,
        )
        if patient is not None:
            record(
                user,
                AuditAction.CREATE,
                patient=patient,
                obj=triage_record,
                detail={"channel": channel, "status": result.status},
            )
    return triage_record, result


def record_choice(record_id: int, code: str, *, user: Any, own_ids: Iterable[int] = ()) -> Department:
    """The department to book for suggestion ``code`` of a triage record (the code itself or the
    nearest one the hospital has). The choice is remembered on the record when the record is the
    caller's (their account's, or made in their browser session); anyone may follow the link.

    Raises ``NotFound`` only when the hospital has no department for ``code`` (public
    knowledge). Whether the record exists, whose it is and what it suggested is never revealed:
    the link answers the same way, and only the caller's own record remembers the choice."""
    department = bookable_department(code)
    if department is None:
        raise NotFound()
    found = TriageRecord.objects.filter(pk=record_id).first()
    authenticated = getattr(user, "is_authenticated", False)
    own = found is not None and (found.pk in set(own_ids) or (authenticated and found.user_id == user.pk))
    if own and found is not None and code in (found.suggested_departments or []):
        TriageRecord.objects.filter(pk=found.pk).update(
            chosen_department=department.code, chosen_at=clock.now()
        )
    return department
