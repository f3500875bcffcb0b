"""The privacy budget under concurrency on PostgreSQL: many releases at once never overspend."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from smartcare.core import clock
from smartcare.research import privacy
from smartcare.research.models import PrivacyBudget, PrivacyQuery, ResearchProject
from tests.concurrency import together
from tests.factories import build_hospital

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_releases_never_overspend() -> None:
    h = build_hospital()
    today = clock.today()
    project = ResearchProject.objects.create(
        title="Budget race",
        aims="a",
        ethics_number="n",
        ethics_valid_from=today - dt.timedelta(days=1),
        ethics_valid_until=today + dt.timedelta(days=10),
        principal_investigator=h.user("researcher"),
        epsilon_budget=0.25,
    )  # submitted: counts are noisy and charged
    user = h.user("researcher")
    results = together(
        8,
        lambda i: privacy.release_count(
            user=user, project=project, true_count=100, purpose=f"race {i}", epsilon=0.1
        ),
    )
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"Release": 2, "PrivacyBudgetExhausted": 6}
    budget = PrivacyBudget.objects.get(user=user, project=project)
    assert budget.epsilon_spent == pytest.approx(0.2)
    assert PrivacyQuery.objects.filter(budget=budget).count() == 2
