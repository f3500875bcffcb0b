"""Differentially private releases (counts, means, histograms) and the privacy budget.

Rule: an investigator of an approved project whose ethics approval is valid today sees exact
counts within that project. Everyone else, and every mean or histogram for exploration, gets a
release from OpenDP's Laplace mechanism (discrete Laplace for integers), whose epsilon is charged
to a budget per (user, project), or per user when there is no project. When the budget cannot pay
for a query the query is refused (RES-046) and nothing is released.

Why OpenDP: its measurements come with proofs and handle floating-point attacks on naive Laplace
samplers; the privacy map (``measurement.map(d_in)``) tells us the epsilon actually spent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock, context
from smartcare.research.errors import PrivacyBudgetExhausted, PrivacyQueryInvalid
from smartcare.research.models import PrivacyBudget, PrivacyQuery, ResearchProject


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


# Epsilon of one noisy count; a cohort page that recounts on every edit spends this each time.
COUNT_EPSILON = _env_float("SMARTCARE_RESEARCH_COUNT_EPSILON", 0.1)
# Epsilon of one mean or histogram for exploration.
AGGREGATE_EPSILON = _env_float("SMARTCARE_RESEARCH_AGGREGATE_EPSILON", 0.2)
# Budget of a user exploring without a project (per project, the project's own figure applies).
USER_BUDGET = _env_float("SMARTCARE_RESEARCH_USER_BUDGET", 2.0)


@dataclass(frozen=True)
class Release:
    value: Any
    noisy: bool
    epsilon_spent: float
    budget_left: float | None
    kind: str = "count"


def _opendp() -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def exact_allowed(user: Any, project: ResearchProject | None) -> bool:
    """Exact figures: an investigator of an approved project that is valid today."""
    return project is not None and project.is_open_on(clock.today()) and project.is_member(user)


def _budget_for(user: Any, project: ResearchProject | None) -> PrivacyBudget:
    # Someone who is not on the project explores under their own budget, not the project's.
    if project is not None and not project.is_member(user):
        project = None
    total = project.epsilon_budget if project is not None else USER_BUDGET
    budget, _created = PrivacyBudget.objects.get_or_create(
        user=user, project=project, defaults={"epsilon_total": total}
    )
    return PrivacyBudget.objects.select_for_update().get(pk=budget.pk)


def _check_epsilon(epsilon: float) -> float:
    if not isinstance(epsilon, int | float) or not math.isfinite(epsilon) or epsilon <= 0 or epsilon > 10:
        raise PrivacyQueryInvalid(reason="epsilon", field="epsilon")
    return float(epsilon)


def _check_purpose(purpose: str) -> str:
    purpose = (purpose or "").strip()
    if not purpose or len(purpose) > 200:
        raise PrivacyQueryInvalid(reason="purpose", field="purpose")
    return purpose


def _charge(
    user: Any, project: ResearchProject | None, kind: str, epsilon: float, purpose: str
) -> PrivacyBudget:
    """Take ``epsilon`` from the budget (row locked) or refuse; the caller is atomic."""
    budget = _budget_for(user, project)
    if budget.epsilon_spent + epsilon > budget.epsilon_total + 1e-9:
        left = budget.left

        def audit_refusal() -> None:
            record(
                user,
                AuditAction.DENIED,
                obj=budget,
                reason=purpose,
                detail={"release": kind, "needed": epsilon, "left": left},
            )

        # After the request: inside this transaction the refusal's event would roll back with it.
        if not context.defer(audit_refusal):
            audit_refusal()
        raise PrivacyBudgetExhausted(needed=f"{epsilon:g}", left=f"{left:g}")
    budget.epsilon_spent += epsilon
    budget.save(update_fields=["epsilon_spent", "updated_at"])
    PrivacyQuery.objects.create(
        budget=budget, kind=kind, purpose=purpose, epsilon=epsilon, released_at=clock.now()
    )
    return budget


def _audit(
    user: Any, project: ResearchProject | None, kind: str, purpose: str, detail: dict[str, Any]
) -> None:
    record(
        user,
        AuditAction.SEARCH,
        obj=project if project is not None else ("research.PrivacyBudget", None),
        reason=purpose,
        detail={"release": kind, **detail},
    )


def _noisy_int(value: int, epsilon: float) -> tuple[int, float]:
    dp = _opendp()
    measurement = dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=1.0 / epsilon)
    # One person changes a count by at most one.
    return int(measurement(int(value))), float(measurement.map(1))


@transaction.atomic
def release_count(
    *,
    user: Any,
    project: ResearchProject | None,
    true_count: int,
    purpose: str,
    epsilon: float | None = None,
) -> Release:
    """Release ``true_count``: exact inside an open project the user is on, otherwise noisy,
    charged to the budget and never below zero."""
    purpose = _check_purpose(purpose)
    if isinstance(true_count, bool) or not isinstance(true_count, int) or true_count < 0:
        raise PrivacyQueryInvalid(reason="count", field="true_count")
    if exact_allowed(user, project):
        _audit(user, project, "count", purpose, {"noisy": False})
        return Release(value=true_count, noisy=False, epsilon_spent=0.0, budget_left=None)
    eps = _check_epsilon(COUNT_EPSILON if epsilon is None else epsilon)
    budget = _charge(user, project, PrivacyQuery.Kind.COUNT, eps, purpose)
    noisy, spent = _noisy_int(true_count, eps)
    _audit(user, project, "count", purpose, {"noisy": True, "epsilon": spent})
    return Release(value=max(0, noisy), noisy=True, epsilon_spent=spent, budget_left=budget.left)


def _clean_values(values: Sequence[Any]) -> list[float]:
    out: list[float] = []
    for value in values:
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise PrivacyQueryInvalid(reason="values", field="values") from None
        if math.isfinite(number):
            out.append(number)
    return out


def _check_bounds(lower: float, upper: float) -> tuple[float, float]:
    try:
        lo, hi = float(lower), float(upper)
    except (TypeError, ValueError):
        raise PrivacyQueryInvalid(reason="bounds", field="bounds") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise PrivacyQueryInvalid(reason="bounds", field="bounds")
    return lo, hi


@transaction.atomic
def release_mean(
    *,
    user: Any,
    project: ResearchProject | None,
    values: Sequence[Any],
    lower: float,
    upper: float,
    purpose: str,
    epsilon: float | None = None,
) -> Release:
    """A DP mean: values are clamped to [lower, upper]; half of epsilon pays a noisy sum, the other
    half a noisy count, and the mean is their ratio (clamped to the bounds). Always noisy."""
    purpose = _check_purpose(purpose)
    lo, hi = _check_bounds(lower, upper)
    data = _clean_values(values)
    eps = _check_epsilon(AGGREGATE_EPSILON if epsilon is None else epsilon)
    budget = _charge(user, project, PrivacyQuery.Kind.MEAN, eps, purpose)
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    summed = space >> dp.t.then_clamp((lo, hi)) >> dp.t.then_sum()
    noisy_sum = summed >> dp.m.then_laplace(scale=summed.map(1) / (eps / 2))
    noisy_count = space >> dp.t.then_count() >> dp.m.then_laplace(scale=1.0 / (eps / 2))
    spent = float(noisy_sum.map(1)) + float(noisy_count.map(1))
    total, count = float(noisy_sum(data)), int(noisy_count(data))
    mean = min(hi, max(lo, total / count)) if count > 0 else None
    _audit(user, project, "mean", purpose, {"noisy": True, "epsilon": spent, "bounds": [lo, hi]})
    return Release(value=mean, noisy=True, epsilon_spent=spent, budget_left=budget.left, kind="mean")


@transaction.atomic
def release_histogram(
    *,
    user: Any,
    project: ResearchProject | None,
    values: Sequence[Any],
    lower: float,
    upper: float,
    bins: int,
    purpose: str,
    epsilon: float | None = None,
) -> Release:
    """A DP histogram of ``values`` clamped to [lower, upper] in ``bins`` equal bins. The value is a
    list of ``{"from", "to", "count"}``; counts are never below zero. Always noisy."""
    purpose = _check_purpose(purpose)
    lo, hi = _check_bounds(lower, upper)
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 50:
        raise PrivacyQueryInvalid(reason="bins", field="bins")
    data = _clean_values(values)
    eps = _check_epsilon(AGGREGATE_EPSILON if epsilon is None else epsilon)
    budget = _charge(user, project, PrivacyQuery.Kind.HISTOGRAM, eps, purpose)
    width = (hi - lo) / bins
    labels = [str(i) for i in range(bins)]

    def bin_of(x: float) -> str:
        x = min(hi, max(lo, x))
        return str(min(bins - 1, int((x - lo) / width)))

    dp = _opendp()
    counts = dp.t.make_count_by_categories(
        dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance(), categories=labels, TOA=int
    )
    measurement = counts >> dp.m.then_laplace(scale=counts.map(1) / eps)
    spent = float(measurement.map(1))
    noisy = measurement([bin_of(x) for x in data])[:bins]  # the last entry is "other" (empty here)
    value = [
        {"from": lo + i * width, "to": lo + (i + 1) * width, "count": max(0, int(noisy[i]))}
        for i in range(bins)
    ]
    _audit(user, project, "histogram", purpose, {"noisy": True, "epsilon": spent, "bins": bins})
    return Release(value=value, noisy=True, epsilon_spent=spent, budget_left=budget.left, kind="histogram")


def budget_of(user: Any, project: ResearchProject | None) -> PrivacyBudget | None:
    if project is not None and not project.is_member(user):
        project = None
    return PrivacyBudget.objects.filter(user=user, project=project).first()
