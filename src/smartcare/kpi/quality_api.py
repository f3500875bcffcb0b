"""Quality-control API (mounted under /api/kpi/quality/): measures of a period, the failed cases of
one measure, assigning a case for review, and the reviews. Same services, scope and audit as the
pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.kpi import quality, quality_services
from smartcare.kpi.models import QualityReview
from smartcare.kpi.periods import parse_period, period_containing

router = Router(tags=["kpi"])


class AssignIn(Schema):
    period: str = Field(default="", description="2026-Q3, 2026-09, ... (default: this quarter)")
    reviewer: int
    comment: str = Field(default="", max_length=4000)


class ReviewIn(Schema):
    state: str
    comment: str = Field(default="", max_length=4000)


class ReviewOut(Schema):
    id: int
    measure: str
    case_key: str
    department: str | None
    period_start: dt.date
    period_end: dt.date
    reviewer: str
    state: str
    comment: str
    assigned_at: dt.datetime


def _review_out(review: QualityReview) -> dict[str, Any]:
    return {
        "id": review.pk,
        "measure": review.measure,
        "case_key": review.case_key,
        "department": review.department.code if review.department else None,
        "period_start": review.period_start,
        "period_end": review.period_end,
        "reviewer": review.reviewer.get_username(),
        "state": review.state,
        "comment": review.comment,
        "assigned_at": review.assigned_at,
    }


def _period(text: str) -> Any:
    return parse_period(text) if text else period_containing("quarter", clock.today())


@router.get("/measures", summary="Every quality measure of a period: numerator, denominator, rate, status")
def list_measures(request: HttpRequest, period: str = "", department: str = "") -> dict[str, Any]:
    require_capability(request.user, "kpi.quality")
    chosen = _period(period)
    scope = quality.department_scope(request.user)
    if scope is not None:
        department = scope.code if scope.pk else "-"
    return {
        "period": chosen.label,
        "start": chosen.start,
        "end": chosen.end,
        "measures": quality.measures(chosen.start, chosen.end, department or None),
    }


@router.get("/measures/{code}/cases", summary="The cases that failed a measure")
def list_cases(request: HttpRequest, code: str, period: str = "", department: str = "") -> dict[str, Any]:
    chosen = _period(period)
    listing = quality.failed_cases(request.user, code, chosen.start, chosen.end, department or None)
    return {
        "period": chosen.label,
        "measure": listing["measure"],
        "cases": [
            {
                **{k: v for k, v in case.items() if k != "review"},
                "review": _review_out(case["review"]) if case["review"] else None,
            }
            for case in listing["cases"]
        ],
    }


@router.post(
    "/measures/{code}/cases/{key}/assign",
    response={201: ReviewOut},
    summary="Assign a failed case for review",
)
def assign_case(request: HttpRequest, code: str, key: str, body: AssignIn) -> tuple[int, dict[str, Any]]:
    chosen = _period(body.period)
    review = quality_services.assign_case(
        request.user,
        code=code,
        key=key,
        start=chosen.start,
        end=chosen.end,
        reviewer=body.reviewer,
        comment=body.comment,
    )
    return 201, _review_out(review)


@router.get("/reviews", response=list[ReviewOut], summary="Case reviews: mine, and my scope's for managers")
def list_reviews(request: HttpRequest) -> list[dict[str, Any]]:
    return [_review_out(r) for r in quality_services.reviews_for(request.user)[:300]]


@router.post("/reviews/{review_id}", response=ReviewOut, summary="Record where a review stands")
def update_review(request: HttpRequest, review_id: int, body: ReviewIn) -> dict[str, Any]:
    return _review_out(
        quality_services.update_review(request.user, review_id, state=body.state, comment=body.comment)
    )
