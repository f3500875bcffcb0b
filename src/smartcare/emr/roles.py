"""EMR capabilities. Which patient's record a user may open is decided by patients.access."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# The workstation and reading the record of a patient in care.
grant("emr.view", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
# Opening encounters, writing and signing notes, diagnoses and orders: physicians.
grant("emr.document", Role.DOCTOR, Role.DEPARTMENT_HEAD)
# Vital signs, allergies, problems, results, admission, transfer and discharge: the care team.
grant("emr.record", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
