"""Workforce capabilities. Which departments a planner may plan is decided in ``selectors``:
operations managers plan every department, department heads their own."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# Workload history, forecasts, staffing ratios, rosters, leave decisions, feedback suggestions.
grant("workforce.plan", Role.DEPARTMENT_HEAD, Role.OPERATIONS_MANAGER)
# One's own shifts, requests, leave and shift ratings.
grant("workforce.own_shifts", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
