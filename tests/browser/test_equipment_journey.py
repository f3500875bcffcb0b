"""Equipment in a real browser: the failure model has predicted that a CT's tube is likely to fail
within 3 days, which opened a predictive work order; the engineer (IT administrator) sees it on the
equipment board, opens the asset and its work order on a phone, starts the work with the CT taken
out of service, and closes the order with the part replaced. The CT is back in service."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_an_engineer_sees_a_predicted_failure_and_closes_its_work_order(
    hospital: Any, new_context: Any
) -> None:
    from smartcare.core import clock
    from smartcare.equipment import alerts, services
    from smartcare.equipment.models import FailurePrediction, WorkOrder

    asset, _credential = services.register_asset(
        hospital.user("itadmin"),
        kind="ct",
        name="CT 1",
        maker="Siemens",
        model_name="SOMATOM go.Up",
        serial_number="CT-JOURNEY",
        department_id=hospital.cardiology.pk,
        location="Imaging 2F",
    )
    prediction = FailurePrediction.objects.create(
        asset=asset,
        predicted_at=clock.now(),
        rul_days=2.2,
        horizon_days=3,
        probability=0.83,
        trained_units=6,
        model_rmse=4.1,
    )
    alerts.raise_alert(
        asset,
        rule="prediction",
        metric="rul",
        severity="critical",
        value=2.2,
        limit=3,
        detail="likely to fail within 3 days (confidence 83%)",
        prediction=prediction,
    )
    order = WorkOrder.objects.get(asset=asset)

    page = new_context("en", **PHONE).new_page()
    sign_in(page, "itadmin")
    page.goto("/equipment/")
    row = page.locator("[data-testid=asset-row]").first
    expect(row).to_contain_text("CT 1")
    expect(row.locator("[data-testid=prediction]")).to_contain_text("2 days left")
    expect(page.locator("[data-testid=alert]").first).to_contain_text("likely to fail within 3 days")

    page.locator("[data-testid=alert]").first.click()
    expect(page.locator("[data-testid=latest-prediction]")).to_contain_text("0.83")
    page.locator("[data-testid=asset-orders] a").first.click()
    expect(page.locator("[data-testid=order-prediction]")).to_contain_text("within 3 days")
    expect(page.locator("[data-testid=order-status]")).to_have_text("Open")

    page.locator("input[name=take_down]").check()
    page.locator("[data-testid=start]").click()
    expect(page.locator("[data-testid=order-status]")).to_have_text("In progress")
    expect(page.locator("[data-testid=downtime]")).to_be_visible()

    page.locator("[data-testid=resolution]").fill("Replaced the X-ray tube before it failed")
    page.locator("[data-testid=parts]").fill("X-ray tube x 1")
    page.locator("[data-testid=complete]").click()
    expect(page.locator("[data-testid=order-status]")).to_have_text("Done")

    order.refresh_from_db()
    asset.refresh_from_db()
    assert (order.status, order.assignee.username, order.parts) == (
        "done",
        "itadmin",
        [{"name": "X-ray tube", "quantity": 1}],
    )
    assert order.downtime_ended_at is not None
    assert asset.status == "in_service"
    assert order.alert.status == "closed"
