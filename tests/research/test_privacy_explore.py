"""Private exploration over the lake: one value per patient, withdrawals left out, budget spent,
page and API."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from smartcare.core.errors import CodedError
from smartcare.research import explore, lake
from smartcare.research.consent import record_research_consent
from smartcare.research.models import PrivacyBudget
from tests.factories import build_hospital
from tests.research.export_world import build_export_lake


@pytest.fixture()
def h(db: Any) -> Any:
    return build_hospital()


@pytest.fixture()
def patients(h: Any, tmp_path: Path, monkeypatch: Any, settings: Any) -> list[Any]:
    settings.VAR_DIR = tmp_path / "var"
    root = tmp_path / "lake"
    monkeypatch.setenv("SMARTCARE_LAKE_DIR", str(root))
    people, _encounters = build_export_lake(root)
    # HbA1c: two results for each of the first four patients; the latest is 7.0, 8.0, 9.0, 10.0
    labs = []
    for i, p in enumerate(people[:4]):
        for n, (value, day) in enumerate(((5.0, 1), (7.0 + i, 20))):
            labs.append(
                {
                    "row_key": f"{p.pk}-{n}",
                    "person_key": lake.person_key(p.pk),
                    "encounter_key": None,
                    "code": "4548-4",
                    "loinc": "4548-4",
                    "name": "HbA1c",
                    "value": value,
                    "value_text": None,
                    "unit": "%",
                    "reference_low": 4.0,
                    "reference_high": 6.0,
                    "flag": "",
                    "observed_at": dt.datetime(2025, 5, day, 8),
                }
            )
    lake.write_table(root, "labs", lake.to_arrow("labs", labs))
    return people


def test_one_latest_value_per_patient_without_withdrawn(h: Any, patients: list[Any]) -> None:
    measure = explore.parse_measure("lab", "4548-4")
    assert sorted(explore.values(measure)) == [7.0, 8.0, 9.0, 10.0]
    record_research_consent(h.user("frontdesk"), patients[3], granted=False)
    assert sorted(explore.values(measure)) == [7.0, 8.0, 9.0]
    ages = explore.values(explore.parse_measure("age"))
    assert len(ages) == 23 and max(ages) >= 90  # the 1930-born patient


def test_explore_spends_budget_and_refuses_when_spent(h: Any, patients: list[Any], settings: Any) -> None:
    user = h.user("researcher")
    release = explore.explore(
        user,
        measure=explore.parse_measure("age"),
        statistic="histogram",
        lower=0,
        upper=100,
        bins=5,
        purpose="age mix",
    )
    assert release.noisy and len(release.value) == 5
    budget = PrivacyBudget.objects.get(user=user, project=None)
    assert budget.epsilon_spent == pytest.approx(0.2)
    budget.epsilon_spent = budget.epsilon_total - 0.1
    budget.save()
    with pytest.raises(CodedError) as excinfo:
        explore.explore(
            user, measure=explore.parse_measure("age"), statistic="mean", lower=0, upper=100, purpose="again"
        )
    assert excinfo.value.code == "RES-046"


@pytest.mark.parametrize(
    "kind,code",
    [("lab", "4548-4; DROP TABLE persons"), ("vital", "blood"), ("weight", ""), ("", "")],
)
def test_bad_measures(kind: str, code: str) -> None:
    with pytest.raises(CodedError) as excinfo:
        explore.parse_measure(kind, code)
    assert excinfo.value.code == "RES-047"


def test_page_and_api(h: Any, patients: list[Any]) -> None:
    client = Client()
    client.force_login(h.user("researcher"))
    page = client.post(
        "/research/explore/",
        {
            "kind": "lab",
            "code": "4548-4",
            "statistic": "mean",
            "lower": "4",
            "upper": "14",
            "purpose": "HbA1c",
        },
    )
    assert page.status_code == 200 and b'data-testid="explore-result"' in page.content
    response = client.post(
        "/api/research/explore",
        json.dumps(
            {"measure": "age", "statistic": "histogram", "lower": 0, "upper": 100, "bins": 4, "purpose": "x"}
        ),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["noisy"] is True and len(response.json()["value"]) == 4
    budgets = client.get("/api/research/privacy/budgets").json()
    assert budgets[0]["epsilon_spent"] == pytest.approx(0.4)
    bad = client.post(
        "/api/research/explore",
        json.dumps({"measure": "age", "statistic": "mode", "lower": 0, "upper": 100, "purpose": "x"}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["code"] == "RES-047"
