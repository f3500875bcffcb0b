"""Permission rules for quality control (pages under /kpi/quality/, API under /api/kpi/quality/);
collected through the quality section of ``tests/kpi/permission_rules.py``.

``kpi.quality`` (operations managers, department heads for their department) opens the measures,
the failed cases and assigning them; ``kpi.quality_review`` (doctors, nurses, department heads)
opens one's own reviews. Among the test callers the cardiology head manages; the cardiology doctor
(CARE) reviews the case set up here, so the neurologist (NO_CARE, BREAK_GLASS) gets 404 for it, as
for a review that does not exist. Everyone else gets 403 CORE-403.

``setup`` raises a critical monitoring alert for the cardiology patient two hours ago, never
acknowledged (a failed ``QC-ALERT`` case of this quarter), and assigns it to the doctor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.core import clock
from smartcare.kpi.models import QualityReview, ReviewState
from smartcare.kpi.periods import period_containing
from smartcare.monitoring.models import Alert
from tests.test_permissions import BREAK_GLASS, CARE, HEAD, NO_CARE, Rule, World

MANAGE = frozenset({HEAD})
REVIEWERS = frozenset({CARE, NO_CARE, BREAK_GLASS, HEAD})
NOT_MINE = {NO_CARE: 404, BREAK_GLASS: 404}


def setup(world: World) -> None:
    h = world.h
    raised = clock.now() - dt.timedelta(hours=2)
    alert = Alert.objects.create(
        patient=h.patient_in_care,
        department=h.cardiology,
        kind="bp",
        rule="threshold",
        severity="critical",
        direction="high",
        status="open",
        value_text="200/120",
        raised_at=raised,
        critical_since=raised,
    )
    period = period_containing("quarter", clock.today())
    review = QualityReview.objects.create(
        measure="QC-ALERT",
        case_key=f"alert-{alert.pk}",
        patient=h.patient_in_care,
        department=h.cardiology,
        period_start=period.start,
        period_end=period.end,
        reviewer=h.user("doctor"),
        assigned_by=h.user("head"),
    )
    world.extra.update(qc_key=f"alert-{alert.pk}", qc_review=review)


def _case(world: World, missing: bool) -> dict[str, Any]:
    return {"code": "QC-ALERT", "key": world.extra["qc_key"]}


def _review(world: World, missing: bool) -> dict[str, Any]:
    return {"review_id": world.extra["qc_review"].pk}


def _reassigned(world: World, kind: str, response: Any) -> None:
    review = QualityReview.objects.get(pk=world.extra["qc_review"].pk)
    assert review.reviewer == world.h.user("nurse") and review.state == ReviewState.ASSIGNED


def _reviewed(world: World, kind: str, response: Any) -> None:
    assert QualityReview.objects.get(pk=world.extra["qc_review"].pk).state == ReviewState.IN_REVIEW


RULES: list[Rule] = [
    Rule("GET", "/kpi/quality/", MANAGE),
    Rule("GET", "/kpi/quality/{code}/", MANAGE, params=_case),
    Rule("GET", "/kpi/quality/{code}/cases/{key}/", MANAGE, params=_case),
    Rule(
        "POST",
        "/kpi/quality/{code}/cases/{key}/assign/",
        MANAGE,
        ok=302,
        params=_case,
        payload=lambda w, m: {"reviewer": w.h.user("nurse").pk},
        effect=_reassigned,
    ),
    Rule("GET", "/kpi/quality/reviews/", REVIEWERS),
    Rule(
        "POST",
        "/kpi/quality/reviews/{review_id}/",
        frozenset({CARE, HEAD}),
        ok=302,
        special=NOT_MINE,
        params=_review,
        payload=lambda w, m: {"state": "in_review"},
        effect=_reviewed,
    ),
    Rule("GET", "/api/kpi/quality/measures", MANAGE),
    Rule("GET", "/api/kpi/quality/measures/{code}/cases", MANAGE, params=_case),
    Rule(
        "POST",
        "/api/kpi/quality/measures/{code}/cases/{key}/assign",
        MANAGE,
        ok=201,
        params=_case,
        payload=lambda w, m: {"reviewer": w.h.user("nurse").pk},
        effect=_reassigned,
    ),
    Rule("GET", "/api/kpi/quality/reviews", REVIEWERS),
    Rule(
        "POST",
        "/api/kpi/quality/reviews/{review_id}",
        frozenset({CARE, HEAD}),
        special=NOT_MINE,
        params=_review,
        payload=lambda w, m: {"state": "in_review"},
        effect=_reviewed,
    ),
]
