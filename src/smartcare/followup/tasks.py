from __future__ import annotations

from django_tasks import task

from smartcare.core import context


@task()
def run_round() -> dict[str, int]:
    """The follow-up round: reminders, missed tasks, escalations, expired surveys."""
    from smartcare.followup.reminders import run_round as run

    with context.acting(context.RequestContext(channel="worker")):
        return run()
