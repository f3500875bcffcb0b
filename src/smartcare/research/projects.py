"""Research projects: registration, review by a data steward, closing, and the export gate.

Every write is atomic and audited. A project is registered by a researcher (the principal
investigator) with co-investigators, aims, an ethics approval number and its validity dates; a
data steward approves it or rejects it with a reason. Only an approved project whose ethics
approval is valid today may export (``require_open_project``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import has_capability, require_capability
from smartcare.research.errors import (
    DecisionReasonRequired,
    ProjectExpired,
    ProjectInvalid,
    ProjectNotApproved,
    ProjectNotFound,
    ProjectTransitionRefused,
    SelfApprovalRefused,
)
from smartcare.research.models import ProjectStatus, ResearchProject

MAX_K = 50
MAX_BUDGET = 10.0


@dataclass
class ProjectInput:
    title: str
    aims: str
    ethics_number: str
    ethics_valid_from: dt.date | None
    ethics_valid_until: dt.date | None
    investigators: list[str]  # usernames of co-investigators
    k_anonymity: int = 5
    epsilon_budget: float = 3.0


def _clean(data: ProjectInput) -> tuple[ProjectInput, list[User]]:
    def bad(reason: str, field: str) -> ProjectInvalid:
        return ProjectInvalid(reason=reason, field=field)

    title = (data.title or "").strip()
    aims = (data.aims or "").strip()
    number = (data.ethics_number or "").strip()
    if not title or len(title) > 200:
        raise bad("title", "title")
    if not aims or len(aims) > 5000:
        raise bad("aims", "aims")
    if not number or len(number) > 60:
        raise bad("ethics_number", "ethics_number")
    start, end = data.ethics_valid_from, data.ethics_valid_until
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        raise bad("ethics dates", "ethics_valid_from")
    if end < start:
        raise bad("ethics_valid_until", "ethics_valid_until")
    k = data.k_anonymity
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= MAX_K:
        raise bad("k_anonymity", "k_anonymity")
    eps = data.epsilon_budget
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps <= MAX_BUDGET:
        raise bad("epsilon_budget", "epsilon_budget")
    names = sorted({n.strip() for n in data.investigators if n and n.strip()})
    users = list(
        User.objects.filter(username__in=names, is_active=True, role__in=[Role.RESEARCHER, Role.DATA_STEWARD])
    )
    if len(users) != len(names):
        raise bad("investigators", "investigators")
    clean = ProjectInput(title, aims, number, start, end, names, k, float(eps))
    return clean, users


def _dates(data: ProjectInput) -> tuple[dt.date, dt.date]:
    assert data.ethics_valid_from is not None and data.ethics_valid_until is not None  # checked by _clean
    return data.ethics_valid_from, data.ethics_valid_until


def projects_for(user: Any) -> QuerySet[ResearchProject]:
    """Projects the user leads or is an investigator of."""
    return (
        ResearchProject.objects.filter(Q(principal_investigator=user) | Q(investigators=user))
        .distinct()
        .select_related("principal_investigator", "decided_by")
    )


def visible_projects(user: Any) -> QuerySet[ResearchProject]:
    if has_capability(user, "research.review"):
        return ResearchProject.objects.all().select_related("principal_investigator", "decided_by")
    return projects_for(user)


def get_project(user: Any, project_id: Any) -> ResearchProject:
    """A project the user may see; "not yours" and "does not exist" give the same RES-041."""
    require_capability(user, "research.projects")
    try:
        pk = int(project_id)
    except (TypeError, ValueError):
        raise ProjectNotFound() from None
    project = visible_projects(user).filter(pk=pk).first()
    if project is None:
        raise ProjectNotFound()
    return project


def review_queue() -> QuerySet[ResearchProject]:
    return ResearchProject.objects.filter(status=ProjectStatus.SUBMITTED).select_related(
        "principal_investigator"
    )


@transaction.atomic
def register_project(actor: Any, data: ProjectInput) -> ResearchProject:
    """Register a project with the actor as principal investigator; it waits for review."""
    require_capability(actor, "research.projects")
    clean, users = _clean(data)
    start, end = _dates(clean)
    project = ResearchProject.objects.create(
        title=clean.title,
        aims=clean.aims,
        ethics_number=clean.ethics_number,
        ethics_valid_from=start,
        ethics_valid_until=end,
        principal_investigator=actor,
        k_anonymity=clean.k_anonymity,
        epsilon_budget=clean.epsilon_budget,
    )
    project.investigators.set([u for u in users if u.pk != actor.pk])
    record(
        actor,
        AuditAction.CREATE,
        obj=project,
        detail={"ethics_number": clean.ethics_number, "investigators": clean.investigators},
    )
    return project


def _locked(project: ResearchProject) -> ResearchProject:
    return ResearchProject.objects.select_for_update().get(pk=project.pk)


@transaction.atomic
def approve_project(actor: Any, project: ResearchProject, *, reason: str = "") -> ResearchProject:
    """A data steward approves a submitted project; never one they are an investigator of."""
    require_capability(actor, "research.review")
    project = _locked(project)
    if project.is_member(actor):
        raise SelfApprovalRefused()
    if project.status != ProjectStatus.SUBMITTED:
        raise ProjectTransitionRefused(
            current=project.get_status_display(), target=ProjectStatus.APPROVED.label
        )
    project.status = ProjectStatus.APPROVED
    project.decided_by = actor
    project.decided_at = clock.now()
    project.decision_reason = (reason or "").strip()[:500]
    project.save(update_fields=["status", "decided_by", "decided_at", "decision_reason", "updated_at"])
    record(
        actor, AuditAction.UPDATE, obj=project, reason=project.decision_reason, detail={"status": "approved"}
    )
    return project


@transaction.atomic
def reject_project(actor: Any, project: ResearchProject, *, reason: str) -> ResearchProject:
    require_capability(actor, "research.review")
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise DecisionReasonRequired(field="reason")
    project = _locked(project)
    if project.is_member(actor):
        raise SelfApprovalRefused()
    if project.status != ProjectStatus.SUBMITTED:
        raise ProjectTransitionRefused(
            current=project.get_status_display(), target=ProjectStatus.REJECTED.label
        )
    project.status = ProjectStatus.REJECTED
    project.decided_by = actor
    project.decided_at = clock.now()
    project.decision_reason = reason
    project.save(update_fields=["status", "decided_by", "decided_at", "decision_reason", "updated_at"])
    record(actor, AuditAction.UPDATE, obj=project, reason=reason, detail={"status": "rejected"})
    return project


@transaction.atomic
def close_project(actor: Any, project: ResearchProject) -> ResearchProject:
    """The principal investigator or a steward closes an approved project; it can no longer export."""
    require_capability(actor, "research.projects")
    project = _locked(project)
    if project.principal_investigator_id != actor.pk and not has_capability(actor, "research.review"):
        raise ProjectNotFound()
    if project.status != ProjectStatus.APPROVED:
        raise ProjectTransitionRefused(
            current=project.get_status_display(), target=ProjectStatus.CLOSED.label
        )
    project.status = ProjectStatus.CLOSED
    project.save(update_fields=["status", "updated_at"])
    record(actor, AuditAction.UPDATE, obj=project, detail={"status": "closed"})
    return project


def require_open_project(user: Any, project: ResearchProject) -> None:
    """The export gate: the user is on the project, it is approved, and its ethics approval is
    valid today. Raises RES-041 (not on it), RES-044 (not approved) or RES-045 (expired)."""
    if not project.is_member(user):
        raise ProjectNotFound()
    if project.status != ProjectStatus.APPROVED:
        raise ProjectNotApproved()
    today = clock.today()
    if not project.ethics_valid_from <= today <= project.ethics_valid_until:
        raise ProjectExpired(
            start=project.ethics_valid_from.isoformat(), end=project.ethics_valid_until.isoformat()
        )
