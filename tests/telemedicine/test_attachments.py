"""The record attached to a request: selected notes, results, diagnoses and imaging studies of this
patient only (the requester opened the patient through the access helpers). Another patient's
result or diagnosis refuses the whole request (TM-007) and writes nothing; the expert sees what was
attached once they accept, the pool only the question before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.emr.models import Diagnosis, Encounter, Icd10Code, Observation
from smartcare.notifications.models import Notification
from smartcare.patients.models import Consent
from smartcare.telemedicine import services
from smartcare.telemedicine.models import Consultation
from tests.factories import TestHospital, as_user
from tests.telemedicine.conftest import ask

pytestmark = pytest.mark.usefixtures("english")


def record_of(h: TestHospital, patient: Any) -> tuple[Observation, Diagnosis]:
    encounter = Encounter.objects.create(
        patient=patient,
        kind="outpatient",
        department=h.cardiology,
        status="in_progress",
        started_at=clock.now(),
    )
    result = Observation.objects.create(
        patient=patient,
        encounter=encounter,
        code="2160-0",
        name="Creatinine",
        value=182.0,
        unit="umol/L",
        reference_low=45,
        reference_high=84,
        flag="H",
    )
    diagnosis = Diagnosis.objects.create(
        encounter=encounter,
        icd10=Icd10Code.objects.get(code="I10"),
        is_primary=True,
        recorded_by=h.user("doctor"),
    )
    return result, diagnosis


def test_results_and_diagnoses_are_attached_and_shown_to_the_expert(h: TestHospital, frozen: Any) -> None:
    result, diagnosis = record_of(h, h.patient_in_care)
    c = ask(h, result_ids=[result.pk], diagnosis_ids=[str(diagnosis.pk)])
    assert list(c.results.all()) == [result] and list(c.diagnoses.all()) == [diagnosis]
    expert = as_user(Client(), h.user("neurologist"))
    before = expert.get(f"/telemedicine/consultations/{c.pk}/").content.decode()
    assert "Creatinine" not in before  # the pool/expert sees the question only until accepting
    services.accept(h.user("neurologist"), c.pk)
    page = expert.get(f"/telemedicine/consultations/{c.pk}/").content.decode()
    assert 'data-testid="shared-result"' in page and "Creatinine" in page and "182.0" in page
    assert 'data-testid="shared-diagnosis"' in page and "<code>I10</code>" in page


@pytest.mark.parametrize("kind", ["result_ids", "diagnosis_ids"])
def test_another_patients_result_or_diagnosis_refuses_the_request(
    h: TestHospital, frozen: Any, kind: str
) -> None:
    mine = record_of(h, h.patient_in_care)
    theirs = record_of(h, h.patient_elsewhere)  # neurology's patient: not visible to the requester
    index = 0 if kind == "result_ids" else 1
    consents = Consent.objects.count()
    with pytest.raises(CodedError) as caught:
        ask(h, **{kind: [mine[index].pk, theirs[index].pk]})
    assert caught.value.code == "TM-007"
    assert not Consultation.objects.exists() and Consent.objects.count() == consents
    assert not Notification.objects.filter(category="telemedicine").exists()
    with pytest.raises(CodedError) as caught:
        ask(h, **{kind: "12"})  # not a list
    assert caught.value.code == "TM-007"


def test_the_form_and_the_api_attach_results_and_diagnoses(h: TestHospital, frozen: Any) -> None:
    result, diagnosis = record_of(h, h.patient_in_care)
    other_result, _other = record_of(h, h.patient_elsewhere)
    doctor = as_user(Client(), h.user("doctor"))
    url = f"/telemedicine/patients/{h.patient_in_care.pk}/new/"
    form = doctor.get(url).content.decode()
    assert (
        f'name="results" value="{result.pk}"' in form and f'name="diagnoses" value="{diagnosis.pk}"' in form
    )
    assert f'name="results" value="{other_result.pk}"' not in form
    data = {
        "specialty": str(h.neurology.pk),
        "question": "Renal function?",
        "working_diagnosis": "I10",
        "consent": "on",
        "results": [str(result.pk), str(other_result.pk)],
        "diagnoses": [str(diagnosis.pk)],
    }
    refused = doctor.post(url, data)
    assert refused.status_code == 200 and b"TM-007" in refused.content and not Consultation.objects.exists()
    assert doctor.post(url, {**data, "results": [str(result.pk)]}).status_code == 302
    c = Consultation.objects.get()
    assert list(c.results.all()) == [result] and list(c.diagnoses.all()) == [diagnosis]

    body = {
        "patient_id": h.patient_in_care.pk,
        "specialty_id": h.neurology.pk,
        "question": "?",
        "working_diagnosis": "I10",
        "consent_given": True,
        "result_ids": [result.pk],
        "diagnosis_ids": [diagnosis.pk],
    }
    refused_api = doctor.post(
        "/api/telemedicine/consultations",
        json.dumps({**body, "result_ids": [other_result.pk]}),
        content_type="application/json",
    )
    assert refused_api.status_code == 400 and refused_api.json()["code"] == "TM-007"
    assert Consultation.objects.count() == 1
    created = doctor.post(
        "/api/telemedicine/consultations", json.dumps(body), content_type="application/json"
    )
    assert created.status_code == 201
    assert created.json()["attachments"] == {
        "notes": [],
        "results": [result.pk],
        "diagnoses": [diagnosis.pk],
        "studies": [],
    }
    detail = doctor.get(f"/api/telemedicine/consultations/{created.json()['id']}").json()
    assert detail["attachments"]["results"] == [result.pk]


def test_more_information_may_attach_results(h: TestHospital, frozen: Any) -> None:
    result, _diagnosis = record_of(h, h.patient_in_care)
    other_result, _ = record_of(h, h.patient_elsewhere)
    c = ask(h)
    services.ask_for_information(h.user("neurologist"), c.pk, "Creatinine?")
    with pytest.raises(CodedError) as caught:
        services.provide_information(h.user("doctor"), c.pk, "Here", result_ids=[other_result.pk])
    assert caught.value.code == "TM-007"
    assert Consultation.objects.get(pk=c.pk).status == "info_requested"
    services.provide_information(h.user("doctor"), c.pk, "Here", result_ids=[result.pk])
    assert list(Consultation.objects.get(pk=c.pk).results.all()) == [result]
