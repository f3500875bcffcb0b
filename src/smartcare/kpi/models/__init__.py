"""Cockpit models: indicators, targets, weights, daily facts, reports and actions (``indicators``),
and quality-control measures and their case reviews (``quality``)."""

from smartcare.kpi.models.indicators import *  # noqa: F403
from smartcare.kpi.models.quality import *  # noqa: F403
