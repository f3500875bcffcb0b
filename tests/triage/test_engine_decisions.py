"""Red flags, population rules, follow-up questions and explanations of the triage engine."""

from __future__ import annotations

import pytest

from smartcare.knowledge.models import RedFlag
from smartcare.triage.engine import get_engine, triage
from smartcare.triage.types import TriageRequest

pytestmark = pytest.mark.django_db


def _age_for(flag: RedFlag) -> tuple[int, int]:
    if flag.max_age_months is not None:
        return 0, flag.max_age_months
    return max(flag.min_age or 0, 30), max(flag.min_age or 0, 30) * 12


def test_every_red_flag_fires_on_its_findings_and_not_without_them() -> None:
    engine = get_engine()
    flags = list(RedFlag.objects.filter(is_active=True))
    assert len(flags) >= 60
    for flag in flags:
        age, months = _age_for(flag)
        present = set(flag.all_of) | set(flag.any_of[:1])
        hits = engine.red_flags(present, age, months, pregnant=flag.pregnant)
        assert flag.key in {h.key for h in hits}, flag.key
        hit = next(h for h in hits if h.key == flag.key)
        assert hit.action == flag.action and hit.reason_zh and hit.reason_en
        # Without the required findings (or without the one of any_of), the flag stays silent.
        missing = set(flag.any_of[:1]) if flag.any_of else set(flag.all_of[:1])
        assert flag.key not in {
            h.key for h in engine.red_flags(present - missing, age, months, flag.pregnant)
        }


def test_age_and_pregnancy_conditions_of_red_flags() -> None:
    engine = get_engine()
    fever = {"symptom:fever"}
    assert "rf_young_infant_fever" in {h.key for h in engine.red_flags(fever, 0, 1, False)}
    assert "rf_young_infant_fever" not in {h.key for h in engine.red_flags(fever, 0, 7, False)}
    assert "rf_young_infant_fever" not in {h.key for h in engine.red_flags(fever, None, None, False)}
    bleeding = {"symptom:vaginal_bleeding"}
    assert "rf_pregnancy_bleeding" in {h.key for h in engine.red_flags(bleeding, 28, 336, True)}
    assert "rf_pregnancy_bleeding" not in {h.key for h in engine.red_flags(bleeding, 28, 336, False)}


@pytest.mark.parametrize(
    ("text", "age", "sex", "action"),
    [
        ("胸口剧痛，出冷汗，喘不上气", 58, "male", "call_120"),
        ("My dad's face is drooping on one side and his speech is slurred", 72, "male", "call_120"),
        ("三个月宝宝发烧38.5度", 0, "female", "emergency"),
        ("I have planned how to kill myself", 24, "female", "call_120"),
        ("I want to kill myself", 24, "female", "emergency"),
    ],
)
def test_red_flags_from_free_text_send_to_emergency_first(text: str, age: int, sex: str, action: str) -> None:
    result = triage(TriageRequest(text=text, age=age, sex=sex))
    assert result.status == "emergency"
    assert result.action == action
    assert result.departments[0].code == "20"
    assert result.red_flags and result.red_flags[0].reason_zh and result.red_flags[0].reason_en


def test_call_120_outranks_emergency_when_several_flags_fire() -> None:
    result = triage(TriageRequest(text="发烧，脖子僵硬，皮肤出血点", age=20, sex="female"))
    assert result.status == "emergency"
    assert result.action == "call_120"
    assert result.red_flags[0].action == "call_120"


def test_a_denied_danger_sign_does_not_fire() -> None:
    result = triage(TriageRequest(text="胸痛，没有出冷汗，没有气短，按压时更痛", age=35, sex="female"))
    assert result.status != "emergency"


def test_toothache_goes_to_stomatology_with_explanation() -> None:
    result = triage(TriageRequest(text="牙疼好几天了，吃冷的更疼", age=30, sex="male"))
    assert result.status in ("departments", "question")
    best = result.departments[0]
    assert best.code == "12"
    assert best.name_zh and best.name_en
    assert "symptom:toothache" in {f.key for f in result.findings}
    assert best.reasons_zh and best.reasons_en
    assert len(result.departments) <= 3
    assert all(0 <= d.score <= 1 for d in result.departments)


def test_children_with_general_complaints_go_to_pediatrics() -> None:
    adult = triage(TriageRequest(text="发烧咳嗽两天", age=35, sex="male"))
    child = triage(TriageRequest(text="发烧咳嗽两天", age=4, sex="male"))
    assert child.departments[0].code == "07"
    assert "children" in child.rules
    assert adult.departments[0].code != "07"
    assert all(d.code not in ("07", "07.01", "08", "09") for d in adult.departments)


def test_age_in_the_text_counts_when_the_form_has_none() -> None:
    result = triage(TriageRequest(text="我家孩子5岁，发烧咳嗽两天"))
    assert result.departments[0].code == "07"


def test_newborns_go_to_neonatology() -> None:
    result = triage(TriageRequest(text="新生儿皮肤发黄，吃奶还可以", age=0, sex="female"))
    assert result.departments[0].code == "07.01"
    assert "newborn" in result.rules


def test_pregnancy_sends_to_obstetrics_first() -> None:
    result = triage(TriageRequest(text="怀孕20周，感冒流鼻涕，能吃药吗", age=29, sex="female"))
    assert result.departments[0].code == "05.02"
    assert "pregnancy" in result.rules
    not_pregnant = triage(TriageRequest(text="感冒流鼻涕，能吃药吗", age=29, sex="female", pregnant=False))
    assert not_pregnant.departments[0].code != "05.02"


def test_trying_to_conceive_is_not_pregnancy() -> None:
    result = triage(TriageRequest(text="备孕一年了还没怀上", age=31, sex="female"))
    assert "pregnancy" not in result.rules


def test_men_are_never_sent_to_womens_departments() -> None:
    result = triage(TriageRequest(text="下腹痛，小便疼", age=40, sex="male"))
    assert all(not d.code.startswith(("05", "06")) for d in result.departments)


def test_close_departments_lead_to_the_question_that_separates_them() -> None:
    engine = get_engine()
    asked = None
    for text in ("胸痛", "chest pain", "肚子疼", "头晕", "尿频尿急"):
        result = engine.triage(TriageRequest(text=text, age=45, sex="female"))
        if result.status == "question":
            asked = (text, result)
            break
    assert asked is not None, "no follow-up question for any ambiguous complaint"
    text, result = asked
    question = result.question
    assert question is not None
    assert question.question_zh and question.question_en
    assert len(question.separates) == 2 and question.separates[0] != question.separates[1]
    assert result.departments  # the provisional ranking is given too
    # Answering changes the evidence and the same question is not asked again.
    for answer in (True, False):
        follow = engine.triage(TriageRequest(text=text, age=45, sex="female", answers={question.key: answer}))
        assert follow.question is None or follow.question.key != question.key
        keys = {f.key for f in (follow.findings if answer else follow.negated)}
        assert question.symptom in keys


def test_questions_stop_after_three_answers() -> None:
    engine = get_engine()
    keys = [q.key for q in engine.questions[:3]]
    result = engine.triage(
        TriageRequest(text="胸痛", age=45, sex="female", answers=dict.fromkeys(keys, False))
    )
    assert result.status != "question"


def test_unknown_answers_are_ignored_by_the_engine() -> None:
    result = triage(TriageRequest(text="牙疼", age=30, answers={"q_does_not_exist": True}))
    assert result.departments[0].code == "12"


def test_unclear_text_asks_for_more() -> None:
    result = triage(TriageRequest(text="你好", age=30, sex="male"))
    assert result.status == "unclear"
    assert result.findings == []


def test_results_carry_timing_and_model_version() -> None:
    result = triage(TriageRequest(text="皮肤起红疹子，很痒", age=30, sex="female"))
    assert result.elapsed_ms > 0
    assert "/" in result.model_version
    assert result.departments[0].code == "13"
