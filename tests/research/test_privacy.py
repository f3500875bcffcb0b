"""Differential privacy: exact inside an open project, noisy (OpenDP) otherwise, budget enforced."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.research import privacy
from smartcare.research.models import PrivacyBudget, PrivacyQuery, ProjectStatus, ResearchProject
from tests.factories import build_hospital


@pytest.fixture()
def h(db: Any) -> Any:
    return build_hospital()


def project(
    h: Any, *, status: str = ProjectStatus.APPROVED, until: dt.date | None = None, budget: float = 1.0
) -> Any:
    today = clock.today()
    p = ResearchProject.objects.create(
        title="Insulin outcomes",
        aims="aims",
        ethics_number="IRB-1",
        ethics_valid_from=today - dt.timedelta(days=30),
        ethics_valid_until=until or today + dt.timedelta(days=300),
        principal_investigator=h.user("researcher"),
        status=status,
        epsilon_budget=budget,
    )
    return p


def code_of(excinfo: Any) -> str:
    return excinfo.value.code


def test_exact_count_for_an_investigator_of_an_open_project(h: Any) -> None:
    p = project(h)
    release = privacy.release_count(user=h.user("researcher"), project=p, true_count=42, purpose="cohort")
    assert (release.value, release.noisy, release.epsilon_spent) == (42, False, 0.0)
    assert not PrivacyBudget.objects.exists()
    assert AuditEvent.objects.filter(actor=h.user("researcher"), action="search").exists()


@pytest.mark.parametrize(
    "status,expired",
    [(ProjectStatus.SUBMITTED, False), (ProjectStatus.REJECTED, False), (ProjectStatus.APPROVED, True)],
)
def test_noisy_count_when_project_is_not_open(h: Any, status: str, expired: bool) -> None:
    until = clock.today() - dt.timedelta(days=1) if expired else None
    p = project(h, status=status, until=until) if not expired else project(h, status=status)
    if expired:
        ResearchProject.objects.filter(pk=p.pk).update(
            ethics_valid_from=clock.today() - dt.timedelta(days=400), ethics_valid_until=until
        )
        p.refresh_from_db()
    release = privacy.release_count(user=h.user("researcher"), project=p, true_count=1000, purpose="explore")
    assert release.noisy is True
    assert release.epsilon_spent == pytest.approx(privacy.COUNT_EPSILON)
    budget = PrivacyBudget.objects.get(user=h.user("researcher"), project=p)
    assert budget.epsilon_spent == pytest.approx(privacy.COUNT_EPSILON)
    assert release.budget_left == pytest.approx(1.0 - privacy.COUNT_EPSILON)


def test_non_member_spends_own_budget_not_the_projects(h: Any) -> None:
    p = project(h)
    steward = h.user("steward")
    release = privacy.release_count(user=steward, project=p, true_count=10, purpose="look")
    assert release.noisy
    assert PrivacyBudget.objects.get(user=steward).project is None
    assert release.budget_left == pytest.approx(privacy.USER_BUDGET - privacy.COUNT_EPSILON)


def test_noise_is_real_and_never_negative(h: Any) -> None:
    values = [
        privacy.release_count(
            user=h.user("researcher"), project=None, true_count=0, purpose="n", epsilon=0.05
        ).value
        for _ in range(30)
    ]
    assert min(values) >= 0
    assert len(set(values)) > 1  # Laplace noise with scale 20 does not repeat 30 times


def test_budget_is_enforced_and_refusal_spends_nothing(h: Any) -> None:
    p = project(h, status=ProjectStatus.SUBMITTED, budget=0.25)
    user = h.user("researcher")
    privacy.release_count(user=user, project=p, true_count=5, purpose="a", epsilon=0.1)
    privacy.release_count(user=user, project=p, true_count=5, purpose="b", epsilon=0.1)
    with pytest.raises(CodedError) as excinfo:
        privacy.release_count(user=user, project=p, true_count=5, purpose="c", epsilon=0.1)
    assert code_of(excinfo) == "RES-046"
    budget = PrivacyBudget.objects.get(user=user, project=p)
    assert budget.epsilon_spent == pytest.approx(0.2)
    assert PrivacyQuery.objects.filter(budget=budget).count() == 2
    # a smaller query still fits
    release = privacy.release_count(user=user, project=p, true_count=5, purpose="d", epsilon=0.05)
    assert release.budget_left == pytest.approx(0.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"true_count": -1, "purpose": "x"},
        {"true_count": "12", "purpose": "x"},
        {"true_count": 3, "purpose": ""},
        {"true_count": 3, "purpose": "x", "epsilon": 0},
        {"true_count": 3, "purpose": "x", "epsilon": float("nan")},
        {"true_count": 3, "purpose": "x", "epsilon": 50},
    ],
)
def test_bad_input_is_refused_without_spending(h: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(CodedError) as excinfo:
        privacy.release_count(user=h.user("researcher"), project=None, **kwargs)
    assert code_of(excinfo) == "RES-047"
    assert not PrivacyQuery.objects.exists()


def test_mean_is_clamped_and_charged(h: Any) -> None:
    user = h.user("researcher")
    values = [50.0] * 2000 + [10_000.0]  # the outlier is clamped to 100
    release = privacy.release_mean(
        user=user, project=None, values=values, lower=0, upper=100, purpose="age", epsilon=1.0
    )
    assert release.noisy and 0 <= release.value <= 100
    assert release.value == pytest.approx(50.0, abs=2.0)
    assert release.epsilon_spent == pytest.approx(1.0)
    assert PrivacyBudget.objects.get(user=user).epsilon_spent == pytest.approx(1.0)


def test_histogram_bins_and_budget(h: Any) -> None:
    user = h.user("researcher")
    values = [5] * 500 + [15] * 300 + [25] * 100 + [999]
    release = privacy.release_histogram(
        user=user, project=None, values=values, lower=0, upper=30, bins=3, purpose="ages", epsilon=1.0
    )
    counts = [b["count"] for b in release.value]
    assert [b["from"] for b in release.value] == [0, 10, 20]
    assert counts[0] == pytest.approx(500, abs=30)
    assert counts[1] == pytest.approx(300, abs=30)
    assert counts[2] == pytest.approx(101, abs=30)  # 999 clamped into the last bin
    with pytest.raises(CodedError) as excinfo:
        privacy.release_histogram(
            user=user, project=None, values=values, lower=5, upper=1, bins=3, purpose="x"
        )
    assert code_of(excinfo) == "RES-047"
    with pytest.raises(CodedError) as excinfo:
        privacy.release_histogram(
            user=user, project=None, values=values, lower=0, upper=1, bins=0, purpose="x"
        )
    assert code_of(excinfo) == "RES-047"
