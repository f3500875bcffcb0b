"""Workforce pages and API: the roster calendar by person and by day, a hand edit that shows the
broken rule, the CSV import page, the forecast and load pages, the staff's own shifts, and the
problem+json errors of the API."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from smartcare.core import clock
from smartcare.workforce import services
from smartcare.workforce.choices import RosterStatus, StaffGroup
from smartcare.workforce.models import RosterRequirement, ShiftFeedback, WorkloadRecord
from tests.factories import login
from tests.workforce.world import Ward, add_history, make_ward, written_roster

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture()
def ward(hospital: Any) -> Ward:
    return make_ward(hospital)


def _start() -> dt.date:
    today = clock.today()
    return today - dt.timedelta(days=today.weekday())


PLAN = {  # a week that keeps every hard rule: (person index, shift, days)
    "nurses": [
        (0, "N", (0, 1, 2)),
        (1, "N", (3, 4, 5, 6)),
        (2, "E", (0, 1, 2, 3, 4)),
        (2, "L", (6,)),
        (3, "E", (2, 3, 4, 5, 6)),
        (4, "E", (0, 1, 5, 6)),
        (5, "L", (0, 1, 2, 3, 4, 5)),
    ],
    "doctors": [(0, "E", (0, 1, 2, 3)), (1, "E", (4, 5, 6)), (2, "N", (0, 1, 2, 3)), (3, "N", (4, 5, 6))],
}


@pytest.fixture()
def roster(hospital: Any, ward: Ward) -> Any:
    """This week, written by hand to keep every hard rule."""
    cells: dict[tuple[Any, int], Any] = {}
    for group, people in (("nurses", ward.nurses), ("doctors", ward.doctors)):
        for index, code, days in PLAN[group]:
            for day in days:
                cells[(people[index], day)] = ward.shifts[code]
    e, late, n = ward.shifts["E"], ward.shifts["L"], ward.shifts["N"]
    requirements = []
    for day in range(7):
        requirements += [
            (day, e, StaffGroup.NURSE, 2),
            (day, n, StaffGroup.NURSE, 1),
            (day, late, StaffGroup.NURSE, 1),
        ]
    return written_roster(
        hospital, hospital.cardiology, _start(), 7, cells, members=ward.people, requirements=requirements
    )


def test_roster_calendar_by_person_and_by_day(hospital: Any, roster: Any) -> None:
    client = login(Client(), hospital.user("head"))
    page = client.get(f"/workforce/rosters/{roster.pk}/").content.decode()
    assert page.count('data-testid="cell"') == 7 * roster.members.count()
    assert 'data-testid="no-violations"' in page
    by_day = client.get(f"/workforce/rosters/{roster.pk}/?view=day").content.decode()
    assert by_day.count("card-header") == 7
    assert "roster-days" in by_day


def test_an_edit_on_the_page_shows_the_rule_it_breaks(hospital: Any, ward: Ward, roster: Any) -> None:
    client = login(Client(), hospital.user("head"))
    night_nurse = ward.nurses[0]  # nights on days 0, 1 and 2
    response = client.post(
        f"/workforce/rosters/{roster.pk}/assign/",
        {
            "practitioner": night_nurse.pk,
            "date": (_start() + dt.timedelta(days=1)).isoformat(),
            "shift_type": ward.shifts["E"].pk,
        },
        follow=True,
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="violation"' in page
    violations = re.findall(r'data-testid="violation">(.*?)</li>', page, re.DOTALL)
    assert violations
    publish = client.post(f"/workforce/rosters/{roster.pk}/publish/", follow=True).content.decode()
    assert "WORK-005" in publish
    roster.refresh_from_db()
    assert roster.status == RosterStatus.SOLVED


def test_import_page(hospital: Any) -> None:
    client = login(Client(), hospital.user("head"))
    bad = SimpleUploadedFile("h.csv", b"department,date,half_day,exams\n03.04,2026-13-01,am,1\n", "text/csv")
    response = client.post("/workforce/workload/import/", {"file": bad})
    assert response.status_code == 400
    assert b"WORK-001" in response.content
    assert not WorkloadRecord.objects.exists()
    good = SimpleUploadedFile("h.csv", b"department,date,half_day,exams\n03.04,2026-03-02,am,9\n", "text/csv")
    response = client.post("/workforce/workload/import/", {"file": good})
    assert response.status_code == 200
    assert WorkloadRecord.objects.get().exams == 9


def test_forecast_page_draws_the_charts(hospital: Any, ward: Ward, roster: Any) -> None:
    add_history(hospital.cardiology, clock.today() - dt.timedelta(days=1), 240)
    services.train_forecast(
        hospital.user("head"), hospital.cardiology, "inpatients", horizon_days=14, folds=2
    )
    page = (
        login(Client(), hospital.user("head")).get("/workforce/forecast/?department=03.04").content.decode()
    )
    charts = re.findall(r"data-chart='(.*?)'", page, re.DOTALL)
    assert len(charts) == 2  # capacity and the inpatients forecast
    for chart in charts:
        spec = json.loads(chart.replace("&quot;", '"').replace("&#x27;", "'"))
        assert spec["series"]
    assert 'data-testid="backtest"' in page


def test_load_page_after_publishing(hospital: Any, ward: Ward, roster: Any) -> None:
    RosterRequirement.objects.filter(roster=roster, shift_type=ward.shifts["E"]).update(demand=1.7)
    services.publish_roster(hospital.user("head"), roster.pk)
    page = login(Client(), hospital.user("head")).get("/workforce/load/").content.decode()
    assert 'data-testid="person-load"' in page
    assert "85 %" in page  # 1.7 people of work for the two nurses on each early shift


def test_my_shifts_on_the_phone_and_rating(hospital: Any, ward: Ward, roster: Any) -> None:
    services.publish_roster(hospital.user("head"), roster.pk)
    nurse = hospital.user("nurse")
    client = login(Client(), nurse)
    page = client.get("/workforce/my-shifts/").content.decode()
    assert 'data-testid="upcoming-shifts"' in page
    worked = roster.assignments.filter(practitioner=nurse.practitioner, date__lt=clock.today()).first()
    if worked is not None:
        client.post(f"/workforce/my-shifts/{worked.pk}/rate/", {"rating": "5", "overload": "1"})
        assert ShiftFeedback.objects.get(assignment=worked).overload
    response = client.post(
        "/workforce/my-shifts/request/",
        {"what": "request", "date": (clock.today() + dt.timedelta(days=20)).isoformat(), "kind": "off"},
    )
    assert response.status_code == 302
    assert nurse.practitioner.shift_requests.count() == 1


def test_api_errors_are_problem_json(hospital: Any, ward: Ward, roster: Any) -> None:
    client = login(Client(), hospital.user("head"))
    start = clock.today() + dt.timedelta(days=30)
    response = client.post(
        "/api/workforce/rosters",
        json.dumps(
            {
                "department": "03.04",
                "start_date": start.isoformat(),
                "end_date": (start - dt.timedelta(days=1)).isoformat(),
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "WORK-006"
    edit = client.post(
        f"/api/workforce/rosters/{roster.pk}/assignments",
        json.dumps(
            {
                "practitioner_id": ward.nurses[0].pk,
                "date": (_start() + dt.timedelta(days=1)).isoformat(),
                "shift_type_id": ward.shifts["E"].pk,
            }
        ),
        content_type="application/json",
    )
    assert edit.status_code == 200
    assert "forbidden_sequence" in {v["rule"] for v in edit.json()["violations"]}
    check = client.get(f"/api/workforce/rosters/{roster.pk}/check").json()
    assert check["feasible"] is False
    published = client.post(f"/api/workforce/rosters/{roster.pk}/publish")
    assert published.status_code == 409 and published.json()["code"] == "WORK-005"
    bad_csv = client.post(
        "/api/workforce/workload/import",
        json.dumps({"content": "department,date,half_day,exams\n03.04,2026-03-02,am,x\n"}),
        content_type="application/json",
    )
    assert bad_csv.status_code == 400
    assert bad_csv.json()["code"] == "WORK-001"
    assert bad_csv.json()["errors"][0]["field"] == "line 2"
