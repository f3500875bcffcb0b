"""The operations manager's journey through the what-if page and quality control in a real
browser: runs the shipped scenario for cardiology and reads the comparison (chart and table with
intervals); opens the quality measures of June 2025, the critical value never told to a doctor,
and assigns it to the cardiology doctor, who finds it among their reviews on the phone and marks
it "in review"."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import nav_links, open_phone_menu, sign_in

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.mark.browser
def test_manager_runs_a_scenario_and_assigns_a_failed_case(
    hospital: Any, live_server: Any, new_context: Any
) -> None:
    import urllib.request

    from smartcare.kpi.models import QualityReview
    from smartcare.simulation.models import WhatIfRun
    from tests.kpi.quality_world import build_quality_month
    from tests.simulation.whatif_world import build_clinic

    build_clinic(hospital, days=100)
    month = build_quality_month(hospital)
    urllib.request.urlopen(f"{live_server.url}/healthz", timeout=300).close()  # noqa: S310 (the live server)

    page = new_context("en").new_page()
    sign_in(page, "manager")
    page.goto("/simulation/whatif/")
    form = page.locator("[data-testid=whatif-form]")
    form.locator("select[name=department]").select_option("03.04")
    form.locator("input[name=runs]").fill("3")
    form.locator("input[name=weeks]").fill("1")
    expect(form.locator("textarea[name=scenario]")).to_contain_text("extra_sessions")
    page.click("[data-testid=run-scenario]")
    expect(page.locator("[data-testid=run-status]")).to_have_text("Done", timeout=60_000)
    results = page.locator("[data-testid=whatif-results]")
    expect(results.locator("tr[data-metric=wait_mean]")).to_be_visible()
    expect(results.locator("tr[data-metric=staff_load]")).to_contain_text("–")
    expect(page.locator("[data-testid=chart-whatif] svg")).to_be_visible()
    assert WhatIfRun.objects.get().result["department"] == "03.04"

    page.goto("/kpi/quality/?period=2025-06")
    measures = page.locator("[data-testid=quality-measures]")
    expect(measures.locator("tr[data-measure=QC-ABX]")).to_contain_text("No data")
    page.click("[data-testid=failed-QC-CRITICAL]")
    never_told = f"report-{month['reports']['R3'].pk}"
    row = page.locator(f"[data-testid=failed-cases] tr[data-case='{never_told}']")
    expect(row).to_contain_text("Not assigned")
    row.locator("a").click()
    expect(page.locator("[data-testid=case-detail]")).to_contain_text("minutes_to_notice")
    assign = page.locator("[data-testid=assign-form]")
    assign.locator("select[name=reviewer]").select_option(str(hospital.user("doctor").pk))
    assign.locator("input[name=comment]").fill("Why was nobody told?")
    page.click("[data-testid=assign]")
    expect(page.locator("[data-testid=case-review]")).to_contain_text("Assigned")
    review = QualityReview.objects.get(case_key=never_told)
    assert review.reviewer == hospital.user("doctor") and review.comment == "Why was nobody told?"

    phone = new_context("en", **PHONE).new_page()
    sign_in(phone, "doctor")
    open_phone_menu(phone)
    assert "/kpi/quality/reviews/" in nav_links(phone)
    phone.goto("/kpi/quality/reviews/")
    mine = phone.locator(f"[data-testid=quality-reviews] tr[data-review='{review.pk}']")
    expect(mine).to_contain_text(never_told)
    mine.locator("select[name=state]").select_option("in_review")
    mine.locator("button").click()
    expect(phone.locator(f"tr[data-review='{review.pk}']")).to_contain_text("In review")
    review.refresh_from_db()
    assert review.state == "in_review"
