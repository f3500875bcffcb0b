"""Access and audit through the FHIR API follow the pages: patients.access, one read event per
patient shown, "not allowed" answered like "not found"."""

from __future__ import annotations

from typing import Any

from django.test import Client

from smartcare.accounts.services import break_the_glass, create_api_token
from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.emr.models import Encounter, Observation
from smartcare.patients.models import ChannelBinding
from tests.interop.fhir.conftest import issue_code, post

REASON = "Unconscious patient in the emergency room, history needed"


def _result(patient: Any, value: float = 5.5) -> Observation:
    return Observation.objects.create(
        patient=patient, code="2339-0", name="Glucose", value=value, unit="mmol/L"
    )


def _audit_after(sequence: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def _last() -> int:
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0


def test_anonymous_gets_401_and_metadata_is_public(hospital: Any) -> None:
    client = Client()
    response = client.get(f"/fhir/R4/Patient/{hospital.patient_in_care.pk}")
    assert response.status_code == 401
    assert issue_code(response) == "CORE-401"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/fhir/R4/metadata").status_code == 200


def test_clinician_in_care_reads_and_is_audited(hospital: Any, client_for: Any) -> None:
    result = _result(hospital.patient_in_care)
    client = client_for(hospital.user("doctor"))
    before = _last()

    response = client.get(f"/fhir/R4/Observation/{result.pk}")

    assert response.status_code == 200
    assert response.json()["valueQuantity"]["value"] == 5.5
    events = _audit_after(before)
    assert [(e.action, e.patient_id, e.object_type, e.object_id, e.channel) for e in events] == [
        ("read", hospital.patient_in_care.pk, "fhir.Observation", str(result.pk), "fhir")
    ]


def test_not_in_care_looks_like_not_found_and_the_refusal_is_audited(hospital: Any, client_for: Any) -> None:
    result = _result(hospital.patient_in_care)
    client = client_for(hospital.user("neurologist"))
    before = _last()

    denied = client.get(f"/fhir/R4/Observation/{result.pk}")
    missing = client.get("/fhir/R4/Observation/999999999")

    assert denied.status_code == missing.status_code == 404
    assert denied.json() == missing.json()
    assert issue_code(denied) == "CORE-404"
    assert [(e.action, e.patient_id) for e in _audit_after(before)] == [
        ("denied", hospital.patient_in_care.pk)
    ]


def test_break_the_glass_opens_the_record(hospital: Any, client_for: Any) -> None:
    result = _result(hospital.patient_in_care)
    neurologist = hospital.user("neurologist")
    break_the_glass(neurologist, hospital.patient_in_care, REASON)
    response = client_for(neurologist).get(f"/fhir/R4/Observation/{result.pk}")
    assert response.status_code == 200


def test_patient_reads_own_record_only(hospital: Any, client_for: Any) -> None:
    own = _result(hospital.own_patient)
    other = _result(hospital.other_patient)
    client = client_for(hospital.user("patient"))
    assert client.get(f"/fhir/R4/Observation/{own.pk}").status_code == 200
    assert client.get(f"/fhir/R4/Observation/{other.pk}").status_code == 404
    bundle = client.get("/fhir/R4/Observation").json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(own.pk)]


def test_front_desk_sees_demographics_but_not_the_clinical_record(hospital: Any, client_for: Any) -> None:
    result = _result(hospital.patient_in_care)
    client = client_for(hospital.user("frontdesk"))
    assert client.get(f"/fhir/R4/Patient/{hospital.patient_in_care.pk}").status_code == 200
    assert client.get(f"/fhir/R4/Observation/{result.pk}").status_code == 404
    response = client.get("/fhir/R4/Observation")
    assert response.status_code == 403
    assert issue_code(response) == "CORE-403"


def test_search_shows_only_visible_patients_and_audits_each(hospital: Any, client_for: Any) -> None:
    mine = _result(hospital.patient_in_care)
    _result(hospital.patient_elsewhere)
    client = client_for(hospital.user("doctor"))
    before = _last()

    bundle = client.get("/fhir/R4/Observation").json()

    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(mine.pk)]
    events = _audit_after(before)
    assert [(e.action, e.patient_id, e.object_id) for e in events] == [
        ("read", hospital.patient_in_care.pk, "search")
    ]


def test_search_by_a_patient_not_in_care_is_empty_and_audited_as_denied(
    hospital: Any, client_for: Any
) -> None:
    _result(hospital.patient_elsewhere)
    client = client_for(hospital.user("doctor"))
    before = _last()

    response = client.get(f"/fhir/R4/Observation?patient={hospital.patient_elsewhere.pk}")

    assert response.status_code == 200
    assert response.json()["total"] == 0
    assert [(e.action, e.patient_id) for e in _audit_after(before)] == [
        ("denied", hospital.patient_elsewhere.pk)
    ]


def test_patient_search_needs_the_search_capability_and_is_audited(hospital: Any, client_for: Any) -> None:
    assert client_for(hospital.user("auditor")).get("/fhir/R4/Patient").status_code == 403
    client = client_for(hospital.user("frontdesk"))
    before = _last()
    bundle = client.get("/fhir/R4/Patient?name=心内").json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(hospital.patient_in_care.pk)]
    assert [(e.action, e.object_type) for e in _audit_after(before)] == [("search", "fhir.Patient")]


def test_identifiers_and_phone_are_masked(hospital: Any, client_for: Any) -> None:
    patient = hospital.patient_in_care
    body = client_for(hospital.user("doctor")).get(f"/fhir/R4/Patient/{patient.pk}").json()
    text = str(body)
    assert patient.national_id not in text
    assert patient.phone not in text
    assert patient.medical_record_number in text


def test_writes_need_the_capability_and_access(hospital: Any, client_for: Any) -> None:
    body = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{hospital.patient_in_care.pk}"},
        "effectiveDateTime": "2026-01-05T09:10:00+08:00",
        "valueQuantity": {"value": 80, "unit": "/min"},
    }
    nurse = post(client_for(hospital.user("nurse")), "/fhir/R4/Observation", body)
    assert nurse.status_code == 201
    assert nurse["Location"].startswith("http://testserver/fhir/R4/Observation/vs-")
    assert post(client_for(hospital.user("frontdesk")), "/fhir/R4/Observation", body).status_code == 403
    assert post(client_for(hospital.user("neurologist")), "/fhir/R4/Observation", body).status_code == 404
    encounter = {
        "resourceType": "Encounter",
        "status": "planned",
        "class": {"code": "AMB"},
        "subject": {"reference": f"Patient/{hospital.patient_in_care.pk}"},
    }
    # Encounters are a physician's (emr.document): nurses may not open one
    assert post(client_for(hospital.user("nurse")), "/fhir/R4/Encounter", encounter).status_code == 403
    assert not Encounter.objects.exists()
    # read-only types
    response = post(
        client_for(hospital.user("doctor")), "/fhir/R4/Practitioner", {"resourceType": "Practitioner"}
    )
    assert response.status_code == 405
    assert issue_code(response) == "INTEROP-104"


def test_session_writes_need_the_csrf_token_tokens_do_not(hospital: Any, channel_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(hospital.user("doctor"))
    response = post(client, "/fhir/R4/", {"resourceType": "Bundle", "type": "batch", "entry": []})
    assert response.status_code == 403
    assert issue_code(response) == "CORE-403"
    assert client.get(f"/fhir/R4/Patient/{hospital.patient_in_care.pk}").status_code == 200
    ChannelBinding.objects.create(channel_user=channel_user, patient=hospital.patient_in_care)
    secret = create_api_token(hospital.user("itadmin"), user=channel_user, name="fhir")
    token_client = Client(enforce_csrf_checks=True)
    auth = {"Authorization": f"Bearer {secret}"}
    assert (
        token_client.get(f"/fhir/R4/Patient/{hospital.patient_in_care.pk}", headers=auth).status_code == 200
    )
    assert (
        token_client.get(f"/fhir/R4/Patient/{hospital.patient_elsewhere.pk}", headers=auth).status_code == 404
    )
    # a channel may see its patients, never their clinical record
    result = _result(hospital.patient_in_care)
    assert token_client.get(f"/fhir/R4/Observation/{result.pk}", headers=auth).status_code == 404
    bad = token_client.get("/fhir/R4/Patient", headers={"Authorization": "Bearer sc_nope_nope"})
    assert bad.status_code == 401
    response = post(
        token_client, "/fhir/R4/", {"resourceType": "Bundle", "type": "batch", "entry": []}, **auth
    )
    assert response.status_code == 200


def test_importer_writes_but_cannot_read_patients(
    hospital: Any, client_for: Any, small_bundle: dict[str, Any]
) -> None:
    client = client_for(hospital.user("steward"))
    assert post(client, "/fhir/R4/", small_bundle).status_code == 200
    patient_id = Encounter.objects.values_list("patient_id", flat=True).first()
    assert client.get(f"/fhir/R4/Patient/{patient_id}").status_code == 404
    assert client.get("/fhir/R4/Observation").status_code == 403


def test_audit_events_for_auditors_only(hospital: Any, client_for: Any) -> None:
    _result(hospital.patient_in_care)
    client_for(hospital.user("doctor")).get(f"/fhir/R4/Patient/{hospital.patient_in_care.pk}")
    auditor = client_for(hospital.user("auditor"))
    bundle = auditor.get(f"/fhir/R4/AuditEvent?patient={hospital.patient_in_care.pk}&_sort=-date").json()
    assert bundle["total"] >= 1
    first = bundle["entry"][0]["resource"]
    assert first["subtype"][0]["code"] == "read" and first["agent"][0]["who"]["display"] == "doctor"
    assert client_for(hospital.user("doctor")).get("/fhir/R4/AuditEvent").status_code == 403
    assert clock.now()
