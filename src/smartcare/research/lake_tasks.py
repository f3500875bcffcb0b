"""Background lake builds: the periodic incremental build and builds a data steward asks for."""

from __future__ import annotations

import logging

from django_tasks import task

logger = logging.getLogger("smartcare.research.lake")


@task()
def build_lake(full: bool = False, user_id: int | None = None) -> int:
    """Bring the analytics lake up to date; returns the build's run id. A build already running
    (RES-003) is not an error here: the next tick brings the lake up to date."""
    from django.contrib.auth import get_user_model

    from smartcare.research import lake
    from smartcare.research.errors import LakeBuildRunning

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        return lake.build(full=full, user=user).run_id
    except LakeBuildRunning:
        logger.info("lake build skipped: another build is running")
        return 0
