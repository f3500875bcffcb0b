"""Report capabilities: patients read their own reports; physicians finalize reports."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant("interop.reports.view", Role.PATIENT, Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
grant("interop.reports.write", Role.DOCTOR, Role.DEPARTMENT_HEAD)
