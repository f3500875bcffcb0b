"""Permission rules for follow-up: the pages under /followup/ and the API under /api/followup/.

``setup`` gives each caller's target patient an active plan (a phone-call task, a questionnaire
task, an education task), an open satisfaction survey and an education item sent to them, written
directly: the callers differ in whom they may see, the world must not.

Capabilities: ``followup.work`` (doctors, nurses, department heads: worklist, tasks, calls, plans,
sending education), ``followup.library`` (the care team and the IT administrator: templates and
the library, read), ``followup.manage`` (department heads, the IT administrator: editing templates,
questionnaires and the library), ``followup.portal`` (patients: their own plans, questionnaires,
surveys and education) and ``followup.reports`` (department heads here: the satisfaction
indicator). One patient's follow-up needs access to that patient (``access_patient``): clinicians
without care get 404 CORE-404, as for a record that does not exist, and so does a patient asking
for another patient's task, survey or education; roles without the capability get 403 CORE-403.
Only the patient answers their satisfaction survey: staff get 403 there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.core import clock
from smartcare.followup.choices import PlanOrigin, TaskKind
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
from smartcare.followup.seed import ensure_followup_content
from tests.test_permissions import (
    ADMIN,
    BREAK_GLASS,
    CARE,
    CLINICIANS,
    EVERYONE,
    HEAD,
    MISSING_ID,
    NO_CARE,
    PATIENT_OTHER,
    PATIENT_OWN,
    PATIENTS,
    Rule,
    World,
)

WRITERS = frozenset({CARE, BREAK_GLASS, HEAD})  # the capability and access to the target
READERS = WRITERS | {PATIENT_OWN}
LIBRARY = CLINICIANS | {ADMIN}
MANAGERS = frozenset({HEAD, ADMIN})
NOT_FOUND = {NO_CARE: 404}
OTHER_PATIENT_NOT_FOUND = {PATIENT_OTHER: 404}
SURVEY_ANSWERS = {
    "overall": "5",
    "registration": "5",
    "waiting": "4",
    "doctor": "5",
    "staff": "5",
    "environment": "4",
    "recommend": "yes",
}
PRO_ANSWERS = {"pain": "2", "fever": "no", "wound": "healing", "walking": "normal", "eating": "normal"}


def setup(world: World) -> None:
    ensure_followup_content()
    target = world.target
    doctor, nurse = world.h.user("doctor"), world.h.user("nurse")
    template = CarePlanTemplate.objects.get(key="post-op-general")
    today = clock.today()
    plan = CarePlan.objects.create(
        patient=target,
        template=template,
        department=world.h.cardiology,
        responsible_doctor=doctor,
        responsible_nurse=nurse,
        origin=PlanOrigin.MANUAL,
        start_date=today - dt.timedelta(days=3),
    )

    def task(kind: str, **extra: Any) -> CareTask:
        return CareTask.objects.create(
            plan=plan,
            patient=target,
            department=world.h.cardiology,
            kind=kind,
            title_zh="任务",
            title_en="Task",
            due_on=today,
            remind_on=today,
            responsible=nurse,
            responsible_role="nurse",
            **extra,
        )

    item = EducationItem.objects.get(key="wound-care")
    world.extra.update(
        fu_plan=plan,
        fu_call=task(TaskKind.PHONE_CALL),
        fu_questionnaire=task(
            TaskKind.QUESTIONNAIRE, questionnaire=Questionnaire.objects.get(key="post_op_recovery")
        ),
        fu_survey=SurveyInvitation.objects.create(
            questionnaire=Questionnaire.objects.get(key="outpatient_satisfaction"),
            patient=target,
            department=world.h.cardiology,
            occasion="visit",
            expires_at=clock.now() + dt.timedelta(days=14),
        ),
        fu_delivery=EducationDelivery.objects.create(item=item, patient=target, reason="plan", plan=plan),
        fu_template=template,
        fu_questionnaire_def=Questionnaire.objects.get(key="post_op_recovery"),
        fu_item=item,
    )


def _id(name: str, param: str) -> Any:
    return lambda w, missing: {param: MISSING_ID if missing else w.extra[name].pk}


_call = _id("fu_call", "task_id")
_questionnaire_task = _id("fu_questionnaire", "task_id")
_plan = _id("fu_plan", "plan_id")
_survey = _id("fu_survey", "invitation_id")
_delivery = _id("fu_delivery", "delivery_id")
_template = _id("fu_template", "template_id")
_questionnaire = _id("fu_questionnaire_def", "questionnaire_id")
_item = _id("fu_item", "item_id")


def _survey_link(world: World, missing: bool) -> dict[str, str]:
    if missing:
        return {"token": "forged-link"}
    from smartcare.followup.services import survey_link_token

    return {"token": survey_link_token(world.extra["fu_survey"])}


def _called(world: World, kind: str, response: Any) -> None:
    call = PhoneFollowUp.objects.get(task=world.extra["fu_call"])
    assert call.called_by == world.user and call.outcome == "reached"
    assert CareTask.objects.get(pk=world.extra["fu_call"].pk).status == "done"


def _answered(world: World, kind: str, response: Any) -> None:
    assert QuestionnaireResponse.objects.get(task=world.extra["fu_questionnaire"]).submitted_by == world.user


def _survey_answered(world: World, kind: str, response: Any) -> None:
    assert QuestionnaireResponse.objects.get(invitation=world.extra["fu_survey"]).satisfied is True


def _read(world: World, kind: str, response: Any) -> None:
    assert EducationDelivery.objects.get(pk=world.extra["fu_delivery"].pk).read_at is not None


def _sent(world: World, kind: str, response: Any) -> None:
    delivery = EducationDelivery.objects.get(patient=world.target, item__key="fall-prevention")
    assert delivery.sent_by == world.user and delivery.reason == "manual"


def _plan_started(world: World, kind: str, response: Any) -> None:
    assert CarePlan.objects.get(patient=world.target, template__key="hypertension").started_by == world.user


def _plan_cancelled(world: World, kind: str, response: Any) -> None:
    plan = CarePlan.objects.get(pk=world.extra["fu_plan"].pk)
    assert plan.status == "cancelled" and plan.end_reason == "患者转院"


def _task_status(status: str) -> Any:
    def check(world: World, kind: str, response: Any) -> None:
        assert CareTask.objects.get(pk=world.extra["fu_call"].pk).status == status

    return check


def _template_created(world: World, kind: str, response: Any) -> None:
    assert CarePlanTemplate.objects.filter(key="perm-template").exists()


def _template_task_added(world: World, kind: str, response: Any) -> None:
    assert TemplateTask.objects.filter(template=world.extra["fu_template"], title_zh="权限测试任务").exists()


def _questionnaire_created(world: World, kind: str, response: Any) -> None:
    assert Questionnaire.objects.filter(key="perm-questionnaire").exists()


def _question_added(world: World, kind: str, response: Any) -> None:
    assert Question.objects.filter(questionnaire=world.extra["fu_questionnaire_def"], key="perm_q").exists()


def _item_created(world: World, kind: str, response: Any) -> None:
    assert EducationItem.objects.filter(key="perm-item").exists()


def _item_saved(world: World, kind: str, response: Any) -> None:
    assert EducationItem.objects.get(pk=world.extra["fu_item"].pk).title_en == "Wound care (edited)"


def _questions(prefix: str, answers: dict[str, str]) -> dict[str, str]:
    return {f"{prefix}{k}": v for k, v in answers.items()}


def _item_form(world: World, missing: bool) -> dict[str, Any]:
    item = world.extra["fu_item"]
    return {
        "kind": item.kind,
        "title_zh": item.title_zh,
        "title_en": "Wound care (edited)",
        "body_zh": item.body_zh,
        "conditions": item.conditions,
        "is_published": "on",
    }


RULES: list[Rule] = [
    # --- pages: the care team ---
    Rule("GET", "/followup/", CLINICIANS),
    Rule("GET", "/followup/tasks/{task_id}/", WRITERS, special=NOT_FOUND, record=True, params=_call),
    Rule(
        "POST",
        "/followup/tasks/{task_id}/",
        WRITERS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        params=_call,
        payload=lambda w, m: {"action": "call", "outcome": "reached", "notes": "恢复良好"},
        effect=_called,
    ),
    Rule("GET", "/followup/patients/{patient_id}/", WRITERS, special=NOT_FOUND, record=True),
    Rule(
        "POST",
        "/followup/patients/{patient_id}/",
        WRITERS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {
            "action": "send_education",
            "item": EducationItem.objects.get(key="fall-prevention").pk,
        },
        effect=_sent,
    ),
    # --- pages: templates, questionnaires, the library (administrators edit) ---
    Rule("GET", "/followup/templates/", LIBRARY),
    Rule(
        "POST",
        "/followup/templates/",
        MANAGERS,
        ok=302,
        payload=lambda w, m: {
            "key": "perm-template",
            "name_zh": "权限测试",
            "category": "other",
            "trigger": "manual",
            "care_stage": "long_term",
            "is_active": "on",
        },
        effect=_template_created,
    ),
    Rule("GET", "/followup/templates/{template_id}/", LIBRARY, params=_template),
    Rule(
        "POST",
        "/followup/templates/{template_id}/",
        MANAGERS,
        ok=302,
        params=_template,
        payload=lambda w, m: {
            "action": "save_task",
            "kind": "phone_call",
            "title_zh": "权限测试任务",
            "offset_days": "60",
        },
        effect=_template_task_added,
    ),
    Rule("GET", "/followup/questionnaires/", MANAGERS),
    Rule(
        "POST",
        "/followup/questionnaires/",
        MANAGERS,
        ok=302,
        payload=lambda w, m: {
            "key": "perm-questionnaire",
            "name_zh": "权限测试",
            "kind": "pro",
            "is_active": "on",
        },
        effect=_questionnaire_created,
    ),
    Rule("GET", "/followup/questionnaires/{questionnaire_id}/", MANAGERS, params=_questionnaire),
    Rule(
        "POST",
        "/followup/questionnaires/{questionnaire_id}/",
        MANAGERS,
        ok=302,
        params=_questionnaire,
        payload=lambda w, m: {
            "action": "save_question",
            "key": "perm_q",
            "kind": "text",
            "text_zh": "还有什么？",
        },
        effect=_question_added,
    ),
    Rule("GET", "/followup/education/", LIBRARY),
    Rule(
        "POST",
        "/followup/education/",
        MANAGERS,
        ok=302,
        payload=lambda w, m: {
            "key": "perm-item",
            "kind": "article",
            "title_zh": "权限测试",
            "body_zh": "正文",
            "is_published": "on",
        },
        effect=_item_created,
    ),
    Rule("GET", "/followup/education/{item_id}/", LIBRARY, params=_item),
    Rule(
        "POST",
        "/followup/education/{item_id}/",
        MANAGERS,
        ok=302,
        params=_item,
        payload=_item_form,
        effect=_item_saved,
    ),
    Rule("GET", "/followup/satisfaction/", frozenset({HEAD})),
    # --- pages: patients ---
    Rule("GET", "/followup/me/", PATIENTS),
    Rule(
        "GET",
        "/followup/me/tasks/{task_id}/",
        frozenset({PATIENT_OWN}),
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_questionnaire_task,
    ),
    Rule(
        "POST",
        "/followup/me/tasks/{task_id}/",
        frozenset({PATIENT_OWN}),
        ok=302,
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_questionnaire_task,
        payload=lambda w, m: _questions("q_", PRO_ANSWERS),
        effect=_answered,
    ),
    Rule(
        "GET",
        "/followup/me/surveys/{invitation_id}/",
        frozenset({PATIENT_OWN}),
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_survey,
    ),
    Rule(
        "POST",
        "/followup/me/surveys/{invitation_id}/",
        frozenset({PATIENT_OWN}),
        ok=302,
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_survey,
        payload=lambda w, m: _questions("q_", SURVEY_ANSWERS),
        effect=_survey_answered,
    ),
    # --- the survey link of an SMS (patients without a portal account): the signed link is the
    # key, as a QR code's is (a forged link is tested in test_satisfaction.py) ---
    Rule("GET", "/followup/s/{token}/", EVERYONE, params=_survey_link),
    Rule(
        "POST",
        "/followup/s/{token}/",
        EVERYONE,
        params=_survey_link,
        payload=lambda w, m: _questions("q_", SURVEY_ANSWERS),
        effect=_survey_answered,
    ),
    Rule("GET", "/followup/me/education/", PATIENTS),
    Rule(
        "GET",
        "/followup/me/education/{delivery_id}/",
        frozenset({PATIENT_OWN}),
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_delivery,
    ),
    Rule(
        "POST",
        "/followup/me/education/{delivery_id}/",
        frozenset({PATIENT_OWN}),
        ok=302,
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_delivery,
        effect=_read,
    ),
    # --- API ---
    Rule("GET", "/api/followup/worklist", CLINICIANS),
    Rule("GET", "/api/followup/templates", LIBRARY),
    Rule("GET", "/api/followup/patients/{patient_id}/plans", READERS, deny=404, record=True),
    Rule(
        "POST",
        "/api/followup/patients/{patient_id}/plans",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"template_id": CarePlanTemplate.objects.get(key="hypertension").pk},
        effect=_plan_started,
    ),
    Rule(
        "POST",
        "/api/followup/plans/{plan_id}/cancel",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_plan,
        payload=lambda w, m: {"reason": "患者转院"},
        effect=_plan_cancelled,
    ),
    Rule(
        "POST",
        "/api/followup/tasks/{task_id}/complete",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_call,
        payload=lambda w, m: {"outcome": "电话随访完成"},
        effect=_task_status("done"),
    ),
    Rule(
        "POST",
        "/api/followup/tasks/{task_id}/cancel",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_call,
        payload=lambda w, m: {"reason": "患者已在社区随访"},
        effect=_task_status("cancelled"),
    ),
    Rule(
        "POST",
        "/api/followup/tasks/{task_id}/calls",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        params=_call,
        payload=lambda w, m: {"outcome": "reached", "notes": "恢复良好"},
        effect=_called,
    ),
    Rule("GET", "/api/followup/questionnaires/{questionnaire_id}", PATIENTS | LIBRARY, params=_questionnaire),
    Rule(
        "POST",
        "/api/followup/tasks/{task_id}/response",
        READERS,
        ok=201,
        special={NO_CARE: 404, PATIENT_OTHER: 404},
        record=True,
        params=_questionnaire_task,
        payload=lambda w, m: {"answers": PRO_ANSWERS},
        effect=_answered,
    ),
    Rule(
        "POST",
        "/api/followup/surveys/{invitation_id}/response",
        frozenset({PATIENT_OWN}),
        ok=201,
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_survey,
        payload=lambda w, m: {"answers": SURVEY_ANSWERS},
        effect=_survey_answered,
    ),
    Rule("GET", "/api/followup/patients/{patient_id}/scores", READERS, deny=404, record=True),
    Rule("GET", "/api/followup/me", PATIENTS),
    Rule(
        "POST",
        "/api/followup/education/{delivery_id}/read",
        frozenset({PATIENT_OWN}),
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_delivery,
        effect=_read,
    ),
    Rule("GET", "/api/followup/education", LIBRARY),
    Rule(
        "POST",
        "/api/followup/patients/{patient_id}/education",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {
            "item_id": EducationItem.objects.get(key="fall-prevention").pk,
            "note": "请注意防跌倒",
        },
        effect=_sent,
    ),
    Rule("GET", "/api/followup/satisfaction", frozenset({HEAD})),
]
