"""Research projects: registration, review, the approval and expiry gates, pages and API, and the
KPI selector."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.research import projects as services
from smartcare.research.models import ProjectStatus, ResearchProject
from smartcare.research.selectors import projects_registered
from tests.factories import UserFactory, build_hospital


@pytest.fixture()
def h(db: Any) -> Any:
    return build_hospital()


def data(**overrides: Any) -> services.ProjectInput:
    today = clock.today()
    values: dict[str, Any] = {
        "title": "Insulin and kidney function",
        "aims": "Describe eGFR decline in insulin-treated type 2 diabetes.",
        "ethics_number": "IRB-2026-017",
        "ethics_valid_from": today - dt.timedelta(days=1),
        "ethics_valid_until": today + dt.timedelta(days=365),
        "investigators": [],
    }
    values.update(overrides)
    return services.ProjectInput(**values)


def code(excinfo: Any) -> str:
    return excinfo.value.code


def test_register_approve_and_audit(h: Any) -> None:
    co = UserFactory(username="coinvestigator", role="researcher")
    project = services.register_project(h.user("researcher"), data(investigators=["coinvestigator"]))
    assert project.status == ProjectStatus.SUBMITTED
    assert list(project.investigators.all()) == [co]
    assert project.is_member(co) and project.is_member(h.user("researcher"))
    assert not project.is_open_on(clock.today())
    assert list(services.review_queue()) == [project]
    services.approve_project(h.user("steward"), project, reason="IRB letter checked")
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    assert project.decided_by == h.user("steward")
    assert project.is_open_on(clock.today())
    actions = list(AuditEvent.objects.filter(object_id=str(project.pk)).values_list("action", flat=True))
    assert actions.count("create") == 1 and actions.count("update") == 1


def test_reject_needs_a_reason_and_only_from_submitted(h: Any) -> None:
    project = services.register_project(h.user("researcher"), data())
    with pytest.raises(CodedError) as excinfo:
        services.reject_project(h.user("steward"), project, reason="  ")
    assert code(excinfo) == "RES-043"
    services.reject_project(h.user("steward"), project, reason="Ethics approval number unknown")
    with pytest.raises(CodedError) as excinfo:
        services.approve_project(h.user("steward"), project)
    assert code(excinfo) == "RES-042"
    project.refresh_from_db()
    assert project.status == ProjectStatus.REJECTED


def test_steward_cannot_decide_on_own_project_and_researcher_cannot_approve(h: Any) -> None:
    project = services.register_project(h.user("steward"), data())
    with pytest.raises(CodedError) as excinfo:
        services.approve_project(h.user("steward"), project)
    assert code(excinfo) == "RES-051"
    other = services.register_project(h.user("researcher"), data())
    with pytest.raises(CodedError) as excinfo:
        services.approve_project(h.user("researcher"), other)
    assert code(excinfo) == "CORE-403"
    assert ResearchProject.objects.get(pk=other.pk).status == ProjectStatus.SUBMITTED


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"title": ""}, "title"),
        ({"aims": " "}, "aims"),
        ({"ethics_number": ""}, "ethics_number"),
        ({"ethics_valid_from": None}, "ethics_valid_from"),
        ({"ethics_valid_until": dt.date(2000, 1, 1)}, "ethics_valid_until"),
        ({"investigators": ["nobody-of-that-name"]}, "investigators"),
        ({"investigators": ["doctor"]}, "investigators"),  # not a researcher
        ({"k_anonymity": 1}, "k_anonymity"),
        ({"epsilon_budget": 0}, "epsilon_budget"),
        ({"epsilon_budget": 99}, "epsilon_budget"),
    ],
)
def test_bad_registration_writes_nothing(h: Any, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(CodedError) as excinfo:
        services.register_project(h.user("researcher"), data(**overrides))
    assert code(excinfo) == "RES-040"
    assert excinfo.value.field == field
    assert not ResearchProject.objects.exists()


def test_gate_approval_and_expiry(h: Any) -> None:
    researcher = h.user("researcher")
    project = services.register_project(researcher, data())
    with pytest.raises(CodedError) as excinfo:
        services.require_open_project(researcher, project)
    assert code(excinfo) == "RES-044"
    services.approve_project(h.user("steward"), project)
    project.refresh_from_db()
    services.require_open_project(researcher, project)  # open: no error
    later = dt.datetime.combine(project.ethics_valid_until + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
    with clock.frozen_at(later), pytest.raises(CodedError) as excinfo:
        services.require_open_project(researcher, project)
    assert code(excinfo) == "RES-045"
    with pytest.raises(CodedError) as excinfo:
        services.require_open_project(h.user("steward"), project)  # not on the project
    assert code(excinfo) == "RES-041"
    services.close_project(researcher, project)
    project.refresh_from_db()
    with pytest.raises(CodedError) as excinfo:
        services.require_open_project(researcher, project)
    assert code(excinfo) == "RES-044"


def test_projects_are_private_to_their_investigators(h: Any) -> None:
    project = services.register_project(h.user("researcher"), data())
    other = UserFactory(username="other-researcher", role="researcher")
    with pytest.raises(CodedError) as excinfo:
        services.get_project(other, project.pk)
    assert code(excinfo) == "RES-041"
    with pytest.raises(CodedError) as excinfo:
        services.get_project(other, 10**9)
    assert code(excinfo) == "RES-041"
    assert services.get_project(h.user("steward"), project.pk) == project  # the steward sees all


def test_projects_registered_counts_approvals_in_the_period(h: Any) -> None:
    tz = clock.local_now().tzinfo
    for month, status in ((1, "approved"), (3, "approved"), (6, "closed"), (7, "rejected"), (12, "approved")):
        ResearchProject.objects.create(
            title=f"p{month}",
            aims="a",
            ethics_number="n",
            ethics_valid_from=dt.date(2025, 1, 1),
            ethics_valid_until=dt.date(2026, 12, 31),
            principal_investigator=h.user("researcher"),
            status=status,
            decided_at=dt.datetime(2025, month, 15, 10, tzinfo=tz),
        )
    ResearchProject.objects.create(  # submitted, never decided
        title="pending",
        aims="a",
        ethics_number="n",
        ethics_valid_from=dt.date(2025, 1, 1),
        ethics_valid_until=dt.date(2026, 12, 31),
        principal_investigator=h.user("researcher"),
    )
    assert projects_registered(dt.date(2025, 1, 1), dt.date(2025, 12, 31)) == 4  # approved or closed
    assert projects_registered(dt.date(2025, 3, 15), dt.date(2025, 6, 15)) == 2
    assert projects_registered(dt.date(2025, 12, 16), dt.date(2025, 12, 31)) == 0
    assert projects_registered(dt.date(2026, 1, 1), dt.date(2025, 1, 1)) == 0


# --- pages and API ---------------------------------------------------------------------------------


def test_pages_register_review_and_detail(h: Any) -> None:
    researcher, steward = Client(), Client()
    researcher.force_login(h.user("researcher"))
    steward.force_login(h.user("steward"))
    today = clock.today()
    response = researcher.post(
        "/research/projects/new/",
        {
            "title": "Stroke outcomes",
            "aims": "Follow-up after stroke",
            "ethics_number": "IRB-9",
            "ethics_valid_from": today.isoformat(),
            "ethics_valid_until": (today + dt.timedelta(days=90)).isoformat(),
            "investigators": "",
            "k_anonymity": "5",
            "epsilon_budget": "2",
        },
    )
    project = ResearchProject.objects.get(title="Stroke outcomes")
    assert response.status_code == 302 and response["Location"] == f"/research/projects/{project.pk}/"
    assert b"Stroke outcomes" in researcher.get("/research/projects/").content
    queue = steward.get("/research/review/")
    assert b"IRB-9" in queue.content
    response = steward.post(
        "/research/review/", {"project_id": project.pk, "decision": "reject", "reason": ""}
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.status == ProjectStatus.SUBMITTED  # no reason: refused, nothing written
    steward.post("/research/review/", {"project_id": project.pk, "decision": "approve"})
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    page = researcher.get(f"/research/projects/{project.pk}/")
    assert page.status_code == 200 and b'data-testid="export-form"' in page.content


def test_bad_registration_on_the_page_shows_the_code(h: Any) -> None:
    client = Client()
    client.force_login(h.user("researcher"))
    response = client.post(
        "/research/projects/new/", {"title": "x", "aims": "y", "ethics_number": "z"}, follow=True
    )
    assert b"RES-040" in response.content
    assert not ResearchProject.objects.exists()


def test_api_register_approve_list(h: Any) -> None:
    researcher, steward = Client(), Client()
    researcher.force_login(h.user("researcher"))
    steward.force_login(h.user("steward"))
    today = clock.today()
    body = {
        "title": "API project",
        "aims": "aims",
        "ethics_number": "IRB-API",
        "ethics_valid_from": today.isoformat(),
        "ethics_valid_until": (today + dt.timedelta(days=10)).isoformat(),
    }
    response = researcher.post("/api/research/projects", json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    project_id = response.json()["id"]
    assert response.json()["status"] == "submitted" and response.json()["open_for_export"] is False
    refused = steward.post(
        f"/api/research/projects/{project_id}/reject",
        json.dumps({"reason": ""}),
        content_type="application/json",
    )
    assert refused.status_code == 400 and refused.json()["code"] == "RES-043"
    approved = steward.post(
        f"/api/research/projects/{project_id}/approve", "{}", content_type="application/json"
    )
    assert approved.status_code == 200 and approved.json()["open_for_export"] is True
    again = steward.post(
        f"/api/research/projects/{project_id}/approve", "{}", content_type="application/json"
    )
    assert again.status_code == 409 and again.json()["code"] == "RES-042"
    assert [p["id"] for p in researcher.get("/api/research/projects").json()] == [project_id]
    bad = researcher.post(
        "/api/research/projects",
        json.dumps({**body, "ethics_valid_until": "2000-01-01"}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["code"] == "RES-040"
    assert ResearchProject.objects.count() == 1
