"""Concordance per consultation (same code, same category at the configured level), aggregated per
requester, department and hospital; the discordant case review; the cockpit indicators."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.notifications.models import Notification
from smartcare.telemedicine import selectors, services
from smartcare.telemedicine.concordance import compare
from tests.factories import TestHospital
from tests.telemedicine.conftest import ask

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")


@pytest.mark.parametrize(
    ("working", "expert", "level", "expected"),
    [
        ("I63.9", "I63.9", 3, "same_code"),
        ("i63.9", "I63.9 ", 3, "same_code"),
        ("I63.9", "I63.5", 3, "same_category"),
        ("I63.9", "I63.5", 4, "discordant"),
        ("I63.9", "I61.9", 3, "discordant"),
        ("I63.9", "I61.9", 1, "same_category"),  # chapter letter
        ("I10", "I10", 3, "same_code"),
        ("G45.9", "", 3, "discordant"),
    ],
)
def test_compare(working: str, expert: str, level: int, expected: str) -> None:
    assert compare(working, expert, level) == expected


def test_the_level_is_configurable(settings: Any) -> None:
    settings.TELEMEDICINE_CONCORDANCE_LEVEL = 4
    assert compare("I63.9", "I63.5") == "discordant"
    settings.TELEMEDICINE_CONCORDANCE_LEVEL = 3
    assert compare("I63.9", "I63.5") == "same_category"


def answer(h: TestHospital, working: str, expert_code: str, hours: float, **extra: Any) -> Any:
    c = ask(h, working_diagnosis=working, **extra)
    services.accept(h.user("neurologist"), c.pk)
    with clock.frozen_at(c.requested_at + dt.timedelta(hours=hours)):
        services.submit_opinion(h.user("neurologist"), c.pk, diagnosis=expert_code, recommendations="Advice")
    return c


def test_reports_and_indicators(h: TestHospital, frozen: Any) -> None:
    answer(h, "I63.9", "I63.9", 2)
    answer(h, "I63.9", "I63.5", 20, external_hospital="County Hospital")
    answer(h, "G45.9", "I63.9", 30)
    ask(h)  # still open
    day = clock.local_now().date()
    rows = {
        r["group"]: r
        for r in selectors.concordance_report(
            day - dt.timedelta(days=3), day + dt.timedelta(days=3), by="hospital"
        )
    }
    assert rows["County Hospital"] == {
        "group": "County Hospital",
        "answered": 1,
        "same_code": 0,
        "same_category": 1,
        "discordant": 0,
        "rate": 1.0,
    }
    assert rows["This hospital"]["answered"] == 2 and rows["This hospital"]["rate"] == 0.5
    (dept,) = selectors.concordance_report(day, day + dt.timedelta(days=3), by="department")
    assert dept["answered"] == 3 and dept["rate"] == round(2 / 3, 4)
    (person,) = selectors.concordance_report(day, day + dt.timedelta(days=3), by="requester")
    assert person["discordant"] == 1
    data = selectors.indicators(day - dt.timedelta(days=30), day)
    assert data["requests"] == 4 and data["answered"] == 3
    assert data["per_month"] == {"2030-03": 4}
    assert (
        data["response_hours"]["1-4h"] == 1
        and data["response_hours"]["12-24h"] == 1
        and data["response_hours"]["24-48h"] == 1
    )
    assert data["answered_within_24h"] == round(2 / 3, 4)
    assert data["concordance_rate"] == round(2 / 3, 4)
    assert data["median_response_hours"] == 20


def test_discordant_cases_are_reviewed_once_with_feedback(h: TestHospital, frozen: Any) -> None:
    agreed = answer(h, "I63.9", "I63.9", 2)
    discordant = answer(h, "G45.9", "I63.9", 2)
    head = h.user("head")  # cardiology: the requesting department
    assert [c.pk for c in selectors.discordant_cases(head, reviewed=False)] == [discordant.pk]
    assert list(selectors.discordant_cases(h.user("doctor"))) == []
    with pytest.raises(CodedError) as caught:
        services.review_discordance(head, agreed.pk, feedback="fine")
    assert caught.value.code == "TM-013"
    with pytest.raises(CodedError) as caught:
        services.review_discordance(head, discordant.pk, feedback="  ")
    assert caught.value.code == "CORE-001"
    services.review_discordance(
        head,
        discordant.pk,
        feedback="Imaging showed an infarct: TIA was not enough",
        training_note="DWI in TIA work-up",
    )
    assert Notification.objects.filter(recipient=h.user("doctor"), subject__contains="Feedback").exists()
    assert list(selectors.discordant_cases(head, reviewed=False)) == []
    with pytest.raises(CodedError) as caught:
        services.review_discordance(head, discordant.pk, feedback="again")
    assert caught.value.code == "TM-012"
    with pytest.raises(CodedError) as caught:  # a doctor is no reviewer
        services.review_discordance(h.user("doctor"), discordant.pk, feedback="x")
    assert caught.value.code == "CORE-403"
