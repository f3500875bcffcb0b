"""Follow-up capabilities. Which patient's plan a user may open is decided by patients.access.

``followup.work``: the worklist, phone follow-ups, starting and cancelling plans, sending education
(the care team). ``followup.manage``: editing care plan templates, questionnaires and the education
library (department heads and the IT administrator). ``followup.library``: browsing the library and
the templates. ``followup.portal``: a patient's own plans, questionnaires, surveys and education.
``followup.reports``: the satisfaction indicator (aggregates only, no identified patient).
"""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant("followup.work", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD)
grant("followup.manage", Role.DEPARTMENT_HEAD, Role.IT_ADMIN)
grant("followup.library", Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD, Role.IT_ADMIN)
grant("followup.portal", Role.PATIENT)
grant("followup.reports", Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD)
