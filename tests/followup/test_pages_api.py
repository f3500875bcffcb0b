"""The follow-up pages and API: what they show, what they change, and their errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.test import Client

from smartcare.core import clock
from smartcare.followup import services
from smartcare.followup.models import (
    CarePlan,
    CarePlanTemplate,
    CareTask,
    EducationDelivery,
    EducationItem,
    PhoneFollowUp,
    Question,
    Questionnaire,
    QuestionnaireResponse,
    SurveyInvitation,
    TemplateTask,
)
from tests.factories import TestHospital
from tests.followup.helpers import small_template


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def started(h: TestHospital, patient: Any = None, days_ago: int = 4) -> CarePlan:
    return services.start_plan(
        h.user("nurse"),
        patient_id=(patient or h.patient_in_care).pk,
        template_id=small_template().pk,
        start_date=clock.today() - dt.timedelta(days=days_ago),
    )


def test_the_worklist_shows_overdue_tasks_first(h: TestHospital) -> None:
    plan = started(h)
    page = client_for(h.user("nurse")).get("/followup/")
    assert page.status_code == 200
    text = page.content.decode()
    titles = [
        t.title
        for t in plan.tasks.order_by("due_on", "pk")
        if t.due_on <= clock.today() + dt.timedelta(days=7)
    ]
    positions = [
        text.index(f"/followup/tasks/{t.pk}/")
        for t in plan.tasks.order_by("due_on", "pk")
        if t.title in titles
    ]
    assert positions == sorted(positions)
    assert 'data-testid="count-overdue"' in text
    mine = client_for(h.user("doctor")).get("/followup/?scope=mine&days=30")
    revisit = plan.tasks.get(kind="revisit")
    assert f"/followup/tasks/{revisit.pk}/" in mine.content.decode()
    assert f"/followup/tasks/{plan.tasks.get(kind='phone_call').pk}/" not in mine.content.decode()
    # Another department's clinicians do not see the patient's tasks.
    other = client_for(h.user("neurologist")).get("/followup/?days=60").content.decode()
    assert "/followup/tasks/" not in other


def test_recording_a_call_on_the_task_page(h: TestHospital) -> None:
    plan = started(h)
    call = plan.tasks.get(kind="phone_call")
    client = client_for(h.user("nurse"))
    bad = client.post(f"/followup/tasks/{call.pk}/", {"action": "call", "outcome": "maybe"})
    assert bad.status_code == 302
    follow = client.get(bad["Location"]).content.decode()
    assert "CORE-001" in follow and not PhoneFollowUp.objects.exists()
    response = client.post(
        f"/followup/tasks/{call.pk}/",
        {
            "action": "call",
            "outcome": "reached",
            "notes": "恢复良好",
            "duration_minutes": "5",
            "needs_doctor": "on",
        },
    )
    assert response.status_code == 302
    assert CareTask.objects.get(pk=call.pk).status == "done"
    page = client.get(f"/followup/tasks/{call.pk}/").content.decode()
    assert "恢复良好" in page and 'data-testid="task-done"' in page


def test_the_nurse_fills_the_questionnaire_with_the_patient(h: TestHospital) -> None:
    plan = started(h)
    task = plan.tasks.get(kind="questionnaire")
    client = client_for(h.user("nurse"))
    page = client.get(f"/followup/tasks/{task.pk}/").content.decode()
    assert 'data-testid="question-systolic"' in page and "d-none" in page  # conditional, hidden at first
    bad = client.post(
        f"/followup/tasks/{task.pk}/", {"action": "answer", "q_home_bp": "daily", "q_systolic": "20"}
    )
    assert bad.status_code == 400 and "FU-005" in bad.content.decode()
    assert 'value="daily" checked' in bad.content.decode()  # what was answered stays
    assert not QuestionnaireResponse.objects.exists()
    good = {
        "action": "answer",
        "q_home_bp": "none",
        "q_missed_doses": "none",
        "q_salt": "often",
        "q_exercise": "1-2",
        "q_smoking": "never",
    }
    assert client.post(f"/followup/tasks/{task.pk}/", good).status_code == 302
    assert QuestionnaireResponse.objects.get(task=task).submitted_by == h.user("nurse")


def test_the_patient_page_starts_plans_sends_education_and_draws_scores(h: TestHospital) -> None:
    client = client_for(h.user("doctor"))
    template = CarePlanTemplate.objects.get(key="diabetes")
    response = client.post(
        f"/followup/patients/{h.patient_in_care.pk}/", {"action": "start_plan", "template": template.pk}
    )
    assert response.status_code == 302
    plan = CarePlan.objects.get(patient=h.patient_in_care, template=template)
    assert plan.responsible_doctor == h.user("doctor")
    again = client.post(
        f"/followup/patients/{h.patient_in_care.pk}/",
        {"action": "start_plan", "template": template.pk},
        follow=True,
    )
    assert "FU-002" in again.content.decode()
    item = EducationItem.objects.get(key="fall-prevention")
    client.post(
        f"/followup/patients/{h.patient_in_care.pk}/",
        {"action": "send_education", "item": item.pk, "note": "注意安全"},
    )
    assert EducationDelivery.objects.get(patient=h.patient_in_care, item=item).note == "注意安全"
    task = plan.tasks.filter(kind="questionnaire").first()
    assert task is not None
    services.answer_task(
        h.user("nurse"),
        task.pk,
        {
            "checks": "daily",
            "fasting": "6.8",
            "hypo": "no",
            "medicines": "always",
            "diet": "mostly",
            "feet": "weekly",
            "foot_problem": "no",
        },
    )
    page = client.get(f"/followup/patients/{h.patient_in_care.pk}/").content.decode()
    assert 'data-testid="score-chart"' in page and "charts.js" in page


def test_editing_templates_and_the_builder_in_the_pages(h: TestHospital) -> None:
    head = client_for(h.user("head"))
    response = head.post(
        "/followup/templates/",
        {
            "key": "copd",
            "name_zh": "慢阻肺随访",
            "category": "other",
            "trigger": "diagnosis",
            "icd10_prefixes": "J44",
            "care_stage": "long_term",
            "education_tags": ["copd"],
            "is_active": "on",
        },
    )
    template = CarePlanTemplate.objects.get(key="copd")
    assert response["Location"] == f"/followup/templates/{template.pk}/"
    assert template.icd10_prefixes == ["J44"] and template.education_tags == ["copd"]
    head.post(
        f"/followup/templates/{template.pk}/",
        {"action": "save_task", "kind": "phone_call", "title_zh": "电话随访", "offset_days": "7"},
    )
    assert TemplateTask.objects.get(template=template).offset_days == 7
    refused = head.post(
        f"/followup/templates/{template.pk}/",
        {"action": "save_task", "kind": "questionnaire", "title_zh": "问卷", "offset_days": "7"},
        follow=True,
    )
    assert (
        "CORE-001" in refused.content.decode() and TemplateTask.objects.filter(template=template).count() == 1
    )
    questionnaire = Questionnaire.objects.get(key="post_op_recovery")
    head.post(
        f"/followup/questionnaires/{questionnaire.pk}/",
        {
            "action": "save_question",
            "key": "sleep",
            "kind": "single",
            "text_zh": "睡眠如何？",
            "options": "good|好|Good|0\npoor|差|Poor|1",
            "required": "on",
            "scored": "on",
        },
    )
    assert Question.objects.get(questionnaire=questionnaire, key="sleep").options[1]["score"] == 1
    page = head.get(f"/followup/questionnaires/{questionnaire.pk}/").content.decode()
    assert 'data-testid="preview"' in page and "睡眠如何？" in page
    bad = head.post(
        f"/followup/questionnaires/{questionnaire.pk}/",
        {
            "action": "save_question",
            "key": "later",
            "kind": "text",
            "text_zh": "?",
            "show_if_question": "nothing",
        },
        follow=True,
    )
    assert "FU-007" in bad.content.decode()
    # Clinicians read templates but do not edit them.
    doctor = client_for(h.user("doctor"))
    assert doctor.get(f"/followup/templates/{template.pk}/").status_code == 200
    assert doctor.post(f"/followup/templates/{template.pk}/", {"action": "delete_task"}).status_code == 403


def test_the_library_refuses_a_cdn_video(h: TestHospital) -> None:
    head = client_for(h.user("head"))
    page = head.post(
        "/followup/education/",
        {
            "key": "cdn",
            "kind": "video",
            "title_zh": "视频",
            "video_url": "https://cdn.example.com/x.mp4",
            "is_published": "on",
        },
        follow=True,
    )
    assert "FU-008" in page.content.decode()
    assert not EducationItem.objects.filter(key="cdn").exists()
    listing = client_for(h.user("nurse")).get("/followup/education/?condition=diabetes").content.decode()
    assert EducationItem.objects.get(key="diabetes-diet").title_zh in listing
    assert EducationItem.objects.get(key="low-salt-diet").title_zh not in listing


def test_the_patient_portal(h: TestHospital) -> None:
    plan = started(h, h.own_patient, days_ago=2)
    patient = h.user("patient")
    patient.elderly_mode = True
    patient.save()
    client = client_for(patient)
    page = client.get("/followup/me/").content.decode()
    questionnaire = plan.tasks.get(kind="questionnaire")
    assert f"/followup/me/tasks/{questionnaire.pk}/" in page
    assert 'class="elderly' in page
    bad = client.post(f"/followup/me/tasks/{questionnaire.pk}/", {"q_home_bp": "daily"})
    assert bad.status_code == 400 and "FU-005" in bad.content.decode()
    good = {
        "q_home_bp": "few",
        "q_systolic": "150",
        "q_missed_doses": "one",
        "q_salt": "sometimes",
        "q_exercise": "1-2",
        "q_smoking": "never",
    }
    response = client.post(f"/followup/me/tasks/{questionnaire.pk}/", good)
    assert response.status_code == 302 and response["Location"] == "/followup/me/"
    assert CareTask.objects.get(pk=questionnaire.pk).status == "done"
    education = plan.tasks.get(kind="education")
    opened = client.get(f"/followup/me/tasks/{education.pk}/")
    delivery = EducationDelivery.objects.get(patient=h.own_patient, task=education)
    assert opened["Location"] == f"/followup/me/education/{delivery.pk}/"
    article = client.get(opened["Location"]).content.decode()
    assert 'data-testid="mark-read"' in article and "5 克" in article
    client.post(f"/followup/me/education/{delivery.pk}/")
    assert CareTask.objects.get(pk=education.pk).status == "done"
    assert EducationDelivery.objects.get(pk=delivery.pk).read_at is not None


def test_the_api(h: TestHospital) -> None:
    nurse = client_for(h.user("nurse"))
    template = CarePlanTemplate.objects.get(key="heart-failure")
    url = f"/api/followup/patients/{h.own_patient.pk}/plans"
    created = nurse.post(url, json.dumps({"template_id": template.pk}), content_type="application/json")
    assert created.status_code == 201
    body = created.json()
    assert body["template"] == "heart-failure" and len(body["tasks"]) == 7 and body["responsible_nurse"]
    twice = nurse.post(url, json.dumps({"template_id": template.pk}), content_type="application/json")
    assert twice.status_code == 409 and twice.json()["code"] == "FU-002"
    assert twice["Content-Type"].startswith("application/problem+json")
    task = next(t for t in body["tasks"] if t["kind"] == "questionnaire")
    patient = client_for(h.user("patient"))
    bad = patient.post(
        f"/api/followup/tasks/{task['id']}/response",
        json.dumps({"answers": {"breath": "never"}}),
        content_type="application/json",
    )
    assert bad.status_code == 400
    problem = bad.json()
    assert problem["code"] == "FU-005" and {e["field"] for e in problem["errors"]} >= {"breath", "pillows"}
    answers = {"breath": "rest", "pillows": "flat", "swelling": "none", "weight_gain": "no", "fatigue": 4}
    answered = patient.post(
        f"/api/followup/tasks/{task['id']}/response",
        json.dumps({"answers": answers}),
        content_type="application/json",
    )
    assert answered.status_code == 201 and answered.json()["flagged"] is True
    me = patient.get("/api/followup/me").json()
    assert me["plans"][0]["template"] == "heart-failure" and me["education"]
    scores = patient.get(f"/api/followup/patients/{h.own_patient.pk}/scores").json()
    assert scores[0]["points"][0]["percent"] == answered.json()["score_percent"]
    definition = patient.get(
        f"/api/followup/questionnaires/{Questionnaire.objects.get(key='hf_symptoms').pk}"
    ).json()
    assert definition["questions"][0]["options"][0]["label"]
    worklist = nurse.get("/api/followup/worklist?days=30").json()
    assert {t["patient_id"] for t in worklist} >= {h.own_patient.pk}
    invitation = SurveyInvitation.objects.create(
        questionnaire=Questionnaire.objects.get(key="outpatient_satisfaction"),
        patient=h.own_patient,
        department=h.cardiology,
        occasion="visit",
        expires_at=clock.now() + dt.timedelta(days=1),
    )
    survey = {
        "overall": 5,
        "registration": 5,
        "waiting": 5,
        "doctor": 5,
        "staff": 5,
        "environment": 5,
        "recommend": "yes",
    }
    assert (
        patient.post(
            f"/api/followup/surveys/{invitation.pk}/response",
            json.dumps({"answers": survey}),
            content_type="application/json",
        ).status_code
        == 201
    )
    indicator = client_for(h.user("head")).get("/api/followup/satisfaction").json()
    assert (
        indicator["responses"] == 1
        and indicator["rate"] == 1.0
        and indicator["target"] == 0.9
        and indicator["met"] is True
    )


def test_the_satisfaction_page(h: TestHospital) -> None:
    page = client_for(h.user("head")).get("/followup/satisfaction/?department=" + str(h.cardiology.pk))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="satisfaction-chart"' in text and "charts.js" in text and "90%" in text
