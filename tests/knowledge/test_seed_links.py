"""Red flags linked to the conditions they warn of, and the population groups every department serves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import translation

from smartcare.knowledge.choices import EdgeType, NodeType
from smartcare.knowledge.errors import KnowledgeFileInvalid
from smartcare.knowledge.models import Edge, Node, RedFlag
from smartcare.knowledge.seed import SEED
from smartcare.knowledge.services import SEED_ORIGIN, import_smartcare_file
from tests.factories import TestHospital
from tests.knowledge.conftest import client_for
from tests.knowledge.helpers import disease, table_state

pytestmark = pytest.mark.django_db


def _seed() -> dict[str, Any]:
    return json.loads(SEED.read_bytes())


def _flag(key: str = "rf_test_flag", **extra: Any) -> dict[str, Any]:
    return {
        "id": key,
        "name_zh": "测试危险信号",
        "name_en": "Test red flag",
        "all_of": [],
        "any_of": ["symptom:chest_pain"],
        "action": "emergency",
        "reason_zh": "立即就医",
        "reason_en": "See a doctor now",
        **extra,
    }


def _file(
    red_flags: list[dict[str, Any]], nodes: list[dict[str, Any]] | None = None, version: str = "1"
) -> bytes:
    return json.dumps(
        {
            "format": "smartcare-knowledge",
            "version": version,
            "source": "test",
            "nodes": nodes or [],
            "edges": [],
            "red_flags": red_flags,
            "followup_questions": [],
        },
        ensure_ascii=False,
    ).encode()


# --- the shipped seed ----------------------------------------------------------------------------


def test_every_red_flag_of_the_seed_warns_of_at_least_one_disease_of_the_seed() -> None:
    seed = _seed()
    diseases = {n["id"] for n in seed["nodes"] if n["type"] == "disease"}
    for flag in seed["red_flags"]:
        assert flag["conditions"], flag["id"]
        assert set(flag["conditions"]) <= diseases, flag["id"]
        assert flag["provenance"].strip(), flag["id"]
    stored = RedFlag.objects.filter(origin=SEED_ORIGIN, is_active=True).prefetch_related("conditions")
    assert stored.count() == len(seed["red_flags"])
    by_key = {f["id"]: set(f["conditions"]) for f in seed["red_flags"]}
    for flag in stored:
        assert {c.key for c in flag.conditions.all()} == by_key[flag.key]
        assert all(c.type == NodeType.DISEASE and c.is_active for c in flag.conditions.all())


@pytest.mark.parametrize(
    ("flag", "condition"),
    [
        ("rf_cardiac_chest_pain", "disease:acute_myocardial_infarction"),
        ("rf_cardiac_chest_pain", "disease:aortic_dissection"),
        ("rf_tearing_chest_back_pain", "disease:aortic_dissection"),
        ("rf_stroke_signs", "disease:ischemic_stroke"),
        ("rf_thunderclap_headache", "disease:subarachnoid_hemorrhage"),
        ("rf_fever_nonblanching_rash", "disease:meningococcal_disease"),
        ("rf_reduced_fetal_movement", "disease:fetal_distress"),
        ("rf_head_injury_warning", "disease:epidural_hematoma"),
        ("rf_pregnancy_seizure", "disease:eclampsia"),
        ("rf_suicidal_thoughts_or_self_harm", "disease:major_depressive_disorder"),
    ],
)
def test_a_red_flag_reaches_its_condition_and_the_condition_its_red_flag(flag: str, condition: str) -> None:
    assert RedFlag.objects.get(key=flag).conditions.filter(key=condition).exists()
    assert Node.objects.get(key=condition).red_flags.filter(key=flag).exists()


def test_conditions_added_for_the_red_flags_are_complete_diseases() -> None:
    """The diseases added so that no flag stays unlinked carry what every seed disease carries."""
    for key, icd10, department in [
        ("disease:meningococcal_disease", "A39.9", "16"),
        ("disease:fetal_distress", "O36.8", "05.02"),
        ("disease:epidural_hematoma", "S06.4", "04.02"),
    ]:
        node = Node.objects.get(key=key)
        assert node.icd10 == icd10 and node.name_zh and node.name_en
        out = Edge.objects.filter(source=node)
        assert 3 <= out.filter(type=EdgeType.HAS_SYMPTOM, frequency__isnull=False).count() <= 8
        assert 1 <= out.filter(type=EdgeType.RECOMMENDED_EXAM).count() <= 3
        assert out.get(type=EdgeType.TREATED_IN, rank=1).target.department_id == department


def test_every_department_lists_the_age_groups_and_the_sexes_it_serves() -> None:
    for department in Node.objects.filter(type=NodeType.DEPARTMENT, is_active=True):
        groups = [e.source for e in Edge.objects.filter(type=EdgeType.SERVES, target=department)]
        assert all(e.provenance for e in Edge.objects.filter(type=EdgeType.SERVES, target=department))
        ages = [g for g in groups if g.min_age is not None or g.max_age is not None]
        sexes = [g for g in groups if g.sex and g.min_age is None and g.max_age is None]
        assert ages, department.key
        assert sexes, department.key


@pytest.mark.parametrize(
    ("department", "ages", "sexes"),
    [
        (
            "department:pediatrics",
            {"population_group:children"},
            {"population_group:men", "population_group:women"},
        ),
        (
            "department:neonatology",
            {"population_group:newborns"},
            {"population_group:men", "population_group:women"},
        ),
        (
            "department:geriatrics",
            {"population_group:older_adults"},
            {"population_group:men", "population_group:women"},
        ),
        ("department:obstetrics", {"population_group:adults"}, {"population_group:pregnant_women"}),
        (
            "department:gynecology",
            {"population_group:children", "population_group:adults", "population_group:older_adults"},
            {"population_group:women"},
        ),
        (
            "department:urology",
            {"population_group:children", "population_group:adults", "population_group:older_adults"},
            {"population_group:men", "population_group:women"},
        ),
    ],
)
def test_departments_serve_their_catalog_groups(department: str, ages: set[str], sexes: set[str]) -> None:
    served = set(
        Edge.objects.filter(type=EdgeType.SERVES, target__key=department).values_list(
            "source__key", flat=True
        )
    )
    assert served == ages | sexes


# --- importing links -----------------------------------------------------------------------------


def _problems(error: KnowledgeFileInvalid) -> list[tuple[str, str]]:
    return [(where, str(m)) for where, texts in error.errors.items() for m in texts]  # type: ignore[attr-defined]


def test_a_seed_whose_red_flag_links_to_an_unknown_node_is_refused_with_its_code() -> None:
    seed = _seed()
    index = next(i for i, f in enumerate(seed["red_flags"]) if f["id"] == "rf_cardiac_chest_pain")
    seed["red_flags"][index]["conditions"] = [
        "disease:acute_myocardial_infarction",
        "disease:no_such_disease",
    ]
    seed["version"] += "-broken"
    before = table_state()
    with pytest.raises(KnowledgeFileInvalid) as caught, translation.override("en"):
        import_smartcare_file(json.dumps(seed, ensure_ascii=False).encode(), origin=SEED_ORIGIN, force=True)
    assert caught.value.code == "KNOW-001"
    assert _problems(caught.value) == [
        (
            f"red_flags[{index}]",
            "The red flag rf_cardiac_chest_pain warns of 'disease:no_such_disease', "
            "which is not a disease in the graph.",
        )
    ]
    assert table_state() == before
    assert RedFlag.objects.get(key="rf_cardiac_chest_pain").conditions.count() == 4


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"conditions": ["symptom:chest_pain"], "provenance": "test"}, "symptom:chest_pain"),
        ({"conditions": ["disease:hypertension"]}, "provenance"),
        ({"conditions": "disease:hypertension", "provenance": "test"}, "conditions"),
        ({"conditions": ["disease:hypertension", "disease:hypertension"], "provenance": "t"}, "twice"),
    ],
)
def test_bad_red_flag_links_are_refused(extra: dict[str, Any], text: str) -> None:
    before = table_state()
    with translation.override("en"), pytest.raises(KnowledgeFileInvalid) as caught:
        import_smartcare_file(_file([_flag(**extra)]), origin="linked")
    assert caught.value.code == "KNOW-001"
    assert any(where == "red_flags[0]" and text in m for where, m in _problems(caught.value))
    assert table_state() == before


def test_a_dataset_links_its_red_flags_to_its_own_and_to_existing_conditions_and_relinks_them() -> None:
    own = disease("disease:test_linked", "测试病")
    first = _flag(conditions=["disease:test_linked", "disease:hypertension"], provenance="test source")
    release, _ = import_smartcare_file(_file([first], [own]), origin="linked")
    flag = RedFlag.objects.get(key="rf_test_flag")
    assert {c.key for c in flag.conditions.all()} == {"disease:test_linked", "disease:hypertension"}
    assert flag.provenance == "test source"
    assert release.counts["red_flag_links"] == 2
    second = _flag(conditions=["disease:test_linked"], provenance="test source")
    import_smartcare_file(_file([second], [own], version="2"), origin="linked")
    assert [c.key for c in flag.conditions.all()] == ["disease:test_linked"]
    assert not Node.objects.get(key="disease:hypertension").red_flags.filter(key="rf_test_flag").exists()


# --- node API and page ---------------------------------------------------------------------------


def test_the_node_api_of_a_disease_lists_its_red_flags(hospital: TestHospital) -> None:
    client = client_for(hospital.user("doctor"))
    body = client.get("/api/knowledge/nodes/disease:acute_myocardial_infarction").json()
    flags = {f["key"]: f for f in body["red_flags"]}
    assert {"rf_cardiac_chest_pain", "rf_crushing_chest_pain", "rf_syncope_cardiac"} <= set(flags)
    chest = flags["rf_cardiac_chest_pain"]
    assert chest["action"] == "call_120" and chest["name_zh"] and chest["reason_en"] and chest["provenance"]
    assert client.get("/api/knowledge/nodes/disease:common_cold").json()["red_flags"] == []


def test_the_node_page_of_a_disease_lists_its_red_flags(hospital: TestHospital) -> None:
    client = client_for(hospital.user("doctor"))
    html = client.get(
        "/knowledge/node/disease:aortic_dissection/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert 'data-testid="red-flags"' in html
    assert 'data-key="rf_tearing_chest_back_pain"' in html
    assert "Tearing chest or back pain" in html
    html = client.get("/knowledge/node/disease:common_cold/").content.decode()
    assert 'data-testid="red-flags"' not in html
