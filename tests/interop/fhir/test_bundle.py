"""Transaction and batch Bundles posted to /fhir/R4, single creates, and bad input."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from smartcare.audit.models import AuditEvent
from smartcare.emr.models import Encounter, Observation, VitalSign
from smartcare.interop.fhir.datatypes import RESIDENT_ID_SYSTEM
from smartcare.interop.fhir.synthetic import patient_bundle
from smartcare.interop.models import FhirResource, ImportRun, SourceRecord
from smartcare.patients.models import Patient
from tests.factories import make_national_id
from tests.interop.fhir.conftest import issue_code, post

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")

BASE = "/fhir/R4/"


def _counts() -> tuple[int, ...]:
    return (
        Patient.objects.count(),
        Encounter.objects.count(),
        Observation.objects.count(),
        VitalSign.objects.count(),
        FhirResource.objects.count(),
        SourceRecord.objects.count(),
    )


def _clinical_transaction(national_id: str) -> dict[str, Any]:
    """A doctor registers a patient and records a visit with a heart rate, all by urn:uuid."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": RESIDENT_ID_SYSTEM, "value": national_id}],
                    "name": [{"text": "事务患者"}],
                    "gender": "female",
                    "birthDate": "1980-05-17",
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:22222222-2222-4222-8222-222222222222",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "in-progress",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
                    "period": {"start": "2026-01-05T09:00:00+08:00"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "fullUrl": "urn:uuid:33333333-3333-4333-8333-333333333333",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
                    "encounter": {"reference": "urn:uuid:22222222-2222-4222-8222-222222222222"},
                    "effectiveDateTime": "2026-01-05T09:10:00+08:00",
                    "valueQuantity": {
                        "value": 72,
                        "unit": "/min",
                        "system": "http://unitsofmeasure.org",
                        "code": "/min",
                    },
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }


def test_transaction_resolves_urn_uuid_references(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    national_id = make_national_id()

    response = post(client, BASE, _clinical_transaction(national_id))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 3
    patient = Patient.objects.by_national_id(national_id).get()
    encounter = Encounter.objects.get(patient=patient)
    vital = VitalSign.objects.get(patient=patient)
    assert vital.encounter == encounter and vital.value == 72 and vital.kind == "hr"
    assert encounter.department == hospital.general  # no smartcare department named: the import department
    locations = [e["response"]["location"] for e in body["entry"]]
    assert locations == [f"Patient/{patient.pk}", f"Encounter/{encounter.pk}", f"Observation/vs-{vital.pk}"]
    # registration and each write are audited like on the pages
    assert AuditEvent.objects.filter(patient_id=patient.pk, action="create").count() == 3


def test_transaction_is_all_or_nothing(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    bundle = _clinical_transaction(make_national_id())
    bundle["entry"][2]["resource"]["subject"] = {"reference": "Patient/999999999"}
    before = _counts()

    response = post(client, BASE, bundle)

    # the patient does not exist: to a clinician that is the answer for a patient not in care
    assert response.status_code == 404
    assert issue_code(response) == "CORE-404"
    assert _counts() == before
    assert not AuditEvent.objects.filter(action="create").exists()
    assert AuditEvent.objects.filter(action="denied", patient_id=999999999).exists()


def test_importer_transaction_names_the_failing_entry(
    hospital: Any, client_for: Any, small_bundle: dict[str, Any]
) -> None:
    client = client_for(hospital.user("steward"))
    small_bundle["entry"][3]["resource"]["subject"] = {"reference": "Patient/999999999"}
    before = _counts()

    response = post(client, BASE, small_bundle)

    assert response.status_code == 422
    assert issue_code(response) == "INTEROP-111"
    outcome = response.json()
    assert "entry 3" in outcome["issue"][0]["details"]["text"]
    assert "INTEROP-108" in json.dumps(outcome)
    assert _counts() == before
    assert not ImportRun.objects.exists()


def test_transaction_rolls_back_an_invalid_entry(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    bundle = _clinical_transaction(make_national_id())
    bundle["entry"][1]["resource"]["period"] = {"start": "yesterday"}
    before = _counts()

    response = post(client, BASE, bundle)

    assert response.status_code == 400
    assert issue_code(response) == "INTEROP-111"
    assert "INTEROP-102" in json.dumps(response.json())
    assert _counts() == before


def test_batch_writes_the_good_entries_and_reports_the_bad(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    patient = hospital.patient_in_care
    good = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
        "subject": {"reference": f"Patient/{patient.pk}"},
        "effectiveDateTime": "2026-01-05T08:00:00+08:00",
        "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
    }
    denied = dict(good, subject={"reference": f"Patient/{hospital.patient_elsewhere.pk}"})
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": good, "request": {"method": "POST", "url": "Observation"}},
            {"resource": denied, "request": {"method": "POST", "url": "Observation"}},
            {
                "resource": {"resourceType": "Observation"},
                "request": {"method": "POST", "url": "Observation"},
            },
            {"request": {"method": "GET", "url": f"Patient/{patient.pk}"}},
        ],
    }

    response = post(client, BASE, bundle)

    assert response.status_code == 200
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "404 Not Found"  # not in care: like a missing patient
    assert entries[1]["response"]["outcome"]["issue"][0]["details"]["coding"][0]["code"] == "CORE-404"
    assert entries[2]["response"]["status"] == "400 Bad Request"
    assert entries[3]["resource"]["id"] == str(patient.pk)
    assert Observation.objects.filter(patient=patient, code="2339-0").count() == 1
    assert not Observation.objects.filter(patient=hospital.patient_elsewhere).exists()
    assert AuditEvent.objects.filter(action="denied", patient_id=hospital.patient_elsewhere.pk).exists()


def test_importer_posts_a_synthea_bundle_twice_without_duplicates(
    hospital: Any, client_for: Any, small_bundle: dict[str, Any]
) -> None:
    client = client_for(hospital.user("steward"))
    first = post(client, BASE, small_bundle)
    assert first.status_code == 200, first.content
    rows = _counts()
    statuses = {e["response"]["status"] for e in first.json()["entry"]}
    assert statuses == {"201 Created"}

    second = post(client, BASE, small_bundle)

    assert second.status_code == 200
    assert {e["response"]["status"] for e in second.json()["entry"]} == {"200 OK"}
    assert _counts() == rows
    # an importer's bundle is one audit event with the counts, not one per resource
    runs = ImportRun.objects.order_by("pk")
    assert runs.count() == 2
    assert AuditEvent.objects.filter(object_type="interop.ImportRun").count() == 2
    assert not AuditEvent.objects.filter(object_type__startswith="fhir.").exists()


def test_clinical_users_cannot_import_claims(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    claim = next(
        e
        for e in patient_bundle(random.Random(3), encounters=1)["entry"]
        if e["resource"]["resourceType"] == "Claim"
    )
    claim["resource"]["patient"] = {"reference": f"Patient/{hospital.patient_in_care.pk}"}
    claim["resource"]["item"][0].pop("encounter")

    response = post(client, "/fhir/R4/Claim", claim["resource"])

    assert response.status_code == 403
    assert issue_code(response) == "INTEROP-114"
    assert not FhirResource.objects.exists()


def test_malformed_json_is_an_operation_outcome_and_writes_nothing(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    before = _counts()
    for url in (BASE, "/fhir/R4/Observation"):
        response = post(client, url, '{"resourceType": "Bundle", "type": ')
        assert response.status_code == 400
        assert response["Content-Type"].startswith("application/fhir+json")
        assert issue_code(response) == "INTEROP-101"
    response = post(client, BASE, '["not", "an", "object"]')
    assert issue_code(response) == "INTEROP-101"
    assert _counts() == before


def test_invalid_resource_lists_its_problems(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    body = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{hospital.patient_in_care.pk}"},
        "effectiveDateTime": "2026-13-45",
        "valueQuantity": {"value": "lots"},
        "unknownElement": 1,
    }
    before = _counts()

    response = post(client, "/fhir/R4/Observation", body)

    assert response.status_code == 400
    assert issue_code(response) == "INTEROP-102"
    expressions = {tuple(i.get("expression", [])) for i in response.json()["issue"]}
    assert ("Observation.effectiveDateTime",) in expressions
    assert ("Observation.unknownElement",) in expressions
    assert _counts() == before


def test_bundle_shape_errors(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    cases = [
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "type": "collection", "entry": []},
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": {"resourceType": "Patient"}}],
        },
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "DELETE", "url": "Patient/1"}}],
        },
    ]
    for body in cases:
        response = post(client, BASE, body)
        assert response.status_code == 400, body
        assert issue_code(response) == "INTEROP-110"


def test_body_must_match_the_url(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    response = post(client, "/fhir/R4/Observation", {"resourceType": "Patient"})
    assert response.status_code == 400
    assert issue_code(response) == "INTEROP-106"


def test_xml_is_refused(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    response = client.post("/fhir/R4/Observation", "<Observation/>", content_type="application/fhir+xml")
    assert response.status_code == 415
    assert issue_code(response) == "INTEROP-112"
