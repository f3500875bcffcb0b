"""Decision-support capabilities.

``cdss.hooks``: call the CDS services (clinicians; device identities stand for external EMRs, which
send their own FHIR data). ``cdss.review``: the rule review page and new rule versions (department
heads and the IT administrator). ``cdss.review_all``: every rule and every department's figures (the
IT administrator); a department head reviews the rules enabled in their department (hospital-wide
rules included) with their department's figures.
"""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant("cdss.hooks", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD, Role.DEVICE)
grant("cdss.review", Role.DEPARTMENT_HEAD, Role.IT_ADMIN)
grant("cdss.review_all", Role.IT_ADMIN)
