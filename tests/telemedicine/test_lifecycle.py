"""The request lifecycle with a controllable clock: creation (consent, validation, nothing partial),
the expert's queue, accepting with the time-limited access grant, asking for information, declining,
cancelling, deadlines escalated before they are missed, the opinion entering the record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.accounts.models import CareRelationship
from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import CodedError, NotFound
from smartcare.emr.models import Problem
from smartcare.notifications.models import Notification
from smartcare.patients.access import access_patient
from smartcare.patients.models import Consent
from smartcare.telemedicine import selectors, services
from smartcare.telemedicine.models import Consultation, ConsultationEvent, Opinion
from tests.factories import TestHospital
from tests.telemedicine.conftest import MONDAY_9, ask

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")


def code_of(call: Any) -> str:
    with pytest.raises(CodedError) as caught:
        call()
    return caught.value.code


def sees_record(user: Any, patient: Any) -> bool:
    try:
        access_patient(user, patient.pk, "clinical", audit=False)
    except NotFound:
        return False
    return True


def test_a_request_records_consent_deadline_and_notifies_the_expert(h: TestHospital, frozen: Any) -> None:
    c = ask(h)
    assert c.status == "requested"
    assert c.deadline_at == MONDAY_9 + dt.timedelta(hours=24)
    assert c.consent.kind == "data_sharing" and c.consent.granted
    assert c.requesting_department == h.cardiology and c.specialty == h.neurology
    assert Notification.objects.filter(recipient=h.user("neurologist"), category="telemedicine").count() == 1
    assert AuditEvent.objects.filter(
        patient_id=h.patient_in_care.pk, detail__event="consultation_requested"
    ).exists()
    urgent = ask(h, urgency="emergency")
    assert urgent.deadline_at == MONDAY_9 + dt.timedelta(hours=1)
    # The queue: most urgent first, then by deadline.
    assert [x.pk for x in selectors.expert_queue(h.user("neurologist"))] == [urgent.pk, c.pk]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"consent_given": False}, "TM-001"),
        ({"working_diagnosis": "XX9"}, "EMR-008"),
        ({"question": "  "}, "CORE-001"),
        ({"urgency": "whenever"}, "CORE-001"),
        ({"expert_id": "__doctor__"}, "TM-006"),  # the requester themself
        ({"note_ids": [10**9]}, "TM-007"),
        ({"study_ids": [10**9]}, "TM-007"),
    ],
)
def test_bad_requests_write_nothing(h: TestHospital, change: dict[str, Any], code: str) -> None:
    if change.get("expert_id") == "__doctor__":
        change = {"expert_id": h.user("doctor").pk}
    consents = Consent.objects.count()
    assert code_of(lambda: ask(h, **change)) == code
    assert Consultation.objects.count() == 0
    assert Consent.objects.count() == consents
    assert not Notification.objects.filter(category="telemedicine").exists()


def test_a_doctor_without_care_cannot_ask_about_the_patient(h: TestHospital) -> None:
    with pytest.raises(NotFound):
        services.request_consultation(
            h.user("neurologist"),
            patient_id=h.patient_in_care.pk,
            specialty_id=h.cardiology.pk,
            question="?",
            working_diagnosis="I10",
            consent_given=True,
        )
    assert Consultation.objects.count() == 0


def test_accepting_grants_time_limited_access_which_expires(h: TestHospital, frozen: Any) -> None:
    neurologist = h.user("neurologist")
    c = ask(h)
    assert not sees_record(neurologist, h.patient_in_care)  # not before accepting
    services.accept(neurologist, c.pk)
    c.refresh_from_db()
    assert c.status == "accepted" and c.accepted_at == MONDAY_9
    assert c.access_until == MONDAY_9 + dt.timedelta(days=7)
    relationship = CareRelationship.objects.get(source=f"telemedicine.consultation:{c.pk}")
    assert relationship.practitioner_user == neurologist and relationship.kind == "consultation"
    assert sees_record(neurologist, h.patient_in_care)
    assert AuditEvent.objects.filter(
        detail__event="consultation_access_granted", patient_id=h.patient_in_care.pk
    ).exists()
    # Another neurologist of the same department gets nothing: the grant names the expert.
    with clock.frozen_at(MONDAY_9 + dt.timedelta(days=7, minutes=1)):
        assert not sees_record(neurologist, h.patient_in_care)
    assert code_of(lambda: services.accept(neurologist, c.pk)) == "TM-002"


def test_the_pool_member_who_accepts_becomes_the_expert(h: TestHospital, frozen: Any) -> None:
    c = ask(h, expert=False)
    assert selectors.expert_queue(h.user("neurologist"))[0].pk == c.pk
    assert code_of(lambda: services.accept(h.user("nurse"), c.pk)) == "CORE-403"  # no capability
    assert code_of(lambda: services.accept(h.user("doctor"), c.pk)) == "TM-004"  # the requester
    with pytest.raises(NotFound):  # a cardiology head does not see another department's pool
        services.accept(h.user("head"), ask(h, expert=False, urgency="urgent").pk + 1000)
    services.accept(h.user("neurologist"), c.pk)
    c.refresh_from_db()
    assert c.expert == h.user("neurologist")


def test_information_round_trip_and_decline_ends_access(h: TestHospital, frozen: Any) -> None:
    neurologist, doctor = h.user("neurologist"), h.user("doctor")
    c = ask(h)
    services.accept(neurologist, c.pk)
    services.ask_for_information(neurologist, c.pk, "Blood pressure on arrival?")
    assert (
        code_of(lambda: services.submit_opinion(neurologist, c.pk, diagnosis="G45.9", recommendations="x"))
        == "TM-002"
    )
    assert code_of(lambda: services.provide_information(neurologist, c.pk, "x")) == "TM-005"
    services.provide_information(doctor, c.pk, "168/95 mmHg")
    c.refresh_from_db()
    assert c.status == "accepted"
    kinds = list(ConsultationEvent.objects.filter(consultation=c).values_list("kind", flat=True))
    assert kinds == ["requested", "accepted", "info_requested", "info_provided"]
    # Declining an accepted request is refused; the requester cancels instead, which ends the access.
    assert code_of(lambda: services.decline(neurologist, c.pk, "not mine")) == "TM-002"
    assert code_of(lambda: services.cancel(doctor, c.pk, "")) == "TM-003"
    services.cancel(doctor, c.pk, "Patient transferred")
    assert not sees_record(neurologist, h.patient_in_care)
    other = ask(h)
    assert code_of(lambda: services.decline(neurologist, other.pk, " ")) == "TM-003"
    services.decline(neurologist, other.pk, "Please ask the stroke unit")
    other.refresh_from_db()
    assert other.status == "declined" and other.closed_reason == "Please ask the stroke unit"


def test_deadlines_escalate_before_they_are_missed(h: TestHospital, frozen: Any) -> None:
    c = ask(h)  # 24 h: escalated 6 h before
    urgent = ask(h, urgency="urgent")  # 4 h: escalated 1 h before
    assert services.escalate_deadlines(now=MONDAY_9 + dt.timedelta(hours=2, minutes=59)) == {
        "escalated": 0,
        "overdue": 0,
    }
    assert services.escalate_deadlines(now=MONDAY_9 + dt.timedelta(hours=3)) == {"escalated": 1, "overdue": 0}
    urgent.refresh_from_db()
    assert urgent.escalated_at is not None and urgent.overdue_at is None
    assert services.escalate_deadlines(now=MONDAY_9 + dt.timedelta(hours=3, minutes=5)) == {
        "escalated": 0,
        "overdue": 0,
    }
    assert services.escalate_deadlines(now=MONDAY_9 + dt.timedelta(hours=18)) == {
        "escalated": 1,
        "overdue": 1,
    }
    c.refresh_from_db()
    assert c.escalated_at == MONDAY_9 + dt.timedelta(hours=18) and c.overdue_at is None
    escalations = Notification.objects.filter(recipient=h.user("neurologist"), subject__contains="due soon")
    assert escalations.count() == 2
    assert Notification.objects.filter(recipient=h.user("doctor"), subject__contains="missed").count() == 1
    # An answered request is never escalated.
    services.accept(h.user("neurologist"), c.pk)
    services.submit_opinion(
        h.user("neurologist"), c.pk, diagnosis="G45.9", recommendations="Dual antiplatelet"
    )
    assert services.escalate_deadlines(now=MONDAY_9 + dt.timedelta(hours=30))["overdue"] == 0


def test_the_opinion_enters_the_record_and_shortens_access(h: TestHospital, frozen: Any) -> None:
    neurologist = h.user("neurologist")
    c = ask(h)
    services.accept(neurologist, c.pk)
    with clock.frozen_at(MONDAY_9 + dt.timedelta(hours=5)):
        opinion = services.submit_opinion(
            neurologist,
            c.pk,
            diagnosis="I63.9",
            findings="Small right MCA infarct on DWI",
            recommendations="Admit to the stroke unit; aspirin 100 mg",
        )
    c.refresh_from_db()
    assert c.status == "answered" and c.response_hours == 5
    assert opinion.concordance == "discordant"  # G45 vs I63
    problem = Problem.objects.get(patient=h.patient_in_care, icd10_id="I63.9")
    assert opinion.record_entry == f"emr.problem:{problem.pk}"
    assert c.access_until == MONDAY_9 + dt.timedelta(hours=5, days=3)
    assert Notification.objects.filter(recipient=h.user("head"), subject__contains="Discordant").exists()
    assert (
        code_of(lambda: services.submit_opinion(neurologist, c.pk, diagnosis="I63.9", recommendations="x"))
        == "TM-002"
    )


def test_a_bad_opinion_writes_nothing(h: TestHospital, frozen: Any) -> None:
    neurologist = h.user("neurologist")
    c = ask(h)
    services.accept(neurologist, c.pk)
    bad = [
        {"diagnosis": "NOPE", "recommendations": "x"},
        {"diagnosis": "I63.9", "recommendations": ""},
        {
            "diagnosis": "I63.9",
            "recommendations": "x",
            "annotations": [{"kind": "distance", "instance": 1, "points": [[1, 2]]}],
        },
        {"diagnosis": "I63.9", "recommendations": "x", "annotations": "not a list"},
    ]
    for data in bad:
        with pytest.raises(CodedError):
            services.submit_opinion(neurologist, c.pk, **data)
    assert not Opinion.objects.exists() and not Problem.objects.exists()
    c.refresh_from_db()
    assert c.status == "accepted"
    assert (
        code_of(
            lambda: services.submit_opinion(h.user("doctor"), c.pk, diagnosis="I63.9", recommendations="x")
        )
        == "TM-004"
    )
