"""Research projects API under /api/research/: projects (register, list, review, close), exports
(create, list, download), private exploration (DP mean and histogram) and the privacy budget,
and research consent (the patient's own, or recorded by staff). Same services, permissions and
audit as the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import FileResponse, HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from smartcare.core.errors import NotFound
from smartcare.core.permissions import require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.research import consent, explore, exports, privacy
from smartcare.research import projects as services
from smartcare.research.models import ResearchExport, ResearchProject

router = Router(tags=["research"])


class ProjectIn(Schema):
    title: str = Field(max_length=200)
    aims: str = Field(max_length=5000)
    ethics_number: str = Field(max_length=60)
    ethics_valid_from: dt.date
    ethics_valid_until: dt.date
    investigators: list[str] = Field(default_factory=list, description="user names of co-investigators")
    k_anonymity: int = 5
    epsilon_budget: float = 3.0


class ProjectOut(Schema):
    id: int
    title: str
    aims: str
    ethics_number: str
    ethics_valid_from: dt.date
    ethics_valid_until: dt.date
    principal_investigator: str
    investigators: list[str]
    status: str
    open_for_export: bool
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_reason: str
    k_anonymity: int
    epsilon_budget: float


class DecisionIn(Schema):
    reason: str = Field(default="", max_length=500)


class ExportIn(Schema):
    cohort_version_id: int
    file_format: str = Field(description="csv or parquet")
    tables: list[str] = Field(default_factory=lambda: list(exports.DEFAULT_TABLES))
    k: int | None = Field(default=None, description="k for k-anonymity (default: the project's)")


class ExportOut(Schema):
    id: int
    project_id: int
    created_at: dt.datetime
    requested_by: str
    cohort: str
    file_format: str
    k_anonymity: int
    patients: int
    rows: int
    suppressed: int
    withdrawn_excluded: int
    downloads: int
    sha256: str
    report: dict[str, Any]


class ExploreIn(Schema):
    measure: str = Field(description="age, lab or vital")
    code: str = Field(default="", description="lab code (LOINC) or vital kind")
    statistic: str = Field(description="mean or histogram")
    lower: float
    upper: float
    bins: int = 10
    purpose: str = Field(max_length=150)
    project_id: int | None = None


class ReleaseOut(Schema):
    kind: str
    value: Any
    noisy: bool
    epsilon_spent: float
    budget_left: float | None


class BudgetOut(Schema):
    project_id: int | None
    project: str | None
    epsilon_total: float
    epsilon_spent: float
    epsilon_left: float


class ConsentIn(Schema):
    granted: bool
    note: str = Field(default="", max_length=300)


class ConsentEntryOut(Schema):
    granted: bool
    recorded_at: dt.datetime
    recorded_by: str
    note: str


class ConsentOut(Schema):
    patient_id: int
    status: bool | None
    history: list[ConsentEntryOut]


def _project_out(p: ResearchProject) -> ProjectOut:
    from smartcare.core import clock

    return ProjectOut(
        id=p.pk,
        title=p.title,
        aims=p.aims,
        ethics_number=p.ethics_number,
        ethics_valid_from=p.ethics_valid_from,
        ethics_valid_until=p.ethics_valid_until,
        principal_investigator=p.principal_investigator.get_username(),
        investigators=[u.get_username() for u in p.investigators.all()],
        status=p.status,
        open_for_export=p.is_open_on(clock.today()),
        decided_by=p.decided_by.get_username() if p.decided_by else None,
        decided_at=p.decided_at,
        decision_reason=p.decision_reason,
        k_anonymity=p.k_anonymity,
        epsilon_budget=p.epsilon_budget,
    )


def _export_out(e: ResearchExport) -> ExportOut:
    return ExportOut(
        id=e.pk,
        project_id=e.project_id,
        created_at=e.created_at,
        requested_by=e.requested_by.get_username(),
        cohort=e.cohort_label,
        file_format=e.file_format,
        k_anonymity=e.k_anonymity,
        patients=e.patients,
        rows=e.rows,
        suppressed=e.suppressed,
        withdrawn_excluded=e.withdrawn_excluded,
        downloads=e.downloads,
        sha256=e.sha256,
        report=e.report,
    )


def _release_out(r: privacy.Release) -> ReleaseOut:
    return ReleaseOut(
        kind=r.kind, value=r.value, noisy=r.noisy, epsilon_spent=r.epsilon_spent, budget_left=r.budget_left
    )


def _consent_out(patient_id: int) -> ConsentOut:
    return ConsentOut(
        patient_id=patient_id,
        status=consent.research_consent_status(patient_id),
        history=[
            ConsentEntryOut(
                granted=c.granted,
                recorded_at=c.created_at,
                recorded_by=c.recorded_by.get_username(),
                note=c.note,
            )
            for c in consent.research_consent_history(patient_id)
        ],
    )


@router.get(
    "/projects", response=list[ProjectOut], summary="My research projects (all of them for a data steward)"
)
def list_projects(request: HttpRequest) -> list[ProjectOut]:
    user: Any = request.user
    require_capability(user, "research.projects")
    return [_project_out(p) for p in services.visible_projects(user).prefetch_related("investigators")]


@router.post(
    "/projects", response={201: ProjectOut}, summary="Register a research project (waits for review)"
)
def register(request: HttpRequest, body: ProjectIn) -> Status:
    data = services.ProjectInput(**body.dict())
    return Status(201, _project_out(services.register_project(request.user, data)))


@router.get("/projects/{project_id}", response=ProjectOut, summary="One research project")
def get_project(request: HttpRequest, project_id: int) -> ProjectOut:
    return _project_out(services.get_project(request.user, project_id))


@router.post(
    "/projects/{project_id}/approve", response=ProjectOut, summary="Approve a project (data steward)"
)
def approve(request: HttpRequest, project_id: int, body: DecisionIn) -> ProjectOut:
    require_capability(request.user, "research.review")
    project = services.get_project(request.user, project_id)
    return _project_out(services.approve_project(request.user, project, reason=body.reason))


@router.post(
    "/projects/{project_id}/reject",
    response=ProjectOut,
    summary="Reject a project with a reason (data steward)",
)
def reject(request: HttpRequest, project_id: int, body: DecisionIn) -> ProjectOut:
    require_capability(request.user, "research.review")
    project = services.get_project(request.user, project_id)
    return _project_out(services.reject_project(request.user, project, reason=body.reason))


@router.post("/projects/{project_id}/close", response=ProjectOut, summary="Close an approved project")
def close(request: HttpRequest, project_id: int) -> ProjectOut:
    project = services.get_project(request.user, project_id)
    return _project_out(services.close_project(request.user, project))


@router.get("/projects/{project_id}/exports", response=list[ExportOut], summary="A project's exports")
def list_exports(request: HttpRequest, project_id: int) -> list[ExportOut]:
    project = services.get_project(request.user, project_id)
    return [_export_out(e) for e in project.exports.select_related("requested_by")]


@router.post(
    "/projects/{project_id}/exports",
    response={201: ExportOut},
    summary="De-identified export of a saved cohort",
)
def create_export(request: HttpRequest, project_id: int, body: ExportIn) -> Status:
    project = services.get_project(request.user, project_id)
    export = exports.create_export(
        request.user,
        project,
        exports.ExportRequest(
            file_format=body.file_format,
            cohort_version_id=body.cohort_version_id,
            tables=tuple(body.tables),
            k=body.k,
        ),
    )
    return Status(201, _export_out(export))


@router.get("/exports/{export_id}/download", summary="Download an export (ZIP); audited")
def download(request: HttpRequest, export_id: int) -> FileResponse:
    export = exports.get_export(request.user, export_id)
    path = exports.open_download(request.user, export)
    name = f"research-project-{export.project_id}-export-{export.pk}-{export.file_format}.zip"
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="application/zip")


@router.post(
    "/explore", response=ReleaseOut, summary="DP mean or histogram of a measure (spends privacy budget)"
)
def explore_release(request: HttpRequest, body: ExploreIn) -> ReleaseOut:
    user: Any = request.user
    require_capability(user, "research.cohorts")
    project = services.get_project(user, body.project_id) if body.project_id else None
    release = explore.explore(
        user,
        measure=explore.parse_measure(body.measure, body.code),
        statistic=body.statistic,
        lower=body.lower,
        upper=body.upper,
        bins=body.bins,
        purpose=body.purpose,
        project=project,
    )
    return _release_out(release)


@router.get("/privacy/budgets", response=list[BudgetOut], summary="My privacy budgets")
def budgets(request: HttpRequest) -> list[BudgetOut]:
    user: Any = request.user
    require_capability(user, "research.cohorts")
    return [
        BudgetOut(
            project_id=b.project_id,
            project=b.project.title if b.project else None,
            epsilon_total=b.epsilon_total,
            epsilon_spent=b.epsilon_spent,
            epsilon_left=b.left,
        )
        for b in user.privacy_budgets.select_related("project")
    ]


@router.get("/consent/me", response=ConsentOut, summary="My research consent and its history")
def my_consent(request: HttpRequest) -> ConsentOut:
    user: Any = request.user
    require_capability(user, "research.consent_own")
    patient = getattr(user, "patient_record", None)
    if patient is None:
        raise NotFound()
    access_patient(user, patient, AccessAction.VIEW, reason="research consent")
    return _consent_out(patient.pk)


@router.post("/consent/me", response=ConsentOut, summary="Grant or withdraw my research consent")
def set_my_consent(request: HttpRequest, body: ConsentIn) -> ConsentOut:
    user: Any = request.user
    require_capability(user, "research.consent_own")
    patient = getattr(user, "patient_record", None)
    if patient is None:
        raise NotFound()
    consent.record_research_consent(user, patient, granted=body.granted, note=body.note)
    return _consent_out(patient.pk)


@router.get(
    "/consent/patients/{patient_id}", response=ConsentOut, summary="A patient's research consent (staff)"
)
def patient_consent(request: HttpRequest, patient_id: int) -> ConsentOut:
    require_capability(request.user, "research.consent_record")
    patient = access_patient(request.user, patient_id, AccessAction.VIEW, reason="research consent")
    return _consent_out(patient.pk)


@router.post(
    "/consent/patients/{patient_id}",
    response=ConsentOut,
    summary="Record a patient's research consent decision (staff)",
)
def record_patient_consent(request: HttpRequest, patient_id: int, body: ConsentIn) -> ConsentOut:
    require_capability(request.user, "research.consent_record")
    consent.record_research_consent(request.user, patient_id, granted=body.granted, note=body.note)
    return _consent_out(int(patient_id))
