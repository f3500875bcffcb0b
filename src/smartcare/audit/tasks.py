from __future__ import annotations

from django_tasks import task

from smartcare.audit import services


@task()
def chain_pending() -> int:
    """Link audit events whose link after their commit did not happen (the process stopped)."""
    return services.chain_pending()
