"""Review of break-the-glass access: who sees which grants, reviewing once, and the head's inbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.choices import BreakGlassStatus, Role
from smartcare.accounts.errors import AlreadyReviewed, ReviewNotAllowed
from smartcare.accounts.models import BreakGlassGrant
from smartcare.accounts.services import break_glass_reviewable, break_the_glass, review_break_glass
from smartcare.audit.models import AuditEvent
from smartcare.notifications.models import Notification
from tests.factories import TestHospital, staff

REVIEWS = "/accounts/break-glass/reviews/"
REASON = "Unconscious patient in the emergency room, history needed"


@dataclass
class Grants:
    cardiology: BreakGlassGrant  # a cardiology nurse's
    neurology: BreakGlassGrant  # a neurologist's
    heads_own: BreakGlassGrant  # the cardiology head's own


@pytest.fixture()
def grants(hospital: TestHospital) -> Grants:
    return Grants(
        cardiology=break_the_glass(hospital.user("nurse"), hospital.patient_elsewhere, REASON),
        neurology=break_the_glass(hospital.user("neurologist"), hospital.patient_in_care, REASON),
        heads_own=break_the_glass(hospital.user("head"), hospital.other_patient, REASON),
    )


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def review(client: Client, grant: BreakGlassGrant, decision: str = "justified", comment: str = "ok") -> Any:
    return client.post(REVIEWS, {"grant": grant.pk, "decision": decision, "comment": comment})


def listed(client: Client) -> set[int]:
    response = client.get(REVIEWS)
    assert response.status_code == 200
    return {grant.pk for grant in response.context["grants"]}


def test_head_sees_only_his_departments_grants_and_not_his_own(
    hospital: TestHospital, grants: Grants
) -> None:
    head = hospital.user("head")
    assert set(break_glass_reviewable(head).values_list("pk", flat=True)) == {grants.cardiology.pk}
    assert listed(signed_in(head)) == {grants.cardiology.pk}


def test_auditor_sees_every_grant(hospital: TestHospital, grants: Grants) -> None:
    everything = {grants.cardiology.pk, grants.neurology.pk, grants.heads_own.pk}
    assert set(break_glass_reviewable(hospital.user("auditor")).values_list("pk", flat=True)) == everything
    assert listed(signed_in(hospital.user("auditor"))) == everything


@pytest.mark.parametrize(
    "name", ["doctor", "nurse", "neurologist", "manager", "itadmin", "researcher", "patient"]
)
def test_others_cannot_review(hospital: TestHospital, grants: Grants, name: str) -> None:
    assert not break_glass_reviewable(hospital.user(name)).exists()
    client = signed_in(hospital.user(name))
    assert client.get(REVIEWS).status_code == 403
    response = review(client, grants.cardiology)
    assert response.status_code == 403
    assert 'data-error-code="CORE-403"' in response.content.decode()
    grants.cardiology.refresh_from_db()
    assert grants.cardiology.status == BreakGlassStatus.PENDING_REVIEW
    assert grants.cardiology.reviewed_by is None


def test_head_reviews_a_grant_of_his_department(hospital: TestHospital, grants: Grants) -> None:
    head = hospital.user("head")
    response = review(signed_in(head), grants.cardiology, "unjustified", "  no emergency on record  ")
    assert response.status_code == 302
    assert response["Location"] == REVIEWS
    grant = BreakGlassGrant.objects.get(pk=grants.cardiology.pk)
    assert grant.status == BreakGlassStatus.UNJUSTIFIED
    assert grant.reviewed_by == head
    assert grant.reviewed_at is not None
    assert grant.review_comment == "no emergency on record"
    event = AuditEvent.objects.order_by("-sequence").first()
    assert event is not None
    assert (event.action, event.actor_username, event.patient_id) == (
        "update",
        "head",
        hospital.patient_elsewhere.pk,
    )
    assert event.detail == {"review": "unjustified"}


def test_reviewing_twice_is_a_conflict(hospital: TestHospital, grants: Grants) -> None:
    client = signed_in(hospital.user("head"))
    assert review(client, grants.cardiology, "justified", "first").status_code == 302
    reviewed = BreakGlassGrant.objects.get(pk=grants.cardiology.pk)
    response = review(client, grants.cardiology, "unjustified", "second")
    assert response.status_code == 409
    assert 'data-error-code="ACCT-005"' in response.content.decode()
    again = BreakGlassGrant.objects.get(pk=grants.cardiology.pk)
    assert (again.status, again.review_comment, again.reviewed_at) == (
        BreakGlassStatus.JUSTIFIED,
        "first",
        reviewed.reviewed_at,
    )
    # The auditor cannot overwrite the head's review either.
    with pytest.raises(AlreadyReviewed) as raised:
        review_break_glass(hospital.user("auditor"), grants.cardiology.pk, justified=False)
    assert (raised.value.code, raised.value.status) == ("ACCT-005", 409)


@pytest.mark.parametrize("which", ["neurology", "heads_own"])
def test_head_cannot_review_other_departments_or_his_own(
    hospital: TestHospital, grants: Grants, which: str
) -> None:
    grant = getattr(grants, which)
    response = review(signed_in(hospital.user("head")), grant)
    assert response.status_code == 404
    assert 'data-error-code="ACCT-006"' in response.content.decode()
    grant.refresh_from_db()
    assert grant.status == BreakGlassStatus.PENDING_REVIEW
    assert grant.reviewed_by is None
    with pytest.raises(ReviewNotAllowed):
        review_break_glass(hospital.user("head"), grant.pk, justified=True)


def test_missing_grant_looks_like_a_forbidden_one(hospital: TestHospital, grants: Grants) -> None:
    client = signed_in(hospital.user("head"))
    missing = client.post(REVIEWS, {"grant": 10**9, "decision": "justified"})
    forbidden = review(client, grants.neurology)
    assert missing.status_code == forbidden.status_code == 404
    assert 'data-error-code="ACCT-006"' in missing.content.decode()


@pytest.mark.parametrize("value", ["", "abc", "1.5"])
def test_malformed_review_is_refused(hospital: TestHospital, grants: Grants, value: str) -> None:
    response = signed_in(hospital.user("auditor")).post(REVIEWS, {"grant": value, "decision": "justified"})
    assert response.status_code == 400
    assert 'data-error-code="CORE-001"' in response.content.decode()
    assert not BreakGlassGrant.objects.exclude(status=BreakGlassStatus.PENDING_REVIEW).exists()


def test_auditor_reviews_any_department(hospital: TestHospital, grants: Grants) -> None:
    client = signed_in(hospital.user("auditor"))
    assert review(client, grants.neurology, "justified").status_code == 302
    assert review(client, grants.heads_own, "unjustified").status_code == 302
    assert BreakGlassGrant.objects.get(pk=grants.neurology.pk).status == BreakGlassStatus.JUSTIFIED
    assert BreakGlassGrant.objects.get(pk=grants.heads_own.pk).status == BreakGlassStatus.UNJUSTIFIED


# --- The head's inbox ----------------------------------------------------------------------------


def test_head_is_told_when_a_clinician_of_his_department_breaks_the_glass(hospital: TestHospital) -> None:
    client = signed_in(hospital.user("nurse"))
    response = client.post(
        "/patients/break-glass/", {"code": hospital.patient_elsewhere.medical_record_number, "reason": REASON}
    )
    assert response.status_code == 302
    [note] = Notification.objects.filter(category="break_glass")
    assert note.recipient == hospital.user("head")
    assert note.link == REVIEWS
    assert REASON in note.body
    assert note.read_at is None
    inbox = signed_in(hospital.user("head")).get("/api/notifications/inbox")
    assert inbox.status_code == 200
    assert [item["id"] for item in inbox.json()] == [note.pk]
    # Nobody else in the department gets it.
    for name in ("doctor", "nurse"):
        assert not Notification.objects.filter(recipient=hospital.user(name)).exists()


def test_every_head_of_the_department_is_told(hospital: TestHospital) -> None:
    deputy = staff("deputy", Role.DEPARTMENT_HEAD, hospital.cardiology)
    break_the_glass(hospital.user("doctor"), hospital.patient_elsewhere, REASON)
    recipients = set(Notification.objects.filter(category="break_glass").values_list("recipient", flat=True))
    assert recipients == {hospital.user("head").pk, deputy.pk}


def test_heads_of_other_departments_are_not_told(hospital: TestHospital) -> None:
    break_the_glass(hospital.user("neurologist"), hospital.patient_in_care, REASON)
    assert not Notification.objects.filter(recipient=hospital.user("head")).exists()


def test_head_is_not_asked_to_review_his_own_access(hospital: TestHospital) -> None:
    grant = break_the_glass(hospital.user("head"), hospital.patient_elsewhere, REASON)
    assert not Notification.objects.filter(recipient=hospital.user("head")).exists()
    assert grant.pk in set(break_glass_reviewable(hospital.user("auditor")).values_list("pk", flat=True))
