"""Capabilities of the kpi app (cockpit and quality control). Opening the cockpit is
``management.cockpit`` (granted in ``accounts/roles.py``: operations managers for the hospital,
department heads for their department)."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# --- cockpit ---
# Change targets, thresholds, score weights and baseline years; generate quarterly reports.
grant("kpi.configure", Role.OPERATIONS_MANAGER)
# --- end cockpit ---

# --- quality ---
# Quality measures, their failed cases (patients named only where the user may see them) and
# assigning cases for review: operations managers (every department), department heads (theirs).
grant("kpi.quality", Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD)
# Reviewing the quality cases assigned to oneself.
grant("kpi.quality_review", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
# --- end quality ---
