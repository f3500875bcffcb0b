"""Foundation capabilities granted to each role. Later modules grant theirs in their own ``roles.py``."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import capabilities_of, grant, has_capability, require_capability

__all__ = ["capabilities_of", "grant", "has_capability", "require_capability"]

_STAFF = [r for r in Role if r not in (Role.PATIENT, Role.DEVICE, Role.CHANNEL)]

grant("patients.view_own", Role.PATIENT)
grant("patients.search", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD, Role.FRONT_DESK)
grant("patients.register", Role.FRONT_DESK, Role.NURSE, Role.DOCTOR)
grant("patients.break_glass", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
grant("patients.clinical", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
grant("audit.view", Role.AUDITOR)
grant("audit.break_glass_review", Role.AUDITOR, Role.DEPARTMENT_HEAD)
grant("management.cockpit", Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD)
grant("organization.view", *_STAFF)
grant("admin.master_data", Role.IT_ADMIN)
grant("accounts.api_tokens", Role.IT_ADMIN)
grant("accounts.two_factor", *_STAFF)
grant("research.deidentified", Role.RESEARCHER, Role.DATA_STEWARD)
grant("notifications.inbox", Role.PATIENT, *_STAFF)
