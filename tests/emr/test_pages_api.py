"""The workstation pages and the /api/emr/ endpoints: access, audit, coded errors, the
order-sign decision-support hook."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.emr import hooks, services
from smartcare.emr.choices import NoteStatus, OrderStatus
from smartcare.emr.models import Encounter, Note, NoteVersion, Order, VitalSign
from tests.emr.test_records import med
from tests.factories import TestHospital


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_json(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_api_open_read_sign_amend(h: TestHospital) -> None:
    doctor = client_for(h.user("doctor"))
    response = post_json(
        doctor, "/api/emr/encounters", {"patient_id": h.patient_in_care.pk, "language": "en"}
    )
    assert response.status_code == 201, response.content
    encounter_id = response.json()["id"]
    record = doctor.get(f"/api/emr/encounters/{encounter_id}").json()
    note_id = record["notes"][0]["id"]
    assert record["notes"][0]["status"] == "draft"
    assert AuditEvent.objects.filter(
        object_type="emr.Encounter", object_id=str(encounter_id), action="read"
    ).exists()

    saved = doctor.patch(
        f"/api/emr/notes/{note_id}", json.dumps({"assessment": "Angina"}), content_type="application/json"
    )
    assert saved.status_code == 200 and saved.json()["assessment"] == "Angina"
    signed = post_json(doctor, f"/api/emr/notes/{note_id}/sign", {"plan": "ECG"})
    assert signed.status_code == 200
    body = signed.json()
    assert body["status"] == "signed" and body["writing_seconds"] is not None and len(body["versions"]) == 1

    refused = post_json(doctor, f"/api/emr/notes/{note_id}/amend", {"plan": "Echo"})
    assert refused.status_code == 400 and refused.json()["code"] == "EMR-005"
    again = post_json(doctor, f"/api/emr/notes/{note_id}/sign", {"plan": "overwrite"})
    assert again.status_code == 409 and again.json()["code"] == "EMR-004"
    assert NoteVersion.objects.filter(note_id=note_id).count() == 1
    amended = post_json(doctor, f"/api/emr/notes/{note_id}/amend", {"plan": "Echo", "reason": "added echo"})
    assert [v["number"] for v in amended.json()["versions"]] == [1, 2]
    assert amended.json()["versions"][0]["content"]["plan"] == "ECG"


def test_api_orders_and_status_moves(h: TestHospital) -> None:
    doctor = client_for(h.user("doctor"))
    encounter = services.open_encounter(h.user("doctor"), patient_id=h.patient_in_care.pk)
    url = f"/api/emr/encounters/{encounter.pk}/orders"
    incomplete = post_json(doctor, url, {"kind": "medication", "item": "drug:warfarin"})
    assert incomplete.status_code == 400 and incomplete.json()["code"] == "EMR-007"
    assert not Order.objects.exists()
    created = post_json(
        doctor,
        url,
        {
            "kind": "medication",
            "item": "drug:warfarin",
            "dose": 3,
            "dose_unit": "mg",
            "route": "oral",
            "frequency_per_day": 1,
            "duration_days": 30,
        },
    )
    assert created.status_code == 201
    order_id = created.json()["id"]
    moved = post_json(doctor, f"/api/emr/orders/{order_id}/status", {"status": "signed"})
    assert moved.status_code == 200 and moved.json()["status"] == "signed"
    refused = post_json(doctor, f"/api/emr/orders/{order_id}/status", {"status": "draft"})
    assert refused.status_code == 400
    refused = post_json(doctor, f"/api/emr/orders/{order_id}/status", {"status": "cancelled"})
    assert refused.status_code == 200
    refused = post_json(doctor, f"/api/emr/orders/{order_id}/status", {"status": "completed"})
    assert refused.status_code == 409 and refused.json()["code"] == "EMR-006"


def test_clinician_without_care_gets_the_same_404_as_a_missing_encounter(h: TestHospital) -> None:
    encounter = services.open_encounter(h.user("doctor"), patient_id=h.patient_in_care.pk)
    neurologist = client_for(h.user("neurologist"))
    denied = neurologist.get(f"/api/emr/encounters/{encounter.pk}")
    missing = neurologist.get("/api/emr/encounters/999999")
    assert denied.status_code == missing.status_code == 404
    assert denied.json()["code"] == missing.json()["code"] == "CORE-404"
    assert denied.json()["detail"] == missing.json()["detail"]
    page = neurologist.get(f"/emr/encounters/{encounter.pk}/")
    assert page.status_code == 404 and b'data-error-code="CORE-404"' in page.content
    assert AuditEvent.objects.filter(action="denied", actor=h.user("neurologist")).exists()


def test_patients_see_their_own_signed_notes_only(h: TestHospital) -> None:
    doctor = h.user("doctor")
    encounter = services.open_encounter(doctor, patient_id=h.own_patient.pk)
    signed = encounter.notes.get()
    services.sign_note(doctor, signed.pk, {"assessment": "Well"})
    draft = services.generate_summary(doctor, encounter.pk, kind="visit_summary", language="zh-hans")
    patient = client_for(h.user("patient"))
    body = patient.get(f"/api/emr/encounters/{encounter.pk}").json()
    assert [n["id"] for n in body["notes"]] == [signed.pk]
    assert patient.get(f"/api/emr/notes/{draft.pk}").status_code == 404
    assert patient.get(f"/api/emr/notes/{signed.pk}").status_code == 200
    assert patient.get(f"/emr/patients/{h.own_patient.pk}/").status_code == 200
    other = services.open_encounter(doctor, patient_id=h.patient_in_care.pk)
    assert patient.get(f"/api/emr/encounters/{other.pk}").status_code == 404
    # Patients do not write the record.
    refused = post_json(patient, f"/api/emr/notes/{signed.pk}/amend", {"plan": "x", "reason": "mine"})
    assert refused.status_code == 403


def test_icd10_api(h: TestHospital) -> None:
    doctor = client_for(h.user("doctor"))
    for query, code in (("高血压", "I10"), ("hypertension", "I10"), ("J06.9", "J06.9")):
        rows = doctor.get("/api/emr/icd10", {"q": query}).json()
        assert code in [r["code"] for r in rows]
    assert client_for(h.user("patient")).get("/api/emr/icd10", {"q": "I10"}).status_code == 403


def test_bad_vital_over_api_writes_nothing(h: TestHospital) -> None:
    nurse = client_for(h.user("nurse"))
    url = f"/api/emr/patients/{h.patient_in_care.pk}/vitals"
    response = post_json(nurse, url, {"kind": "spo2", "value": 140})
    assert response.status_code == 400 and response.json()["code"] == "EMR-009"
    response = post_json(nurse, url, {"kind": "spo2"})
    assert response.status_code == 400 and response.json()["code"] == "CORE-001"
    assert not VitalSign.objects.exists()
    assert post_json(nurse, url, {"kind": "spo2", "value": 97}).status_code == 201


def test_workstation_open_visit_edit_and_sign(h: TestHospital) -> None:
    doctor = client_for(h.user("doctor"))
    opened = doctor.post("/emr/open/", {"code": h.patient_in_care.medical_record_number})
    encounter = Encounter.objects.get()
    assert opened.status_code == 302 and opened["Location"] == f"/emr/encounters/{encounter.pk}/"
    assert h.patient_in_care.name in doctor.get("/emr/").content.decode()
    page = doctor.get(opened["Location"])
    assert page.status_code == 200 and b'data-testid="note-editor"' in page.content
    note = encounter.notes.get()
    autosave = doctor.post(
        opened["Location"],
        {"action": "save_note", "note": note.pk, "assessment": "Angina"},
        headers={"HX-Request": "true"},
    )
    assert autosave.status_code == 200 and len(autosave.content) < 200
    signed = doctor.post(
        opened["Location"], {"action": "sign_note", "note": note.pk, "assessment": "Angina"}, follow=True
    )
    assert signed.status_code == 200
    note.refresh_from_db()
    assert note.status == NoteStatus.SIGNED and note.assessment == "Angina"
    bad = doctor.post(opened["Location"], {"action": "add_diagnosis", "code": "NOPE"})
    assert bad.status_code == 400 and b'data-error-code="EMR-008"' in bad.content
    ok = doctor.post(opened["Location"], {"action": "add_diagnosis", "code": "I10 Essential hypertension"})
    assert ok.status_code == 302 and encounter.diagnoses.get().icd10_id == "I10"
    summary = doctor.post(opened["Location"], {"action": "summary", "kind": "referral", "language": "en"})
    assert summary.status_code == 302 and Note.objects.filter(kind="referral").exists()
    assert client_for(h.user("frontdesk")).get(opened["Location"]).status_code == 403


def test_order_sign_shows_decision_support_cards_and_needs_an_override_reason(h: TestHospital) -> None:
    seen: list[Any] = []
    feedback: list[Any] = []

    def advisor(user: Any, facts: Any, hook: str, **context: Any) -> list[dict[str, Any]]:
        seen.append((hook, [m.drug for m in facts.draft_medications], [m.drug for m in facts.medications]))
        if "drug:aspirin" in [m.drug for m in facts.draft_medications]:
            return [
                {
                    "uuid": "0f8fad5b-d9cb-469f-a165-70867728950e",
                    "summary": "Warfarin + aspirin: bleeding risk",
                    "indicator": "critical",
                    "source": {"label": "test"},
                    "overrideReasons": [
                        {
                            "code": "benefit-outweighs-risk",
                            "system": "urn:test",
                            "display": "Benefit outweighs risk",
                        }
                    ],
                }
            ]
        return []

    hooks.register_advisor(advisor, feedback=lambda user, payload: feedback.append(payload))
    user = h.user("doctor")
    encounter = services.open_encounter(user, patient_id=h.patient_in_care.pk)
    warfarin = services.place_order(
        user, encounter.pk, med(item="drug:warfarin", dose="3", frequency_per_day="1")
    )
    aspirin = services.place_order(
        user, encounter.pk, med(item="drug:aspirin", dose="100", frequency_per_day="1")
    )
    doctor = client_for(user)
    url = f"/emr/encounters/{encounter.pk}/"
    assert doctor.post(url, {"action": "sign_order", "order": warfarin.pk}).status_code == 302
    shown = doctor.post(url, {"action": "sign_order", "order": aspirin.pk})
    assert (
        shown.status_code == 200
        and b"bleeding risk" in shown.content
        and b'data-indicator="critical"' in shown.content
    )
    assert Order.objects.get(pk=aspirin.pk).status == OrderStatus.DRAFT
    assert seen[-1] == ("order-sign", ["drug:aspirin"], ["drug:warfarin"])
    assert b"Benefit outweighs risk" in shown.content and b'name="card" value="0f8fad5b' in shown.content
    # A reason is needed: without one the cards are shown again.
    card = "0f8fad5b-d9cb-469f-a165-70867728950e"
    again = doctor.post(url, {"action": "sign_order", "order": aspirin.pk, "card": card})
    assert again.status_code == 200 and Order.objects.get(pk=aspirin.pk).status == OrderStatus.DRAFT
    overridden = doctor.post(
        url,
        {
            "action": "sign_order",
            "order": aspirin.pk,
            "card": card,
            "override_code": "urn:test|benefit-outweighs-risk",
            "override_reason": "short course, INR monitored",
        },
    )
    assert overridden.status_code == 302
    assert Order.objects.get(pk=aspirin.pk).status == OrderStatus.SIGNED
    (item,) = feedback[-1]["feedback"]
    assert item["card"] == card and item["outcome"] == "overridden"
    assert item["overrideReason"] == {
        "userComment": "short course, INR monitored",
        "reason": {"code": "benefit-outweighs-risk", "system": "urn:test"},
    }


def test_encounter_page_renders_the_whole_record_and_admits(h: TestHospital) -> None:
    from smartcare.organization.choices import RoomKind
    from smartcare.organization.models import Bed, Room

    user = h.user("doctor")
    encounter = services.open_encounter(user, patient_id=h.patient_in_care.pk)
    note = encounter.notes.get()
    services.sign_note(user, note.pk, {"assessment": "Angina"})
    services.amend_note(user, note.pk, {"plan": "Echo"}, reason="added echo")
    services.add_diagnosis(user, encounter.pk, code="I20.9")
    services.place_order(user, encounter.pk, med())
    services.record_allergy(user, h.patient_in_care.pk, name="Pollen")
    services.record_vital(user, h.patient_in_care.pk, kind="bp", value=130, value2=85)
    services.record_problem(user, h.patient_in_care.pk, code="I10")
    services.record_result(
        user, h.patient_in_care.pk, code="2160-0", name="Creatinine", value=80, unit="umol/L"
    )
    room = Room.objects.create(
        campus=h.hospital.campuses.first(), department=h.cardiology, code="W2", kind=RoomKind.WARD
    )
    bed = Bed.objects.create(room=room, code="01")
    doctor = client_for(user)
    url = f"/emr/encounters/{encounter.pk}/"
    for language in ("en", "zh-hans"):
        page = doctor.get(url, headers={"Accept-Language": language})
        content = page.content.decode()
        assert page.status_code == 200
        for text in (
            "added echo",
            "I20.9",
            "Pollen",
            "130/85",
            "Creatinine",
            'data-testid="sign-order"',
            bed.code,
        ):
            assert text in content, (language, text)
    admitted = doctor.post(url, {"action": "admit", "bed": bed.pk, "reason": "chest pain"})
    stay = Encounter.objects.get(kind="inpatient")
    assert admitted.status_code == 302 and admitted["Location"] == f"/emr/encounters/{stay.pk}/"
    assert doctor.get(admitted["Location"]).status_code == 200
    record = doctor.get(f"/emr/patients/{h.patient_in_care.pk}/")
    assert record.status_code == 200 and "Angina" in record.content.decode()


def test_patient_view_and_order_select_cards_and_declining_an_order(h: TestHospital) -> None:
    feedback: list[Any] = []

    def advisor(user: Any, facts: Any, hook: str, **context: Any) -> list[dict[str, Any]]:
        if hook == "patient-view":
            return [{"summary": "Care gap: HbA1c due", "indicator": "info", "source": {"label": "test"}}]
        if any(m.drug == "drug:aspirin" for m in facts.draft_medications):
            return [
                {
                    "uuid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                    "summary": "Aspirin allergy",
                    "indicator": "critical",
                    "source": {"label": "test"},
                }
            ]
        return []

    hooks.register_advisor(advisor, feedback=lambda user, payload: feedback.append(payload))
    user = h.user("doctor")
    encounter = services.open_encounter(user, patient_id=h.patient_in_care.pk)
    doctor = client_for(user)
    url = f"/emr/encounters/{encounter.pk}/"
    assert b"Care gap: HbA1c due" in doctor.get(url).content
    placed = doctor.post(
        url,
        {
            "action": "place_order",
            "kind": "medication",
            "item": "drug:aspirin",
            "dose": "100",
            "dose_unit": "mg",
            "route": "oral",
            "frequency_per_day": "1",
            "duration_days": "7",
        },
    )
    assert placed.status_code == 200 and b"Aspirin allergy" in placed.content
    assert b'data-testid="sign-anyway"' not in placed.content  # order-select cards inform only
    order = Order.objects.get()
    assert order.status == OrderStatus.DRAFT
    shown = doctor.post(url, {"action": "sign_order", "order": order.pk})
    assert b'data-testid="sign-anyway"' in shown.content
    declined = doctor.post(
        url, {"action": "decline_order", "order": order.pk, "card": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}
    )
    assert declined.status_code == 302
    assert Order.objects.get().status == OrderStatus.CANCELLED
    assert feedback[-1]["feedback"][0]["outcome"] == "accepted"


def test_department_template_prompts_and_writing_time_on_the_page(h: TestHospital) -> None:
    from smartcare.emr.models import NoteTemplate

    NoteTemplate.objects.create(
        department=h.cardiology,
        kind="progress",
        name_zh="心内科门诊病历",
        name_en="Cardiology note",
        sections=[
            {
                "key": "history",
                "prompt_zh": "胸痛性质、持续时间、诱因",
                "prompt_en": "Chest pain: character, duration, triggers",
            }
        ],
    )
    user = h.user("doctor")
    encounter = services.open_encounter(user, patient_id=h.patient_in_care.pk)
    doctor = client_for(user)
    url = f"/emr/encounters/{encounter.pk}/"
    assert "胸痛性质、持续时间、诱因" in doctor.get(url).content.decode()
    assert "Chest pain: character" in doctor.get(url, headers={"Accept-Language": "en"}).content.decode()
    note = encounter.notes.get()
    Note.objects.filter(pk=note.pk).update(opened_at=note.opened_at - dt.timedelta(minutes=6, seconds=5))
    services.sign_note(user, note.pk, {"assessment": "ok"})
    assert re.search(
        r"writing time 6:0\d", doctor.get(url, headers={"Accept-Language": "en"}).content.decode()
    )


def test_admission_transfer_discharge_over_the_api(h: TestHospital) -> None:
    from smartcare.organization.choices import RoomKind
    from smartcare.organization.models import Bed, Room

    room = Room.objects.create(
        campus=h.hospital.campuses.first(), department=h.cardiology, code="W3", kind=RoomKind.WARD
    )
    first, second = (Bed.objects.create(room=room, code=c) for c in ("01", "02"))
    nurse = client_for(h.user("nurse"))
    body = {"patient_id": h.patient_in_care.pk, "department_id": h.cardiology.pk, "bed_id": first.pk}
    admitted = post_json(nurse, "/api/emr/admissions", body)
    assert admitted.status_code == 201 and admitted.json()["kind"] == "inpatient"
    stay = admitted.json()["id"]
    again = post_json(nurse, "/api/emr/admissions", body | {"bed_id": second.pk})
    assert again.status_code == 409 and again.json()["code"] == "EMR-011"
    moved = post_json(nurse, f"/api/emr/encounters/{stay}/transfer", {"bed_id": second.pk})
    assert moved.status_code == 200 and moved.json()["bed"].endswith("02")
    done = nurse.post(f"/api/emr/encounters/{stay}/discharge", "", content_type="application/json")
    assert done.status_code == 200 and done.json()["status"] == "finished"
