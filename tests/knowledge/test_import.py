"""Importing smartcare-format files: the seed, new releases of a dataset, and rejected files."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import translation

from smartcare.knowledge.choices import EdgeType, ReleaseStatus
from smartcare.knowledge.errors import KnowledgeFileInvalid
from smartcare.knowledge.models import Edge, FollowUpQuestion, KnowledgeRelease, Node, RedFlag
from smartcare.knowledge.seed import SEED, load_seed
from smartcare.knowledge.services import SEED_ORIGIN, import_smartcare_file
from tests.knowledge.helpers import disease, edge, smartcare_file, table_state

pytestmark = pytest.mark.django_db


def test_the_migrated_database_holds_the_whole_seed_as_one_release() -> None:
    seed = json.loads(SEED.read_bytes())
    release = KnowledgeRelease.objects.get(origin=SEED_ORIGIN)
    assert release.status == ReleaseStatus.APPLIED
    assert release.version == seed["version"]
    assert Node.objects.filter(origin=SEED_ORIGIN, is_active=True).count() == len(seed["nodes"])
    assert Edge.objects.filter(origin=SEED_ORIGIN).count() == len(seed["edges"])
    assert RedFlag.objects.filter(origin=SEED_ORIGIN, is_active=True).count() == len(seed["red_flags"])
    assert FollowUpQuestion.objects.filter(is_active=True).count() == len(seed["followup_questions"])
    assert release.counts["nodes_created"] == len(seed["nodes"])
    assert release.counts["edges_created"] == len(seed["edges"])
    hypertension = Node.objects.get(key="disease:hypertension")
    assert (hypertension.icd10, hypertension.release_id) == ("I10", release.pk)
    assert "高血压" in hypertension.search_text


def test_loading_the_same_seed_again_changes_nothing() -> None:
    before = table_state()
    assert load_seed() is False
    assert table_state() == before


def _local(version: str, *, with_old: bool = True, name: str = "测试病") -> bytes:
    nodes = [disease("disease:test_local", name)]
    edges = [
        edge(EdgeType.HAS_SYMPTOM, "disease:test_local", "symptom:headache", frequency=0.3),
        edge(EdgeType.TREATED_IN, "disease:test_local", "department:neurology", rank=1),
    ]
    if with_old:
        nodes.append(disease("disease:test_old", "旧病"))
        edges.append(edge(EdgeType.COMPLICATION_OF, "disease:test_old", "disease:test_local"))
    return smartcare_file(nodes, edges, version)


def test_a_changed_file_is_a_new_release_that_updates_and_retires() -> None:
    first, changed = import_smartcare_file(_local("1"), origin="local")
    assert changed
    assert first.counts["nodes_created"] == 2
    assert first.counts["edges_created"] == 3

    again, changed = import_smartcare_file(_local("1"), origin="local")
    assert (again.pk, changed) == (first.pk, False)
    assert KnowledgeRelease.objects.filter(origin="local").count() == 1

    second, changed = import_smartcare_file(
        _local("2", with_old=False, name="测试病（新名）"), origin="local"
    )
    assert changed and second.pk != first.pk
    assert second.counts["nodes_updated"] == 1
    assert second.counts["nodes_retired"] == 1
    assert second.counts["edges_removed"] == 1
    local = Node.objects.get(key="disease:test_local")
    assert (local.name_zh, local.release_id, local.is_active) == ("测试病（新名）", second.pk, True)
    old = Node.objects.get(key="disease:test_old")
    assert not old.is_active
    assert not Edge.objects.filter(type=EdgeType.COMPLICATION_OF, source=old).exists()
    # The seed is another dataset: untouched.
    assert Node.objects.get(key="symptom:headache").origin == "smartcare-seed"
    assert KnowledgeRelease.objects.filter(origin="local").count() == 2


def _seed_with(change: Any) -> bytes:
    data = json.loads(SEED.read_bytes())
    change(data)
    return json.dumps(data, ensure_ascii=False).encode()


def _bad_edge_type(data: dict[str, Any]) -> None:
    data["edges"][0]["type"] = "cures"


def _missing_endpoint(data: dict[str, Any]) -> None:
    data["edges"].append(edge(EdgeType.HAS_SYMPTOM, "disease:hypertension", "symptom:does_not_exist"))


def _duplicate_id(data: dict[str, Any]) -> None:
    data["nodes"].append(dict(data["nodes"][0]))


def _bad_department_code(data: dict[str, Any]) -> None:
    data["nodes"][0]["department_code"] = "99.99"


def _disease_without_icd10(data: dict[str, Any]) -> None:
    next(n for n in data["nodes"] if n["type"] == "disease").pop("icd10")


@pytest.mark.parametrize(
    ("raw", "where", "text"),
    [
        (b'{"format": "smartcare-knowledge", "nodes": [', "file", "Not valid JSON"),
        (lambda: _seed_with(_bad_edge_type), "edges[0]", "Unknown edge type"),
        (lambda: _seed_with(_missing_endpoint), "edges[", "symptom:does_not_exist"),
        (lambda: _seed_with(_duplicate_id), "nodes[", "appears twice"),
        (lambda: _seed_with(_bad_department_code), "nodes[0]", "99.99"),
        (lambda: _seed_with(_disease_without_icd10), "nodes[", "ICD-10"),
    ],
    ids=["bad-json", "unknown-edge-type", "missing-endpoint", "duplicate-id", "bad-department", "no-icd10"],
)
def test_a_bad_file_is_rejected_with_its_problems_and_writes_nothing(raw: Any, where: str, text: str) -> None:
    content = raw() if callable(raw) else raw
    before = table_state()
    with pytest.raises(KnowledgeFileInvalid) as caught, translation.override("en"):
        import_smartcare_file(content, origin=SEED_ORIGIN)
    assert caught.value.code == "KNOW-001"
    problems = [(w, str(m)) for w, texts in caught.value.errors.items() for m in texts]
    assert any(w.startswith(where) and text in m for w, m in problems), problems
    assert table_state() == before


def _tiny(
    version: str, nodes: list[dict[str, object]], red_flags: list[dict[str, object]] | None = None
) -> bytes:
    return json.dumps(
        {
            "format": "smartcare-knowledge",
            "version": version,
            "source": "test",
            "nodes": nodes,
            "edges": [],
            "red_flags": red_flags or [],
            "followup_questions": [],
        },
        ensure_ascii=False,
    ).encode()


def _symptom(key: str, zh: str, en: str) -> dict[str, object]:
    return {"id": key, "type": "symptom", "name_zh": zh, "name_en": en, "synonyms_zh": [], "synonyms_en": []}


def test_a_dataset_never_takes_over_or_retires_another_datasets_knowledge(curator: object) -> None:
    from smartcare.knowledge.services import import_knowledge_file

    fever = Node.objects.get(key="symptom:fever")
    own = _symptom("symptom:custom_itch_spot", "痒点", "Itchy spot")
    first = _tiny("1", [{**_symptom("symptom:fever", "改名", "Renamed"), "synonyms_zh": []}, own])
    release, _ = import_knowledge_file(curator, first, file_name="custom.json", origin="custom")
    fever.refresh_from_db()
    assert fever.origin == SEED_ORIGIN and fever.name_zh == "发热" and fever.is_active
    assert "symptom:fever (smartcare-seed)" in release.report["kept_other_datasets"]
    assert release.counts["nodes_of_other_datasets"] == 1
    # The next release of "custom" drops both: only its own concept is retired (with force,
    # because it retires all of the dataset); the seed's fever stays.
    second = _tiny("2", [_symptom("symptom:custom_other", "别的", "Other")])
    import_knowledge_file(curator, second, file_name="custom.json", origin="custom", force=True)
    fever.refresh_from_db()
    assert fever.is_active
    assert not Node.objects.get(key="symptom:custom_itch_spot").is_active


def test_a_release_that_would_retire_red_flags_or_most_of_a_dataset_needs_confirmation(
    curator: object,
) -> None:
    from smartcare.knowledge.errors import ReleaseNeedsConfirmation
    from smartcare.knowledge.services import import_knowledge_file

    nodes = [_symptom(f"symptom:custom_{i}", f"症状{i}", f"Finding {i}") for i in range(4)]
    flag = {
        "id": "rf_custom", "name_zh": "测试", "name_en": "Test", "all_of": ["symptom:custom_0"], "any_of": [],
        "action": "emergency", "reason_zh": "测试原因", "reason_en": "Test reason",
    }  # fmt: skip
    import_knowledge_file(curator, _tiny("1", nodes, [flag]), file_name="c.json", origin="custom")
    before = table_state()
    with pytest.raises(ReleaseNeedsConfirmation) as raised:
        import_knowledge_file(curator, _tiny("2", nodes), file_name="c.json", origin="custom")
    assert raised.value.code == "KNOW-004"
    with pytest.raises(ReleaseNeedsConfirmation):
        import_knowledge_file(curator, _tiny("3", nodes[:1], [flag]), file_name="c.json", origin="custom")
    assert table_state() == before
    import_knowledge_file(curator, _tiny("4", nodes, []), file_name="c.json", origin="custom", force=True)
    assert not RedFlag.objects.get(key="rf_custom").is_active


def test_the_seed_dataset_is_reserved_and_a_dataset_keeps_its_format(curator: object) -> None:
    from smartcare.knowledge.errors import FormatChanged, ReservedDataset
    from smartcare.knowledge.services import import_knowledge_file

    with pytest.raises(ReservedDataset):
        import_knowledge_file(curator, _tiny("1", []), file_name="x.json", origin=SEED_ORIGIN)
    import_knowledge_file(
        curator, _tiny("1", [_symptom("symptom:custom_a", "甲", "A")]), file_name="x.json", origin="mixed"
    )
    line = json.dumps(
        {"name": "测试病", "symptom": ["发热"], "cure_department": ["内科"]}, ensure_ascii=False
    )
    with pytest.raises(FormatChanged):
        import_knowledge_file(curator, line.encode(), file_name="x.jsonl", origin="mixed")


def test_an_upload_larger_than_the_limit_is_refused_before_reading(curator: object, settings: object) -> None:
    from smartcare.knowledge.errors import FileTooLarge
    from smartcare.knowledge.services import check_upload_size, import_knowledge_file

    settings.SMARTCARE_KNOWLEDGE_MAX_UPLOAD_MB = 1  # type: ignore[attr-defined]
    check_upload_size(1024 * 1024)
    with pytest.raises(FileTooLarge):
        check_upload_size(1024 * 1024 + 1)
    with pytest.raises(FileTooLarge):
        import_knowledge_file(curator, b" " * (1024 * 1024 + 1), file_name="big.json", origin="big")
