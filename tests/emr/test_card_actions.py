"""Decision-support cards at the workstation, with the real engine: care-gap cards counted once per
visit however often the page loads, and answered card by card (accept = carry out the suggestion,
"not applicable here" with a comment, an own override reason per order-sign card), all through the
CDS Hooks feedback path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.cdss.models import Consultation, RuleFiring
from smartcare.cdss.selectors import rule_statistics
from smartcare.emr import hooks, services
from smartcare.emr.choices import OrderStatus
from smartcare.emr.models import Encounter, Order
from tests.emr.test_records import med
from tests.factories import TestHospital

HBA1C = "gap.diabetes_hba1c"
HYPERTENSION = "gap.hypertension_k_creatinine"


@pytest.fixture(autouse=True)
def _decision_support(_no_advisors: None) -> Iterator[None]:
    """The real engine, registered as the cdss app does at start-up."""
    from smartcare.cdss.seed import load_rules
    from smartcare.cdss.services import evaluate, record_feedback, shown_card

    load_rules()
    hooks.register_advisor(evaluate, feedback=record_feedback, card=shown_card)
    yield


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def diabetic_visit(h: TestHospital) -> Encounter:
    doctor = h.user("doctor")
    services.record_problem(doctor, h.patient_in_care.pk, code="E11.9")
    return services.open_encounter(doctor, patient_id=h.patient_in_care.pk)


def card_on_page(content: bytes, key: str) -> str:
    """The id of the card of rule ``key`` on the page (its firing's card id)."""
    firing = RuleFiring.objects.filter(rule__key=key).order_by("-fired_at").first()
    assert firing is not None, key
    assert f'data-card="{firing.card_uuid}"'.encode() in content
    return str(firing.card_uuid)


def test_three_loads_record_one_firing_and_a_changed_card_a_new_one(h: TestHospital) -> None:
    encounter = diabetic_visit(h)
    doctor = client_for(h.user("doctor"))
    url = f"/emr/encounters/{encounter.pk}/"
    pages = [doctor.get(url) for _ in range(3)]
    assert all(p.status_code == 200 and b"HbA1c" in p.content for p in pages)
    assert RuleFiring.objects.filter(rule__key=HBA1C).count() == 1
    assert Consultation.objects.filter(hook="patient-view").count() == 1
    # An action that redirects back to the page does not count the cards again either.
    doctor.post(url, {"action": "vital", "kind": "hr", "value": "72"})
    doctor.get(url)
    assert RuleFiring.objects.filter(rule__key=HBA1C).count() == 1
    # A new fact: hypertension. Its care gap is a new card, counted once; HbA1c's stays the same.
    services.record_problem(h.user("doctor"), h.patient_in_care.pk, code="I10")
    doctor.get(url)
    doctor.get(url)
    assert RuleFiring.objects.filter(rule__key=HYPERTENSION).count() == 1
    assert RuleFiring.objects.filter(rule__key=HBA1C).count() == 1
    # A result that changes what the hypertension card says makes it a new card.
    services.record_result(
        h.user("doctor"), h.patient_in_care.pk, code="2823-3", name="Potassium", value=4.2, unit="mmol/L"
    )
    doctor.get(url)
    summaries = list(RuleFiring.objects.filter(rule__key=HYPERTENSION).values_list("summary", flat=True))
    assert len(summaries) == 2 and summaries[0] != summaries[1]
    stats = {s.key: s for s in rule_statistics()}
    assert stats[HBA1C].fired == 1


def test_accepting_a_care_gap_orders_the_missing_test_as_a_draft(h: TestHospital) -> None:
    encounter = diabetic_visit(h)
    doctor = client_for(h.user("doctor"))
    url = f"/emr/encounters/{encounter.pk}/"
    page = doctor.get(url)
    card = card_on_page(page.content, HBA1C)
    firing = RuleFiring.objects.get(card_uuid=card)
    suggestion = firing.suggestions[0]["uuid"]
    assert f'name="suggestion" value="{suggestion}"'.encode() in page.content
    before = AuditEvent.objects.count()
    accepted = doctor.post(url, {"action": "card_accept", "card": card, "suggestion": suggestion})
    assert accepted.status_code == 302
    order = Order.objects.get(encounter=encounter)
    assert (order.kind, order.item, order.status) == ("lab", "exam:hba1c", OrderStatus.DRAFT)
    firing.refresh_from_db()
    assert (firing.outcome, firing.accepted_suggestions) == ("accepted", [suggestion])
    assert firing.feedback_by == h.user("doctor")
    assert AuditEvent.objects.count() > before
    # Until the draft is signed the gap is still there: the card is shown answered, not counted again.
    page = doctor.get(url)
    assert card.encode() in page.content and b'data-testid="card-answered"' in page.content
    assert f'name="suggestion" value="{suggestion}"'.encode() not in page.content
    assert RuleFiring.objects.filter(rule__key=HBA1C).count() == 1
    # Answered once: a second answer is refused and changes nothing.
    again = doctor.post(url, {"action": "card_accept", "card": card, "suggestion": suggestion})
    assert again.status_code == 409 and b"EMR-012" in again.content
    assert Order.objects.filter(encounter=encounter).count() == 1


def test_not_applicable_here_needs_a_comment_and_is_kept_on_reload(h: TestHospital) -> None:
    encounter = diabetic_visit(h)
    doctor = client_for(h.user("doctor"))
    url = f"/emr/encounters/{encounter.pk}/"
    card = card_on_page(doctor.get(url).content, HBA1C)
    refused = doctor.post(url, {"action": "card_not_applicable", "card": card, "comment": "  "})
    assert refused.status_code == 400 and b"EMR-013" in refused.content
    assert b'data-testid="card-not-applicable"' in refused.content  # the cards are shown again
    assert RuleFiring.objects.get(card_uuid=card).outcome == ""
    marked = doctor.post(
        url, {"action": "card_not_applicable", "card": card, "comment": "HbA1c done elsewhere last month"}
    )
    assert marked.status_code == 302
    firing = RuleFiring.objects.get(card_uuid=card)
    assert (firing.outcome, firing.override_reason) == ("overridden", "not-applicable")
    assert firing.comment == "HbA1c done elsewhere last month"
    assert AuditEvent.objects.filter(object_id=str(firing.pk), action="update").exists()
    page = doctor.get(url, headers={"Accept-Language": "en"})
    assert b'data-testid="card-answered"' in page.content and b"HbA1c done elsewhere" in page.content
    assert RuleFiring.objects.filter(rule__key=HBA1C).count() == 1
    stats = {s.key: s for s in rule_statistics()}
    assert (stats[HBA1C].fired, stats[HBA1C].overridden) == (1, 1)


def test_cards_of_another_visit_or_unknown_ids_are_refused(h: TestHospital) -> None:
    encounter = diabetic_visit(h)
    doctor = client_for(h.user("doctor"))
    url = f"/emr/encounters/{encounter.pk}/"
    card = card_on_page(doctor.get(url).content, HBA1C)
    other = services.open_encounter(h.user("doctor"), patient_id=h.own_patient.pk)
    other_url = f"/emr/encounters/{other.pk}/"
    for target, body in (
        (other_url, {"action": "card_accept", "card": card}),
        (url, {"action": "card_accept", "card": "00000000-0000-0000-0000-000000000000"}),
        (url, {"action": "card_accept", "card": "nope"}),
        (url, {"action": "card_accept", "card": card, "suggestion": "not-offered"}),
    ):
        response = doctor.post(target, body)
        assert response.status_code == 409 and b"EMR-012" in response.content, body
    assert RuleFiring.objects.get(card_uuid=card).outcome == ""
    assert not Order.objects.exists()


def test_a_nurse_cannot_answer_cards(h: TestHospital) -> None:
    encounter = diabetic_visit(h)
    client_for(h.user("doctor")).get(f"/emr/encounters/{encounter.pk}/")
    card = str(RuleFiring.objects.get(rule__key=HBA1C).card_uuid)
    nurse = client_for(h.user("nurse"))
    page = nurse.get(f"/emr/encounters/{encounter.pk}/")
    assert page.status_code == 200 and b'data-testid="card-not-applicable"' not in page.content
    response = nurse.post(
        f"/emr/encounters/{encounter.pk}/", {"action": "card_not_applicable", "card": card, "comment": "x"}
    )
    assert response.status_code == 403
    assert RuleFiring.objects.get(card_uuid=card).outcome == ""


def _interaction(h: TestHospital) -> tuple[Encounter, Order, Client, str]:
    user = h.user("doctor")
    encounter = services.open_encounter(user, patient_id=h.patient_in_care.pk)
    warfarin = services.place_order(
        user, encounter.pk, med(item="drug:warfarin", dose="3", frequency_per_day="1")
    )
    services.sign_order(user, warfarin.pk)
    aspirin = services.place_order(
        user, encounter.pk, med(item="drug:aspirin", dose="100", frequency_per_day="1")
    )
    return encounter, aspirin, client_for(user), f"/emr/encounters/{encounter.pk}/"


def test_order_sign_cards_take_their_own_override_reason(h: TestHospital) -> None:
    _encounter, aspirin, doctor, url = _interaction(h)
    shown = doctor.post(url, {"action": "sign_order", "order": aspirin.pk})
    assert shown.status_code == 200 and b'data-indicator="critical"' in shown.content
    cards = list(RuleFiring.objects.filter(hook="order-sign").values_list("card_uuid", flat=True))
    assert cards
    # Asked again without a reason: the same cards, not counted again.
    doctor.post(url, {"action": "sign_order", "order": aspirin.pk, "card": [str(c) for c in cards]})
    assert RuleFiring.objects.filter(hook="order-sign").count() == len(cards)
    first, *rest = (str(c) for c in cards)
    body: dict[str, Any] = {
        "action": "sign_order",
        "order": aspirin.pk,
        "card": [first, *rest],
        f"override_code_{first}": "x|benefit-outweighs-risk",
        f"override_reason_{first}": "after stent, short course",
        "override_reason": "monitored",
    }
    assert doctor.post(url, body).status_code == 302
    assert Order.objects.get(pk=aspirin.pk).status == OrderStatus.SIGNED
    own = RuleFiring.objects.get(card_uuid=first)
    assert (own.outcome, own.override_reason, own.comment) == (
        "overridden",
        "benefit-outweighs-risk",
        "after stent, short course",
    )
    for other in RuleFiring.objects.filter(card_uuid__in=rest):
        assert (other.outcome, other.override_reason, other.comment) == ("overridden", "", "monitored")


def test_accepting_an_order_sign_card_removes_the_draft(h: TestHospital) -> None:
    _encounter, aspirin, doctor, url = _interaction(h)
    doctor.post(url, {"action": "sign_order", "order": aspirin.pk})
    firing = next(
        f for f in RuleFiring.objects.filter(hook="order-sign", indicator="critical") if f.suggestions
    )
    action = firing.suggestions[0]["actions"][0]
    assert action["type"] == "delete" and action["resourceId"] == [f"MedicationRequest/{aspirin.pk}"]
    response = doctor.post(
        url,
        {"action": "card_accept", "card": str(firing.card_uuid), "suggestion": firing.suggestions[0]["uuid"]},
    )
    assert response.status_code == 302
    assert Order.objects.get(pk=aspirin.pk).status == OrderStatus.CANCELLED
    firing.refresh_from_db()
    assert firing.outcome == "accepted"
