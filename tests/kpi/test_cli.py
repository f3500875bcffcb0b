"""``smartcare kpi show``: every indicator with value, target and status, one JSON object on the
last line keyed by indicator code; bad input is a coded error."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from smartcare.kpi.indicators import REGISTRY
from tests.kpi.cockpit_world import build_week

pytestmark = pytest.mark.django_db


def show(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("kpi", "show", *args, stdout=out)
    return out.getvalue().strip().splitlines()


@pytest.mark.parametrize("period", ["2026-Q1", "2026", "2026-03", "2026-W10", "2026-03-02"])
def test_show_prints_every_indicator_and_json(db: Any, period: str) -> None:
    build_week()
    lines = show("--period", period)
    payload = json.loads(lines[-1])
    assert set(REGISTRY) <= set(payload)
    for code in REGISTRY:
        assert {"value", "target", "status"} <= set(payload[code])
        assert any(line.strip().startswith(code) for line in lines[:-1])
    assert payload["arrival_wait"]["value"] == pytest.approx(30.0)
    assert payload["arrival_wait"]["status"] == "on_target"
    assert payload["_period"]["label"] == period.upper() if "q" in period.lower() else period
    assert "value" in payload["_score"]


def test_show_for_a_department(db: Any) -> None:
    week = build_week()
    payload = json.loads(show("--period", "2026-W10", "--department", week.h.neurology.national_code_id)[-1])
    assert payload["arrival_wait"]["status"] == "no_data"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--period", "2026-Q5"], "KPI-001"),
        (["--period", "yesterday"], "KPI-001"),
        (["--period", "2026", "--department", "99.99"], "KPI-004"),
    ],
)
def test_bad_arguments(db: Any, args: list[str], code: str) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("kpi", "show", *args, stdout=io.StringIO())
    assert str(caught.value).startswith(code)


def test_bad_backfill_dates(db: Any) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("kpi", "backfill", "--start", "2026-13-01", stdout=io.StringIO())
    assert str(caught.value).startswith("KPI-007")
