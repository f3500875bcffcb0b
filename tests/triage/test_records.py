"""Triage records: encrypted complaint, the patient link and its audit, the booking choice, and
where a suggestion is booked when the hospital lacks the exact department."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.core import crypto
from smartcare.triage.models import TriageRecord
from smartcare.triage.services import bookable_department, run_triage
from smartcare.triage.types import TriageRequest
from tests.factories import TestHospital, department
from tests.triage.conftest import CARDIOLOGY_ZH

pytestmark = pytest.mark.django_db


def _raw_text(record: TriageRecord) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM triage_triagerecord WHERE id = %s", [record.pk])
        return cursor.fetchone()[0]


def test_the_complaint_is_encrypted_at_rest(hospital: TestHospital) -> None:
    record, result = run_triage(
        TriageRequest(text=CARDIOLOGY_ZH, age=55, sex="male"), user=None, channel="api", language="zh-hans"
    )
    raw = _raw_text(record)
    assert CARDIOLOGY_ZH not in raw
    assert crypto.decrypt(raw) == CARDIOLOGY_ZH
    assert TriageRecord.objects.get(pk=record.pk).text == CARDIOLOGY_ZH
    assert record.status == result.status == "departments"
    assert record.suggested_departments == [d.code for d in result.departments]
    assert record.model_version == result.model_version != ""
    assert record.elapsed_ms >= 0
    assert (record.age, record.sex, record.language) == (55, "male", "zh-hans")


def test_a_patient_triaging_for_themself_is_linked_and_audited(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("patient"))
    client.post("/triage/", {"text": CARDIOLOGY_ZH, "age": "46", "sex": "female"})
    record = TriageRecord.objects.get()
    assert record.patient == hospital.own_patient
    assert record.user == hospital.user("patient")
    event = AuditEvent.objects.get(action="create", object_type="triage.TriageRecord")
    assert event.patient_id == hospital.own_patient.pk
    assert event.object_id == str(record.pk)


def test_staff_triage_is_never_linked_to_a_patient(hospital: TestHospital) -> None:
    record, _result = run_triage(
        TriageRequest(text=CARDIOLOGY_ZH), user=hospital.user("doctor"), channel="portal", language="en"
    )
    assert record.patient is None
    assert not AuditEvent.objects.filter(object_type="triage.TriageRecord").exists()


def test_following_a_booking_link_records_the_choice(hospital: TestHospital) -> None:
    client = Client()
    client.post("/triage/", {"text": CARDIOLOGY_ZH, "age": "55", "sex": "male"})
    record = TriageRecord.objects.get()
    response = client.get(f"/triage/{record.pk}/book/03.04/")
    assert response.status_code == 302
    assert response["Location"] == "/booking/department/03.04/"
    record.refresh_from_db()
    assert record.chosen_department == "03.04"
    assert record.chosen_at is not None


def test_someone_elses_record_is_followed_but_not_changed(hospital: TestHospital) -> None:
    Client().post("/triage/", {"text": CARDIOLOGY_ZH, "age": "55", "sex": "male"})
    record = TriageRecord.objects.get()
    other = Client()
    other.force_login(hospital.user("patient"))
    response = other.get(f"/triage/{record.pk}/book/03.04/")
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.chosen_department == ""


def test_booking_link_reveals_nothing_about_records_and_only_remembers_own_suggestions(
    hospital: TestHospital,
) -> None:
    client = Client()
    client.post("/triage/", {"text": CARDIOLOGY_ZH, "age": "55", "sex": "male"})
    record = TriageRecord.objects.get()
    neurology = bookable_department("03.03")
    assert neurology is not None
    # A code that was not suggested, a record that does not exist, and someone else's record all
    # answer like a plain link to the department: nothing tells them apart.
    stranger = Client()
    for caller, path in (
        (client, f"/triage/{record.pk}/book/03.03/"),
        (client, f"/triage/{record.pk + 1}/book/03.03/"),
        (stranger, f"/triage/{record.pk}/book/03.03/"),
    ):
        response = caller.get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/booking/department/{neurology.code}/"
    assert stranger.get(f"/triage/{record.pk}/book/03.04/").status_code == 302
    record.refresh_from_db()
    assert record.chosen_department == ""
    # Only a department the hospital does not have is "not found" (the catalog is public).
    assert client.get(f"/triage/{record.pk}/book/99.99/").status_code == 404
    assert client.post(f"/triage/{record.pk}/book/03.04/").status_code == 405


def test_a_suggestion_is_booked_in_the_nearest_department_the_hospital_has(hospital: TestHospital) -> None:
    assert bookable_department("03.04") == hospital.cardiology
    assert bookable_department("03.01") is None  # neither respiratory medicine nor internal medicine
    internal = department(hospital.hospital, "03")
    assert bookable_department("03.01") == internal
    assert bookable_department("03") == internal
    internal.is_active = False
    internal.save()
    assert bookable_department("03.01") is None
    assert bookable_department("99.99") is None


def test_booking_link_goes_to_the_parent_department(hospital: TestHospital) -> None:
    internal = department(hospital.hospital, "03")
    record = TriageRecord.objects.create(
        channel="portal",
        language="zh-hans",
        text="咳嗽",
        status="departments",
        suggested_departments=["03.01"],
    )
    client = Client()
    session = client.session
    session["triage_records"] = [record.pk]
    session.save()
    response = client.get(f"/triage/{record.pk}/book/03.01/?patient=12")
    assert response["Location"] == f"/booking/department/{internal.code}/?patient=12"
    record.refresh_from_db()
    assert record.chosen_department == "03"


def test_admin_lists_records_without_the_complaint(hospital: TestHospital) -> None:
    record, _result = run_triage(
        TriageRequest(text=CARDIOLOGY_ZH), user=None, channel="api", language="zh-hans"
    )
    client = Client()
    client.force_login(hospital.user("itadmin"))
    listing = client.get("/admin/triage/triagerecord/")
    assert listing.status_code == 200
    detail = client.get(f"/admin/triage/triagerecord/{record.pk}/change/")
    assert detail.status_code == 200
    for response in (listing, detail):
        assert CARDIOLOGY_ZH.encode() not in response.content
    assert client.get("/admin/triage/triagerecord/add/").status_code == 403
