"""Finding symptoms in patient words: synonyms, colloquial wording and negation, both languages."""

from __future__ import annotations

import pytest

from smartcare.triage.engine import get_engine

pytestmark = pytest.mark.django_db


def extract(text: str) -> tuple[set[str], set[str]]:
    found = get_engine().extract(text)
    return set(found.present), set(found.negated)


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("拉肚子三天了", "symptom:diarrhea"),
        ("肚子疼", "symptom:abdominal_pain"),
        ("头疼得厉害", "symptom:headache"),
        ("嗓子疼", "symptom:sore_throat"),
        ("I have a tummy ache", "symptom:abdominal_pain"),
        ("my head is pounding", "symptom:headache"),
        ("Coughing all night", "symptom:cough"),
        ("feverish since yesterday", "symptom:fever"),
    ],
)
def test_synonyms_and_colloquial_words_map_to_one_finding(text: str, finding: str) -> None:
    present, negated = extract(text)
    assert finding in present
    assert finding not in negated


def test_intensifiers_inside_a_chinese_complaint_do_not_hide_it() -> None:
    present, _ = extract("胸口剧痛，出冷汗")
    assert {"symptom:chest_pain", "symptom:cold_sweat"} <= present


@pytest.mark.parametrize(
    ("text", "present_key", "negated_key"),
    [
        ("拉肚子，没有发烧", "symptom:diarrhea", "symptom:fever"),
        ("咳嗽两周，不发烧", "symptom:cough", "symptom:fever"),
        ("头疼，无呕吐", "symptom:headache", "symptom:vomiting"),
        ("diarrhoea since Monday, no fever", "symptom:diarrhea", "symptom:fever"),
        ("I have a cough but no fever", "symptom:cough", "symptom:fever"),
        ("headache without vomiting", "symptom:headache", "symptom:vomiting"),
    ],
)
def test_negation_marks_only_the_denied_finding(text: str, present_key: str, negated_key: str) -> None:
    present, negated = extract(text)
    assert present_key in present and present_key not in negated
    assert negated_key in negated and negated_key not in present


def test_contrast_ends_the_negation() -> None:
    present, negated = extract("不发烧，但是咳嗽")
    assert "symptom:cough" in present and "symptom:fever" in negated
    present, negated = extract("no fever but coughing a lot")
    assert "symptom:cough" in present and "symptom:fever" in negated


def test_words_that_only_look_like_negation_do_not_deny() -> None:
    present, negated = extract("不知道为什么头疼")
    assert "symptom:headache" in present and not negated
    present, negated = extract("not sure why my head hurts")
    assert "symptom:headache" in present and not negated


def test_a_finding_present_later_wins_over_an_earlier_denial() -> None:
    present, negated = extract("昨天没有发烧，今天发烧了")
    assert "symptom:fever" in present and "symptom:fever" not in negated


def test_nothing_recognised_in_unrelated_text() -> None:
    present, negated = extract("你好，请问停车场在哪里")
    assert present == set() and negated == set()
