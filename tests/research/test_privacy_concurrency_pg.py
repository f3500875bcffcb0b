"""The privacy budget under concurrency on PostgreSQL: many releases at once never overspend."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from smartcare.core import clock
from smartcare.research import privacy
from smartcare.research.models import PrivacyBudget, PrivacyQuery, ResearchProject
from tests.factories import build_hospital

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def together(count: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = work(index)
        except Exception as exc:  # collected and asserted by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return results


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
