"""Simulation API: what-if scenarios of clinic days (the same services, permission and audit as
the pages). A run that would take more than a couple of seconds answers 202 and carries on in the
background; poll ``GET /runs/{id}``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from smartcare.core.permissions import require_capability
from smartcare.simulation import selectors, services
from smartcare.simulation.choices import RunStatus
from smartcare.simulation.models import SavedScenario, WhatIfRun
from smartcare.simulation.whatif import compare
from smartcare.simulation.whatif.scenario import Scenario, from_data, parse

router = Router(tags=["simulation"])


class DepartmentOut(Schema):
    code: str
    name: str


class RunIn(Schema):
    department: str = Field(description="national department code")
    scenario: dict[str, Any] | None = Field(default=None, description="the scenario as an object")
    scenario_text: str | None = Field(default=None, max_length=65536, description="or as JSON/YAML text")
    runs: int = 10
    weeks: int = 4
    seed: int = 1
    background: bool | None = Field(
        default=None, description="force (true) or forbid (false) a background run"
    )


class RunOut(Schema):
    id: int
    department: str
    scenario: dict[str, Any]
    runs: int
    weeks: int
    seed: int
    status: str
    error: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    result: dict[str, Any] | None


class ScenarioIn(Schema):
    name: str = Field(max_length=200)
    department: str = ""
    scenario: dict[str, Any] | None = None
    scenario_text: str | None = Field(default=None, max_length=65536)


class ScenarioOut(Schema):
    id: int
    name: str
    department: str | None
    scenario: dict[str, Any]


def _run_out(run: WhatIfRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "department": run.department.code,
        "scenario": run.scenario,
        "runs": run.runs,
        "weeks": run.weeks,
        "seed": run.seed,
        "status": run.status,
        "error": run.error,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "result": run.result,
    }


def _scenario_out(saved: SavedScenario) -> dict[str, Any]:
    return {
        "id": saved.pk,
        "name": saved.name,
        "department": saved.department.code if saved.department else None,
        "scenario": saved.body,
    }


def _scenario(body: Any) -> Scenario:
    if body.scenario_text is not None:
        return parse(body.scenario_text)
    return from_data(body.scenario or {})


@router.get("/departments", response=list[DepartmentOut])
def departments(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "simulation.run")
    return [{"code": d.code, "name": str(d.name)} for d in selectors.clinic_departments()]


@router.get("/runs", response=list[RunOut])
def list_runs(request: HttpRequest) -> list[dict[str, Any]]:
    return [_run_out(r) for r in selectors.runs_for(request.user)[:50]]


@router.post("/runs", response={201: RunOut, 202: RunOut})
def create_run(request: HttpRequest, body: RunIn) -> tuple[int, dict[str, Any]]:
    require_capability(request.user, "simulation.run")
    run = services.start_run(
        request.user,
        department_code=body.department,
        scenario=_scenario(body),
        runs=body.runs,
        weeks=body.weeks,
        seed=body.seed,
        background=body.background,
    )
    return (201 if run.status in (RunStatus.DONE, RunStatus.FAILED) else 202), _run_out(run)


@router.get("/runs/{run_id}", response=RunOut)
def get_run(request: HttpRequest, run_id: int) -> dict[str, Any]:
    return _run_out(selectors.run(request.user, run_id))


@router.get("/scenarios", response=list[ScenarioOut])
def list_scenarios(request: HttpRequest) -> list[dict[str, Any]]:
    return [_scenario_out(s) for s in selectors.scenarios(request.user)[:200]]


@router.post("/scenarios", response={201: ScenarioOut})
def create_scenario(request: HttpRequest, body: ScenarioIn) -> tuple[int, dict[str, Any]]:
    require_capability(request.user, "simulation.run")
    saved = services.save_scenario(
        request.user, name=body.name, scenario=_scenario(body), department_code=body.department
    )
    return 201, _scenario_out(saved)


@router.get("/validation/{department}", summary="Validate the model on a past month (default: last month)")
def validation(
    request: HttpRequest, department: str, month: str = "", runs: int = 5, seed: int = 1
) -> dict[str, Any]:
    require_capability(request.user, "simulation.run")
    return services.validate_model(department, month or compare.last_full_month(), runs=runs, seed=seed)
