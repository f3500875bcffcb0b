"""The demo's home monitoring (simulation.monitoring_demo) on a small demo hospital."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from smartcare.accounts.models import User
from smartcare.monitoring.choices import AlertStatus
from smartcare.monitoring.models import Alert, Device, Enrollment, Reading, RehabPlan, RehabTarget
from smartcare.simulation import foundation, monitoring_demo
from smartcare.simulation.management.commands import demo_data
from smartcare.simulation.registry import generators


@pytest.fixture()
def foundation_and_monitoring(monkeypatch: Any, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    chosen = [
        g for g in generators() if g.run in (foundation.build_foundation, monitoring_demo.build_monitoring)
    ]
    assert len(chosen) == 2
    monkeypatch.setattr(demo_data, "generators", lambda: chosen)


def test_demo_monitoring(db: Any, foundation_and_monitoring: None) -> None:
    out = io.StringIO()
    call_command("demo_data", "--seed", "5", "--patients", "400", stdout=out)
    log = out.getvalue()
    assert "monitoring:" in log
    enrolled = Enrollment.objects.count()
    assert enrolled >= 30
    assert Device.objects.filter(patient__isnull=False).count() >= enrolled
    # Daily rhythm: blood pressure in the morning and the evening.
    hours = {
        timezone.localtime(r.measured_at).hour for r in Reading.objects.filter(kind="blood_pressure")[:500]
    }
    assert hours & {5, 6, 7, 8} and hours & {19, 20, 21, 22}
    # Dangerous episodes with alerts, most acknowledged, some open for the board.
    assert Reading.objects.filter(flag="C").exists()
    assert Alert.objects.filter(status=AlertStatus.ACKNOWLEDGED).exists()
    assert Alert.objects.filter(status=AlertStatus.OPEN, responsible__username="doctor").exists()
    assert Alert.objects.filter(status=AlertStatus.OPEN).count() < Alert.objects.count()
    assert RehabPlan.objects.exists() and RehabTarget.objects.exists()
    # The demo patient and the demo doctor see their pages filled.
    client = Client()
    client.force_login(User.objects.get(username="doctor"))
    board = client.get("/monitoring/")
    assert board.status_code == 200 and board.content.count(b'data-testid="board-row"') >= 3
    client.force_login(User.objects.get(username="patient"))
    me = client.get("/monitoring/me/")
    assert me.status_code == 200 and b'data-testid="my-chart"' in me.content
    assert b'data-testid="my-rehab"' in me.content
    credential = next(line for line in log.splitlines() if "credential is" in line).split()[-1]
    assert Device.objects.get(secret_hash=Device.hash_secret(credential)).patient.user.username == "patient"
