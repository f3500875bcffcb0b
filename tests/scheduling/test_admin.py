"""Scheduling master data in the admin: the IT administrator sets up templates, release rules,
policies, exams, preparations and pre-visit rules; bad values are refused with SCHED-010 and save
nothing; every change is in the audit chain; nobody else gets in, and patient data is not there."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.scheduling.choices import FeeClass, Period
from smartcare.scheduling.models import (
    BookingPolicy,
    ExamType,
    PreVisitRule,
    ReleaseRule,
    ScheduleTemplate,
    VisitPreparation,
)
from tests.factories import TestHospital

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

MODELS = ("scheduletemplate", "releaserule", "bookingpolicy", "examtype", "visitpreparation", "previsitrule")


def admin_client(hospital: TestHospital, name: str = "itadmin") -> Client:
    client = Client()
    client.force_login(hospital.user(name))
    return client


def template_form(hospital: TestHospital, **changes: Any) -> dict[str, Any]:
    form = {
        "department": hospital.cardiology.pk,
        "fee_class": FeeClass.ORDINARY,
        "practitioner": hospital.user("doctor").practitioner.pk,
        "exam_type": "",
        "room": "",
        "is_active": "on",
        "weekday": 2,
        "period": Period.AFTERNOON,
        "start_time": "14:00",
        "end_time": "17:00",
        "slot_minutes": 30,
        "capacity_per_slot": 3,
    }
    form.update(changes)
    return form


def ecg(hospital: TestHospital) -> ExamType:
    return ExamType.objects.create(
        code="ECG", name_zh="心电图", name_en="ECG", department=hospital.cardiology, duration_minutes=10
    )


def errors_of(response: Any) -> str:
    assert response.status_code == 200, response.status_code  # the form again, not a redirect
    return "\n".join(str(e) for e in response.context["adminform"].form.errors.values())


@pytest.mark.parametrize("model", MODELS)
def test_the_it_administrator_sees_each_kind_of_master_data(hospital: TestHospital, model: str) -> None:
    client = admin_client(hospital)
    assert client.get(f"/admin/scheduling/{model}/").status_code == 200
    assert client.get(f"/admin/scheduling/{model}/add/").status_code == 200


@pytest.mark.parametrize("name", ["doctor", "frontdesk", "head", "auditor", "patient"])
def test_nobody_else_gets_into_the_scheduling_admin(hospital: TestHospital, name: str) -> None:
    user = hospital.user(name)
    user.is_staff = True  # the admin follows the role, not Django's flag
    user.save(update_fields=["is_staff"])
    client = admin_client(hospital, name)
    for model in MODELS:
        response = client.get(f"/admin/scheduling/{model}/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    response = client.post("/admin/scheduling/scheduletemplate/add/", template_form(hospital))
    assert response.status_code == 302
    assert not ScheduleTemplate.objects.exists()


@pytest.mark.parametrize("model", ["appointment", "waitlistentry", "previsitexam", "clinicsession", "slot"])
def test_bookings_and_other_patient_data_are_not_in_the_admin(hospital: TestHospital, model: str) -> None:
    assert admin_client(hospital).get(f"/admin/scheduling/{model}/").status_code == 404


def test_a_valid_template_is_saved_and_audited(hospital: TestHospital) -> None:
    client = admin_client(hospital)
    response = client.post("/admin/scheduling/scheduletemplate/add/", template_form(hospital))
    assert response.status_code == 302, errors_of(response)
    template = ScheduleTemplate.objects.get()
    assert (template.weekday, template.start_time, template.slot_minutes, template.capacity_per_slot) == (
        2,
        dt.time(14),
        30,
        3,
    )
    created = AuditEvent.objects.get(object_type="scheduling.scheduletemplate", action="create")
    assert created.actor_username == "itadmin"
    assert created.object_id == str(template.pk)
    assert created.detail["admin"] is True

    change = template_form(hospital, capacity_per_slot=4)
    response = client.post(f"/admin/scheduling/scheduletemplate/{template.pk}/change/", change)
    assert response.status_code == 302, errors_of(response)
    template.refresh_from_db()
    assert template.capacity_per_slot == 4
    updated = AuditEvent.objects.get(object_type="scheduling.scheduletemplate", action="update")
    assert updated.object_id == str(template.pk)
    assert "patients per slot" in updated.detail["change"].lower()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"start_time": "17:00", "end_time": "14:00"}, "end_time", "end must be after the start"),
        ({"end_time": "14:00"}, "end_time", "end must be after the start"),
        ({"slot_minutes": 40}, "slot_minutes", "180 minutes cannot be divided into slots of 40"),
        ({"slot_minutes": 0}, "slot_minutes", "at least 5 minutes"),
        ({"capacity_per_slot": 0}, "capacity_per_slot", "at least one patient"),
        ({"practitioner": ""}, "practitioner", "needs a doctor"),
        ({"fee_class": FeeClass.EXAM}, "exam_type", "needs an exam type"),
        ({"weekday": 7}, "weekday", "0 (Monday) to 6 (Sunday)"),
    ],
)
def test_an_invalid_template_is_refused_with_sched_010(
    hospital: TestHospital, changes: dict[str, Any], field: str, words: str
) -> None:
    response = admin_client(hospital).post(
        "/admin/scheduling/scheduletemplate/add/", template_form(hospital, **changes)
    )
    form = response.context["adminform"].form
    assert field in form.errors, form.errors
    message = " ".join(form.errors[field])
    assert message.startswith("SCHED-010: ")
    assert words in message
    assert not ScheduleTemplate.objects.exists()
    assert not AuditEvent.objects.filter(object_type__startswith="scheduling.").exists()


def test_template_rules_on_the_model(hospital: TestHospital) -> None:
    doctor = hospital.user("doctor").practitioner
    exam = ecg(hospital)

    def problems(**fields: Any) -> dict[str, list[str]]:
        values: dict[str, Any] = {
            "department": hospital.cardiology,
            "practitioner": doctor,
            "weekday": 0,
            "period": Period.MORNING,
            "start_time": dt.time(8),
            "end_time": dt.time(12),
            "slot_minutes": 15,
            "capacity_per_slot": 2,
        }
        values.update(fields)
        with pytest.raises(ValidationError) as refused:
            ScheduleTemplate(**values).full_clean()
        return refused.value.message_dict

    # An exam session is booked by exam, not by a doctor, and a clinic session has no exam.
    assert "practitioner" in problems(fee_class=FeeClass.EXAM, exam_type=exam)
    assert "exam_type" in problems(exam_type=exam)
    # The doctor must work in the department.
    neurology = hospital.user("neurologist").practitioner.department
    assert "practitioner" in problems(department=neurology)
    # A doctor is not in two sessions at once (an inactive template does not count).
    ScheduleTemplate.objects.create(
        department=hospital.cardiology,
        practitioner=doctor,
        weekday=0,
        period=Period.MORNING,
        start_time=dt.time(11),
        end_time=dt.time(12),
    )
    overlap = problems()
    assert "already has a session" in overlap["start_time"][0]
    assert overlap["start_time"][0].startswith("SCHED-010")
    ScheduleTemplate(
        department=hospital.cardiology,
        practitioner=doctor,
        weekday=0,
        period=Period.MORNING,
        start_time=dt.time(8),
        end_time=dt.time(11),
        slot_minutes=15,
        capacity_per_slot=2,
    ).full_clean()
    # An exam room's session with its exam type is fine.
    ScheduleTemplate(
        department=hospital.cardiology,
        exam_type=exam,
        fee_class=FeeClass.EXAM,
        weekday=3,
        period=Period.AFTERNOON,
        start_time=dt.time(14),
        end_time=dt.time(16),
        slot_minutes=10,
        capacity_per_slot=1,
    ).full_clean()


def test_release_rules_policies_exams_and_preparations_are_checked(hospital: TestHospital) -> None:
    client = admin_client(hospital)
    cardiology = hospital.cardiology.pk

    too_far = client.post(
        "/admin/scheduling/releaserule/add/",
        {"department": cardiology, "days_ahead": 30, "release_time": "08:00"},
    )
    assert "SCHED-010" in errors_of(too_far) and "at most 21 days ahead" in errors_of(too_far)
    odd_time = client.post(
        "/admin/scheduling/releaserule/add/",
        {"department": cardiology, "days_ahead": 7, "release_time": "08:00:30"},
    )
    assert "whole minute" in errors_of(odd_time)
    assert not ReleaseRule.objects.exists()
    ok = client.post(
        "/admin/scheduling/releaserule/add/",
        {"department": cardiology, "days_ahead": 14, "release_time": "07:30"},
    )
    assert ok.status_code == 302
    assert ReleaseRule.objects.get().release_time == dt.time(7, 30)

    policy = {
        "department": "",
        "max_bookings_per_day": 0,
        "cancellation_deadline_hours": 2,
        "no_show_limit": 3,
        "no_show_window_days": 90,
        "suspension_days": 30,
        "check_in_opens_minutes": 60,
        "late_grace_minutes": 15,
        "waitlist_offer_minutes": 0,
    }
    refused = errors_of(client.post("/admin/scheduling/bookingpolicy/add/", policy))
    assert "book at least once a day" in refused and "at least one minute" in refused
    assert not BookingPolicy.objects.exists()
    policy.update(max_bookings_per_day=2, waitlist_offer_minutes=20)
    assert client.post("/admin/scheduling/bookingpolicy/add/", policy).status_code == 302
    # A second hospital default is refused by the form as by the database.
    second = errors_of(
        client.post("/admin/scheduling/bookingpolicy/add/", policy | {"max_bookings_per_day": 5})
    )
    assert "already a hospital default" in second
    assert BookingPolicy.objects.count() == 1

    exam = {
        "code": " US-PELVIS ",
        "name_zh": "盆腔超声",
        "name_en": "Pelvic ultrasound",
        "department": cardiology,
        "loinc": "",
        "duration_minutes": 0,
        "preparation_zh": "检查前憋尿",
        "preparation_en": "",
    }
    refused = errors_of(client.post("/admin/scheduling/examtype/add/", exam))
    assert "at least one minute" in refused and "in Chinese and in English" in refused
    exam.update(duration_minutes=20, preparation_en="Come with a full bladder")
    assert client.post("/admin/scheduling/examtype/add/", exam).status_code == 302
    assert ExamType.objects.get().code == "US-PELVIS"

    blank = errors_of(
        client.post(
            "/admin/scheduling/visitpreparation/add/",
            {"department": cardiology, "text_zh": "请空腹", "text_en": "   "},
        )
    )
    assert "in Chinese and in English" in blank
    assert not VisitPreparation.objects.exists()

    rule = {
        "department": cardiology,
        "exam_type": ExamType.objects.get().pk,
        "min_age": 200,
        "is_active": "on",
    }
    assert "130 or less" in errors_of(client.post("/admin/scheduling/previsitrule/add/", rule))
    assert client.post("/admin/scheduling/previsitrule/add/", rule | {"min_age": 40}).status_code == 302
    assert PreVisitRule.objects.get().min_age == 40
    # Each saved change is in the audit chain.
    audited = set(
        AuditEvent.objects.filter(detail__admin=True, action="create").values_list("object_type", flat=True)
    )
    assert audited == {
        "scheduling.releaserule",
        "scheduling.bookingpolicy",
        "scheduling.examtype",
        "scheduling.previsitrule",
    }


def test_two_hospital_defaults_are_refused_by_the_database(hospital: TestHospital) -> None:
    BookingPolicy.objects.create(max_bookings_per_day=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        BookingPolicy.objects.create(max_bookings_per_day=4)  # the old constraint let this in
    # Departments each have their own row besides the default.
    BookingPolicy.objects.create(department=hospital.cardiology, max_bookings_per_day=3)
    BookingPolicy.objects.create(department=hospital.user("neurologist").practitioner.department)
    assert BookingPolicy.objects.count() == 3
