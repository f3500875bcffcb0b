"""The operations cockpit in a real browser: the operations manager opens the cockpit for a
week, sees the score and the tiles with their status, drills from the appointment success rate
down to the booking channels, records a management action with owner and due date, and changes a
score weight (which lands in the history); the cardiology head then opens the cockpit on a phone,
limited to the department, and drills down to the visits that waited longest, with names only for
patients in the department's care."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import nav_links, open_phone_menu, sign_in

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.mark.browser
def test_manager_drills_down_records_an_action_and_a_head_uses_the_phone(
    hospital: Any, live_server: Any, new_context: Any
) -> None:
    import urllib.request

    from smartcare.kpi.models import ManagementAction, SettingChange
    from tests.kpi.cockpit_world import WEEK, build_week

    build_week(hospital)
    urllib.request.urlopen(f"{live_server.url}/healthz", timeout=300).close()  # noqa: S310 (the live server)

    page = new_context("en").new_page()
    sign_in(page, "manager")
    assert "/kpi/" in nav_links(page)
    page.goto(f"/kpi/?period={WEEK}")
    expect(page.locator("[data-testid=score-gauge] svg")).to_be_visible()
    expect(page.locator("[data-testid=value-arrival_wait]")).to_have_text("30.0 min")
    expect(page.locator("[data-testid=status-booking_success]")).to_have_text("Off target")
    expect(page.locator("[data-testid=status-staff_load]")).to_have_text("No data")

    page.click("[data-testid=tile-booking_success]")
    expect(page.locator("[data-testid=indicator-value]")).to_have_text("75.0 %")
    expect(page.locator("[data-testid=definition]")).to_contain_text("no-show")
    page.locator("[data-testid=drilldowns] a", has_text="Booking channels").click()
    expect(page.locator("[data-testid=breakdown-channel]")).to_contain_text("Telephone")
    expect(page.locator("[data-testid=breakdown-chart] svg")).to_be_visible()

    page.click("text=Record an action")
    form = page.locator("[data-testid=action-form]")
    expect(form.locator("select[name=code]")).to_have_value("booking_success")
    form.locator("input[name=title]").fill("Text reminders for telephone bookings")
    form.locator("select[name=owner]").select_option(str(hospital.user("head").pk))
    form.locator("input[name=due_on]").fill("2026-06-30")
    page.click("[data-testid=record-action]")
    expect(page.locator("[data-testid=actions]")).to_contain_text("Text reminders for telephone bookings")
    assert ManagementAction.objects.get().owner == hospital.user("head")

    page.goto("/kpi/targets/")
    row = page.locator("[data-testid=setting-tele_volume]")
    row.locator("input[name=weight]").fill("0.25")
    row.locator("input[name=reason]").fill("more remote care")
    page.click("[data-testid=save-tele_volume]")
    expect(page.locator("[data-testid=history]")).to_contain_text("more remote care")
    assert SettingChange.objects.get(code="tele_volume", field="weight").new_value == "0.25"

    # The cardiology head on a phone: the department only, the longest waits with names of the
    # department's patients.
    phone = new_context("en", **PHONE).new_page()
    sign_in(phone, "head")
    open_phone_menu(phone)
    assert "/kpi/" in nav_links(phone)
    phone.goto(f"/kpi/?period={WEEK}")
    expect(phone.locator("[data-testid=scope]")).to_contain_text("Cardiology")
    expect(phone.locator("[data-testid=value-arrival_wait]")).to_have_text("30.0 min")
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1
    phone.click("[data-testid=tile-arrival_wait]")
    phone.locator("[data-testid=drilldowns] a", has_text="Cases").click()
    cases = phone.locator("[data-testid=breakdown-cases]")
    expect(cases).to_contain_text(hospital.patient_in_care.name)
    expect(cases.locator("tbody tr").first).to_contain_text("40")
