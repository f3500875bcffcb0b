"""Periodic jobs of home monitoring (registered in apps.py, run by every `smartcare worker`).
Each is idempotent: running it twice, or on two workers, changes nothing the second time."""

from __future__ import annotations

from django_tasks import task

from smartcare.monitoring import alerts, rehab


@task()
def escalate_alerts() -> dict[str, int]:
    return alerts.escalate_alerts()


@task()
def evaluate_trends() -> int:
    return alerts.evaluate_trends()


@task()
def evaluate_rehab_plans() -> int:
    return rehab.evaluate_plans()
