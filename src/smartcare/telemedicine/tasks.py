from __future__ import annotations

from django_tasks import task

from smartcare.core import context


@task()
def escalate_deadlines() -> dict[str, int]:
    """Escalate remote consultations whose answer is due soon and flag the ones that are late."""
    from smartcare.telemedicine.services import escalate_deadlines as run

    with context.acting(context.RequestContext(channel="worker")):
        return run()
