"""Remote consultation capabilities. Which patient's record a user may open is decided by
patients.access (the expert gets a time-limited care relationship when accepting).

``telemedicine.request``: asking a specialist, cancelling one's own request. ``telemedicine.consult``:
the expert's queue, accepting, asking for information, declining, writing the opinion, the room.
``telemedicine.review``: the quality review of discordant cases (department heads).
``telemedicine.reports``: indicators and concordance per requester, department and hospital
(aggregates and numbers only).
"""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant("telemedicine.request", Role.DOCTOR, Role.DEPARTMENT_HEAD)
grant("telemedicine.consult", Role.DOCTOR, Role.DEPARTMENT_HEAD)
grant("telemedicine.review", Role.DEPARTMENT_HEAD)
grant("telemedicine.reports", Role.DEPARTMENT_HEAD, Role.OPERATIONS_MANAGER)
