"""The weighted performance score: weights and targets from the plan, editable by the operations
manager with a history of changes, audited; bad settings write nothing."""

from __future__ import annotations

from typing import Any

import pytest

from smartcare.audit.models import AuditEvent
from smartcare.core.errors import PermissionDenied
from smartcare.kpi import selectors, services
from smartcare.kpi.errors import InvalidSetting
from smartcare.kpi.indicators import SCORE_WEIGHTS, get
from smartcare.kpi.models import IndicatorSetting, SettingChange
from tests.factories import build_hospital

pytestmark = pytest.mark.django_db


def result(code: str, value: float | None, target: float, weight: float) -> selectors.Result:
    return selectors.Result(get(code), None, None, value, target, None, None, None, "x", weight)


def test_plan_weights() -> None:
    assert SCORE_WEIGHTS == {
        "patient_satisfaction": 0.30,
        "cdss_usage": 0.20,
        "tele_volume": 0.20,
        "equipment_utilization": 0.15,
        "research_projects": 0.15,
    }
    assert sum(SCORE_WEIGHTS.values()) == pytest.approx(1.0)


def test_score_is_the_weighted_mean_of_values_against_targets() -> None:
    score = selectors.score_of(
        [
            result("patient_satisfaction", 0.95, 0.90, 0.30),  # above target: 1
            result("cdss_usage", 0.40, 0.80, 0.20),  # half the target: 0.5
            result("tele_volume", 15, 30, 0.20),  # 0.5
            result("equipment_utilization", 0.85, 0.85, 0.15),  # 1
            result("research_projects", 5, 10, 0.15),  # 0.5
            result("arrival_wait", 20, 30, 0.0),  # no weight: not in the score
        ]
    )
    # 0.30 * 1 + 0.20 * 0.5 + 0.20 * 0.5 + 0.15 * 1 + 0.15 * 0.5 = 0.725
    assert score.value == pytest.approx(72.5)
    assert score.coverage == pytest.approx(1.0)
    assert [c.code for c in score.components] == [
        "patient_satisfaction",
        "cdss_usage",
        "tele_volume",
        "equipment_utilization",
        "research_projects",
    ]


def test_score_over_the_components_with_data() -> None:
    score = selectors.score_of(
        [result("patient_satisfaction", 0.45, 0.90, 0.30), result("research_projects", None, 10, 0.15)]
    )
    assert score.value == pytest.approx(50.0)  # only satisfaction has data: 0.5
    assert score.coverage == pytest.approx(0.30 / 0.45)
    assert selectors.score_of([result("research_projects", None, 10, 0.15)]).value is None


def test_lower_is_better_normalises_the_other_way() -> None:
    assert selectors.normalized(get("arrival_wait"), 60, 30, None) == pytest.approx(0.5)
    assert selectors.normalized(get("arrival_wait"), 20, 30, None) == 1.0


def test_manager_changes_weight_and_target_with_history(db: Any) -> None:
    h = build_hospital()
    manager = h.users["manager"]
    services.update_setting(manager, "tele_volume", {"weight": "0.25", "target": "40"}, "plan revision")
    effective = selectors.effective_settings()["tele_volume"]
    assert (effective.weight, effective.target) == (0.25, 40)
    changes = {
        c.field: (c.old_value, c.new_value, c.reason)
        for c in SettingChange.objects.filter(code="tele_volume")
    }
    assert changes == {"weight": ("", "0.25", "plan revision"), "target": ("", "40", "plan revision")}
    assert AuditEvent.objects.filter(actor=manager, object_type="kpi.IndicatorSetting").exists()
    # back to the plan's default
    services.update_setting(manager, "tele_volume", {"weight": ""})
    assert selectors.effective_settings()["tele_volume"].weight == 0.20
    assert SettingChange.objects.filter(code="tele_volume", field="weight").count() == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"weight": "1.5"},
        {"weight": "abc"},
        {"target": "-1"},
        {"at_risk_margin": "2"},
        {"baseline_year": "1999"},
        {"target": "nan"},
        {"colour": "red"},
        {"target": "0.95", "weight": "-0.1"},
    ],
)
def test_bad_settings_write_nothing(db: Any, changes: dict[str, str]) -> None:
    h = build_hospital()
    with pytest.raises(InvalidSetting) as caught:
        services.update_setting(h.users["manager"], "patient_satisfaction", changes)
    assert caught.value.code == "KPI-003"
    assert not IndicatorSetting.objects.exists()
    assert not SettingChange.objects.exists()


def test_baseline_indicators_take_no_fixed_target(db: Any) -> None:
    h = build_hospital()
    with pytest.raises(InvalidSetting):
        services.update_setting(h.users["manager"], "length_of_stay", {"target": "5"})
    services.update_setting(h.users["manager"], "length_of_stay", {"baseline_year": "2024"})
    assert selectors.effective_settings()["length_of_stay"].baseline_year == 2024


def test_only_the_operations_manager_configures(db: Any) -> None:
    h = build_hospital()
    with pytest.raises(PermissionDenied):
        services.update_setting(h.users["head"], "tele_volume", {"weight": "0.3"})
    assert not SettingChange.objects.exists()
