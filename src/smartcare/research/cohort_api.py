"""Cohort API under /api/research/: count a draft or saved cohort (released with differential
privacy unless within an approved project), view the generated SQL, save cohorts and versions,
and the lake's status. Same services, permissions and audit as the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from smartcare.core.permissions import require_capability
from smartcare.research import cohort_services as services
from smartcare.research import cohorts, lake
from smartcare.research.models import Cohort, CohortVersion

router = Router(tags=["research"])


class CountIn(Schema):
    definition: dict[str, Any] = Field(description="{'index_date': 'YYYY-MM-DD'?, 'criteria': node}")
    project_id: int | None = Field(default=None, description="show the count within this project of yours")
    index_date: dt.date | None = None


class RunIn(Schema):
    version: int | None = Field(default=None, description="version number (default: the latest)")
    project_id: int | None = None
    index_date: dt.date | None = None


class CountOut(Schema):
    count: int
    noisy: bool
    epsilon_spent: float
    budget_left: float | None
    index_date: dt.date
    run_id: int
    sql: str


class SqlIn(Schema):
    definition: dict[str, Any]
    index_date: dt.date | None = None


class SqlOut(Schema):
    definition: dict[str, Any]
    index_date: dt.date
    sql: str


class SaveIn(Schema):
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=5000)
    definition: dict[str, Any]
    comment: str = Field(default="", max_length=300)


class VersionIn(Schema):
    definition: dict[str, Any]
    comment: str = Field(default="", max_length=300)


class VersionOut(Schema):
    number: int
    definition: dict[str, Any]
    sql: str
    comment: str
    created_at: dt.datetime


class CohortOut(Schema):
    id: int
    name: str
    description: str
    owner: str
    updated_at: dt.datetime
    latest_version: int | None
    versions: list[VersionOut] = []


class LakeTableOut(Schema):
    name: str
    rows: int | None


class LakeOut(Schema):
    built: bool
    built_at: dt.datetime | None
    tables: list[LakeTableOut]


def _version_out(v: CohortVersion) -> VersionOut:
    return VersionOut(
        number=v.number, definition=v.definition, sql=v.sql, comment=v.comment, created_at=v.created_at
    )


def _cohort_out(c: Cohort, versions: bool = False) -> CohortOut:
    latest = c.latest_version()
    return CohortOut(
        id=c.pk,
        name=c.name,
        description=c.description,
        owner=c.owner.get_username(),
        updated_at=c.updated_at,
        latest_version=latest.number if latest else None,
        versions=[_version_out(v) for v in c.versions.order_by("-number")] if versions else [],
    )


def _count_out(shown: services.ShownCount) -> CountOut:
    return CountOut(
        count=shown.value,
        noisy=shown.noisy,
        epsilon_spent=shown.epsilon_spent,
        budget_left=shown.budget_left,
        index_date=shown.index_date,
        run_id=shown.run.pk,
        sql=shown.sql,
    )


@router.post("/cohorts/count", response=CountOut, summary="Count a draft cohort (noisy outside a project)")
def count(request: HttpRequest, body: CountIn) -> CountOut:
    user: Any = request.user
    require_capability(user, services.CAPABILITY)
    project = services.project_for(user, body.project_id)
    return _count_out(
        services.count_cohort(user, body.definition, project=project, index_date=body.index_date)
    )


@router.post("/cohorts/sql", response=SqlOut, summary="The DuckDB SQL a definition compiles to")
def sql(request: HttpRequest, body: SqlIn) -> SqlOut:
    require_capability(request.user, services.CAPABILITY)
    clean = cohorts.validate(body.definition)
    index = cohorts.index_date_of(clean, body.index_date)
    return SqlOut(definition=clean, index_date=index, sql=cohorts.compile_sql(clean, index_date=index))


@router.get("/cohorts", response=list[CohortOut], summary="Saved cohorts")
def cohort_list(request: HttpRequest) -> list[CohortOut]:
    return [_cohort_out(c) for c in services.cohorts_for(request.user)]


@router.post("/cohorts", response={201: CohortOut}, summary="Save a new cohort (version 1)")
def cohort_create(request: HttpRequest, body: SaveIn) -> Status:
    version = services.save_cohort(
        request.user,
        definition=body.definition,
        name=body.name,
        description=body.description,
        comment=body.comment,
    )
    return Status(201, _cohort_out(version.cohort, versions=True))


@router.get("/cohorts/{cohort_id}", response=CohortOut, summary="A cohort with its versions")
def cohort_detail(request: HttpRequest, cohort_id: int) -> CohortOut:
    return _cohort_out(services.get_cohort(request.user, cohort_id), versions=True)


@router.post("/cohorts/{cohort_id}/versions", response={201: VersionOut}, summary="Save a new version")
def cohort_version(request: HttpRequest, cohort_id: int, body: VersionIn) -> Status:
    cohort = services.get_cohort(request.user, cohort_id)
    version = services.save_cohort(
        request.user, definition=body.definition, cohort=cohort, comment=body.comment
    )
    return Status(201, _version_out(version))


@router.post("/cohorts/{cohort_id}/run", response=CountOut, summary="Re-run a saved version")
def cohort_run(request: HttpRequest, cohort_id: int, body: RunIn) -> CountOut:
    user: Any = request.user
    cohort = services.get_cohort(user, cohort_id)
    version = services.get_version(cohort, body.version)
    project = services.project_for(user, body.project_id)
    return _count_out(
        services.count_cohort(user, version=version, project=project, index_date=body.index_date)
    )


@router.get("/lake", response=LakeOut, summary="The analytics lake: last build and rows per table")
def lake_status(request: HttpRequest) -> LakeOut:
    require_capability(request.user, services.CAPABILITY)
    last = lake.last_build()
    built = lake.is_built()
    counts = (last.tables if last else {}) if built else {}
    return LakeOut(
        built=built,
        built_at=last.finished_at if last and built else None,
        tables=[LakeTableOut(name=name, rows=(counts.get(name) or {}).get("rows")) for name in lake.TABLES],
    )


class BuildIn(Schema):
    full: bool = False


class BuildOut(Schema):
    queued: bool
    full: bool


@router.post("/lake/build", response={202: BuildOut}, summary="Queue a lake build (data stewards)")
def lake_build(request: HttpRequest, body: BuildIn) -> Status:
    """The build runs in the background worker (``smartcare worker``); ``GET /lake`` shows when it
    has finished. Audited when it runs (as the build's ``export`` event, with the steward)."""
    from django.db import transaction

    from smartcare.research.lake_tasks import build_lake

    user: Any = request.user
    require_capability(user, "research.lake")
    transaction.on_commit(lambda: build_lake.enqueue(full=body.full, user_id=user.pk))
    return Status(202, BuildOut(queued=True, full=body.full))
