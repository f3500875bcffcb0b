"""A card counts once per visit: the same chart loaded again (same encounter, rule version and card)
is the same firing with its first id and its feedback; what changes the card is a new firing.
Request validation reasons are translated (CDSS-001 keeps its code)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from smartcare.cdss.models import Consultation, RuleFiring
from smartcare.cdss.selectors import decision_support_usage, rule_statistics
from smartcare.cdss.services import new_rule_version
from smartcare.core import clock
from tests.cdss.conftest import post
from tests.cdss.helpers import bundle, hook_request, observation
from tests.factories import TestHospital

pytestmark = pytest.mark.django_db

VIEW = "/cds-services/smartcare-patient-view"
GAP = "gap.diabetes_hba1c"
HYPERTENSION = "gap.hypertension_k_creatinine"


def diabetic_chart(
    hospital: TestHospital, encounter: str = "enc-7", observations: Any = (), codes: Any = ("E11.9",)
) -> dict[str, Any]:
    return hook_request(
        "patient-view",
        str(hospital.patient_in_care.pk),
        encounter=encounter,
        prefetch={
            "patient": {"resourceType": "Patient", "gender": "female", "birthDate": "1958-01-01"},
            "conditions": bundle(
                [
                    {
                        "resourceType": "Condition",
                        "subject": {"reference": "Patient/x"},
                        "clinicalStatus": {"coding": [{"code": "active"}]},
                        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]},
                    }
                    for code in codes
                ]
            ),
            "observations": bundle(list(observations)),
        },
    )


def gap_cards(response: Any, key: str = GAP) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return [c for c in response.json()["cards"] if c["extension"]["org.smartcare.rule"]["key"] == key]


def test_loading_the_chart_three_times_records_one_firing(hospital: TestHospital, doctor: Client) -> None:
    shown = [gap_cards(post(doctor, VIEW, diabetic_chart(hospital))) for _ in range(3)]
    assert all(len(cards) == 1 for cards in shown)
    assert len({cards[0]["uuid"] for cards in shown}) == 1  # the same card, the same id
    firings = RuleFiring.objects.filter(rule__key=GAP)
    assert firings.count() == 1
    assert firings.get().identity and firings.get().suggestions == shown[0][0]["suggestions"]
    assert Consultation.objects.filter(hook="patient-view").count() == 1
    stats = {s.key: s for s in rule_statistics()}
    assert stats[GAP].fired == 1
    now = clock.now()
    (usage,) = decision_support_usage(now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    assert (usage.consulted, usage.with_cards) == (1, 1)


def test_the_same_card_in_the_other_language_is_the_same_firing(
    hospital: TestHospital, doctor: Client
) -> None:
    chinese = gap_cards(post(doctor, VIEW, diabetic_chart(hospital), **{"Accept-Language": "zh-hans"}))[0]
    english = gap_cards(post(doctor, VIEW, diabetic_chart(hospital), **{"Accept-Language": "en"}))[0]
    assert chinese["summary"] != english["summary"]
    assert chinese["uuid"] == english["uuid"]
    assert chinese["suggestions"][0]["uuid"] == english["suggestions"][0]["uuid"]
    assert english["suggestions"][0]["label"].startswith("Order")
    assert RuleFiring.objects.filter(rule__key=GAP).count() == 1


def test_a_new_fact_that_changes_the_card_records_a_new_firing(
    hospital: TestHospital, doctor: Client
) -> None:
    codes = ("E11.9", "I10")
    first = post(doctor, VIEW, diabetic_chart(hospital, codes=codes))
    (hypertension,) = gap_cards(first, HYPERTENSION)
    (hba1c,) = gap_cards(first)
    # A potassium result arrives: the hypertension card now names only creatinine as missing.
    potassium = observation("2823-3", 4.1, clock.now().isoformat(), "mmol/L")
    again = post(doctor, VIEW, diabetic_chart(hospital, observations=[potassium], codes=codes))
    (changed,) = gap_cards(again, HYPERTENSION)
    assert changed["summary"] != hypertension["summary"] and changed["uuid"] != hypertension["uuid"]
    assert RuleFiring.objects.filter(rule__key=HYPERTENSION).count() == 2
    # The HbA1c card did not change: the same firing, the same id.
    assert [c["uuid"] for c in gap_cards(again)] == [hba1c["uuid"]]
    assert RuleFiring.objects.filter(rule__key=GAP).count() == 1
    assert Consultation.objects.filter(hook="patient-view").count() == 2


def test_another_encounter_or_a_new_rule_version_counts_again(hospital: TestHospital, doctor: Client) -> None:
    first = gap_cards(post(doctor, VIEW, diabetic_chart(hospital)))[0]
    other_visit = gap_cards(post(doctor, VIEW, diabetic_chart(hospital, encounter="enc-8")))[0]
    assert other_visit["uuid"] != first["uuid"]
    new_rule_version(hospital.user("itadmin"), GAP, {"evidence_level": "B"}, note="evidence")
    edited = gap_cards(post(doctor, VIEW, diabetic_chart(hospital)))[0]
    assert edited["uuid"] != first["uuid"]
    assert edited["extension"]["org.smartcare.rule"]["version"] == 2
    assert RuleFiring.objects.filter(rule__key=GAP).count() == 3


def test_without_an_encounter_every_call_is_logged(hospital: TestHospital, doctor: Client) -> None:
    body = diabetic_chart(hospital, encounter="")
    uuids = {gap_cards(post(doctor, VIEW, body))[0]["uuid"] for _ in range(2)}
    assert len(uuids) == 2
    assert set(RuleFiring.objects.filter(rule__key=GAP).values_list("identity", flat=True)) == {""}


def test_a_card_shown_again_carries_its_feedback(hospital: TestHospital, doctor: Client) -> None:
    card = gap_cards(post(doctor, VIEW, diabetic_chart(hospital)))[0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"code": "not-applicable", "system": "x"},
                    "userComment": "HbA1c done at the community clinic last month",
                },
            }
        ]
    }
    assert post(doctor, VIEW + "/feedback", feedback).status_code == 200
    again = gap_cards(post(doctor, VIEW, diabetic_chart(hospital)))[0]
    assert again["uuid"] == card["uuid"]
    answer = again["extension"]["org.smartcare.feedback"]
    assert (answer["outcome"], answer["reason"]) == ("overridden", "not-applicable")
    assert answer["comment"] == "HbA1c done at the community clinic last month"
    stats = {s.key: s for s in rule_statistics()}
    assert (stats[GAP].fired, stats[GAP].overridden) == (1, 1)


def test_care_gap_suggestion_orders_each_missing_test_coded(hospital: TestHospital, doctor: Client) -> None:
    card = gap_cards(post(doctor, VIEW, diabetic_chart(hospital)))[0]
    (action,) = card["suggestions"][0]["actions"]
    assert action["type"] == "create" and action["resource"]["resourceType"] == "ServiceRequest"
    systems = {c["system"]: c["code"] for c in action["resource"]["code"]["coding"]}
    assert systems == {"http://loinc.org": "4548-4", "https://smartcare.example/knowledge": "exam:hba1c"}


@pytest.mark.parametrize(
    ("language", "prefix"),
    [("en", "The CDS Hooks request is not valid: "), ("zh-hans", "CDS Hooks 请求无效：")],
)
def test_validation_reasons_follow_accept_language(
    hospital: TestHospital, doctor: Client, language: str, prefix: str
) -> None:
    body = diabetic_chart(hospital)
    body["hookInstance"] = "not-a-uuid"
    response = post(doctor, VIEW, body, **{"Accept-Language": language})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "CDSS-001"
    with translation.override(language):
        reason = "hookInstance: " + translation.gettext("must be a UUID")
    assert problem["detail"] == prefix + reason
    assert not RuleFiring.objects.exists()
