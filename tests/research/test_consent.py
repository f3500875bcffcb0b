"""Research consent: the latest decision counts, history kept, audited, from the portal and staff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.core.errors import CodedError
from smartcare.patients.choices import ConsentKind
from smartcare.patients.models import Consent
from smartcare.patients.services import record_consent
from smartcare.research.consent import (
    record_research_consent,
    research_consent_history,
    research_consent_status,
    withdrawn_patient_ids,
)
from tests.factories import build_hospital


@pytest.fixture()
def h(db: Any) -> Any:
    return build_hospital()


def test_latest_decision_counts_and_history_is_kept(h: Any) -> None:
    a, b, c = h.patient_in_care, h.patient_elsewhere, h.own_patient
    desk = h.user("frontdesk")
    assert withdrawn_patient_ids() == set()
    record_research_consent(desk, a, granted=False, note="by phone")
    record_research_consent(desk, b, granted=False)
    record_research_consent(desk, b, granted=True)
    record_research_consent(desk, c, granted=True)
    record_consent(desk, c.pk, ConsentKind.TREATMENT, False)  # another kind does not count
    assert withdrawn_patient_ids() == {a.pk}
    assert research_consent_status(a.pk) is False
    assert research_consent_status(b.pk) is True
    assert research_consent_status(h.other_patient.pk) is None
    assert [x.granted for x in research_consent_history(b.pk)] == [True, False]
    assert Consent.objects.filter(kind=ConsentKind.RESEARCH).count() == 4
    assert AuditEvent.objects.filter(patient_id=a.pk, action="create").exists()


def test_staff_without_access_cannot_record(h: Any) -> None:
    with pytest.raises(CodedError) as excinfo:
        record_research_consent(h.user("neurologist"), h.patient_in_care, granted=False)
    assert excinfo.value.code == "CORE-404"
    assert withdrawn_patient_ids() == set()


def test_bad_input(h: Any) -> None:
    with pytest.raises(CodedError) as excinfo:
        record_research_consent(h.user("frontdesk"), h.patient_in_care, granted="no")  # type: ignore[arg-type]
    assert excinfo.value.code == "RES-050"
    with pytest.raises(CodedError) as excinfo:
        record_research_consent(h.user("frontdesk"), h.patient_in_care, granted=False, note="x" * 301)
    assert excinfo.value.code == "RES-050"
    assert not Consent.objects.exists()


def test_portal_page_and_api(h: Any) -> None:
    client = Client()
    client.force_login(h.user("patient"))
    page = client.get("/research/consent/")
    assert page.status_code == 200 and b'data-testid="consent-withdraw"' in page.content
    assert client.post("/research/consent/", {"decision": "withdraw"}).status_code == 302
    assert withdrawn_patient_ids() == {h.own_patient.pk}
    bad = client.post("/research/consent/", {"decision": "maybe"}, follow=True)
    assert b"RES-050" in bad.content
    response = client.post(
        "/api/research/consent/me", json.dumps({"granted": True}), content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["status"] is True
    assert [e["granted"] for e in response.json()["history"]] == [True, False]
    assert withdrawn_patient_ids() == set()


def test_staff_page_records_for_a_patient(h: Any) -> None:
    client = Client()
    client.force_login(h.user("doctor"))
    url = f"/research/consent/patients/{h.patient_in_care.pk}/"
    assert client.get(url).status_code == 200
    client.post(url, {"decision": "withdraw", "note": "told at the clinic"})
    assert withdrawn_patient_ids() == {h.patient_in_care.pk}
    entry = research_consent_history(h.patient_in_care.pk)[0]
    assert entry.recorded_by == h.user("doctor") and entry.note == "told at the clinic"
