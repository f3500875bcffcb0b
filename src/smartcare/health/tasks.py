from __future__ import annotations

from django_tasks import task

from smartcare.core import context


@task()
def remind_adherence() -> int:
    """Weekly nudge to enrolled patients who have not reported on their advice."""
    from smartcare.health.services import remind_adherence as run

    with context.acting(context.RequestContext(channel="worker")):
        return run()


@task()
def assess_unassessed() -> int:
    """Risks for imported patients who have none yet (a batch per run)."""
    from smartcare.health.services import assess_unassessed as run

    with context.acting(context.RequestContext(channel="worker")):
        return run()
