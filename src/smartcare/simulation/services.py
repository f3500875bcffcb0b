"""What-if simulation writes: saving scenarios and running comparisons (inline when short, as a
background task when long). Every write checks ``simulation.run`` and is audited."""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial
from typing import Any

from django.db import transaction

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.core.permissions import require_capability
from smartcare.simulation.choices import RunStatus
from smartcare.simulation.models import SavedScenario, WhatIfRun
from smartcare.simulation.whatif import compare
from smartcare.simulation.whatif.measure import department_by_code, measure
from smartcare.simulation.whatif.scenario import Scenario, from_data

logger = logging.getLogger("smartcare.simulation")

# Above this many simulated bookings (both setups, all runs) the run goes to the background: on
# the reference machine the model handles about 20,000 bookings a second.
INLINE_LIMIT = 40_000


def estimated_bookings(department: Any, runs: int, weeks: int) -> int:
    today = clock.today()
    start = today - dt.timedelta(days=compare.CALIBRATION_DAYS)
    from smartcare.scheduling.models import Appointment

    per_week = Appointment.objects.filter(department=department, date__gte=start, date__lt=today).count() / 13
    return int(per_week * weeks * runs * 2)


def save_scenario(actor: Any, *, name: str, scenario: Scenario, department_code: str = "") -> SavedScenario:
    require_capability(actor, "simulation.run")
    department = department_by_code(department_code) if department_code else None
    with transaction.atomic():
        saved = SavedScenario.objects.create(
            name=(name or scenario.name or "scenario")[:200],
            department=department,
            body=scenario.as_dict(),
            created_by=actor,
        )
        record(actor, AuditAction.CREATE, obj=saved, detail={"event": "whatif_scenario_saved"})
    return saved


def start_run(
    actor: Any,
    *,
    department_code: str,
    scenario: Scenario,
    runs: Any = 10,
    weeks: Any = 4,
    seed: Any = 1,
    background: bool | None = None,
) -> WhatIfRun:
    """Check everything, store the run, then carry it out now (short) or in the background (long).

    Bad input raises a coded error before anything is written."""
    require_capability(actor, "simulation.run")
    runs, weeks, seed = compare.check_options(runs, weeks, seed)
    department = department_by_code(department_code)
    if background is None:
        background = estimated_bookings(department, runs, weeks) > INLINE_LIMIT
    with transaction.atomic():
        run = WhatIfRun.objects.create(
            department=department,
            scenario=scenario.as_dict(),
            runs=runs,
            weeks=weeks,
            seed=seed,
            created_by=actor,
        )
        record(
            actor,
            AuditAction.CREATE,
            obj=run,
            detail={"event": "whatif_run", "department": department.code, "background": background},
        )
        if background:
            transaction.on_commit(partial(_enqueue, run.pk))
    if not background:
        carry_out_run(run.pk)
        run.refresh_from_db()
    return run


def _enqueue(run_id: int) -> None:
    from smartcare.simulation.tasks import run_whatif

    run_whatif.enqueue(run_id)


def carry_out_run(run_id: int) -> str:
    """Measure the department, simulate both setups and store the comparison (or the coded error)."""
    claimed = WhatIfRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING)
    if not claimed:
        return "skipped"
    run = WhatIfRun.objects.select_related("department").get(pk=run_id)
    try:
        scenario = from_data(run.scenario)
        result = compare.compare_department(
            run.department, scenario, runs=run.runs, weeks=run.weeks, seed=run.seed
        )
    except CodedError as exc:
        run.status, run.error = RunStatus.FAILED, f"{exc.code}: {exc.detail}"[:300]
    except Exception:
        logger.exception("what-if run %s failed", run_id)
        run.status, run.error = RunStatus.FAILED, "SIM-010"
    else:
        run.status, run.result = RunStatus.DONE, result
    run.finished_at = clock.now()
    run.save(update_fields=["status", "result", "error", "finished_at"])
    return str(run.status)


def validate_model(department_code: str, month: str, *, runs: int = 5, seed: int = 1) -> dict[str, Any]:
    """The validation of the model for a past month (read-only; used by the command and the page)."""
    return compare.validate(department_by_code(department_code), month, runs=runs, seed=seed)


def calibration(department_code: str) -> dict[str, Any]:
    department = department_by_code(department_code)
    today = clock.today()
    return measure(
        department, today - dt.timedelta(days=compare.CALIBRATION_DAYS), today - dt.timedelta(days=1)
    ).describe()


def delete_scenario(actor: Any, scenario_id: int) -> None:
    require_capability(actor, "simulation.run")
    from smartcare.core.errors import NotFound

    with transaction.atomic():
        saved = SavedScenario.objects.filter(pk=scenario_id).first()
        if saved is None:
            raise NotFound()
        record(actor, AuditAction.DELETE, obj=saved, detail={"event": "whatif_scenario_deleted"})
        saved.delete()
