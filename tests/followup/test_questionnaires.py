"""Questionnaire logic: conditional questions, every kind of answer, scoring, the builder's checks,
and answers that do not fit (coded error, nothing written)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from smartcare.audit.models import AuditEvent
from smartcare.followup import services
from smartcare.followup.errors import InvalidAnswers, InvalidQuestion, QuestionInUse, SurveyClosed
from smartcare.followup.models import CareTask, Question, Questionnaire, QuestionnaireResponse
from smartcare.followup.questionnaires import QuestionSpec, check_question, evaluate, shown_keys
from smartcare.followup.seed import data_file
from smartcare.notifications.models import Notification
from tests.factories import TestHospital
from tests.followup.helpers import small_template

YES_NO = (
    {"value": "yes", "label_zh": "是", "score": 0, "flag": True},
    {"value": "no", "label_zh": "否", "score": 2},
)
LEVELS = tuple({"value": v, "label_zh": v, "score": s} for v, s in (("a", 0), ("b", 1), ("c", 3)))
SPECS = [
    QuestionSpec("pain", "scale", scale_min=0, scale_max=10),
    QuestionSpec("fever", "single", options=YES_NO),
    QuestionSpec(
        "since",
        "number",
        min_value=Decimal(0),
        max_value=Decimal(30),
        scored=False,
        show_if={"question": "fever", "operator": "in", "values": ["yes"]},
    ),
    QuestionSpec(
        "worse", "single", options=YES_NO, show_if={"question": "since", "operator": "gte", "value": 3}
    ),
    QuestionSpec("symptoms", "multiple", options=LEVELS, required=False),
    QuestionSpec("note", "text", required=False),
]


def test_conditional_questions_follow_earlier_answers() -> None:
    assert shown_keys(SPECS, {}) == ["pain", "fever", "symptoms", "note"]
    assert shown_keys(SPECS, {"fever": "yes"}) == ["pain", "fever", "since", "symptoms", "note"]
    assert shown_keys(SPECS, {"fever": "yes", "since": 2}) == ["pain", "fever", "since", "symptoms", "note"]
    assert "worse" in shown_keys(SPECS, {"fever": "yes", "since": 3})
    # A chain: "worse" depends on "since", which is hidden when there is no fever.
    assert "worse" not in shown_keys(SPECS, {"fever": "no", "since": 10})


def test_scoring_sums_the_answered_scored_questions() -> None:
    result = evaluate(SPECS, {"pain": "4", "fever": "no", "symptoms": ["c", "b"], "note": " 睡眠不好 "})
    assert result.answers == {"pain": 4, "fever": "no", "symptoms": ["b", "c"], "note": "睡眠不好"}
    # 4 + 2 + (1 + 3) of 10 + 2 + (0 + 1 + 3)
    assert result.score == Decimal(10) and result.max_score == Decimal(16)
    assert result.percent == Decimal("62.5")
    assert result.flagged == []


def test_answers_to_hidden_questions_are_discarded_and_flags_raised() -> None:
    result = evaluate(SPECS, {"pain": 2, "fever": "yes", "since": "5", "worse": "yes"})
    assert result.answers == {"pain": 2, "fever": "yes", "since": 5.0, "worse": "yes"}
    assert result.flagged == ["fever", "worse"]
    hidden = evaluate(SPECS, {"pain": 2, "fever": "no", "since": "5", "worse": "yes"})
    assert "since" not in hidden.answers and "worse" not in hidden.answers
    assert hidden.max_score == Decimal(12)  # the hidden question does not count in the maximum


@pytest.mark.parametrize(
    ("answers", "bad"),
    [
        ({"fever": "no"}, "pain"),  # required, missing
        ({"pain": 11, "fever": "no"}, "pain"),  # off the scale
        ({"pain": "3.5", "fever": "no"}, "pain"),  # not a whole number
        ({"pain": True, "fever": "no"}, "pain"),
        ({"pain": "x", "fever": "no"}, "pain"),
        ({"pain": 1, "fever": "maybe"}, "fever"),  # not an option
        ({"pain": 1, "fever": ["yes", "no"]}, "fever"),
        ({"pain": 1, "fever": "yes", "since": 31}, "since"),  # above the highest number
        ({"pain": 1, "fever": "yes", "since": "NaN"}, "since"),
        ({"pain": 1, "fever": "yes"}, "since"),  # shown and required
        ({"pain": 1, "fever": "no", "symptoms": ["a", "a"]}, "symptoms"),  # twice
        ({"pain": 1, "fever": "no", "symptoms": ["z"]}, "symptoms"),
        ({"pain": 1, "fever": "no", "note": "长" * 2001}, "note"),
        ({"pain": 1, "fever": "no", "mood": 3}, "mood"),  # no such question
    ],
)
def test_answers_that_do_not_fit_are_refused_with_a_message_per_question(
    answers: dict[str, Any], bad: str
) -> None:
    with pytest.raises(InvalidAnswers) as raised:
        evaluate(SPECS, answers)
    assert raised.value.code == "FU-005" and raised.value.status == 400
    assert bad in raised.value.errors
    problem = raised.value.as_problem()
    assert problem["code"] == "FU-005" and any(e["field"] == bad for e in problem["errors"])


def test_answers_must_be_given_per_question() -> None:
    with pytest.raises(InvalidAnswers):
        evaluate(SPECS, ["pain", 3])  # type: ignore[arg-type]


def test_every_shipped_questionnaire_passes_the_builder_checks() -> None:
    for spec in data_file("questionnaires.json")["questionnaires"]:
        earlier: list[QuestionSpec] = []
        for raw in spec["questions"]:
            question = Question(**raw)
            check_question(
                QuestionSpec.of(question),
                earlier,
                text_zh=question.text_zh,
                taken_keys={q.key for q in earlier},
            )
            assert question.text_en, f"{spec['key']}.{question.key} has no English text"
            earlier.append(QuestionSpec.of(question))


# --- The builder ------------------------------------------------------------------------------------


def _new(h: TestHospital) -> Questionnaire:
    return services.save_questionnaire(
        h.user("head"), {"key": "wound-check", "name_zh": "伤口自查", "name_en": "Wound check", "kind": "pro"}
    )


def test_the_builder_adds_checked_questions_with_conditions(h: TestHospital) -> None:
    head = h.user("head")
    q = _new(h)
    services.save_question(
        head,
        q.pk,
        {
            "key": "red",
            "kind": "single",
            "text_zh": "伤口发红吗？",
            "required": True,
            "options": "no|不红|No|0\nyes|发红|Yes|2|flag",
        },
    )
    services.save_question(
        head,
        q.pk,
        {
            "key": "days",
            "kind": "number",
            "text_zh": "几天了？",
            "min_value": "0",
            "max_value": "30",
            "show_if_question": "red",
            "show_if_operator": "in",
            "show_if_values": "yes",
        },
    )
    services.save_question(
        head,
        q.pk,
        {
            "key": "pain",
            "kind": "scale",
            "text_zh": "疼痛",
            "scale_min": "0",
            "scale_max": "10",
            "required": True,
        },
    )
    questions = list(q.questions.order_by("position"))
    assert [x.key for x in questions] == ["red", "days", "pain"]
    assert questions[0].options[1] == {
        "value": "yes",
        "label_zh": "发红",
        "label_en": "Yes",
        "score": 2,
        "flag": True,
    }
    assert questions[1].show_if == {"question": "red", "operator": "in", "values": ["yes"]}
    assert not questions[1].scored  # numbers never count in the score
    result = evaluate(services.question_specs(q), {"red": "yes", "days": 2, "pain": 5})
    assert result.percent == Decimal("58.3") and result.flagged == ["red"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"key": "x", "kind": "single", "text_zh": "问", "options": "a|甲|A|1"}, "options"),  # one option
        (
            {"key": "x", "kind": "single", "text_zh": "问", "options": "a|甲|A|1\na|乙|B|2"},
            "options",
        ),  # same value
        (
            {"key": "x", "kind": "single", "text_zh": "问", "options": "a||A|1\nb|乙|B|2"},
            "options",
        ),  # no Chinese label
        (
            {"key": "x", "kind": "single", "text_zh": "问", "options": "a|甲|A|x\nb|乙|B|2"},
            "options",
        ),  # score not a number
        ({"key": "x", "kind": "scale", "text_zh": "问", "scale_min": "5", "scale_max": "5"}, "scale"),
        ({"key": "x", "kind": "scale", "text_zh": "问", "scale_min": "0", "scale_max": "500"}, "scale"),
        ({"key": "x", "kind": "number", "text_zh": "问", "min_value": "9", "max_value": "1"}, "min_value"),
        ({"key": "x", "kind": "text", "text_zh": ""}, "text_zh"),
        ({"key": "x y", "kind": "text", "text_zh": "问"}, "key"),
        ({"key": "x", "kind": "essay", "text_zh": "问"}, "kind"),
        (
            {"key": "x", "kind": "text", "text_zh": "问", "show_if_question": "later", "show_if_values": "a"},
            "show_if",
        ),
    ],
)
def test_the_builder_refuses_questions_patients_could_not_answer(
    h: TestHospital, data: dict[str, Any], field: str
) -> None:
    q = _new(h)
    with pytest.raises(InvalidQuestion) as raised:
        services.save_question(h.user("head"), q.pk, data)
    assert raised.value.code == "FU-007" and field in raised.value.errors
    assert not q.questions.exists()


def test_conditions_must_fit_the_question_they_test(h: TestHospital) -> None:
    head = h.user("head")
    q = _new(h)
    services.save_question(
        head, q.pk, {"key": "pain", "kind": "scale", "text_zh": "疼痛", "scale_min": "0", "scale_max": "10"}
    )
    for condition in (
        {
            "show_if_question": "pain",
            "show_if_operator": "in",
            "show_if_values": "3",
        },  # a scale has no options
        {"show_if_question": "pain", "show_if_operator": "gte", "show_if_values": "many"},
        {"show_if_question": "pain", "show_if_operator": "between", "show_if_values": "3"},
    ):
        with pytest.raises(InvalidQuestion):
            services.save_question(
                head, q.pk, {"key": "why", "kind": "text", "text_zh": "为什么？", **condition}
            )
    services.save_question(
        head,
        q.pk,
        {
            "key": "why",
            "kind": "text",
            "text_zh": "为什么？",
            "show_if_question": "pain",
            "show_if_operator": "gte",
            "show_if_values": "7",
        },
    )
    assert q.questions.count() == 2


def test_a_question_others_depend_on_cannot_be_removed_renamed_or_moved_after_them(h: TestHospital) -> None:
    head = h.user("head")
    q = _new(h)
    first = services.save_question(
        head,
        q.pk,
        {"key": "red", "kind": "single", "text_zh": "发红？", "options": "no|否|No|0\nyes|是|Yes|1"},
    )
    second = services.save_question(
        head,
        q.pk,
        {
            "key": "days",
            "kind": "number",
            "text_zh": "几天？",
            "show_if_question": "red",
            "show_if_operator": "in",
            "show_if_values": "yes",
        },
    )
    with pytest.raises(QuestionInUse) as raised:
        services.delete_question(head, q.pk, first.pk)
    assert raised.value.code == "FU-010"
    with pytest.raises(QuestionInUse):
        services.save_question(
            head,
            q.pk,
            {"key": "redness", "kind": "single", "text_zh": "发红？", "options": "no|否|No|0\nyes|是|Yes|1"},
            first.pk,
        )
    with pytest.raises(InvalidQuestion):  # the option the condition names would disappear
        services.save_question(
            head,
            q.pk,
            {
                "key": "red",
                "kind": "single",
                "text_zh": "发红？",
                "options": "no|否|No|0\nmaybe|可能|Maybe|1",
            },
            first.pk,
        )
    with pytest.raises(QuestionInUse):
        services.move_question(head, q.pk, second.pk, up=True)
    assert [x.key for x in q.questions.order_by("position")] == ["red", "days"]
    services.delete_question(head, q.pk, second.pk)
    services.delete_question(head, q.pk, first.pk)
    assert not q.questions.exists()


def test_only_managers_edit_questionnaires(h: TestHospital) -> None:
    from smartcare.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.save_questionnaire(h.user("nurse"), {"key": "x", "name_zh": "x", "kind": "pro"})
    assert not Questionnaire.objects.filter(key="x").exists()


# --- Answering a questionnaire task ---------------------------------------------------------------------


def _questionnaire_task(h: TestHospital, patient: Any) -> CareTask:
    plan = services.start_plan(h.user("nurse"), patient_id=patient.pk, template_id=small_template().pk)
    return plan.tasks.get(kind="questionnaire")


GOOD = {
    "home_bp": "daily",
    "systolic": "186",
    "high_symptoms": "yes",
    "missed_doses": "one",
    "salt": "always",
    "exercise": "5+",
    "smoking": "quit",
}


def test_invalid_answers_write_nothing(h: TestHospital) -> None:
    task = _questionnaire_task(h, h.own_patient)
    audit_before = AuditEvent.objects.count()
    bad = {**GOOD, "systolic": "999", "salt": "never-heard-of-it"}
    with pytest.raises(InvalidAnswers) as raised:
        services.answer_task(h.user("patient"), task.pk, bad)
    assert set(raised.value.errors) == {"systolic", "salt"}
    assert not QuestionnaireResponse.objects.exists()
    assert CareTask.objects.get(pk=task.pk).status == "due"
    assert AuditEvent.objects.count() == audit_before


def test_the_patient_answers_the_task_and_flagged_answers_reach_the_team(h: TestHospital) -> None:
    task = _questionnaire_task(h, h.own_patient)
    response = services.answer_task(h.user("patient"), task.pk, GOOD)
    assert response.answers["systolic"] == 186.0 and response.answers["high_symptoms"] == "yes"
    # daily 3 + one missed 2 + salt 3 + exercise 3 + quit 3 = 14 of 15
    assert (
        response.score == Decimal(14)
        and response.max_score == Decimal(15)
        and response.score_percent == Decimal("93.3")
    )
    assert response.flagged and response.satisfied is None
    task.refresh_from_db()
    assert task.status == "done" and task.completed_by == h.user("patient")
    assert Notification.objects.filter(recipient=h.user("nurse"), category="followup_attention").exists()
    with pytest.raises(SurveyClosed):
        services.answer_task(h.user("patient"), task.pk, GOOD)
    assert QuestionnaireResponse.objects.count() == 1


def test_answers_are_encrypted_at_rest(h: TestHospital) -> None:
    from django.db import connection

    task = _questionnaire_task(h, h.own_patient)
    response = services.answer_task(h.user("patient"), task.pk, GOOD)
    with connection.cursor() as cursor:
        cursor.execute("SELECT answers FROM followup_questionnaireresponse WHERE id = %s", [response.pk])
        raw = cursor.fetchone()[0]
    assert "home_bp" not in raw and "daily" not in raw


def test_a_nurse_fills_it_in_during_a_call_but_another_patient_cannot(h: TestHospital) -> None:
    from smartcare.core.errors import NotFound

    task = _questionnaire_task(h, h.patient_in_care)
    with pytest.raises(NotFound):
        services.answer_task(h.user("patient"), task.pk, GOOD)
    with pytest.raises(NotFound):
        services.answer_task(h.user("neurologist"), task.pk, GOOD)
    response = services.answer_task(h.user("nurse"), task.pk, GOOD)
    assert response.submitted_by == h.user("nurse")
