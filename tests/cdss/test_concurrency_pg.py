"""The same chart opened at the same moment in several windows on PostgreSQL: each card is still
logged once per visit (the unique card identity), and every window shows it under the same id."""

from __future__ import annotations

from typing import Any

import pytest

from smartcare.cdss.models import RuleFiring
from smartcare.cdss.seed import load_rules
from smartcare.cdss.services import evaluate
from tests.cdss.helpers import Condition, facts
from tests.concurrency import together
from tests.factories import TestHospital

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_five_windows_open_the_same_chart_and_each_card_is_logged_once(hospital: TestHospital) -> None:
    load_rules()
    doctor = hospital.user("doctor")
    chart = facts(age=60, conditions=[Condition(icd10="E11.9", disease="disease:type2_diabetes")])

    def open_chart(i: int) -> Any:
        return evaluate(
            doctor, chart, "patient-view", patient=hospital.patient_in_care, encounter_ref="enc-race"
        )

    results = together(5, open_chart)
    assert not [r for r in results if isinstance(r, Exception)], results
    ids = [{c.extension["org.smartcare.rule"]["key"]: c.uuid for c in cards} for cards in results]
    assert ids[0] and all(shown == ids[0] for shown in ids)
    firings = RuleFiring.objects.filter(consultation__encounter_ref="enc-race")
    assert firings.count() == len(ids[0])
    assert {str(f.card_uuid) for f in firings} == set(ids[0].values())
