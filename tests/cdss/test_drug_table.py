"""Decision support's drug table: drugs it recognises (naproxen, paracetamol), RxNorm codes, and
the "not checked" card for a medication it cannot recognise (review finding: an unknown drug was
checked silently, so a doctor could believe it had been checked)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from smartcare.cdss.kb import knowledge_index
from smartcare.cdss.seed import data_file
from smartcare.knowledge.models import Node
from tests.cdss.conftest import post
from tests.cdss.helpers import (
    Allergy,
    Condition,
    bundle,
    facts,
    fired,
    hook_request,
    keys,
    med,
    medication_request,
    obs,
)
from tests.factories import TestHospital

pytestmark = pytest.mark.django_db

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SIGN = "/cds-services/smartcare-order-sign"


def free_text(name: str, dose: float | None = None, per_day: float | None = None, *, draft: bool = True):
    """A medication as an EMR sends it when it was typed, not picked: no drug key."""
    return med("", dose, per_day=per_day, draft=draft, name=name)


def test_naproxen_and_paracetamol_are_in_the_drug_table_with_atc_codes() -> None:
    kb = knowledge_index()
    assert kb.drug_for_text("Naproxen 250 mg tablet") == "drug:naproxen"
    assert kb.drug_for_text("萘普生片") == "drug:naproxen"
    assert kb.by_atc["M01AE02"] == "drug:naproxen"
    assert "drug_class:nsaids" in kb.classes_of("drug:naproxen")
    assert kb.name("drug:naproxen", english=True) == "Naproxen"
    for text in ("Acetaminophen 500 mg", "paracetamol", "APAP 325 mg", "对乙酰氨基酚片"):
        assert kb.drug_for_text(text) == "drug:paracetamol", text
    assert kb.by_atc["N02BE01"] == "drug:paracetamol"


def test_nsaid_class_rules_apply_to_naproxen() -> None:
    on_warfarin = facts(drafts=[free_text("Naproxen 500 mg", 500, 2)], active=[med("drug:warfarin")])
    assert "ddi.warfarin.nsaids" in keys(on_warfarin)
    assert "duplicate.nsaids" in keys(facts(drafts=[med("drug:naproxen")], active=[med("drug:ibuprofen")]))
    kidneys = facts(drafts=[med("drug:naproxen")], observations=[obs("2160-0", 400, 5, "umol/L")], age=70)
    assert "renal.nsaids_egfr_30" in keys(kidneys)
    allergic = facts(
        drafts=[med("drug:naproxen")], allergies=[Allergy(substance="drug:ibuprofen", name="布洛芬")]
    )
    assert "allergy.nsaids" in keys(allergic)
    ulcer = facts(
        drafts=[med("drug:naproxen")], conditions=[Condition(icd10="K25.9", disease="disease:peptic_ulcer")]
    )
    assert "ci.nsaids.peptic_ulcer" in keys(ulcer)
    pregnant = facts(drafts=[med("drug:naproxen")], sex="female", age=30, pregnant=True)
    assert "pregnancy.nsaids" in keys(pregnant)
    lithium = facts(drafts=[med("drug:naproxen")], active=[med("drug:lithium")])
    assert "ddi.lithium.nsaids" in keys(lithium)
    too_much = facts(drafts=[med("drug:naproxen", 750, per_day=3)])
    assert "dose.naproxen" in keys(too_much)
    assert "dose.naproxen" not in keys(facts(drafts=[med("drug:naproxen", 500, per_day=2)]))


def test_paracetamol_with_warfarin_is_an_informational_interaction() -> None:
    found = {
        f.rule.key: f for f in fired(facts(drafts=[med("drug:paracetamol")], active=[med("drug:warfarin")]))
    }
    assert found["ddi.warfarin.paracetamol"].rule.indicator == "info"
    # the recommended analgesic for patients on warfarin: no bleeding-risk NSAID card
    assert not {k for k in found if k.startswith("ddi.") and "nsaids" in k}


def test_low_dose_aspirin_is_not_flagged_with_an_ace_inhibitor() -> None:
    assert keys(facts(drafts=[med("drug:aspirin")], active=[med("drug:enalapril")]), prefix="ddi.") == set()
    assert "ddi.ace_inhibitors.nsaids" in keys(
        facts(drafts=[med("drug:naproxen")], active=[med("drug:enalapril")])
    )


def test_rxnorm_codes_match_whatever_the_display() -> None:
    kb = knowledge_index()
    assert kb.by_rxnorm["7258"] == "drug:naproxen"
    assert kb.by_rxnorm["161"] == "drug:paracetamol"
    assert kb.by_rxnorm["11289"] == "drug:warfarin"


def test_every_mapped_code_names_a_known_drug() -> None:
    kb = knowledge_index()
    table = data_file("drugs.json")
    for key in table["rxnorm"]:
        assert key in kb.names, key
    graph = set(Node.objects.filter(type="drug").values_list("key", flat=True))
    for drug in table["drugs"]:
        for cls in drug["classes"]:
            assert Node.objects.filter(key=cls, type="drug_class").exists(), cls
        assert drug["key"] in graph or drug["key"] in kb.names


def test_rxnorm_coded_medication_over_cds_hooks(hospital: TestHospital, doctor: Client) -> None:
    coded = {
        "resourceType": "MedicationRequest",
        "id": "rx1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/x"},
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "7258", "display": "NPX 500 DR tab (house formulary)"}],
            "text": "NPX 500 DR tab (house formulary)",
        },
    }
    body = hook_request(
        "order-sign",
        str(hospital.patient_in_care.pk),
        drafts=[coded],
        prefetch={
            "patient": {"resourceType": "Patient", "gender": "male", "birthDate": "1960-05-01"},
            "medications": bundle([medication_request("m0", "drug:warfarin", status="active")], "searchset"),
        },
    )
    response = post(doctor, SIGN, body)
    assert response.status_code == 200, response.content
    rules = {c["extension"]["org.smartcare.rule"]["key"] for c in response.json()["cards"]}
    assert "ddi.warfarin.nsaids" in rules
    assert "coverage.unrecognised_medication" not in rules


def test_an_unrecognised_drug_gets_a_not_checked_card() -> None:
    f = facts(drafts=[free_text("Zyxorin 20 mg")], active=[med("drug:warfarin"), free_text("中药汤剂")])
    with translation.override("en"):
        found = {x.rule.key: x for x in fired(f)}
    card = found["coverage.unrecognised_medication"]
    assert card.summary.startswith("Not checked: ")
    assert "Zyxorin 20 mg" in card.summary and "中药汤剂" in card.summary
    assert (card.indicator or card.rule.indicator) == "info"
    assert "interactions" in card.detail
    with translation.override("zh-hans"):
        zh = {x.rule.key: x for x in fired(f)}["coverage.unrecognised_medication"]
    assert zh.summary != card.summary and "Zyxorin 20 mg" in zh.summary


def test_recognised_drugs_get_no_not_checked_card() -> None:
    f = facts(drafts=[free_text("Warfarin 3 mg tablet")], active=[med("drug:amlodipine")])
    assert "coverage.unrecognised_medication" not in keys(f)
    # recognised by its free-text name, so the interaction with aspirin is checked
    assert "ddi.aspirin.warfarin" in keys(
        facts(drafts=[free_text("Warfarin 3 mg")], active=[med("drug:aspirin")])
    )


def test_not_checked_card_over_cds_hooks(hospital: TestHospital, doctor: Client) -> None:
    unknown = medication_request("m9", "drug:amlodipine")
    unknown["medicationCodeableConcept"] = {
        "coding": [{"system": RXNORM, "code": "999999999", "display": "Zyxorin"}],
        "text": "Zyxorin 20 mg",
    }
    body = hook_request(
        "order-sign",
        str(hospital.patient_in_care.pk),
        drafts=[unknown],
        prefetch={"patient": {"resourceType": "Patient", "gender": "male", "birthDate": "1970-01-01"}},
    )
    response = post(doctor, SIGN, body, **{"Accept-Language": "en"})
    cards = response.json()["cards"]
    assert [c["extension"]["org.smartcare.rule"]["key"] for c in cards] == [
        "coverage.unrecognised_medication"
    ]
    assert cards[0]["indicator"] == "info"
    assert "Zyxorin 20 mg" in cards[0]["summary"]
