"""Pages and API: the doctors' board ordered by risk with charts, a monitored patient's page, the
patient's own page (phone and elderly mode), forms that refuse bad input, and the API."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.db import transaction
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.monitoring import services
from smartcare.monitoring.ingest import Incoming, ReadingInput, store_batch
from smartcare.monitoring.models import Alert, Device, Reading, RehabSuggestion, Threshold
from tests.factories import PatientFactory, TestHospital
from tests.monitoring.conftest import Monitored


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def reading(
    m_patient: Any, kind: str, value: float, value2: float | None = None, hours_ago: float = 1
) -> None:
    with transaction.atomic():
        store_batch(
            [
                Incoming(
                    patient_id=m_patient.pk,
                    reading=ReadingInput(
                        kind=kind,
                        value=value,
                        value2=value2,
                        measured_at=clock.now() - dt.timedelta(hours=hours_ago),
                    ),
                    source="manual",
                )
            ],
            actor=None,
        )


def test_the_board_orders_patients_by_risk(h: TestHospital, monitored: Monitored) -> None:
    doctor = h.user("doctor")
    calm = PatientFactory(name="平稳患者")
    warned = PatientFactory(name="预警患者")
    for patient in (calm, warned):
        from smartcare.accounts.services import register_care_relationship

        register_care_relationship(
            patient=patient, department=h.cardiology, kind="follow_up", source=f"t:{patient.pk}"
        )
        services.enroll_patient(doctor, patient.pk)
    reading(calm, "blood_pressure", 128, 80)
    reading(warned, "glucose", 14.2)
    reading(monitored.patient, "blood_pressure", 188, 112)
    response = signed_in(doctor).get("/monitoring/")
    assert response.status_code == 200
    order = [int(pk) for pk in re.findall(rb'data-testid="board-row" data-patient="(\d+)"', response.content)]
    assert order == [monitored.patient.pk, warned.pk, calm.pk]
    assert b'data-severity="critical"' in response.content
    assert response.content.count(b'data-testid="spark"') == 3  # a small trend chart per patient
    assert AuditEvent.objects.filter(action="search", object_type="monitoring.Board", actor=doctor).exists()
    # The department view lists the same patients for the department head; the neurologist has none.
    head = signed_in(h.user("head")).get("/monitoring/?scope=department")
    assert head.content.count(b'data-testid="board-row"') == 3
    assert signed_in(h.user("head")).get("/monitoring/").content.count(b'data-testid="board-row"') == 0
    assert (
        b'data-testid="board-row"'
        not in signed_in(h.user("neurologist")).get("/monitoring/?scope=department").content
    )


def test_the_patient_page_shows_charts_alerts_devices_and_thresholds(
    h: TestHospital, monitored: Monitored
) -> None:
    reading(monitored.patient, "blood_pressure", 150, 92, hours_ago=30)
    reading(monitored.patient, "blood_pressure", 186, 111)
    client = signed_in(h.user("doctor"))
    response = client.get(f"/monitoring/patients/{monitored.patient.pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-testid="chart-card" data-kind="blood_pressure"' in content
    chart = json.loads(
        re.search(r'class="chart" data-chart="([^"]+)"', content).group(1).replace("&quot;", '"')
    )
    assert [s["type"] for s in chart["series"]] == ["line", "line"]
    assert len(chart["series"][0]["data"]) == 2
    assert {line["yAxis"] for line in chart["series"][0]["markLine"]["data"]} == {90, 160, 180}
    assert 'data-testid="alert"' in content and 'data-severity="critical"' in content
    assert monitored.device.uid in content
    assert 'name="blood_pressure.systolic.critical_high" value="180"' in content
    event = AuditEvent.objects.filter(
        action="read", patient_id=monitored.patient.pk, actor=h.user("doctor")
    ).last()
    assert event is not None
    # The neurologist without care gets "not found", as for a patient that does not exist.
    assert (
        signed_in(h.user("neurologist")).get(f"/monitoring/patients/{monitored.patient.pk}/").status_code
        == 404
    )


def test_pairing_on_the_page_shows_the_credential_once(h: TestHospital, monitored: Monitored) -> None:
    client = signed_in(h.user("nurse"))
    response = client.post(
        f"/monitoring/patients/{monitored.patient.pk}/devices/",
        {"kind": "glucometer", "serial_number": "G-77", "manufacturer": "三诺"},
    )
    assert response.status_code == 200
    credential = re.search(rb'data-testid="credential">(scd_[^<]+)<', response.content).group(1).decode()
    device = Device.objects.get(serial_number="G-77")
    assert device.secret_hash == Device.hash_secret(credential)
    assert f"{device.uid}/readings".encode() in response.content
    assert credential.encode() not in client.get(f"/monitoring/patients/{monitored.patient.pk}/").content
    # Bad input: the message on the page, nothing written.
    again = client.post(
        f"/monitoring/patients/{monitored.patient.pk}/devices/",
        {"kind": "glucometer", "serial_number": ""},
        follow=True,
    )
    assert "CORE-001" in again.content.decode()
    assert Device.objects.count() == 2


def test_thresholds_form(h: TestHospital, monitored: Monitored) -> None:
    client = signed_in(h.user("doctor"))
    url = f"/monitoring/patients/{monitored.patient.pk}/thresholds/"
    bad = client.post(
        url, {"glucose.value.warning_high": "abc", "glucose.value.critical_high": "16.7"}, follow=True
    )
    assert "CORE-001" in bad.content.decode()
    wrong = client.post(
        url, {"glucose.value.warning_high": "18", "glucose.value.critical_high": "16.7"}, follow=True
    )
    assert "MON-007" in wrong.content.decode()
    assert not Threshold.objects.exists()
    ok = client.post(
        url,
        {
            "glucose.value.critical_low": "3.5",
            "glucose.value.warning_low": "4.4",
            "glucose.value.warning_high": "10",
            "glucose.value.critical_high": "15",
            "reason": "pregnancy",
        },
    )
    assert ok.status_code == 302
    row = Threshold.objects.get()
    assert (row.kind, row.metric, row.warning_high, row.reason) == ("glucose", "value", 10, "pregnancy")


def test_acknowledging_on_the_board(h: TestHospital, monitored: Monitored) -> None:
    reading(monitored.patient, "spo2", 86)
    alert = Alert.objects.get()
    client = signed_in(h.user("doctor"))
    response = client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/", {"next": "/monitoring/"})
    assert response["Location"] == "/monitoring/"
    alert.refresh_from_db()
    assert alert.status == "acknowledged"
    twice = client.post(
        f"/monitoring/alerts/{alert.pk}/acknowledge/", {"next": "https://evil.example/"}, follow=True
    )
    assert "MON-006" in twice.content.decode()
    assert twice.redirect_chain[0][0] == "/monitoring/"


def test_the_patients_own_page_and_manual_readings(h: TestHospital, monitored: Monitored) -> None:
    client = signed_in(h.user("patient"))
    page = client.get("/monitoring/me/")
    assert page.status_code == 200
    assert b'data-testid="bp-form"' in page.content
    response = client.post(
        "/monitoring/me/readings/",
        {"kind": "blood_pressure", "value": "183", "value2": "111", "pulse": "88"},
        follow=True,
    )
    content = response.content.decode()
    assert 'data-testid="my-alert" data-severity="critical"' in content
    assert "120" in content  # the advice to call the emergency number
    assert 'data-testid="my-chart" data-kind="blood_pressure"' in content
    reading_row = Reading.objects.get()
    assert (reading_row.source, reading_row.recorded_by, reading_row.device) == (
        "manual",
        h.user("patient"),
        None,
    )
    # Bad input: the message, nothing stored.
    bad = client.post("/monitoring/me/readings/", {"kind": "blood_pressure", "value": "120"}, follow=True)
    assert "CORE-001" in bad.content.decode()
    implausible = client.post("/monitoring/me/readings/", {"kind": "spo2", "value": "140"}, follow=True)
    assert "MON-005" in implausible.content.decode()
    assert Reading.objects.count() == 1
    # Elderly mode: the same page in large print, charts included.
    user = h.user("patient")
    user.elderly_mode = True
    user.save()
    elderly = client.get("/monitoring/me/")
    assert b'class="elderly' in elderly.content and b'data-testid="my-chart"' in elderly.content


def test_a_patient_without_a_record_and_staff_on_the_patient_page(h: TestHospital) -> None:
    from tests.factories import UserFactory

    lonely = UserFactory(username="lonely", role="patient")
    page = signed_in(lonely).get("/monitoring/me/", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and b"not linked" in page.content and b"bp-form" not in page.content
    assert signed_in(h.user("doctor")).get("/monitoring/me/").status_code == 403


def test_rehab_on_the_pages(h: TestHospital, monitored: Monitored) -> None:
    client = signed_in(h.user("nurse"))
    url = f"/monitoring/patients/{monitored.patient.pk}/rehab/"
    bad = client.post(url, {"steps": "-3"}, follow=True)
    assert "CORE-001" in bad.content.decode()
    assert client.post(url, {"steps": "5000", "exercise_minutes": "30", "goal": "walk"}).status_code == 302
    page = client.get(f"/monitoring/patients/{monitored.patient.pk}/").content.decode()
    assert 'data-testid="rehab-progress" data-kind="steps"' in page
    plan = monitored.patient.rehab_plans.get()
    suggestion = RehabSuggestion.objects.create(
        plan=plan,
        kind="steps",
        rule="progression",
        current_target=5000,
        suggested_target=5500,
        window_start=clock.today() - dt.timedelta(days=7),
        window_end=clock.today() - dt.timedelta(days=1),
        daily_values=[5100] * 7,
    )
    assert (
        'data-testid="suggestion"'
        in client.get(f"/monitoring/patients/{monitored.patient.pk}/").content.decode()
    )
    response = client.post(
        f"/monitoring/rehab/suggestions/{suggestion.pk}/", {"decision": "edit", "target": "5200"}
    )
    assert response.status_code == 302
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.applied_target) == ("edited", 5200)
    own = signed_in(h.user("patient")).get("/monitoring/me/").content.decode()
    assert 'data-testid="my-rehab-progress" data-kind="steps"' in own and "/ 5200" in own


def test_duty_page(h: TestHospital) -> None:
    client = signed_in(h.user("head"))
    start = clock.local_now().replace(second=0, microsecond=0)
    bad = client.post(
        "/monitoring/duty/",
        {"doctor": h.user("doctor").pk, "starts_at": "tomorrow", "ends_at": ""},
        follow=True,
    )
    assert "CORE-001" in bad.content.decode()
    ok = client.post(
        "/monitoring/duty/",
        {
            "doctor": h.user("doctor").pk,
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + dt.timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"),
        },
        follow=True,
    )
    assert 'data-testid="duties"' in ok.content.decode() and str(h.user("doctor")) in ok.content.decode()


# --- API ---------------------------------------------------------------------------------------------


def test_api_observations_board_thresholds_and_acknowledge(h: TestHospital, monitored: Monitored) -> None:
    reading(monitored.patient, "blood_pressure", 181, 100)
    client = signed_in(h.user("doctor"))
    bundle = client.get(f"/api/monitoring/patients/{monitored.patient.pk}/observations?kind=blood_pressure")
    assert bundle.status_code == 200 and bundle["Content-Type"] == "application/fhir+json"
    body = bundle.json()
    from smartcare.monitoring.fhir import _validate

    _validate(body, "searchset")
    assert (
        body["total"] == 1 and body["entry"][0]["resource"]["interpretation"][0]["coding"][0]["code"] == "AA"
    )
    assert (
        client.get(f"/api/monitoring/patients/{monitored.patient.pk}/observations?kind=nonsense").status_code
        == 400
    )
    board = client.get("/api/monitoring/board").json()
    assert board[0]["patient_id"] == monitored.patient.pk and board[0]["alerts"][0]["severity"] == "critical"
    alert_id = board[0]["alerts"][0]["id"]
    done = client.post(
        f"/api/monitoring/alerts/{alert_id}/acknowledge",
        json.dumps({"note": "phoned"}),
        content_type="application/json",
    )
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    again = client.post(
        f"/api/monitoring/alerts/{alert_id}/acknowledge", "{}", content_type="application/json"
    )
    assert again.status_code == 409 and again.json()["code"] == "MON-006"
    thresholds = client.get(f"/api/monitoring/patients/{monitored.patient.pk}/thresholds").json()
    assert {
        "kind": "spo2",
        "metric": "value",
        "critical_low": 90.0,
        "warning_low": 94.0,
        "warning_high": None,
        "critical_high": None,
        "patient_specific": False,
    } in thresholds
    wrong = client.put(
        f"/api/monitoring/patients/{monitored.patient.pk}/thresholds",
        json.dumps(
            {"thresholds": [{"kind": "spo2", "metric": "value", "critical_low": 95, "warning_low": 92}]}
        ),
        content_type="application/json",
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "MON-007"
    assert not Threshold.objects.exists()


def test_api_pairing_and_rehab(h: TestHospital, monitored: Monitored) -> None:
    client = signed_in(h.user("nurse"))
    response = client.post(
        f"/api/monitoring/patients/{monitored.patient.pk}/devices",
        json.dumps({"kind": "wearable", "serial_number": "W-9"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["mqtt_topic"] == f"smartcare/devices/{body['uid']}/readings"
    assert Device.objects.get(pk=body["id"]).secret_hash == Device.hash_secret(body["credential"])
    assert client.get(f"/api/monitoring/patients/{monitored.patient.pk}/rehab").json()["plan_id"] is None
    services.create_rehab_plan(h.user("nurse"), monitored.patient.pk, targets={"steps": 4000})
    rehab = signed_in(h.user("patient")).get(f"/api/monitoring/patients/{monitored.patient.pk}/rehab").json()
    assert rehab["targets"][0]["kind"] == "steps" and rehab["targets"][0]["target"] == 4000
    assert client.post(f"/api/monitoring/devices/{body['id']}/unpair").status_code == 204
