"""Reading the graph: search, a node's neighbours, paths and drug classes (on the migrated seed)."""

from __future__ import annotations

import pytest
from django.utils import translation

from smartcare.core.errors import InvalidInput
from smartcare.knowledge import selectors
from smartcare.knowledge.choices import EdgeType
from smartcare.knowledge.errors import NodeNotFound, NoPath
from smartcare.knowledge.models import Edge, Node

pytestmark = pytest.mark.django_db


def _keys(nodes: list[Node]) -> list[str]:
    return [n.key for n in nodes]


def test_search_finds_a_symptom_by_the_words_patients_use() -> None:
    assert _keys(selectors.search_nodes("拉肚子"))[0] == "symptom:diarrhea"


@pytest.mark.parametrize(
    ("q", "key"),
    [
        ("高血压", "disease:hypertension"),  # exact synonym before longer names containing it
        ("i10", "disease:hypertension"),  # ICD-10, any case
        ("C08CA01", "drug:amlodipine"),  # ATC
        ("Amlodipine", "drug:amlodipine"),
        ("disease:hypertension", "disease:hypertension"),
        ("胸片", "exam:chest_xray"),
    ],
)
def test_exact_hits_come_first(q: str, key: str) -> None:
    assert _keys(selectors.search_nodes(q, limit=5))[0] == key


def test_search_filters_by_type_and_limits() -> None:
    hits = selectors.search_nodes("头痛", type="disease", limit=3)
    assert 0 < len(hits) <= 3
    assert {n.type for n in hits} == {"disease"}
    assert "symptom:headache" in _keys(selectors.search_nodes("头痛", type="symptom"))
    assert len(selectors.search_nodes("", type="department", limit=100)) == 60
    with pytest.raises(InvalidInput):
        selectors.search_nodes("头痛", type="planet")


def test_retired_nodes_are_not_found() -> None:
    Node.objects.filter(key="symptom:diarrhea").update(is_active=False)
    assert "symptom:diarrhea" not in _keys(selectors.search_nodes("拉肚子"))


def test_node_detail_groups_neighbours_by_type_and_direction() -> None:
    detail = selectors.node_detail("disease:hypertension")
    groups = {(g.type, g.direction): g for g in detail.groups}
    symptoms = groups[(EdgeType.HAS_SYMPTOM, "out")]
    frequencies = [n.edge.frequency for n in symptoms.neighbours]
    assert frequencies == sorted(frequencies, reverse=True)
    assert symptoms.neighbours[0].node.key == "sign:high_blood_pressure_reading"
    assert symptoms.total == len(symptoms.neighbours) == 6
    departments = groups[(EdgeType.TREATED_IN, "out")]
    assert [(n.node.key, n.edge.rank) for n in departments.neighbours] == [
        ("department:cardiology", 1),
        ("department:general_practice", 2),
        ("department:geriatrics", 3),
    ]
    complications = groups[(EdgeType.COMPLICATION_OF, "in")]
    assert "disease:ischemic_stroke" in [n.node.key for n in complications.neighbours]
    assert complications.label != str(EdgeType.COMPLICATION_OF.label)  # read from the target's side
    assert groups[(EdgeType.CONTRAINDICATED_IN, "in")].neighbours[0].node.key == "drug:methylergometrine"
    # Outgoing groups first, then incoming ones.
    directions = [g.direction for g in detail.groups]
    assert directions == sorted(directions, key=["out", "both", "in"].index)


def test_interactions_are_one_undirected_group_with_severity_and_management() -> None:
    detail = selectors.node_detail("drug:warfarin")
    (group,) = [g for g in detail.groups if g.type == EdgeType.INTERACTS_WITH]
    assert group.direction == "both"
    partners = {n.node.key: n.edge for n in group.neighbours}
    assert {"drug:aspirin", "drug:ibuprofen"} <= set(partners)  # warfarin is source or target
    assert partners["drug:aspirin"].severity == "high"
    with translation.override("en"):
        assert partners["drug:aspirin"].management.startswith("The combination")


def test_a_group_shows_a_limited_number_and_its_total() -> None:
    detail = selectors.node_detail("department:cardiology", per_group=5)
    treats = next(g for g in detail.groups if g.type == EdgeType.TREATED_IN)
    assert len(treats.neighbours) == 5 < treats.total


def test_unknown_node_is_know_404() -> None:
    with pytest.raises(NodeNotFound) as caught:
        selectors.node_detail("disease:unicorn_fever")
    assert caught.value.code == "KNOW-404"
    assert "disease:unicorn_fever" in caught.value.detail


def test_path_between_a_disease_and_its_drug_is_one_step() -> None:
    found = selectors.find_path("disease:hypertension", "drug:amlodipine")
    assert _keys(found.nodes) == ["disease:hypertension", "drug:amlodipine"]
    assert [(e.type, e.source.key, e.target.key) for e in found.edges] == [
        (EdgeType.FIRST_LINE_DRUG, "disease:hypertension", "drug:amlodipine")
    ]


def test_a_longer_path_joins_consecutive_nodes_in_either_direction() -> None:
    found = selectors.find_path("symptom:diarrhea", "drug:warfarin", max_depth=6)
    assert found.length >= 2
    assert found.nodes[0].key == "symptom:diarrhea" and found.nodes[-1].key == "drug:warfarin"
    steps = list(zip(found.nodes, found.nodes[1:], strict=False))
    for a, b in steps:
        assert any({e.source_id, e.target_id} == {a.pk, b.pk} for e in found.edges)
    assert all(any({e.source_id, e.target_id} == {a.pk, b.pk} for a, b in steps) for e in found.edges)


def test_no_path_when_too_far_or_unconnected() -> None:
    # Montelukast is 7 steps from hypertension in the seed (every department is joined to the
    # population groups it serves, so no department is unconnected any more).
    with pytest.raises(NoPath) as caught:
        selectors.find_path("disease:hypertension", "drug:montelukast")
    assert caught.value.code == "KNOW-002"
    with pytest.raises(NoPath):
        selectors.find_path("disease:hypertension", "drug:montelukast", max_depth=6)
    distance = selectors.find_path("symptom:diarrhea", "drug:warfarin", max_depth=6).length
    with pytest.raises(NoPath):
        selectors.find_path("symptom:diarrhea", "drug:warfarin", max_depth=distance - 1)
    with pytest.raises(NodeNotFound):
        selectors.find_path("disease:hypertension", "drug:unobtainium")
    with pytest.raises(InvalidInput):
        selectors.find_path("disease:hypertension", "drug:amlodipine", max_depth=7)
    assert _keys(selectors.find_path("drug:amlodipine", "drug:amlodipine").nodes) == ["drug:amlodipine"]


def test_the_cached_graph_follows_changes() -> None:
    with pytest.raises(NoPath):
        selectors.find_path("disease:hypertension", "drug:montelukast")
    Edge.objects.create(
        type=EdgeType.FIRST_LINE_DRUG,
        source=Node.objects.get(key="disease:hypertension"),
        target=Node.objects.get(key="drug:montelukast"),
        provenance="test",
        origin="local-curation",
    )
    assert selectors.find_path("disease:hypertension", "drug:montelukast").length == 1
    Node.objects.filter(key="drug:montelukast").update(is_active=False)
    with pytest.raises(NodeNotFound):
        selectors.find_path("disease:hypertension", "drug:montelukast")


def test_drug_classes_are_followed_transitively() -> None:
    classes = _keys(selectors.drug_classes("drug:amlodipine"))
    assert classes[0] == "drug_class:dihydropyridine_ccbs"  # nearest first
    assert {"drug_class:calcium_channel_blockers", "drug_class:antihypertensives"} <= set(classes)
    assert "drug_class:antibacterials" in _keys(selectors.drug_classes("drug:levofloxacin"))
    assert selectors.drug_classes("drug:unobtainium") == []


def test_resolve_node_takes_an_id_or_a_name() -> None:
    assert selectors.resolve_node("disease:hypertension").key == "disease:hypertension"
    assert selectors.resolve_node("拉肚子").key == "symptom:diarrhea"
    with pytest.raises(NodeNotFound):
        selectors.resolve_node("完全不存在的东西")


def test_releases_newest_first() -> None:
    rows = list(selectors.releases())
    assert rows[0].origin == "smartcare-seed"
    assert selectors.release(rows[0].pk) == rows[0]
