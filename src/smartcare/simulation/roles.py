"""What-if simulation capability: operations managers and department heads run scenarios."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# Run what-if scenarios of clinic days and read their results (every department).
grant("simulation.run", Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD)
