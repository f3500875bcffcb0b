"""The pages and the API over the same services: a request from the form (bad input shown with its
code, nothing written), the expert's acceptance and opinion with annotations from the room, the
quality and indicator pages, the room token over the API."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from smartcare.telemedicine.models import Consultation, Opinion
from tests.factories import TestHospital, as_user


def test_request_accept_and_answer_through_the_pages(h: TestHospital, frozen: Any) -> None:
    doctor = as_user(Client(), h.user("doctor"))
    url = f"/telemedicine/patients/{h.patient_in_care.pk}/new/"
    assert doctor.get(url).status_code == 200
    form = {
        "specialty": str(h.neurology.pk),
        "question": "Stroke or TIA?",
        "working_diagnosis": "G45.9",
        "urgency": "urgent",
    }
    page = doctor.post(url, form)  # no consent
    assert page.status_code == 200 and b"TM-001" in page.content
    assert not Consultation.objects.exists()
    response = doctor.post(url, {**form, "consent": "on"})
    c = Consultation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/telemedicine/consultations/{c.pk}/"

    expert = as_user(Client(), h.user("neurologist"))
    queue = expert.get("/telemedicine/")
    assert c.number.encode() in queue.content
    assert expert.post(f"/telemedicine/consultations/{c.pk}/", {"action": "accept"}).status_code == 302
    room = expert.get(f"/telemedicine/consultations/{c.pk}/room/")
    assert room.status_code == 200 and b"room-config" in room.content
    bad = expert.post(
        f"/telemedicine/consultations/{c.pk}/",
        {"action": "opinion", "diagnosis": "I63.9", "recommendations": "x", "annotations": "[{]"},
    )
    assert bad.status_code == 200 and b"CORE-001" in bad.content and not Opinion.objects.exists()
    done = expert.post(
        f"/telemedicine/consultations/{c.pk}/",
        {"action": "opinion", "diagnosis": "I63.9", "recommendations": "Stroke unit", "annotations": "[]"},
    )
    assert done.status_code == 302
    page = doctor.get(f"/telemedicine/consultations/{c.pk}/")
    assert b'data-testid="concordance"' in page.content

    head = as_user(Client(), h.user("head"))
    assert c.number.encode() in head.get("/telemedicine/quality/").content
    indicators = head.get("/telemedicine/indicators/?by=hospital&days=30")
    assert indicators.status_code == 200 and b"tm-concordance" in indicators.content
    assert (
        head.post(
            f"/telemedicine/consultations/{c.pk}/", {"action": "review", "feedback": "Discuss DWI"}
        ).status_code
        == 302
    )


def test_the_api(h: TestHospital, frozen: Any) -> None:
    doctor = as_user(Client(), h.user("doctor"))
    body = {
        "patient_id": h.patient_in_care.pk,
        "specialty_id": h.neurology.pk,
        "question": "?",
        "working_diagnosis": "G45.9",
        "expert_id": h.user("neurologist").pk,
    }
    refused = doctor.post(
        "/api/telemedicine/consultations", json.dumps(body), content_type="application/json"
    )
    assert refused.status_code == 400 and refused.json()["code"] == "TM-001"
    created = doctor.post(
        "/api/telemedicine/consultations",
        json.dumps({**body, "consent_given": True}),
        content_type="application/json",
    )
    assert created.status_code == 201
    pk = created.json()["id"]
    assert created.json()["deadline_at"].startswith("2030-03-05T01:00")
    assert doctor.post(f"/api/telemedicine/consultations/{pk}/room-token").json()["code"] == "TM-009"
    expert = as_user(Client(), h.user("neurologist"))
    assert expert.post(f"/api/telemedicine/consultations/{pk}/accept").json()["status"] == "accepted"
    token = doctor.post(f"/api/telemedicine/consultations/{pk}/room-token").json()
    assert token["websocket"] == f"/ws/telemedicine/rooms/{pk}/" and token["ice_servers"] == []
    answer = expert.post(
        f"/api/telemedicine/consultations/{pk}/opinion",
        json.dumps({"diagnosis": "G45.9", "recommendations": "Aspirin", "annotations": []}),
        content_type="application/json",
    )
    assert answer.status_code == 200 and answer.json()["concordance"] == "same_code"
    assert [c["id"] for c in doctor.get("/api/telemedicine/consultations?role=requester").json()] == [pk]
