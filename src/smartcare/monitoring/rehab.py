"""Rehab progress: daily totals from the wearable (steps, exercise minutes) and the patient's own
log (range-of-motion sessions), compared with the target in force that day, and the rules that
suggest adjustments to the therapist.

* Three complete days in a row below half the target: the therapist is told, with a lower target
  the patient can reach (the mean of those days, rounded up).
* Seven complete days in a row at or above the target: a progression is suggested (about 10% more).

Only days since the plan started, since the target last changed and since the therapist last
decided about that target are judged, so a decision is not questioned again the next morning.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import translation
from django.utils.translation import gettext as _

from smartcare.core import clock
from smartcare.monitoring.choices import (
    RehabPlanStatus,
    RehabTargetKind,
    SuggestionRule,
    SuggestionStatus,
)
from smartcare.monitoring.models import Reading, RehabPlan, RehabSuggestion, RehabTarget, effective_target
from smartcare.notifications.services import notify

BELOW_HALF_DAYS = 3
PROGRESSION_DAYS = 7
PROGRESSION_FACTOR = 1.1
# Targets are rounded to these steps (500 steps, 5 minutes, 1 session).
ROUNDING: dict[str, int] = {
    RehabTargetKind.STEPS: 500,
    RehabTargetKind.EXERCISE_MINUTES: 5,
    RehabTargetKind.ROM_SESSIONS: 1,
}
MAX_TARGET: dict[str, int] = {
    RehabTargetKind.STEPS: 50000,
    RehabTargetKind.EXERCISE_MINUTES: 600,
    RehabTargetKind.ROM_SESSIONS: 20,
}
CATEGORY = "rehab_suggestion"


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def daily_totals(
    patient_id: int, kinds: list[str], first: dt.date, last: dt.date
) -> dict[str, dict[dt.date, float]]:
    """kind -> local day -> sum of the day's readings (missing days are absent)."""
    start = dt.datetime.combine(first, dt.time.min, tzinfo=_tz())
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=_tz())
    rows = (
        Reading.objects.filter(
            patient_id=patient_id, kind__in=kinds, measured_at__gte=start, measured_at__lt=end
        )
        .annotate(day=TruncDate("measured_at", tzinfo=_tz()))
        .values("kind", "day")
        .annotate(total=Sum("value"))
    )
    totals: dict[str, dict[dt.date, float]] = {kind: {} for kind in kinds}
    for row in rows:
        totals[row["kind"]][row["day"]] = float(row["total"] or 0)
    return totals


def round_up(kind: str, value: float) -> int:
    step = ROUNDING[kind]
    return int(min(MAX_TARGET[kind], max(step, math.ceil(value / step) * step)))


def plan_progress(plan: RehabPlan, days: int = 14) -> dict[str, Any]:
    """Per target kind: the last ``days`` days (up to today) with actual and target."""
    today = clock.today()
    first = max(plan.starts_on, today - dt.timedelta(days=days - 1))
    targets = list(plan.targets.order_by("effective_from"))
    kinds = sorted({t.kind for t in targets})
    totals = daily_totals(plan.patient_id, kinds, first, today)
    series: dict[str, Any] = {}
    span = [first + dt.timedelta(days=n) for n in range((today - first).days + 1)]
    for kind in kinds:
        rows = [
            {"day": day, "actual": totals[kind].get(day, 0.0), "target": effective_target(targets, kind, day)}
            for day in span
        ]
        current = effective_target(targets, kind, today)
        today_actual = totals[kind].get(today, 0.0)
        series[kind] = {
            "kind": kind,
            "label": RehabTargetKind(kind).label,
            "rows": rows,
            "target": current,
            "today": today_actual,
            "percent": min(100, round(100 * today_actual / current)) if current else 0,
        }
    return series


def _judged_from(plan: RehabPlan, targets: list[RehabTarget], kind: str) -> dt.date:
    """The first day that may be judged for ``kind``: after the plan start, the last target change
    and the therapist's last decision."""
    first = plan.starts_on
    changed = [t.effective_from for t in targets if t.kind == kind]
    if changed:
        first = max(first, max(changed))
    decided = (
        RehabSuggestion.objects.filter(plan=plan, kind=kind, decided_at__isnull=False)
        .order_by("-decided_at")
        .values_list("decided_at", flat=True)
        .first()
    )
    if decided is not None:
        first = max(first, decided.astimezone(_tz()).date() + dt.timedelta(days=1))
    return first


def evaluate_plan(plan: RehabPlan, today: dt.date | None = None) -> list[RehabSuggestion]:
    today = today or clock.today()
    yesterday = today - dt.timedelta(days=1)
    targets = list(plan.targets.order_by("effective_from"))
    kinds = sorted({t.kind for t in targets})
    totals = daily_totals(plan.patient_id, kinds, yesterday - dt.timedelta(days=PROGRESSION_DAYS), yesterday)
    created = []
    for kind in kinds:
        if RehabSuggestion.objects.filter(plan=plan, kind=kind, status=SuggestionStatus.PENDING).exists():
            continue
        first_day = _judged_from(plan, targets, kind)
        suggestion = _rule_below_half(
            plan, targets, totals[kind], kind, yesterday, first_day
        ) or _rule_progression(plan, targets, totals[kind], kind, yesterday, first_day)
        if suggestion is None:
            continue
        try:
            with transaction.atomic():
                suggestion.save(force_insert=True)
        except IntegrityError:
            continue  # another worker suggested it a moment ago
        _tell_therapist(plan, suggestion)
        created.append(suggestion)
    return created


def _window(last: dt.date, days: int) -> list[dt.date]:
    return [last - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]


def _rule_below_half(
    plan: RehabPlan,
    targets: list[RehabTarget],
    totals: dict[dt.date, float],
    kind: str,
    last: dt.date,
    first_day: dt.date,
) -> RehabSuggestion | None:
    window = _window(last, BELOW_HALF_DAYS)
    if window[0] < first_day:
        return None
    values = [totals.get(day, 0.0) for day in window]
    goals = [effective_target(targets, kind, day) for day in window]
    if any(goal is None for goal in goals) or not all(
        v < 0.5 * (g or 0) for v, g in zip(values, goals, strict=True)
    ):
        return None
    current = goals[-1] or 0
    suggested = min(round_up(kind, sum(values) / len(values)), current)
    return RehabSuggestion(
        plan=plan,
        kind=kind,
        rule=SuggestionRule.BELOW_HALF,
        current_target=current,
        suggested_target=max(1, suggested),
        window_start=window[0],
        window_end=window[-1],
        daily_values=[round(v) for v in values],
    )


def _rule_progression(
    plan: RehabPlan,
    targets: list[RehabTarget],
    totals: dict[dt.date, float],
    kind: str,
    last: dt.date,
    first_day: dt.date,
) -> RehabSuggestion | None:
    window = _window(last, PROGRESSION_DAYS)
    if window[0] < first_day:
        return None
    values = [totals.get(day, 0.0) for day in window]
    goals = [effective_target(targets, kind, day) for day in window]
    if any(goal is None for goal in goals) or not all(
        v >= (g or 0) for v, g in zip(values, goals, strict=True)
    ):
        return None
    current = goals[-1] or 0
    suggested = round_up(kind, current * PROGRESSION_FACTOR)
    if suggested <= current:
        suggested = min(MAX_TARGET[kind], current + ROUNDING[kind])
    if suggested <= current:
        return None
    return RehabSuggestion(
        plan=plan,
        kind=kind,
        rule=SuggestionRule.PROGRESSION,
        current_target=current,
        suggested_target=suggested,
        window_start=window[0],
        window_end=window[-1],
        daily_values=[round(v) for v in values],
    )


def _tell_therapist(plan: RehabPlan, suggestion: RehabSuggestion) -> None:
    therapist = plan.therapist
    language = therapist.preferred_language or settings.LANGUAGE_CODE
    with translation.override(language):
        params = {
            "patient": plan.patient.name,
            "target": str(RehabTargetKind(suggestion.kind).label),
            "current": suggestion.current_target,
            "suggested": suggestion.suggested_target,
        }
        if suggestion.rule == SuggestionRule.BELOW_HALF:
            subject = _("Rehab: %(patient)s below half the target for three days") % params
            body = (
                _(
                    "%(patient)s reached less than half of the %(target)s target (%(current)s) on three "
                    "days in a row. Suggested target: %(suggested)s. Accept, edit or dismiss it."
                )
                % params
            )
        else:
            subject = _("Rehab: %(patient)s ready for progression") % params
            body = (
                _(
                    "%(patient)s met the %(target)s target (%(current)s) every day for a week. "
                    "Suggested target: %(suggested)s. Accept, edit or dismiss it."
                )
                % params
            )
    notify(
        therapist,
        category=CATEGORY,
        subject=subject,
        body=body,
        link=f"/monitoring/patients/{plan.patient_id}/",
    )


def evaluate_plans(today: dt.date | None = None) -> int:
    """Check every active plan (periodic job). Returns the number of new suggestions."""
    created = 0
    plans = RehabPlan.objects.filter(status=RehabPlanStatus.ACTIVE).select_related("patient", "therapist")
    for plan in plans:
        if plan.ends_on is not None and plan.ends_on < (today or clock.today()):
            continue
        created += len(evaluate_plan(plan, today))
    return created
