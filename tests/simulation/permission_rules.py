"""Permission rules for the what-if pages under /simulation/whatif/ and the API under
/api/simulation/.

``simulation.run`` (operations managers and department heads) opens everything; among the test
callers only the cardiology head has it, everyone else gets 403 CORE-403. The test hospital has no
clinic activity, so a run started here is recorded as failed (SIM-014) and the validation answers
409 SIM-014 — the permission is what is tested; the model is tested in ``test_whatif``.

``setup`` saves a scenario and queues a run (written directly: the callers must not change the world).
"""

from __future__ import annotations

from typing import Any

from smartcare.simulation.models import SavedScenario, WhatIfRun
from tests.test_permissions import HEAD, Rule, World

RUN = frozenset({HEAD})


def setup(world: World) -> None:
    saved = SavedScenario.objects.create(name="perm", body={"slot_minutes": 20})
    run = WhatIfRun.objects.create(
        department=world.h.cardiology, scenario={"slot_minutes": 20}, runs=2, weeks=1
    )
    world.extra.update(sim_saved=saved, sim_run=run)


def _run(world: World, missing: bool) -> dict[str, Any]:
    return {"run_id": world.extra["sim_run"].pk}


def _saved(world: World, missing: bool) -> dict[str, Any]:
    return {"scenario_id": world.extra["sim_saved"].pk}


def _ran(world: World, kind: str, response: Any) -> None:
    assert WhatIfRun.objects.count() == 2


def _deleted(world: World, kind: str, response: Any) -> None:
    assert not SavedScenario.objects.filter(pk=world.extra["sim_saved"].pk).exists()


def _kept(world: World, kind: str, response: Any) -> None:
    assert SavedScenario.objects.filter(name="perm-saved").exists()


RULES: list[Rule] = [
    Rule("GET", "/simulation/whatif/", RUN),
    Rule(
        "POST",
        "/simulation/whatif/",
        RUN,
        ok=302,
        payload=lambda w, m: {
            "department": "03.04",
            "scenario": "check_in: {kiosks: 2}",
            "runs": "2",
            "weeks": "1",
        },
        effect=_ran,
    ),
    Rule("GET", "/simulation/whatif/runs/{run_id}/", RUN, params=_run),
    Rule("GET", "/simulation/whatif/validation/", RUN),
    Rule(
        "POST",
        "/simulation/whatif/scenarios/{scenario_id}/delete/",
        RUN,
        ok=302,
        params=_saved,
        effect=_deleted,
    ),
    Rule("GET", "/api/simulation/departments", RUN),
    Rule("GET", "/api/simulation/runs", RUN),
    Rule(
        "POST",
        "/api/simulation/runs",
        RUN,
        ok=201,
        payload=lambda w, m: {"department": "03.04", "scenario": {"slot_minutes": 15}, "runs": 2, "weeks": 1},
        effect=_ran,
    ),
    Rule("GET", "/api/simulation/runs/{run_id}", RUN, params=_run),
    Rule("GET", "/api/simulation/scenarios", RUN),
    Rule(
        "POST",
        "/api/simulation/scenarios",
        RUN,
        ok=201,
        payload=lambda w, m: {"name": "perm-saved", "scenario_text": "slot_minutes: 15"},
        effect=_kept,
    ),
    Rule(
        "GET",
        "/api/simulation/validation/{department}",
        RUN,
        ok=409,
        params=lambda w, m: {"department": "03.04"},
    ),
]
