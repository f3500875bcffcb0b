"""Quality-control writes: assigning a failed case for review and recording the review. Each is
atomic, checks the capability and scope, writes an audit event naming the patient, and tells the
reviewer through their inbox after the commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from smartcare.accounts.choices import CLINICAL_ROLES
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core.errors import NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.kpi import quality
from smartcare.kpi.models import QualityReview, ReviewState
from smartcare.kpi.quality_errors import CommentTooLong, InvalidReviewer, InvalidReviewState

COMMENT_LIMIT = 4000


def _reviewer(reviewer: Any) -> User:
    if isinstance(reviewer, User):
        user = reviewer
    else:
        try:
            user = User.objects.filter(pk=int(reviewer)).first()  # type: ignore[assignment]
        except (TypeError, ValueError):
            user = None  # type: ignore[assignment]
    if user is None or not user.is_active or user.role not in CLINICAL_ROLES:
        raise InvalidReviewer()
    return user


def _comment(comment: Any) -> str:
    text = str(comment or "").strip()
    if len(text) > COMMENT_LIMIT:
        raise CommentTooLong(limit=COMMENT_LIMIT)
    return text


def assign_case(
    actor: Any, *, code: str, key: str, start: dt.date, end: dt.date, reviewer: Any, comment: str = ""
) -> QualityReview:
    """Assign a failed case (of the actor's scope) to a clinician; a second assignment of the same
    case in the same period hands it to the new reviewer and reopens it."""
    require_capability(actor, "kpi.quality")
    outcome = quality.failed_case(actor, code, key, start, end)
    user = _reviewer(reviewer)
    text = _comment(comment)
    measure = quality.measure_by_code(code)
    with transaction.atomic():
        review, created = QualityReview.objects.select_for_update().get_or_create(
            measure=measure.code,
            case_key=outcome.key,
            period_start=start,
            period_end=end,
            defaults={
                "patient_id": outcome.patient_id,
                "department_id": outcome.department_id,
                "occurred_at": outcome.occurred_at,
                "detail": outcome.detail,
                "reviewer": user,
                "assigned_by": actor,
                "comment": text,
            },
        )
        if not created:
            review.reviewer, review.assigned_by, review.state = user, actor, ReviewState.ASSIGNED
            if text:
                review.comment = text
            review.save(update_fields=["reviewer", "assigned_by", "state", "comment", "updated_at"])
        record(
            actor,
            AuditAction.CREATE if created else AuditAction.UPDATE,
            patient=outcome.patient_id,
            obj=review,
            detail={
                "event": "quality_case_assigned",
                "measure": measure.code,
                "reviewer": user.get_username(),
            },
        )
        transaction.on_commit(lambda: _tell_reviewer(review))
    return review


def _tell_reviewer(review: QualityReview) -> None:
    from smartcare.notifications.services import notify

    notify(
        review.reviewer,
        category="quality_review",
        subject=_("A quality case to review: %(measure)s") % {"measure": review.measure},
        body=_("A case that failed the measure %(measure)s was assigned to you for review.")
        % {"measure": review.measure},
        link=reverse("kpi:quality_reviews"),
    )


def reviews_for(actor: Any) -> Any:
    """Reviews the actor may see: their own as reviewer, and those of their scope for managers."""
    if has_capability(actor, "kpi.quality"):
        scope = quality.department_scope(actor)
        rows = QualityReview.objects.all()
        if scope is not None:
            rows = rows.filter(department=scope) | QualityReview.objects.filter(reviewer=actor)
        return rows.select_related("reviewer", "department")
    require_capability(actor, "kpi.quality_review")
    return QualityReview.objects.filter(reviewer=actor).select_related("reviewer", "department")


def update_review(actor: Any, review_id: int, *, state: str, comment: str = "") -> QualityReview:
    """The reviewer (or a manager of the case's scope) records where the review stands."""
    if state not in ReviewState.values:
        raise InvalidReviewState(state=str(state)[:30])
    text = _comment(comment)
    with transaction.atomic():
        review = reviews_for(actor).select_for_update(of=("self",)).filter(pk=review_id).first()
        if review is None:
            raise NotFound()
        review.state = state
        if text:
            review.comment = text
        review.save(update_fields=["state", "comment", "updated_at"])
        record(
            actor,
            AuditAction.UPDATE,
            patient=review.patient_id,
            obj=review,
            detail={"event": "quality_case_reviewed", "measure": review.measure, "state": state},
        )
    return review
