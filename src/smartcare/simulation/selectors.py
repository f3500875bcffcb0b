"""What-if reads."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from smartcare.core.errors import NotFound
from smartcare.core.permissions import require_capability
from smartcare.organization.models import Department
from smartcare.simulation.models import SavedScenario, WhatIfRun


def clinic_departments() -> QuerySet[Department]:
    return Department.objects.filter(is_clinical=True, is_active=True).order_by("national_code_id")


def runs_for(actor: Any) -> QuerySet[WhatIfRun]:
    require_capability(actor, "simulation.run")
    return WhatIfRun.objects.select_related("department", "created_by")


def run(actor: Any, run_id: int) -> WhatIfRun:
    found = runs_for(actor).filter(pk=run_id).first()
    if found is None:
        raise NotFound()
    return found


def scenarios(actor: Any) -> QuerySet[SavedScenario]:
    require_capability(actor, "simulation.run")
    return SavedScenario.objects.select_related("department")
