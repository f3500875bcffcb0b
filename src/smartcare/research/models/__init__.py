"""Research models: the lake's run log and cohorts (``lake``, ``cohorts``), and projects, consent,
exports and privacy budgets (``projects``)."""

from smartcare.research.models.cohorts import *  # noqa: F403
from smartcare.research.models.lake import *  # noqa: F403
from smartcare.research.models.projects import *  # noqa: F403
