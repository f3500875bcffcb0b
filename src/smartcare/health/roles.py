"""Health capabilities. Which patient a user may open is decided by patients.access.

``health.calculate``: the risk calculator without a patient (clinicians and researchers).
``health.assess``: a patient's risks, drivers and advice, entering inputs by hand, recomputing
(doctors, nurses, department heads). ``health.enrol``: enrolling patients in programmes and
seeing who follows (doctors, department heads). ``health.portal``: a patient's own risk, advice,
lifestyle answers and adherence reports. ``health.effect``: the effect of programmes (aggregates
only). ``health.models``: training, evaluating and promoting hospital models (department heads and
researchers; promotion is a separate, audited step).
"""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant("health.calculate", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD, Role.RESEARCHER)
grant("health.assess", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
grant("health.enrol", Role.DOCTOR, Role.DEPARTMENT_HEAD)
grant("health.portal", Role.PATIENT)
grant("health.effect", Role.DEPARTMENT_HEAD, Role.OPERATIONS_MANAGER, Role.DOCTOR)
grant("health.models", Role.DEPARTMENT_HEAD, Role.RESEARCHER)
