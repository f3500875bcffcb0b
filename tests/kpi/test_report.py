"""The quarterly evaluation report: every indicator against its target, off-target ones with
contributing factors, actions with owners and due dates; the next report shows what happened to
them; HTML and PDF."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.core.errors import PermissionDenied
from smartcare.kpi import services
from smartcare.kpi.errors import InvalidAction, NotAQuarter, QuarterNotOver
from smartcare.kpi.models import ManagementAction, QuarterlyReport
from smartcare.kpi.report import generate_report
from tests.kpi.cockpit_world import build_week

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def test_report_html_pdf_and_follow_up_of_actions(db: Any) -> None:
    week = build_week()
    manager, head = week.h.users["manager"], week.h.users["head"]
    action = services.create_action(
        manager,
        code="booking_success",
        title="SMS reminders for phone bookings",
        owner_id=head.pk,
        due_on="2026-05-31",
    )
    ManagementAction.objects.filter(pk=action.pk).update(created_at=dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    report = generate_report(manager, "2026-Q1")
    html = report.html
    assert "Quarterly evaluation 2026-Q1" in html
    assert "Appointment success rate" in html and "75.0 %" in html  # off target
    assert "Off target: main contributing factors" in html
    assert "No-shows by booking channel" in html and "Telephone: 1 no-shows of 1" in html
    assert "SMS reminders for phone bookings" in html and "2026-05-31" in html and str(head) in html
    assert "Noto Sans CJK SC" in html and "WenQuanYi Micro Hei" in html
    assert bytes(report.pdf).startswith(b"%PDF")
    assert ManagementAction.objects.get(pk=action.pk).report == report
    # The action is done; the next quarter's report says so.
    services.close_action(manager, action.pk, "done", "Reminders sent since April")
    following = generate_report(manager, "2026-Q2")
    assert "Actions from the previous report (2026-Q1)" in following.html
    assert "Reminders sent since April" in following.html
    # Regenerating replaces the report of the quarter
    generate_report(manager, "2026-Q1")
    assert QuarterlyReport.objects.filter(period="2026-Q1").count() == 1


@pytest.mark.parametrize(("quarter", "error"), [("2026-03", NotAQuarter), ("2099-Q1", QuarterNotOver)])
def test_report_bad_input(db: Any, quarter: str, error: type) -> None:
    week = build_week()
    with pytest.raises(error):
        generate_report(week.h.users["manager"], quarter)
    assert not QuarterlyReport.objects.exists()


def test_only_managers_generate(db: Any) -> None:
    week = build_week()
    with pytest.raises(PermissionDenied):
        generate_report(week.h.users["head"], "2026-Q1")


@pytest.mark.parametrize(
    ("fields", "problem_field"),
    [
        ({"title": ""}, "title"),
        ({"due_on": "31/05/2026"}, "due_on"),
        ({"owner_id": "doctor"}, "owner"),
    ],
)
def test_bad_actions_write_nothing(db: Any, fields: dict[str, Any], problem_field: str) -> None:
    week = build_week()
    values = {
        "code": "arrival_wait",
        "title": "More rooms",
        "owner_id": week.h.users["manager"].pk,
        "due_on": "2026-05-01",
    }
    values.update(fields)
    with pytest.raises(InvalidAction) as caught:
        services.create_action(week.h.users["manager"], **values)
    assert caught.value.field == problem_field
    assert not ManagementAction.objects.exists()


def test_department_heads_record_actions_for_their_department(db: Any) -> None:
    week = build_week()
    head = week.h.users["head"]
    action = services.create_action(
        head, code="arrival_wait", title="Open room 2", owner_id=head.pk, due_on="2026-05-01"
    )
    assert action.department == week.h.cardiology
