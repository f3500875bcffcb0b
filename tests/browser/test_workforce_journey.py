"""The planner's journey in a real browser: the cardiology head generates next week's roster
(solved by CP-SAT in the background task), moves a nurse onto an early shift right after her
night, sees the minimum-rest rule it breaks and the refused publication, puts the shift back and
publishes; a nurse then finds her shifts on her phone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.mark.browser
def test_planner_generates_edits_sees_the_broken_rule_and_publishes(
    hospital: Any, live_server: Any, new_context: Any
) -> None:
    import urllib.request

    from smartcare.core import clock
    from smartcare.notifications.models import Notification
    from smartcare.workforce.models import Assignment, Roster
    from tests.workforce.world import make_ward

    ward = make_ward(hospital)
    today = clock.today()
    start = today + dt.timedelta(days=7 - today.weekday())

    # The first request loads every app's URLs and views; on a busy machine that can take longer
    # than a browser navigation waits, so it is made here first.
    urllib.request.urlopen(f"{live_server.url}/healthz", timeout=300).close()  # noqa: S310 (the live server)

    page = new_context("en").new_page()
    sign_in(page, "head")
    page.goto("/workforce/rosters/")
    form = page.locator("[data-testid=roster-form]")
    form.locator("select[name=department]").select_option("03.04")
    form.locator("input[name=start_date]").fill(start.isoformat())
    form.locator("input[name=end_date]").fill((start + dt.timedelta(days=6)).isoformat())
    form.locator("input[name=time_limit]").fill("5")
    page.click("[data-testid=generate]")

    expect(page.locator("[data-testid=roster-status]")).to_have_attribute(
        "data-status", "solved", timeout=60_000
    )
    expect(page.locator("[data-testid=no-violations]")).to_be_visible()
    roster = Roster.objects.get(department=hospital.cardiology, start_date=start)
    assert page.locator("[data-testid=cell]").count() == 7 * roster.members.count()

    # A nurse's night, then the early shift the next morning.
    night = (
        Assignment.objects.filter(
            roster=roster, shift_type=ward.shifts["N"], date__lt=start + dt.timedelta(days=6)
        )
        .order_by("date")
        .first()
    )
    assert night is not None
    person, morning = night.practitioner, night.date + dt.timedelta(days=1)
    original = Assignment.objects.filter(roster=roster, practitioner=person, date=morning).first()
    page.locator(
        f"[data-testid=cell][data-person='{person.pk}'][data-date='{night.date.isoformat()}']"
    ).click()
    edit = page.locator("[data-testid=edit-form]")
    expect(edit.locator("select[name=practitioner]")).to_have_value(str(person.pk))
    edit.locator("input[name=date]").fill(morning.isoformat())
    edit.locator("select[name=shift_type]").select_option(str(ward.shifts["E"].pk))
    edit.locator("input[name=reason]").fill("covering a colleague")
    page.click("[data-testid=save-edit]")

    violations = page.locator("[data-testid=violation]")
    expect(violations.first).to_be_visible()
    expect(page.locator("[data-testid=violations]")).to_contain_text("Minimum rest")
    expect(page.locator("[data-testid=violations]")).to_contain_text(str(person.user))
    cell = page.locator(f"[data-testid=cell][data-person='{person.pk}'][data-date='{morning.isoformat()}']")
    expect(cell).to_have_attribute("data-shift", "E")

    page.click("[data-testid=publish]")
    expect(page.locator(".alert-danger").first).to_contain_text("WORK-005")
    assert Roster.objects.get(pk=roster.pk).status == "solved"

    # Put the shift back as the solver had it, and publish.
    cell.click()
    edit.locator("select[name=shift_type]").select_option(str(original.shift_type_id) if original else "")
    page.click("[data-testid=save-edit]")
    expect(page.locator("[data-testid=no-violations]")).to_be_visible()
    page.click("[data-testid=publish]")
    expect(page.locator("[data-testid=roster-status]")).to_have_attribute("data-status", "published")
    assert Notification.objects.filter(recipient=person.user, category="roster").exists()

    # The nurse on her phone: her shifts of next week, without sideways scrolling.
    nurse = hospital.user("nurse")
    shifts = Assignment.objects.filter(roster=roster, practitioner=nurse.practitioner).count()
    phone = new_context("en", **PHONE).new_page()
    sign_in(phone, "nurse")
    phone.goto("/workforce/my-shifts/")
    expect(phone.locator("[data-testid=my-shifts-title]")).to_be_visible()
    expect(phone.locator("[data-testid=upcoming-shifts] li")).to_have_count(max(shifts, 1))
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1
