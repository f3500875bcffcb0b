"""The what-if model: scenario format, a hand-computed clinic morning, seeded reproducibility,
validation against a past month of a demo-like clinic, the command, the page and the API."""

from __future__ import annotations

import json
import random
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from smartcare.core.errors import CodedError
from smartcare.simulation import services
from smartcare.simulation.choices import RunStatus
from smartcare.simulation.models import SavedScenario, WhatIfRun
from smartcare.simulation.whatif import compare
from smartcare.simulation.whatif.model import Behaviour, DoctorDay, HalfDay, Setup, Tally, run_half_day
from smartcare.simulation.whatif.scenario import ExtraSession, Scenario, parse
from tests.simulation.whatif_world import build_clinic

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "whatif" / "extra-monday-doctor.yaml"


# --- Scenario format ------------------------------------------------------------------------------


def test_scenario_yaml_and_json() -> None:
    scenario = parse(EXAMPLE.read_bytes())
    assert scenario.slot_minutes == 20 and scenario.kiosks == 3 and scenario.opens_minutes == 45
    assert scenario.extra_sessions == (ExtraSession(weekday=0, period="morning", doctors=1),)
    assert parse(json.dumps(scenario.as_dict())) == scenario
    assert parse("") == Scenario() and Scenario().is_current


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "SIM-011"),
        ("a: [1, 2", "SIM-011"),
        (b"\xff\xfe", "SIM-011"),
        ("- 1\n- 2\n", "SIM-012"),
        ("slot_minute: 20", "SIM-012"),
        ("slot_minutes: 3", "SIM-012"),
        ("slot_minutes: 12.5", "SIM-012"),
        ("capacity_per_slot: true", "SIM-012"),
        ("extra_sessions: [{weekday: funday, period: morning}]", "SIM-012"),
        ("extra_sessions: [{weekday: monday, period: night}]", "SIM-012"),
        ("check_in: {kiosks: 0, desks: 0}", "SIM-012"),
        ("check_in: {printers: 2}", "SIM-012"),
        ("demand_change_percent: -95", "SIM-012"),
        ("x" * 70000, "SIM-011"),
    ],
)
def test_bad_scenarios_are_refused_with_a_code(text: Any, code: str) -> None:
    with pytest.raises(CodedError) as caught:
        parse(text)
    assert caught.value.code == code


# --- The model on a morning worked out by hand ------------------------------------------------------


def _behaviour(**change: Any) -> Behaviour:
    values: dict[str, Any] = {
        "arrival_offsets": [0.0],
        "no_show_rate": 0.0,
        "phone_share": 1.0,
        "kiosk_share": 0.0,
        "desk_share": 0.0,
        "priority_share": 0.0,
        "gaps": [0.0],
        "start_delays": [0.0],
        **change,
    }
    return Behaviour(**values)


def test_three_patients_in_one_slot() -> None:
    """Three patients booked at 8:00, arriving on time, 10 minutes each, one doctor 8:00-8:20:
    waits 0, 10, 20 (mean 10), the last ends 8:30 (10 minutes over), busy 30 of 20 minutes."""
    tally = Tally()
    day = DoctorDay(start=480, end=500, slot_starts=[480, 480, 480], consult=[10.0])
    setup = Setup(opens_minutes=60, late_grace_minutes=15, kiosks=1, desks=1)
    run_half_day(random.Random(1), HalfDay([day]), _behaviour(), setup, tally)
    assert sorted(tally.waits) == [0, 10, 20]
    assert tally.overtimes == [10]
    assert (tally.busy, tally.scheduled, tally.seen, tally.booked) == (30, 20, 3, 3)
    summary = compare.summarize(tally, 1)
    assert summary["wait_mean"] == 10 and summary["staff_load"] == 150


def test_early_patients_wait_for_the_doctor() -> None:
    """Booked 7:00 and 7:05, arriving 20 minutes later (late with a 15-minute grace, on time with
    30), the doctor starting at 8:00 with 10-minute consultations: seen at 8:00 and 8:10 either
    way, so they waited 40 and 45 minutes."""
    day = DoctorDay(start=480, end=540, slot_starts=[420, 425], consult=[10.0])
    strict, lenient = Tally(), Tally()
    behaviour = _behaviour(arrival_offsets=[20.0])
    run_half_day(random.Random(1), HalfDay([day]), behaviour, Setup(60, 15, 1, 1), strict)
    run_half_day(random.Random(1), HalfDay([day]), behaviour, Setup(60, 30, 1, 1), lenient)
    assert strict.waits == lenient.waits == [40.0, 45.0]


def test_phone_check_in_outside_the_window_goes_to_a_kiosk() -> None:
    behaviour = _behaviour(arrival_offsets=[-40.0])
    day = DoctorDay(start=480, end=540, slot_starts=[480], consult=[5.0])
    narrow, wide = Tally(), Tally()
    run_half_day(random.Random(1), HalfDay([day]), behaviour, Setup(30, 15, 1, 1), narrow)
    run_half_day(random.Random(1), HalfDay([day]), behaviour, Setup(60, 15, 1, 1), wide)
    assert len(narrow.check_in_waits) == 1 and wide.check_in_waits == []


def test_no_shows_are_booked_but_not_seen() -> None:
    tally = Tally()
    day = DoctorDay(start=480, end=540, slot_starts=[480] * 4, consult=[5.0])
    run_half_day(random.Random(1), HalfDay([day]), _behaviour(no_show_rate=1.0), Setup(60, 15, 1, 1), tally)
    assert (tally.booked, tally.seen, tally.waits, tally.overtimes) == (4, 0, [], [0.0])


# --- On the demo-like clinic ------------------------------------------------------------------------


@pytest.fixture()
def clinic(hospital: Any) -> dict[str, Any]:
    return build_clinic(hospital)


def test_seeded_runs_are_reproduced(hospital: Any, clinic: dict[str, Any]) -> None:
    scenario = parse(EXAMPLE.read_bytes())
    first = compare.compare_department(hospital.cardiology, scenario, runs=3, weeks=2, seed=7)
    again = compare.compare_department(hospital.cardiology, scenario, runs=3, weeks=2, seed=7)
    other = compare.compare_department(hospital.cardiology, scenario, runs=3, weeks=2, seed=8)
    assert first == again
    assert first["metrics"] != other["metrics"]


def test_model_matches_a_past_month_within_tolerance(hospital: Any, clinic: dict[str, Any]) -> None:
    month = compare.last_full_month()
    result = compare.validate(hospital.cardiology, month, runs=5, seed=1)
    assert result["sessions"] > 10 and result["measured_visits"] > 200
    assert result["tolerance_minutes"] == max(3.0, round(0.15 * result["measured_wait_mean"], 2))
    assert result["within_tolerance"], result
    assert result["measured_wait_se"] > 0 and result["within_sampling_error"]
    assert abs(result["difference_minutes"]) <= result["tolerance_minutes"]


def test_a_second_monday_doctor_shortens_the_wait(hospital: Any, clinic: dict[str, Any]) -> None:
    scenario = Scenario(extra_sessions=(ExtraSession(weekday=0, period="morning", doctors=1),))
    result = compare.compare_department(hospital.cardiology, scenario, runs=5, weeks=4, seed=1)
    wait, load = result["metrics"]["wait_mean"], result["metrics"]["staff_load"]
    assert wait["difference"]["high"] < 0
    assert load["difference"]["mean"] < 0
    calibration = result["calibration"]
    assert calibration["doctors"] == 2 and calibration["weekly_sessions"] == pytest.approx(5.0, abs=0.3)


def test_command_prints_one_json_object(hospital: Any, clinic: dict[str, Any], tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "simulate",
        "--department",
        "03.04",
        "--scenario",
        str(EXAMPLE),
        "--runs",
        "3",
        "--weeks",
        "1",
        stdout=out,
    )
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["department"] == "03.04" and result["runs"] == 3
    assert set(result["metrics"]) == set(compare.METRICS)
    out = StringIO()
    call_command("simulate", "--department", "03.04", "--validate", "--runs", "3", stdout=out)
    assert "within_tolerance" in json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--department", "99.99"], "SIM-013"),
        (["--department", "03.04", "--scenario", "/nonexistent.yaml"], "SIM-011"),
        (["--department", "03.04", "--runs", "1"], "SIM-015"),
        (["--department", "03.04", "--weeks", "x"], "SIM-015"),
        (["--department", "03.04", "--validate", "--month", "2999-01"], "SIM-016"),
        (["--department", "03.03"], "SIM-014"),
    ],
)
def test_command_errors(hospital: Any, args: list[str], code: str) -> None:
    with pytest.raises(CommandError, match=code):
        call_command("simulate", *args, stdout=StringIO())


def test_bad_scenario_file_in_the_command(hospital: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("slot_minutes: 500\n")
    with pytest.raises(CommandError, match="SIM-012"):
        call_command("simulate", "--department", "03.04", "--scenario", str(bad), stdout=StringIO())


# --- Runs: inline, background, page and API ---------------------------------------------------------


def test_short_run_inline_long_run_in_the_background(
    hospital: Any, clinic: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    head = hospital.user("head")
    scenario = parse("check_in: {kiosks: 1}")
    inline = services.start_run(head, department_code="03.04", scenario=scenario, runs=2, weeks=1)
    assert inline.status == RunStatus.DONE and inline.result["metrics"]["wait_mean"]
    with django_capture_on_commit_callbacks(execute=True):
        queued = services.start_run(
            head, department_code="03.04", scenario=scenario, runs=2, weeks=1, background=True
        )
    queued.refresh_from_db()
    assert queued.status == RunStatus.DONE
    assert queued.result["metrics"] == inline.result["metrics"]


def test_run_without_data_is_recorded_as_failed(hospital: Any) -> None:
    run = services.start_run(
        hospital.user("head"), department_code="03.03", scenario=Scenario(), runs=2, weeks=1
    )
    assert run.status == RunStatus.FAILED and run.error.startswith("SIM-014")


def test_page_runs_a_scenario_and_refuses_a_bad_one(hospital: Any, clinic: dict[str, Any]) -> None:
    client = Client()
    client.force_login(hospital.user("manager"))
    page = client.get("/simulation/whatif/")
    assert page.status_code == 200 and b"extra_sessions" in page.content
    bad = client.post(
        "/simulation/whatif/",
        {"department": "03.04", "scenario": "slot_minutes: [", "runs": "2", "weeks": "1"},
    )
    assert bad.status_code == 400 and b"SIM-011" in bad.content
    assert not WhatIfRun.objects.exists()
    response = client.post(
        "/simulation/whatif/",
        {"department": "03.04", "scenario": EXAMPLE.read_text(), "runs": "2", "weeks": "1", "seed": "1"},
    )
    run = WhatIfRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/simulation/whatif/runs/{run.pk}/"
    result = client.get(response["Location"])
    assert result.status_code == 200 and b'data-metric="wait_mean"' in result.content
    saved = client.post(
        "/simulation/whatif/",
        {"department": "03.04", "scenario": EXAMPLE.read_text(), "save": "1", "name": "Mon"},
    )
    assert saved.status_code == 302 and SavedScenario.objects.get().name == "Mon"
    doctor = Client()
    doctor.force_login(hospital.user("doctor"))
    assert doctor.get("/simulation/whatif/").status_code == 403


def test_api_runs_and_refuses_bad_input(hospital: Any, clinic: dict[str, Any]) -> None:
    client = Client()
    client.force_login(hospital.user("head"))
    bad = client.post(
        "/api/simulation/runs",
        json.dumps({"department": "03.04", "scenario": {"slot_minutes": 1}}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["code"] == "SIM-012"
    unknown = client.post(
        "/api/simulation/runs", json.dumps({"department": "77.77"}), content_type="application/json"
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "SIM-013"
    assert not WhatIfRun.objects.exists()
    done = client.post(
        "/api/simulation/runs",
        json.dumps(
            {"department": "03.04", "scenario_text": "demand_change_percent: 10", "runs": 2, "weeks": 1}
        ),
        content_type="application/json",
    )
    assert done.status_code == 201 and done.json()["status"] == "done"
    booked = done.json()["result"]["metrics"]["booked_per_week"]
    assert booked["scenario"]["mean"] > booked["current"]["mean"]
    assert client.get(f"/api/simulation/runs/{done.json()['id']}").json()["id"] == done.json()["id"]
