"""Equipment capabilities. The clinical engineers are the IT administrators' role in smartcare
(there is no separate engineer role): they maintain equipment."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# The equipment board, an asset's telemetry, alerts, predictions, utilization and indicators.
grant("equipment.view", Role.IT_ADMIN, Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD)
# Work orders: open, start, record downtime, complete; alerts: close.
grant("equipment.maintain", Role.IT_ADMIN)
# The registry (assets, credentials, contracts), preventive plans, moving release capacity.
grant("equipment.manage", Role.IT_ADMIN, Role.OPERATIONS_MANAGER)
