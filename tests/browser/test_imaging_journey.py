"""Imaging and reports in a real browser: a doctor scrolls through a CT series and changes the
window; on a phone, a patient opens the lab report from the inbox and sees the abnormal value
highlighted and explained."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import sign_in


def test_doctor_scrolls_a_ct_series_and_patient_reads_a_report(
    hospital: Any, new_context: Any, settings: Any, tmp_path: Path
) -> None:
    from django.urls import get_resolver

    from smartcare.interop.dicom import services
    from smartcare.interop.dicom.phantom import ct_series
    from smartcare.interop.hl7.services import receive
    from smartcare.interop.models import ConnectedSystem, ImagingStudy
    from tests.factories import UserFactory

    get_resolver().url_patterns  # noqa: B018 (the live server's first page should not pay for the URLconf)
    settings.SMARTCARE_DICOM_DIR = str(tmp_path / "dicom")
    patient = hospital.patient_in_care
    files = ct_series(
        patient_id=patient.medical_record_number, patient_name=patient.name, slices=20, kind="chest"
    )
    services.store_instances(
        hospital.user("doctor"), [(str(i), f) for i, f in enumerate(files)], patient_id=patient.pk
    )
    study = ImagingStudy.objects.get()

    page = new_context("en").new_page()
    sign_in(page, "doctor")
    page.goto(f"/interop/imaging/studies/{study.pk}/")
    viewer = page.locator("[data-testid=viewer]")
    expect(page.locator("[data-testid=slice-position]")).to_have_text("1 / 20")
    expect(page.locator("[data-testid=frame-image]")).to_have_attribute("src", re.compile(r"^blob:"))
    expect(viewer).to_have_attribute("data-window", "-600,1500")  # the file's lung window
    viewer.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("[data-testid=slice-position]")).to_have_text("3 / 20")
    page.locator("[data-testid=slice-slider]").fill("20")
    expect(viewer).to_have_attribute("data-index", "20")
    page.get_by_role("button", name="Soft tissue").click()
    expect(viewer).to_have_attribute("data-window", "40,400")
    page.fill("[data-testid=window-center]", "50")
    page.fill("[data-testid=window-width]", "350")
    page.get_by_role("button", name="Apply").click()
    expect(viewer).to_have_attribute("data-window", "50,350")
    natural = page.locator("[data-testid=frame-image]").evaluate("img => img.naturalWidth")
    assert natural == 128

    # The laboratory reports a high glucose for the patient with a portal account.
    user = UserFactory(username="lis-browser", role="channel")
    ConnectedSystem.objects.create(name="LIS", kind="lis", user=user, sending_application="LAB")
    own = hospital.own_patient
    message = (
        "\r".join(
            [
                "MSH|^~\\&|LAB||SMARTCARE||20260110090000||ORU^R01|B-1|P|2.5",
                f"PID|1||{own.medical_record_number}^^^SMARTCARE^MR||本人||{own.birth_date:%Y%m%d}|F",
                "OBR|1||F-1|2345-7^Glucose^LN|||20260110080000||||||||||||||||CH|F",
                "OBX|1|NM|2345-7^Glucose^LN||9.8|mmol/L|3.9-6.1|H|||F",
            ]
        )
        + "\r"
    )
    assert receive(message).ack_codes == ["AA"]
    phone = new_context(
        "en", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    ).new_page()
    sign_in(phone, "patient")
    phone.goto("/notifications/")
    phone.locator("[data-testid=inbox]").get_by_role("link", name="Open").first.click()
    row = phone.locator("[data-testid=abnormal-result]")
    expect(row).to_have_count(1)
    expect(row).to_have_class("table-warning")
    expect(phone.locator("[data-testid=explanation]")).to_contain_text("blood sugar")
