"""The cockpit pages and API: tiles with status, drill-downs to departments, hours, doctors,
channels and cases (names only for patients in the caller's care, audited), department heads
limited to their department, coded errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.kpi.models import ManagementAction, SettingChange
from tests.factories import login
from tests.kpi.cockpit_world import WEEK, build_week

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture()
def week(db: Any) -> Any:
    return build_week()


def test_manager_cockpit_shows_every_tile_and_score(client: Client, week: Any) -> None:
    login(client, week.h.users["manager"])
    page = client.get("/kpi/", {"period": WEEK}).content.decode()
    assert 'data-testid="tile-arrival_wait"' in page and "30.0 min" in page
    assert 'data-testid="status-booking_success"' in page and "Off target" in page
    assert 'data-testid="score-gauge"' in page
    assert page.count('data-testid="tile-') == 19


def test_drill_downs(client: Client, week: Any) -> None:
    login(client, week.h.users["manager"])
    base = f"/kpi/indicators/arrival_wait/?period={WEEK}"
    assert (
        "Cardiology" in client.get(base + "&by=department").content.decode()
        or client.get(base + "&by=department").status_code == 200
    )
    hours = client.get(base + "&by=hour").content.decode()
    assert "08:00" in hours and "09:00" in hours and "40.0" in hours
    doctors = client.get(base + "&by=doctor").content.decode()
    assert str(week.h.users["doctor"]) in doctors
    channels = client.get(f"/kpi/indicators/booking_success/?period={WEEK}&by=channel").content.decode()
    assert "Telephone" in channels and "100.0 %" in channels
    bad = client.get(base + "&by=weather")
    assert bad.status_code == 400 and "KPI-010" in bad.content.decode()


def test_cases_show_names_only_for_patients_in_care_and_are_audited(client: Client, week: Any) -> None:
    head = week.h.users["head"]  # cardiology: A1's patient is in the department's care
    login(client, head)
    page = client.get(f"/kpi/indicators/arrival_wait/?period={WEEK}&by=cases").content.decode()
    assert week.h.patient_in_care.name in page
    assert page.count("(not in your care)") == 2
    assert AuditEvent.objects.filter(
        actor=head, patient_id=week.h.patient_in_care.pk, reason="kpi drill-down"
    ).exists()
    # The longest wait (40 minutes) comes first.
    assert page.index(">40<") < page.index(">30<") < page.index(">20<")
    manager = week.h.users["manager"]  # no care relationship: no names at all
    login(client, manager)
    page = client.get(f"/kpi/indicators/arrival_wait/?period={WEEK}&by=cases").content.decode()
    assert week.h.patient_in_care.name not in page
    assert not AuditEvent.objects.filter(actor=manager, reason="kpi drill-down").exists()


def test_department_heads_see_their_department_only(client: Client, week: Any) -> None:
    login(client, week.h.users["head"])
    page = client.get("/kpi/", {"period": WEEK}).content.decode()
    assert "Whole hospital" not in page
    other = client.get("/kpi/", {"period": WEEK, "department": week.h.neurology.national_code_id})
    assert other.status_code == 404 and "KPI-004" in other.content.decode()
    api = client.get("/api/kpi/indicators", {"period": WEEK})
    assert api.json()["department"] == week.h.cardiology.national_code_id


def test_bad_period(client: Client, week: Any) -> None:
    login(client, week.h.users["manager"])
    page = client.get("/kpi/", {"period": "2026-Q9"})
    assert page.status_code == 400 and "KPI-001" in page.content.decode()
    api = client.get("/api/kpi/indicators", {"period": "2026-Q9"})
    assert api.status_code == 400 and api.json()["code"] == "KPI-001"


def test_targets_page_and_api(client: Client, week: Any) -> None:
    login(client, week.h.users["manager"])
    response = client.post(
        "/kpi/targets/", {"code": "tele_volume", "weight": "0.25", "reason": "more remote care"}
    )
    assert response.status_code == 302
    assert SettingChange.objects.get(code="tele_volume").new_value == "0.25"
    bad = client.post("/kpi/targets/", {"code": "tele_volume", "weight": "2"})
    assert bad.status_code == 400 and "KPI-003" in bad.content.decode()
    assert SettingChange.objects.count() == 1
    page = client.get("/kpi/targets/").content.decode()
    assert "more remote care" in page
    api = client.patch("/api/kpi/settings/arrival_wait", {"target": 25}, content_type="application/json")
    assert api.status_code == 200 and api.json()["target"] == 25


def test_actions_page(client: Client, week: Any) -> None:
    manager = week.h.users["manager"]
    login(client, manager)
    response = client.post(
        "/kpi/actions/",
        {"code": "arrival_wait", "title": "Second room", "owner": manager.pk, "due_on": "2026-06-01"},
    )
    assert response.status_code == 302
    action = ManagementAction.objects.get(title="Second room")
    bad = client.post(
        "/kpi/actions/", {"code": "arrival_wait", "title": "", "owner": manager.pk, "due_on": "x"}
    )
    assert bad.status_code == 400 and "KPI-005" in bad.content.decode()
    client.post(f"/kpi/actions/{action.pk}/close/", {"status": "done", "outcome": "opened"})
    again = client.post(f"/kpi/actions/{action.pk}/close/", {"status": "done"})
    assert again.status_code == 409 and "KPI-006" in again.content.decode()
