"""Decision support in the demo year (simulation.emr_demo + cdss_demo) on a few finished visits.

Review finding: the demo had 15 cards with feedback across 1,054 consultations, because its orders
were never shown to the rules as orders and never included what decision support is for."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from smartcare.cdss.models import Consultation, RuleFiring
from smartcare.core import clock
from smartcare.emr.models import Order
from smartcare.simulation import cdss_demo, emr_demo
from smartcare.simulation.registry import DemoContext
from tests.emr.test_records import _appointment
from tests.factories import PatientFactory, TestHospital

pytestmark = pytest.mark.django_db


def test_demo_orders_what_decision_support_is_for_and_doctors_answer(
    hospital: TestHospital, monkeypatch: Any
) -> None:
    for _ in range(24):
        appointment = _appointment(hospital, PatientFactory())
        appointment.status = "completed"
        appointment.called_at = clock.now() - dt.timedelta(hours=2)
        appointment.finished_at = clock.now() - dt.timedelta(hours=1, minutes=50)
        appointment.save()
    # Every scenario on every visit, every card answered: the test is about what they produce.
    for name in ("DRUG_SHARE", "EXAM_SHARE", "INTERACTION_SHARE", "CONTRAINDICATION_SHARE", "REPEAT_SHARE"):
        monkeypatch.setattr(emr_demo, name, 1.0)
    monkeypatch.setattr(cdss_demo, "CONSULTED", 1.0)
    monkeypatch.setattr(cdss_demo, "ANSWERED", dict.fromkeys(cdss_demo.ANSWERED, 1.0))
    lines: list[str] = []
    ctx = DemoContext(seed=3, rng=random.Random(3), patients=24, log=lines.append, state={})
    emr_demo.build_emr(ctx)
    cdss_demo.build_cdss(ctx)
    kinds = set(RuleFiring.objects.values_list("rule__kind", flat=True))
    assert {"drug_interaction", "drug_condition"} <= kinds, kinds
    assert RuleFiring.objects.filter(hook="order-sign").exists()
    assert RuleFiring.objects.filter(hook="patient-view").exists()
    assert Consultation.objects.filter(hook="order-sign").count() >= 20
    answered = RuleFiring.objects.exclude(outcome="")
    assert answered.count() == RuleFiring.objects.count() > 20
    overridden = answered.filter(outcome="overridden")
    assert overridden.exists() and not overridden.filter(override_reason="").exists()
    assert answered.filter(outcome="accepted").exists()
    # Followed advice to remove an order: the order was not signed.
    cancelled = Order.objects.filter(status="cancelled", end_reason=cdss_demo.CANCELLED_BY_ADVICE)
    assert cancelled.exists() and not cancelled.exclude(signed_at=None).exists()
    # Cards are dated in the visit, not at the time the demo was built.
    assert not RuleFiring.objects.filter(fired_at__gt=clock.now() - dt.timedelta(minutes=60)).exists()
    assert lines[-1].startswith("decision support: ") and "orders not signed after advice" in lines[-1]
