"""Background work: long what-if runs."""

from __future__ import annotations

import logging

from django_tasks import task

logger = logging.getLogger("smartcare.simulation")


@task()
def run_whatif(run_id: int) -> str:
    """Carry out one queued what-if run; a failure marks the run as failed."""
    from smartcare.simulation import services

    return services.carry_out_run(run_id)
