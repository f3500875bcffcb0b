"""An emergency answer names the conditions its red flags warn of; the population rules read the
``serves`` edges that every department now has (age groups and sexes)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from smartcare.triage.engine import get_engine, triage
from smartcare.triage.types import TriageRequest
from tests.factories import TestHospital
from tests.triage.conftest import CALL_120_ZH

pytestmark = pytest.mark.django_db


def test_an_emergency_answer_names_the_conditions_its_red_flag_warns_of() -> None:
    result = triage(TriageRequest(text="胸口疼，出冷汗", age=58, sex="male"))
    assert result.status == "emergency"
    flag = next(f for f in result.red_flags if f.key == "rf_cardiac_chest_pain")
    warned = {c.key: c for c in flag.conditions}
    assert "disease:acute_myocardial_infarction" in warned
    assert "disease:aortic_dissection" in warned
    assert warned["disease:acute_myocardial_infarction"].name_zh == "急性心肌梗死"
    first = result.departments[0]
    assert first.code == "20"
    assert any("急性心肌梗死" in r for r in first.reasons_zh), first.reasons_zh
    assert any("Acute myocardial infarction" in r for r in first.reasons_en), first.reasons_en


def test_a_pregnancy_emergency_names_pregnancy_conditions() -> None:
    result = triage(
        TriageRequest(text="孕34周，今天一天都感觉不到宝宝动", age=29, sex="female", pregnant=True)
    )
    assert result.status == "emergency"
    assert result.departments[0].code == "05.02"
    keys = {c.key for f in result.red_flags for c in f.conditions}
    assert "disease:fetal_distress" in keys
    assert any("胎儿窘迫" in r for r in result.departments[0].reasons_zh)


def test_answers_without_red_flags_name_no_warned_conditions() -> None:
    result = triage(TriageRequest(text="咳嗽三天，有痰，不发烧", age=30, sex="female"))
    assert result.status != "emergency"
    assert not any("ruled out at once" in r for d in result.departments for r in d.reasons_en)


def test_the_api_returns_the_warned_conditions_in_both_languages(hospital: TestHospital) -> None:
    body = Client().post(
        "/api/triage/",
        json.dumps({"text": CALL_120_ZH, "age": 60, "sex": "male"}),
        content_type="application/json",
    )
    flag = next(f for f in body.json()["red_flags"] if f["key"] == "rf_cardiac_chest_pain")
    ami = next(c for c in flag["conditions"] if c["key"] == "disease:acute_myocardial_infarction")
    assert (ami["name_zh"], ami["name_en"]) == ("急性心肌梗死", "Acute myocardial infarction")


def test_restricted_departments_come_from_the_serves_edges_of_every_department() -> None:
    engine = get_engine()
    assert engine.children_only == {"07", "07.01", "08", "09"}
    assert engine.women_only == {"05", "05.01", "05.02", "06"}
    assert engine.older_only == {"03.10"}


@pytest.mark.parametrize(
    ("text", "age", "sex", "banned"),
    [
        ("月经不调，量很多", 35, "male", {"05", "05.01", "05.02", "06"}),
        ("咳嗽发烧两天", 40, "female", {"07", "07.01", "08", "09", "03.10"}),
        ("咳嗽发烧两天", 6, "female", {"05", "05.01", "05.02", "06", "03.10"}),
    ],
)
def test_no_patient_is_sent_outside_a_restricted_departments_groups(
    text: str, age: int, sex: str, banned: set[str]
) -> None:
    result = triage(TriageRequest(text=text, age=age, sex=sex))
    assert not {d.code for d in result.departments} & banned


def test_the_emergency_page_names_the_warned_conditions(hospital: TestHospital) -> None:
    response = Client().post("/triage/", {"text": CALL_120_ZH, "age": "60", "sex": "male"})
    html = response.content.decode()
    assert 'data-testid="red-flag-conditions"' in html
    assert "急性心肌梗死" in html
    english = (
        Client()
        .post("/triage/", {"text": CALL_120_ZH, "age": "60", "sex": "male"}, HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )
    assert "Acute myocardial infarction" in english
