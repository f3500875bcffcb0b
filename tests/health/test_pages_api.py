"""The health pages and API: what they show, what they change, and their errors."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from smartcare.health.models import AdherenceReport, Advice, Enrolment, Programme, RiskAssessment
from tests.factories import TestHospital
from tests.health.helpers import LIFESTYLE, fill_record
from tests.health.test_equations import EXAMPLE


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_calculator_api_answers_the_risk_and_coded_errors(h: TestHospital) -> None:
    client = client_for(h.user("doctor"))
    ok = client.post(
        "/api/health/risk-score/pce",
        json.dumps({**EXAMPLE, "sex": "female", "race": "white"}),
        content_type="application/json",
    )
    assert ok.status_code == 200
    assert ok.json()["model"] == "pce" and round(ok.json()["risk"], 4) == 0.0205
    refused = client.post(
        "/api/health/risk-score/pce",
        json.dumps({**EXAMPLE, "age": 30, "sex": "female", "race": "white"}),
        content_type="application/json",
    )
    assert refused.status_code == 422
    assert refused["Content-Type"].startswith("application/problem+json")
    assert refused.json()["code"] == "HL-003"
    unknown = client.post("/api/health/risk-score/score", "{}", content_type="application/json")
    assert unknown.json()["code"] == "HL-001"
    assert not RiskAssessment.objects.exists()


def test_the_doctor_sees_risks_drivers_and_advice(h: TestHospital) -> None:
    fill_record(h)
    page = client_for(h.user("doctor")).get(f"/health/patients/{h.patient_in_care.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="risk-card" data-model="pce"' in text
    assert 'data-testid="drivers"' in text
    assert "Goff" in text
    data = client_for(h.user("doctor")).get(f"/api/health/patients/{h.patient_in_care.pk}/risk").json()
    assert {a["model"] for a in data["assessments"]} == {"pce", "framingham", "findrisc"}
    assert any(a["for_doctor"] for a in data["advice"]) or data["advice"]


def test_the_patient_sees_plain_words_an_icon_array_and_reports(h: TestHospital) -> None:
    patient = fill_record(h, h.own_patient)
    client = client_for(h.user("patient"))
    page = client.get("/health/me/")
    text = page.content.decode()
    pce = RiskAssessment.objects.filter(patient=patient, model="pce").latest("computed_at")
    n = round(pce.risk * 100)
    assert f'data-affected="{n}"' in text
    assert text.count('class="on"') >= n
    assert 'data-testid="my-risk" data-model="pce"' in text
    assert 'data-model="framingham"' not in text  # one heart risk for the patient
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    english.force_login(h.user("patient"))
    assert (
        f"About {n} in 100 people like you will have a heart attack or a stroke"
        in english.get("/health/me/").content.decode()
    )
    advice = Advice.objects.filter(patient=patient, for_doctor=False, is_current=True).first()
    assert advice is not None
    response = client.post("/health/me/", {"advice": advice.pk, "level": "followed"})
    assert response.status_code == 302
    assert AdherenceReport.objects.get(advice=advice).level == "followed"
    bad = client.post("/health/me/", {"advice": advice.pk, "level": "nope"}, follow=True)
    assert "HL-010" in bad.content.decode()
    elderly = client_for(h.user("patient"))
    elderly.cookies["elderly"] = "1"
    assert 'class="elderly' in elderly.get("/health/me/").content.decode()


def test_the_lifestyle_form_saves_and_refuses(h: TestHospital) -> None:
    client = client_for(h.user("patient"))
    assert client.get("/health/me/lifestyle/").status_code == 200
    bad = client.post("/health/me/lifestyle/", {**LIFESTYLE, "waist_cm": "500"})
    assert bad.status_code == 200 and "HL-012" in bad.content.decode()
    good = client.post("/health/me/lifestyle/", LIFESTYLE)
    assert good.status_code == 302


def test_the_doctor_enrols_and_sees_who_follows(h: TestHospital) -> None:
    fill_record(h, h.own_patient)
    client = client_for(h.user("doctor"))
    programme = Programme.objects.get(key="cardiovascular-risk")
    client.post(f"/health/patients/{h.own_patient.pk}/", {"action": "enrol", "programme": programme.pk})
    enrolment = Enrolment.objects.get(patient=h.own_patient)
    advice = Advice.objects.filter(enrolment=enrolment, for_doctor=False).first()
    assert advice is not None
    client_for(h.user("patient")).post(
        f"/api/health/advice/{advice.pk}/adherence",
        json.dumps({"level": "followed"}),
        content_type="application/json",
    )
    page = client.get("/health/").content.decode()
    assert 'data-status="following"' in page
    rows = client.get("/api/health/followers").json()
    assert rows[0]["status"] == "following" and rows[0]["reports"] == 1
    from smartcare.emr import services as emr

    emr.record_vital(h.user("doctor"), h.own_patient.pk, kind="bp", value=128, value2=80)  # a new risk
    progress = client_for(h.user("patient")).get("/health/me/").content.decode()
    assert 'data-testid="my-progress"' in progress


def test_effect_models_and_indicator_pages(h: TestHospital) -> None:
    head = client_for(h.user("head"))
    assert head.get("/health/effect/").status_code == 200
    assert head.get("/health/models/").status_code == 200
    assert head.get("/api/health/indicator").json()["evaluated"] == 0
    refused = head.post(
        "/health/models/",
        {"action": "train", "outcome": "new_diabetes", "algorithm": "logistic_regression"},
        follow=True,
    )
    assert "HL-007" in refused.content.decode()


def test_the_models_page_shows_the_evaluation_and_promotes(h: TestHospital) -> None:
    from smartcare.health import training
    from smartcare.health.models import TrainedModel
    from tests.health.test_training import dataset

    model = training.train_model(h.user("head"), "new_diabetes", "gradient_boosting", dataset())
    head = client_for(h.user("head"))
    page = head.get("/health/models/").content.decode()
    assert 'data-testid="calibration-chart"' in page and str(model.metrics["auc"]) in page
    assert head.post("/health/models/", {"action": "promote", "model": model.pk}).status_code == 302
    assert TrainedModel.objects.get(pk=model.pk).status == "promoted"
    again = head.post("/health/models/", {"action": "promote", "model": model.pk}, follow=True)
    assert "HL-011" in again.content.decode()
