"""Home monitoring in a real browser: a patient's home blood pressure monitor reports a reading at
the critical threshold (FHIR over HTTP, with the device's own credential); the patient sees the
advice on the phone; the doctor's monitoring board shows the alert with its trend chart; the doctor
acknowledges it; the patient sees that the care team has reviewed it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def observation(systolic: int, diastolic: int, ident: str) -> dict[str, Any]:
    from smartcare.core import clock

    loinc = "http://loinc.org"
    return {
        "resourceType": "Observation",
        "identifier": [{"value": ident}],
        "status": "final",
        "code": {"coding": [{"system": loinc, "code": "85354-9"}]},
        "effectiveDateTime": clock.now().isoformat(),
        "component": [
            {
                "code": {"coding": [{"system": loinc, "code": "8480-6"}]},
                "valueQuantity": {"value": systolic, "unit": "mmHg"},
            },
            {
                "code": {"coding": [{"system": loinc, "code": "8462-4"}]},
                "valueQuantity": {"value": diastolic, "unit": "mmHg"},
            },
        ],
    }


def test_a_home_reading_crosses_the_threshold_and_the_doctor_acknowledges_it(
    hospital: Any, new_context: Any
) -> None:
    from smartcare.monitoring import services
    from smartcare.monitoring.models import Alert

    patient = hospital.own_patient
    services.enroll_patient(hospital.user("doctor"), patient.pk, reason="hypertension")
    _device, credential = services.register_device(
        hospital.user("nurse"),
        patient.pk,
        kind="bp_monitor",
        serial_number="BP-JOURNEY",
        manufacturer="Omron",
    )

    # The monitor at home sends yesterday evening's normal reading and this morning's at 180/110.
    device = new_context("en")
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "application/fhir+json"}
    for systolic, diastolic, ident in ((138, 86, "evening"), (182, 112, "morning")):
        response = device.request.post(
            "/api/monitoring/fhir/Observation",
            data=json.dumps(observation(systolic, diastolic, ident)),
            headers=headers,
            timeout=120_000,  # the first request loads the FHIR models (seconds on a busy machine)
        )
        assert response.status == 201, response.text()

    # The patient's phone: the alert with what to do now.
    phone = new_context("en", **PHONE).new_page()
    sign_in(phone, "patient")
    phone.goto("/monitoring/me/")
    alert_box = phone.locator("[data-testid=my-alert][data-severity=critical]")
    expect(alert_box).to_contain_text("182/112")
    expect(alert_box.locator("[data-testid=advice]")).to_contain_text("call 120")
    expect(phone.locator("[data-testid=my-chart][data-kind=blood_pressure] svg").first).to_be_visible()

    # The doctor's board: the patient on top, the critical alert, the small trend chart.
    page = new_context("en").new_page()
    sign_in(page, "doctor")
    page.goto("/monitoring/")
    row = page.locator("[data-testid=board-row]").first
    expect(row).to_have_attribute("data-patient", str(patient.pk))
    alert = row.locator("[data-testid=alert][data-severity=critical]")
    expect(alert).to_contain_text("182/112 mmHg")
    expect(row.locator("[data-testid=spark] svg")).to_be_visible()
    expect(page.locator("[data-testid=open-alert-count]")).to_have_text("1")

    alert.locator("[data-testid=acknowledge]").click()
    expect(page.locator("[data-testid=open-alert-count]")).to_have_text("0")
    expect(page.locator("[data-testid=board-row]").first.locator("[data-testid=alert]")).to_have_count(0)
    stored = Alert.objects.get()
    assert (stored.status, stored.acknowledged_by.username) == ("acknowledged", "doctor")

    # The patient sees that the care team has reviewed it.
    phone.reload()
    expect(phone.locator("[data-testid=my-alert]")).to_have_count(0)
    expect(phone.locator("[data-testid=alert-history]")).to_contain_text("Reviewed by your care team")
