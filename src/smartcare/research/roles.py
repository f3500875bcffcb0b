"""Research capabilities. Two parts of the app grant theirs in their own section.

``research.deidentified`` (granted in ``accounts/roles.py`` to researchers and data stewards) opens
the research area.
"""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# === lake: cohorts, the analytics lake ======================================================
# Build, save and run cohorts over the lake; counts are noisy unless shown within an approved project.
grant("research.cohorts", Role.RESEARCHER, Role.DATA_STEWARD)
# Queue a lake build from the API, and see every researcher's saved cohorts.
grant("research.lake", Role.DATA_STEWARD)

# === steward: projects, approvals, consent, exports, privacy budget ==========================
# Register projects, see one's own projects, export and download within an approved project.
grant("research.projects", Role.RESEARCHER, Role.DATA_STEWARD)
# Review queue: approve or reject projects, see every project and export.
grant("research.review", Role.DATA_STEWARD)
# Record a patient's research consent decision for them (the patient decides on the portal).
grant("research.consent_record", Role.FRONT_DESK, Role.NURSE, Role.DOCTOR, Role.DEPARTMENT_HEAD)
grant("research.consent_own", Role.PATIENT)
