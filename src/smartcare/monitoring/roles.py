"""Home monitoring capabilities. Which patient a user may see is decided by patients.access; a
device's machine identity sees only the patient it is paired with (``access.device_visibility``)."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# The monitoring board, a patient's readings, trend charts and alerts: the care team.
grant("monitoring.view", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
# Register devices, pair them with a patient, unpair them, issue a new credential.
grant("monitoring.devices", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
# Enrol a patient (the responsible doctor), adjust a patient's thresholds, acknowledge alerts.
grant("monitoring.enroll", Role.DOCTOR, Role.DEPARTMENT_HEAD)
grant("monitoring.thresholds", Role.DOCTOR, Role.DEPARTMENT_HEAD)
grant("monitoring.acknowledge", Role.DOCTOR, Role.DEPARTMENT_HEAD)
# Rehab plans and the therapist's decisions on suggested adjustments.
grant("monitoring.rehab", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
# Who answers escalated alerts of the department.
grant("monitoring.duty", Role.DEPARTMENT_HEAD)
# A patient's own readings, alerts with advice, rehab progress; entering a reading by hand.
grant("monitoring.own", Role.PATIENT)
