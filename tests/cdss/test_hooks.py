"""CDS Hooks 2.0: discovery, each hook's request/response shape, malformed requests, feedback."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.choices import Role
from smartcare.accounts.services import create_api_token
from smartcare.audit.models import AuditEvent
from smartcare.cdss.models import Consultation, RuleFiring
from smartcare.cdss.selectors import decision_support_usage, rule_statistics
from tests.cdss.helpers import bundle, hook_request, medication_request, observation
from tests.factories import TestHospital, UserFactory, build_hospital

pytestmark = pytest.mark.django_db

SIGN = "/cds-services/smartcare-order-sign"


@pytest.fixture()
def hospital(settings: Any) -> TestHospital:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return build_hospital()


@pytest.fixture()
def doctor(hospital: TestHospital) -> Client:
    client = Client()
    client.force_login(hospital.user("doctor"))
    return client


def post(client: Client, url: str, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json", headers=headers)


def interacting_request(hospital: TestHospital, hook: str = "order-sign") -> dict[str, Any]:
    return hook_request(
        hook,
        str(hospital.patient_in_care.pk),
        drafts=[medication_request("m1", "drug:clarithromycin", dose=500, per_day=2)],
        prefetch={
            "patient": {"resourceType": "Patient", "id": "x", "gender": "male", "birthDate": "1960-05-01"},
            "medications": bundle(
                [medication_request("m0", "drug:simvastatin", dose=20, status="active")], "searchset"
            ),
        },
        encounter="enc-1",
    )


def test_discovery_shape() -> None:
    response = Client().get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert {s["hook"] for s in services} == {"patient-view", "order-select", "order-sign"}
    for service in services:
        assert {"id", "hook", "title", "description", "prefetch"} <= set(service)
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert "MedicationRequest?patient={{context.patientId}}" in service["prefetch"]["medications"]


def _check_card(card: dict[str, Any]) -> None:
    assert uuid.UUID(card["uuid"])
    assert 0 < len(card["summary"]) <= 140
    assert card["indicator"] in {"info", "warning", "critical"}
    assert card["source"]["label"]
    assert card["overrideReasons"] and {"code", "system", "display"} <= set(card["overrideReasons"][0])
    if card.get("suggestions"):
        assert card["selectionBehavior"] == "at-most-one"
        for suggestion in card["suggestions"]:
            assert suggestion["label"] and uuid.UUID(suggestion["uuid"])
            assert all(a["type"] in {"create", "update", "delete"} for a in suggestion["actions"])


def test_order_sign_returns_a_critical_interaction_card_and_logs_it(
    hospital: TestHospital, doctor: Client
) -> None:
    response = post(doctor, SIGN, interacting_request(hospital))
    assert response.status_code == 200, response.content
    cards = response.json()["cards"]
    for card in cards:
        _check_card(card)
    interaction = next(
        c for c in cards if c["extension"]["org.smartcare.rule"]["key"] == "ddi.clarithromycin.simvastatin"
    )
    assert interaction["indicator"] == "critical"
    assert interaction["suggestions"][0]["actions"][0] == {
        "type": "delete",
        "description": interaction["suggestions"][0]["label"],
        "resourceId": ["MedicationRequest/m1"],
    }
    firing = RuleFiring.objects.get(card_uuid=interaction["uuid"])
    assert firing.patient == hospital.patient_in_care
    assert firing.user == hospital.user("doctor")
    assert firing.department_code == "03.04"
    assert firing.rule.version == 1
    assert Consultation.objects.get().encounter_ref == "enc-1"
    assert AuditEvent.objects.filter(patient_id=hospital.patient_in_care.pk, action="read").exists()


def test_order_select_and_patient_view_shapes(hospital: TestHospital, doctor: Client) -> None:
    select = post(
        doctor, "/cds-services/smartcare-order-select", interacting_request(hospital, "order-select")
    )
    assert select.status_code == 200
    assert any(c["indicator"] == "critical" for c in select.json()["cards"])
    body = hook_request(
        "patient-view",
        str(hospital.patient_in_care.pk),
        prefetch={
            "patient": {"resourceType": "Patient", "gender": "female", "birthDate": "1958-01-01"},
            "conditions": bundle(
                [
                    {
                        "resourceType": "Condition",
                        "subject": {"reference": "Patient/x"},
                        "clinicalStatus": {"coding": [{"code": "active"}]},
                        "code": {
                            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11.9"}],
                            "text": "2型糖尿病",
                        },
                    }
                ]
            ),
            "observations": bundle([observation("2160-0", 80, "2026-10-01T08:00:00+08:00", "umol/L")]),
        },
    )
    view = post(doctor, "/cds-services/smartcare-patient-view", body)
    assert view.status_code == 200
    cards = view.json()["cards"]
    assert any(c["extension"]["org.smartcare.rule"]["key"] == "gap.diabetes_hba1c" for c in cards)
    for card in cards:
        _check_card(card)


def test_no_cards_for_a_safe_order(hospital: TestHospital, doctor: Client) -> None:
    body = hook_request(
        "order-sign",
        str(hospital.patient_in_care.pk),
        drafts=[medication_request("m1", "drug:amlodipine", dose=5)],
        prefetch={"patient": {"resourceType": "Patient", "gender": "male", "birthDate": "1970-01-01"}},
    )
    response = post(doctor, SIGN, body)
    assert response.status_code == 200
    assert response.json() == {"cards": []}
    assert Consultation.objects.get().cards == 0


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: b.pop("hook"), "hook"),
        (lambda b: b.update(hook="patient-view"), "hook"),
        (lambda b: b.update(hookInstance="not-a-uuid"), "hookInstance"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].pop("draftOrders"), "draftOrders"),
        (lambda b: b.update(prefetch=[1]), "prefetch"),
        (
            lambda b: b["prefetch"].update(patient={"resourceType": "Patient", "birthDate": "yesterday"}),
            "prefetch.patient",
        ),
        (lambda b: b["prefetch"].update(patient={"gender": "male"}), "resourceType"),
        (lambda b: b["context"]["draftOrders"]["entry"][0]["resource"].pop("subject"), "draftOrders"),
        (lambda b: b.update(fhirAuthorization={"access_token": "x"}), "fhirServer"),
    ],
)
def test_malformed_requests_get_400_and_write_nothing(
    hospital: TestHospital, doctor: Client, mutate: Any, fragment: str
) -> None:
    body = interacting_request(hospital)
    mutate(body)
    before = AuditEvent.objects.count()
    response = post(doctor, SIGN, body)
    assert response.status_code == 400, response.content
    problem = response.json()
    assert response["Content-Type"].startswith("application/problem+json")
    assert problem["code"] == "CDSS-001"
    assert fragment in problem["detail"]
    assert not Consultation.objects.exists() and not RuleFiring.objects.exists()
    assert AuditEvent.objects.count() == before


def test_body_that_is_not_json(doctor: Client) -> None:
    response = post(doctor, SIGN, "{not json")
    assert response.status_code == 400
    assert response.json()["code"] == "CDSS-001"


def test_unknown_service(doctor: Client) -> None:
    response = post(doctor, "/cds-services/nope", {})
    assert response.status_code == 404
    assert response.json()["code"] == "CDSS-003"


def test_external_emr_with_a_token_gets_the_same_advice(hospital: TestHospital) -> None:
    device = UserFactory(username="his-integration", role=Role.DEVICE)
    secret = create_api_token(hospital.user("itadmin"), user=device, name="his")
    body = interacting_request(hospital)
    body["context"]["patientId"] = "EXT-12345"
    response = post(Client(), SIGN, body, Authorization=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    assert any(c["indicator"] == "critical" for c in response.json()["cards"])
    firing = RuleFiring.objects.first()
    assert firing is not None and firing.patient is None
    assert "EXT-12345" not in firing.patient_ref and len(firing.patient_ref) == 32
    assert post(Client(), SIGN, body, Authorization="Bearer sc_wrong").status_code == 401


def test_clinician_without_care_gets_404(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("neurologist"))
    response = post(client, SIGN, interacting_request(hospital))
    assert response.status_code == 404
    assert not RuleFiring.objects.exists()


def _override(card: str, code: str = "not-applicable", comment: str = "") -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "code": code,
                        "system": "https://smartcare.example/fhir/CodeSystem/cdss-override-reason",
                    },
                    "userComment": comment,
                },
                "outcomeTimestamp": "2026-11-20T10:00:00Z",
            }
        ]
    }


def test_feedback_records_override_with_reason_and_comment(hospital: TestHospital, doctor: Client) -> None:
    cards = post(doctor, SIGN, interacting_request(hospital)).json()["cards"]
    card = cards[0]["uuid"]
    response = post(
        doctor,
        "/cds-services/smartcare-order-sign/feedback",
        _override(card, comment="已监测肌酸激酶，短期合用"),
    )
    assert response.status_code == 200, response.content
    firing = RuleFiring.objects.get(card_uuid=card)
    assert (firing.outcome, firing.override_reason) == ("overridden", "not-applicable")
    assert firing.comment == "已监测肌酸激酶，短期合用"
    stats = {s.key: s for s in rule_statistics()}
    assert stats[firing.rule.key].overridden == 1 and stats[firing.rule.key].override_rate == 1.0
    accepted = {
        "feedback": [{"card": cards[-1]["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": "x"}]}]
    }
    if len(cards) > 1:
        assert post(doctor, "/cds-services/smartcare-order-sign/feedback", accepted).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"feedback": []},
        {"feedback": [{"card": "nope", "outcome": "overridden"}]},
        {"feedback": [{"card": str(uuid.uuid4()), "outcome": "maybe"}]},
        _override(str(uuid.uuid4()), code="because"),
    ],
)
def test_invalid_feedback_is_refused(hospital: TestHospital, doctor: Client, body: dict[str, Any]) -> None:
    response = post(doctor, "/cds-services/smartcare-order-sign/feedback", body)
    assert response.status_code == 400
    assert response.json()["code"] == "CDSS-005"


def test_feedback_on_an_unknown_card_changes_nothing(hospital: TestHospital, doctor: Client) -> None:
    cards = post(doctor, SIGN, interacting_request(hospital)).json()["cards"]
    body = _override(cards[0]["uuid"])
    body["feedback"].append(_override(str(uuid.uuid4()))["feedback"][0])
    response = post(doctor, "/cds-services/smartcare-order-sign/feedback", body)
    assert response.status_code == 404
    assert not RuleFiring.objects.exclude(outcome="").exists()


def test_usage_share_per_doctor(hospital: TestHospital, doctor: Client) -> None:
    import datetime as dt

    from smartcare.core import clock

    post(doctor, SIGN, interacting_request(hospital))
    now = clock.now()
    usage = decision_support_usage(
        now - dt.timedelta(days=1),
        now + dt.timedelta(days=1),
        encounters_by_doctor={hospital.user("doctor").pk: 2},
    )
    mine = next(u for u in usage if u.user_id == hospital.user("doctor").pk)
    assert (mine.encounters, mine.consulted, mine.with_cards, mine.share) == (2, 1, 1, 0.5)


def test_order_select_checks_the_selected_orders_against_the_other_drafts(
    hospital: TestHospital, doctor: Client
) -> None:
    drafts = [
        medication_request("a", "drug:clarithromycin", dose=500, per_day=2),
        medication_request("b", "drug:simvastatin", dose=20),
        medication_request("c", "drug:amlodipine", dose=5),
    ]
    prefetch = {"patient": {"resourceType": "Patient", "gender": "male", "birthDate": "1970-01-01"}}
    body = hook_request("order-select", str(hospital.patient_in_care.pk), drafts=drafts, prefetch=prefetch)
    body["context"]["selections"] = ["MedicationRequest/a"]
    cards = post(doctor, "/cds-services/smartcare-order-select", body).json()["cards"]
    assert any(c["extension"]["org.smartcare.rule"]["key"] == "ddi.clarithromycin.simvastatin" for c in cards)
    body["context"]["selections"] = ["MedicationRequest/c"]
    body["hookInstance"] = str(uuid.uuid4())
    assert post(doctor, "/cds-services/smartcare-order-select", body).json()["cards"] == []


def test_workstation_call_without_prefetch_uses_the_emr_record(
    hospital: TestHospital, doctor: Client
) -> None:
    """Our own patients need no prefetch: the facts come from the EMR (emr.selectors.clinical_facts)."""
    body = hook_request(
        "order-sign",
        str(hospital.patient_in_care.pk),
        drafts=[
            medication_request("a", "drug:clarithromycin", dose=500, per_day=2),
            medication_request("b", "drug:simvastatin", dose=20),
        ],
    )
    response = post(doctor, SIGN, body)
    assert response.status_code == 200, response.content
    assert any(c["indicator"] == "critical" for c in response.json()["cards"])


def test_session_calls_need_the_csrf_token(hospital: TestHospital) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(hospital.user("doctor"))
    response = post(client, SIGN, interacting_request(hospital))
    assert response.status_code == 403
    assert response.json()["code"] == "CORE-403"
    assert not Consultation.objects.exists()


def test_a_prefetch_never_hides_what_the_record_holds(hospital: TestHospital, doctor: Client) -> None:
    """Review finding: with any prefetch the record's allergies were dropped. The record is the
    base for our own patients; what the caller sends is added to it."""
    from smartcare.emr import services as emr

    emr.record_allergy(
        hospital.user("doctor"),
        hospital.patient_in_care.pk,
        substance="drug_class:penicillins",
        name="青霉素",
    )
    body = hook_request(
        "order-sign",
        str(hospital.patient_in_care.pk),
        drafts=[medication_request("a", "drug:amoxicillin", dose=500, per_day=3)],
        prefetch={
            "patient": {"resourceType": "Patient", "id": "x", "gender": "male", "birthDate": "1980-01-01"}
        },
    )
    response = post(doctor, SIGN, body)
    assert response.status_code == 200, response.content
    cards = response.json()["cards"]
    text = json.dumps(cards, ensure_ascii=False).lower()
    assert any(c["indicator"] == "critical" for c in cards), cards
    assert "青霉素" in text or "penicillin" in text
    # The same order for the same patient, sent with nothing but the drafts, gets the same card.
    plain = hook_request(
        "order-sign",
        str(hospital.patient_in_care.pk),
        drafts=[medication_request("a", "drug:amoxicillin", dose=500, per_day=3)],
    )
    assert {c["summary"] for c in post(doctor, SIGN, plain).json()["cards"]} == {c["summary"] for c in cards}


# --- Review findings: prefetch keys against their templates, future birth dates --------------------


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("patient", observation("2160-0", 80, "2026-10-01T08:00:00+08:00", "umol/L"), "prefetch.patient"),
        (
            "medications",
            bundle([observation("2160-0", 80, "2026-10-01", "umol/L")], "searchset"),
            "MedicationRequest",
        ),
        ("medications", {"resourceType": "Patient", "gender": "male"}, "prefetch.medications"),
        ("observations", bundle([medication_request("x", "drug:warfarin", status="active")]), "Observation"),
        ("labs", bundle([observation("2160-0", 80, "2026-10-01", "umol/L")], "searchset"), "prefetch.labs"),
    ],
)
def test_prefetch_must_match_its_template(
    hospital: TestHospital, doctor: Client, key: str, value: dict[str, Any], fragment: str
) -> None:
    body = interacting_request(hospital)
    body["prefetch"][key] = value
    response = post(doctor, SIGN, body)
    assert response.status_code == 400, response.content
    problem = response.json()
    assert problem["code"] == "CDSS-007"
    assert fragment in problem["detail"]
    assert not Consultation.objects.exists() and not RuleFiring.objects.exists()


def test_prefetch_the_client_could_not_fetch_is_an_operation_outcome(
    hospital: TestHospital, doctor: Client
) -> None:
    body = interacting_request(hospital)
    body["prefetch"]["conditions"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    body["prefetch"]["allergies"] = None
    response = post(doctor, SIGN, body)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("birth", ["2999-01-01", "2999-01", "2999"])
def test_a_birth_date_in_the_future_is_refused(hospital: TestHospital, doctor: Client, birth: str) -> None:
    body = interacting_request(hospital)
    body["prefetch"]["patient"]["birthDate"] = birth
    response = post(doctor, SIGN, body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "CDSS-008"
    assert "birthDate" in response.json()["detail"]
    assert not Consultation.objects.exists()
