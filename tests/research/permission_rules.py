"""Permission rules for the research pages under /research/ and the API under /api/research/.

Two parts of the app keep their rules in their own section of this file: "lake" (cohorts, the
analytics lake) and "steward" (projects, approvals, consent, exports, privacy budget). Each part
edits only its own section; ``RULES`` and ``setup`` at the end combine them.
"""

from __future__ import annotations

from typing import Any

from tests.test_permissions import (
    BREAK_GLASS,
    CARE,
    FRONT_DESK,
    HEAD,
    NO_CARE,
    NOBODY,
    PATIENTS,
    RESEARCHER,
    Rule,
    World,
)

# === lake: cohorts ===========================================================================

# ``research.cohorts`` (researchers and data stewards; among the test callers only the researcher)
# opens every cohort page and operation; everyone else gets 403 CORE-403. The lake is not built in
# this test (tests/conftest.py points SMARTCARE_LAKE_DIR at an empty directory), so a count answers
# RES-002 (409) in the API and shows that error in the page's count panel (200); the counts
# themselves are tested in tests/research/test_cohort_services.py.
_COHORTS = frozenset({RESEARCHER})
_DEFINITION = {"criteria": {"and": [{"type": "diagnosis", "codes": ["E11"]}, {"type": "age", "min": 60}]}}


def _lake_cohort(world: World, missing: bool) -> dict[str, Any]:
    from tests.test_permissions import MISSING_ID

    return {"cohort_id": MISSING_ID if missing else world.extra["lake_cohort"].pk}


def _lake_saved(world: World, kind: str, response: Any) -> None:
    from smartcare.research.models import Cohort

    cohort = Cohort.objects.get(name="权限测试队列")
    assert cohort.owner == world.user
    assert cohort.versions.get().definition == {"criteria": {"and": [{"type": "age", "min": 60}]}}


def _lake_api_saved(world: World, kind: str, response: Any) -> None:
    from smartcare.research.models import Cohort

    assert Cohort.objects.get(name="API 队列").versions.count() == 1


def _lake_new_version(world: World, kind: str, response: Any) -> None:
    assert world.extra["lake_cohort"].versions.count() == 2


LAKE_RULES: list[Rule] = [
    Rule("GET", "/research/cohorts/", _COHORTS),
    Rule("GET", "/research/cohorts/new/", _COHORTS),
    Rule("GET", "/research/cohorts/row/", _COHORTS),
    Rule(
        "POST", "/research/cohorts/count/", _COHORTS, payload=lambda w, m: {"c0-type": "age", "c0-min": "60"}
    ),
    Rule(
        "POST",
        "/research/cohorts/save/",
        _COHORTS,
        ok=302,
        payload=lambda w, m: {"name": "权限测试队列", "combine": "and", "c0-type": "age", "c0-min": "60"},
        effect=_lake_saved,
    ),
    Rule("GET", "/research/cohorts/{cohort_id}/", _COHORTS, params=_lake_cohort),
    Rule(
        "POST",
        "/api/research/cohorts/count",
        _COHORTS,
        ok=409,
        payload=lambda w, m: {"definition": _DEFINITION},
    ),
    Rule("POST", "/api/research/cohorts/sql", _COHORTS, payload=lambda w, m: {"definition": _DEFINITION}),
    Rule("GET", "/api/research/cohorts", _COHORTS),
    Rule(
        "POST",
        "/api/research/cohorts",
        _COHORTS,
        ok=201,
        payload=lambda w, m: {"name": "API 队列", "definition": _DEFINITION},
        effect=_lake_api_saved,
    ),
    Rule("GET", "/api/research/cohorts/{cohort_id}", _COHORTS, params=_lake_cohort),
    Rule(
        "POST",
        "/api/research/cohorts/{cohort_id}/versions",
        _COHORTS,
        ok=201,
        params=_lake_cohort,
        payload=lambda w, m: {"definition": {"criteria": {"type": "sex", "values": ["female"]}}},
        effect=_lake_new_version,
    ),
    Rule(
        "POST",
        "/api/research/cohorts/{cohort_id}/run",
        _COHORTS,
        ok=409,
        params=_lake_cohort,
        payload=lambda w, m: {},
    ),
    Rule("GET", "/api/research/lake", _COHORTS),
    # research.lake: data stewards only, and there is none among the test callers
    Rule("POST", "/api/research/lake/build", frozenset(), payload=lambda w, m: {"full": False}),
]


def lake_setup(world: World) -> None:
    from smartcare.research import cohorts
    from smartcare.research.models import Cohort, CohortVersion

    researcher = world.h.user("researcher")
    cohort = Cohort.objects.create(name="糖尿病老年患者", owner=researcher)
    CohortVersion.objects.create(
        cohort=cohort,
        number=1,
        definition=_DEFINITION,
        sql=cohorts.compile_sql(_DEFINITION),
        created_by=researcher,
    )
    world.extra["lake_cohort"] = cohort


# === steward: projects, consent, exports, privacy ============================================

# Capabilities: ``research.projects`` (researchers, data stewards: their projects, registration,
# exports and downloads of open projects they are on), ``research.review`` (data stewards only;
# no caller of the table has it, so the review routes answer 403 to everyone),
# ``research.cohorts`` (exploration and budgets), ``research.consent_own`` (patients, their own
# consent) and ``research.consent_record`` (front desk, nurses, doctors, department heads, for a
# patient they may open: without care 404, as for a patient who does not exist). The setup gives
# the researcher an approved, open project with one export file and a saved cohort.
PROJECTS = frozenset({RESEARCHER})
CONSENT_RECORDERS = frozenset({CARE, BREAK_GLASS, HEAD, FRONT_DESK})
NOT_FOUND_WITHOUT_CARE = {NO_CARE: 404}


def steward_setup(world: World) -> None:
    import datetime as dt
    import zipfile

    from smartcare.core import clock
    from smartcare.research.exports import export_dir
    from smartcare.research.models import (
        Cohort,
        CohortVersion,
        ProjectStatus,
        ResearchExport,
        ResearchProject,
    )

    h = world.h
    today = clock.today()
    project = ResearchProject.objects.create(
        title="Permission project",
        aims="aims",
        ethics_number="IRB-PERM",
        ethics_valid_from=today - dt.timedelta(days=5),
        ethics_valid_until=today + dt.timedelta(days=30),
        principal_investigator=h.user("researcher"),
        status=ProjectStatus.APPROVED,
    )
    folder = export_dir() / str(project.pk)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export-perm.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("persons.csv", "research_id\n")
    export = ResearchExport.objects.create(
        project=project,
        requested_by=h.user("researcher"),
        cohort_label="perm",
        file_format="csv",
        k_anonymity=5,
        file_name=str(path.relative_to(export_dir())),
        sha256="0" * 64,
    )
    cohort = Cohort.objects.create(name="Perm cohort", owner=h.user("researcher"))
    version = CohortVersion.objects.create(
        cohort=cohort,
        number=1,
        definition={"criteria": {"type": "sex", "values": ["female"]}},
        sql="",
        created_by=h.user("researcher"),
    )
    world.extra.update(project_id=project.pk, export_id=export.pk, cohort_version_id=version.pk)


def _ids(world: World, missing: bool) -> dict[str, Any]:
    return {
        "project_id": world.extra["project_id"],
        "export_id": world.extra["export_id"],
    }


def _project_body(world: World, missing: bool) -> dict[str, Any]:
    return {
        "title": "Registered in the permission test",
        "aims": "aims",
        "ethics_number": "IRB-NEW",
        "ethics_valid_from": "2026-01-01",
        "ethics_valid_until": "2027-12-31",
        "investigators": [],
    }


# The export and exploration bodies are refused after the permission checks and before the lake
# is read (k below 2: RES-048; bounds reversed: RES-047), so the table does not depend on a lake.
def _export_body(world: World, missing: bool) -> dict[str, Any]:
    return {
        "cohort_version_id": world.extra["cohort_version_id"],
        "file_format": "csv",
        "tables": ["encounters"],
        "k": 1,
    }


def _explore_body(world: World, missing: bool) -> dict[str, Any]:
    return {"measure": "age", "statistic": "mean", "lower": 100, "upper": 0, "purpose": "permission test"}


def _explore_form(world: World, missing: bool) -> dict[str, Any]:
    return {"kind": "age", "statistic": "mean", "lower": "100", "upper": "0", "purpose": "permission test"}


def _consent_body(world: World, missing: bool) -> dict[str, Any]:
    return {"granted": False, "note": "permission test"}


def _consent_form(world: World, missing: bool) -> dict[str, Any]:
    return {"decision": "withdraw", "note": "permission test"}


def _withdrawn(world: World, kind: str, response: Any) -> None:
    from smartcare.research.consent import research_consent_status

    assert research_consent_status(world.target.pk) is False


def _own_withdrawn(world: World, kind: str, response: Any) -> None:
    from smartcare.research.consent import research_consent_status

    assert research_consent_status(world.h.own_patient.pk) is False


def _registered_project(world: World, kind: str, response: Any) -> None:
    from smartcare.research.models import ResearchProject

    assert ResearchProject.objects.filter(
        title="Registered in the permission test", status="submitted"
    ).exists()


def _closed(world: World, kind: str, response: Any) -> None:
    from smartcare.research.models import ResearchProject

    assert ResearchProject.objects.get(pk=world.extra["project_id"]).status == "closed"


STEWARD_RULES: list[Rule] = [
    # pages
    Rule("GET", "/research/projects/", PROJECTS),
    Rule("GET", "/research/projects/new/", PROJECTS),
    Rule(
        "POST", "/research/projects/new/", PROJECTS, ok=302, payload=_project_body, effect=_registered_project
    ),
    Rule("GET", "/research/projects/{project_id}/", PROJECTS, params=_ids),
    Rule(
        "POST",
        "/research/projects/{project_id}/",
        PROJECTS,
        ok=302,
        params=_ids,
        payload=lambda w, m: {"action": "close"},
        effect=_closed,
    ),
    Rule("GET", "/research/exports/{export_id}/download/", PROJECTS, params=_ids),
    Rule("GET", "/research/review/", NOBODY),
    Rule(
        "POST",
        "/research/review/",
        NOBODY,
        payload=lambda w, m: {"project_id": w.extra["project_id"], "decision": "approve"},
    ),
    Rule("GET", "/research/explore/", PROJECTS),
    # refused on the page (RES-047) after the permission checks; nothing is spent
    Rule("POST", "/research/explore/", PROJECTS, payload=_explore_form),
    Rule("GET", "/research/consent/", PATIENTS),
    Rule("POST", "/research/consent/", PATIENTS, ok=302, payload=_consent_form, effect=_own_withdrawn),
    Rule(
        "GET",
        "/research/consent/patients/{patient_id}/",
        CONSENT_RECORDERS,
        special=NOT_FOUND_WITHOUT_CARE,
        record=True,
    ),
    Rule(
        "POST",
        "/research/consent/patients/{patient_id}/",
        CONSENT_RECORDERS,
        ok=302,
        special=NOT_FOUND_WITHOUT_CARE,
        record=True,
        payload=_consent_form,
        effect=_withdrawn,
    ),
    # API
    Rule("GET", "/api/research/projects", PROJECTS),
    Rule(
        "POST", "/api/research/projects", PROJECTS, ok=201, payload=_project_body, effect=_registered_project
    ),
    Rule("GET", "/api/research/projects/{project_id}", PROJECTS, params=_ids),
    Rule("POST", "/api/research/projects/{project_id}/approve", NOBODY, params=_ids, payload=lambda w, m: {}),
    Rule(
        "POST",
        "/api/research/projects/{project_id}/reject",
        NOBODY,
        params=_ids,
        payload=lambda w, m: {"reason": "no"},
    ),
    Rule("POST", "/api/research/projects/{project_id}/close", PROJECTS, params=_ids, effect=_closed),
    Rule("GET", "/api/research/projects/{project_id}/exports", PROJECTS, params=_ids),
    Rule(
        "POST",
        "/api/research/projects/{project_id}/exports",
        PROJECTS,
        ok=400,
        params=_ids,
        payload=_export_body,
    ),
    Rule("GET", "/api/research/exports/{export_id}/download", PROJECTS, params=_ids),
    Rule("POST", "/api/research/explore", PROJECTS, ok=400, payload=_explore_body),
    Rule("GET", "/api/research/privacy/budgets", PROJECTS),
    Rule("GET", "/api/research/consent/me", PATIENTS),
    Rule("POST", "/api/research/consent/me", PATIENTS, payload=_consent_body, effect=_own_withdrawn),
    Rule(
        "GET",
        "/api/research/consent/patients/{patient_id}",
        CONSENT_RECORDERS,
        special=NOT_FOUND_WITHOUT_CARE,
        record=True,
    ),
    Rule(
        "POST",
        "/api/research/consent/patients/{patient_id}",
        CONSENT_RECORDERS,
        special=NOT_FOUND_WITHOUT_CARE,
        record=True,
        payload=_consent_body,
        effect=_withdrawn,
    ),
]


# === combined ================================================================================

RULES: list[Rule] = LAKE_RULES + STEWARD_RULES


def setup(world: World) -> None:
    lake_setup(world)
    steward_setup(world)


__all__ = ["RESEARCHER", "RULES", "Any", "setup"]
