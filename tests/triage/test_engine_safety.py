"""Safety traps found in review: words that look like denials, the issue's own red-flag examples,
and request checks that must not lose information."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from smartcare.triage.engine import get_engine, triage
from smartcare.triage.models import TriageRecord
from smartcare.triage.services import check_request
from smartcare.triage.types import TriageRequest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("他特别想死", "symptom:suicidal_thoughts"),  # 特别 holds 别, which is no denial
        ("我特别头疼", "symptom:headache"),
        ("孩子不小心吞了硬币", "symptom:swallowed_foreign_body"),  # 不 belongs to 不小心
        ("没想到胸口疼", "symptom:chest_pain"),
        ("喝了不干净的水腹泻", "symptom:diarrhea"),
        ("没吃早饭就头晕", "symptom:dizziness"),
        ("没发烧却胸痛", "symptom:chest_pain"),
        ("I don't smoke and have crushing chest pain", "symptom:crushing_chest_pain"),
        ("no cough and crushing chest pain", "symptom:crushing_chest_pain"),
        ("I have never had such a bad headache", "symptom:headache"),
        ("I've never felt so short of breath", "symptom:shortness_of_breath"),
    ],
)
def test_words_near_a_negation_that_do_not_deny_the_finding(text: str, finding: str) -> None:
    found = get_engine().extract(text)
    assert finding in found.present
    assert finding not in found.negated


@pytest.mark.parametrize(
    ("text", "denied"),
    [
        ("没有发烧咳嗽", {"symptom:fever", "symptom:cough"}),
        ("无发热、咳嗽", {"symptom:fever", "symptom:cough"}),
        ("不怎么咳嗽", {"symptom:cough"}),
        ("没有明显的腹痛", {"symptom:abdominal_pain"}),
        ("no fever or chills", {"symptom:fever", "symptom:chills"}),
        ("denies chest pain", {"symptom:chest_pain"}),
        ("no signs of fever", {"symptom:fever"}),
    ],
)
def test_real_denials_including_lists(text: str, denied: set[str]) -> None:
    found = get_engine().extract(text)
    assert denied <= set(found.negated)
    assert not denied & set(found.present)


@pytest.mark.parametrize(
    "text",
    [
        "chest pain with sweating",
        "my chest hurts and I'm sweating",
        "胸痛，出了很多汗",
        "chest pain spreading to my left arm",
        "我特别胸痛出冷汗",
        "没发烧却胸痛出冷汗",
        "I don't smoke and have crushing chest pain",
        "I can't breathe",
    ],
)
def test_the_issues_red_flag_examples_call_for_help(text: str) -> None:
    result = triage(TriageRequest(text=text, age=58, sex="male"))
    assert result.status == "emergency", (text, [f.key for f in result.findings])
    assert result.action == "call_120"


def test_a_pregnancy_answer_is_kept_when_the_sex_is_not_given() -> None:
    request = check_request(TriageRequest(text="阴道出血", pregnant=True))
    assert request.pregnant is True
    result = triage(request)
    assert result.status == "emergency"
    assert "rf_pregnancy_bleeding" in {f.key for f in result.red_flags}
    assert check_request(TriageRequest(text="阴道出血", sex="male", pregnant=True)).pregnant is None


def test_age_in_months_must_agree_with_age_in_years() -> None:
    from smartcare.triage.errors import AgeMonthsDisagree

    with pytest.raises(AgeMonthsDisagree):
        check_request(TriageRequest(text="发烧", age=30, age_months=1))
    assert check_request(TriageRequest(text="发烧", age=1, age_months=14)).age == 1


def test_unreadable_text_is_a_coded_error_and_writes_nothing() -> None:
    response = Client().post("/api/triage/", data='{"text": "\\ud800 head"}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "TRIAGE-007"
    assert not TriageRecord.objects.exists()


@override_settings(SMARTCARE_TRIAGE_RATE_PER_MINUTE=3)
def test_anonymous_triage_is_limited_per_client_address(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcare.core import ratelimit

    # One fixed minute: a test that crosses a minute boundary would start a new window.
    monkeypatch.setattr(ratelimit, "seconds", lambda: 1_800_000_000.0)
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        assert (
            client.post("/api/triage/", {"text": "牙疼"}, content_type="application/json").status_code == 200
        )
    response = client.post("/api/triage/", {"text": "牙疼"}, content_type="application/json")
    assert response.status_code == 429
    assert response.json()["code"] == "CORE-429"
    assert TriageRecord.objects.count() == 3
    other = Client(REMOTE_ADDR="203.0.113.10")
    assert other.post("/api/triage/", {"text": "牙疼"}, content_type="application/json").status_code == 200
    page = client.post("/triage/", {"text": "牙疼"})
    assert page.status_code == 429
