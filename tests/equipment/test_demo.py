"""The demo's equipment (simulation.equipment_demo) on a small demo hospital."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from smartcare.accounts.models import User
from smartcare.equipment.models import (
    Asset,
    EquipmentAlert,
    FailurePrediction,
    TelemetryRollup,
    UsageSession,
    WorkOrder,
)
from smartcare.simulation import equipment_demo, foundation
from smartcare.simulation.management.commands import demo_data
from smartcare.simulation.registry import generators


@pytest.fixture()
def foundation_and_equipment(monkeypatch: Any, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    chosen = [
        g for g in generators() if g.run in (foundation.build_foundation, equipment_demo.build_equipment)
    ]
    assert len(chosen) == 2
    monkeypatch.setattr(demo_data, "generators", lambda: chosen)


def test_demo_equipment(db: Any, foundation_and_equipment: None) -> None:
    out = io.StringIO()
    call_command("demo_data", "--seed", "5", "--patients", "200", stdout=out)
    assert "equipment:" in out.getvalue()
    assert Asset.objects.count() == len(equipment_demo.PLANS)
    assert TelemetryRollup.objects.count() > 10000
    assert UsageSession.objects.exists()
    # Failures not caught, failures caught early, preventive work on the whole fleet.
    assert WorkOrder.objects.filter(is_failure=True, downtime_ended_at__isnull=False).count() >= 8
    assert WorkOrder.objects.filter(kind="predictive", status="done").exists()
    assert WorkOrder.objects.filter(kind="preventive", status="done").count() > 20
    # The CT wearing out now is predicted to fail, with its predictive work order open.
    ct = Asset.objects.get(name=equipment_demo.PLANS[0].name)
    prediction = FailurePrediction.objects.filter(asset=ct).first()
    assert prediction is not None and prediction.probability >= 0.5
    assert WorkOrder.objects.filter(asset=ct, kind="predictive", status="open").exists()
    assert EquipmentAlert.objects.filter(rule="heartbeat", status="open").exists()
    client = Client()
    client.force_login(User.objects.get(username="itadmin"))
    board = client.get("/equipment/")
    assert board.status_code == 200 and board.content.count(b'data-testid="asset-row"') == len(
        equipment_demo.PLANS
    )
    page = client.get(f"/equipment/assets/{ct.pk}/")
    assert b'data-testid="latest-prediction"' in page.content
    assert b'data-testid="telemetry-chart"' in page.content
