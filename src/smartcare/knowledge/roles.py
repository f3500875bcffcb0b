"""Knowledge capabilities: everyone signed in may look things up; stewards and IT curate."""

from __future__ import annotations

from smartcare.accounts.choices import STAFF_ROLES, Role
from smartcare.core.permissions import grant

_STAFF = sorted(STAFF_ROLES)

grant("knowledge.view", *_STAFF)
grant("knowledge.curate", Role.DATA_STEWARD, Role.IT_ADMIN)
