"""An in-memory snapshot of what triage needs from the knowledge graph, built once per release."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count, Max

from smartcare.knowledge.choices import EdgeType, NodeType
from smartcare.knowledge.models import Edge, FollowUpQuestion, KnowledgeRelease, Node, RedFlag
from smartcare.organization.models import NationalDepartmentCode

PEDIATRIC = ("07", "07.01", "08", "09")
FINDING_TYPES = (NodeType.SYMPTOM, NodeType.SIGN)


@dataclass
class Concept:
    key: str
    type: str
    name_zh: str
    name_en: str
    synonyms_zh: list[str]
    synonyms_en: list[str]
    icd10: str = ""
    code: str = ""  # department code for department nodes
    min_age: int | None = None  # population groups
    max_age: int | None = None
    sex: str = ""


@dataclass
class Disease:
    key: str
    departments: list[tuple[str, int]] = field(default_factory=list)  # (code, rank)
    findings: dict[str, float] = field(default_factory=dict)  # finding key -> frequency
    body_parts: set[str] = field(default_factory=set)


@dataclass
class Graph:
    version: str
    concepts: dict[str, Concept]
    diseases: dict[str, Disease]
    by_finding: dict[str, list[tuple[str, float]]]  # finding -> [(disease, frequency)]
    by_body_part: dict[str, set[str]]  # body part -> diseases located there or with findings there
    department_names: dict[str, tuple[str, str]]  # catalog code -> (zh, en)
    department_parent: dict[str, str | None]
    red_flags: list[RedFlag]
    questions: list[FollowUpQuestion]
    serves: dict[str, list[str]]  # population group -> department codes

    def departments_only_for(self, accepts: Callable[[Concept], bool], dimension: str) -> set[str]:
        """Department codes whose served groups (``serves`` edges) of one dimension all pass ``accepts``.

        Every department lists the age groups and the sex groups it serves (``data/FORMAT.md``);
        ``dimension`` is ``"age"`` (groups with an age range) or ``"sex"`` (groups with a sex and
        no age range, pregnant women included). A department with no group of that dimension is
        not restricted by it."""
        groups: dict[str, list[Concept]] = {}
        for group, codes in self.serves.items():
            concept = self.concepts.get(group)
            if concept is None or _dimension(concept) != dimension:
                continue
            for code in codes:
                groups.setdefault(code, []).append(concept)
        return {code for code, served in groups.items() if all(accepts(g) for g in served)}

    def name(self, key: str, english: bool) -> str:
        concept = self.concepts.get(key)
        if concept is None:
            return key
        return concept.name_en if english else concept.name_zh


def _dimension(group: Concept) -> str:
    if group.min_age is not None or group.max_age is not None:
        return "age"
    return "sex" if group.sex else ""


def fingerprint() -> str:
    """Changes when a release is applied and when a curator edits nodes, edges, red flags or
    questions in the admin (their ``updated_at`` and counts), so the engine follows both."""
    latest = KnowledgeRelease.objects.order_by("-pk").values_list("pk", "checksum").first()
    parts = [f"{latest[0]}-{latest[1][:12]}" if latest else "empty"]
    for model in (Node, Edge, RedFlag, FollowUpQuestion):
        state = model.objects.aggregate(count=Count("pk"), last=Max("updated_at"))
        parts.append(f"{state['count']}@{state['last'].timestamp() if state['last'] else 0:.6f}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def load_graph(version: str | None = None) -> Graph:
    concepts: dict[str, Concept] = {}
    node_keys: dict[int, str] = {}
    for node in Node.objects.filter(is_active=True).values(
        "pk",
        "key",
        "type",
        "name_zh",
        "name_en",
        "synonyms_zh",
        "synonyms_en",
        "icd10",
        "department_id",
        "min_age",
        "max_age",
        "sex",
    ):
        node_keys[node["pk"]] = node["key"]
        concepts[node["key"]] = Concept(
            key=node["key"],
            type=node["type"],
            name_zh=node["name_zh"],
            name_en=node["name_en"],
            synonyms_zh=list(node["synonyms_zh"] or []),
            synonyms_en=list(node["synonyms_en"] or []),
            icd10=node["icd10"],
            code=node["department_id"] or "",
            min_age=node["min_age"],
            max_age=node["max_age"],
            sex=node["sex"],
        )
    diseases = {k: Disease(k) for k, c in concepts.items() if c.type == NodeType.DISEASE}
    by_finding: dict[str, list[tuple[str, float]]] = {}
    by_body_part: dict[str, set[str]] = {}
    located: dict[str, set[str]] = {}
    serves: dict[str, list[str]] = {}
    edges = Edge.objects.filter(
        type__in=[EdgeType.HAS_SYMPTOM, EdgeType.TREATED_IN, EdgeType.LOCATED_IN, EdgeType.SERVES]
    ).values_list("type", "source_id", "target_id", "frequency", "rank")
    for kind, source_id, target_id, frequency, rank in edges.order_by("source_id", "rank"):
        source, target = node_keys.get(source_id), node_keys.get(target_id)
        if source is None or target is None:
            continue
        if kind == EdgeType.HAS_SYMPTOM and source in diseases:
            diseases[source].findings[target] = float(frequency if frequency is not None else 0.5)
            by_finding.setdefault(target, []).append((source, diseases[source].findings[target]))
        elif kind == EdgeType.TREATED_IN and source in diseases and concepts[target].code:
            diseases[source].departments.append((concepts[target].code, rank or 1))
        elif kind == EdgeType.LOCATED_IN:
            located.setdefault(source, set()).add(target)
        elif kind == EdgeType.SERVES and concepts[target].code:
            serves.setdefault(source, []).append(concepts[target].code)
    for disease in diseases.values():
        disease.departments.sort(key=lambda item: item[1])
        parts = set(located.get(disease.key, set()))
        for finding in disease.findings:
            parts |= located.get(finding, set())
        disease.body_parts = parts
        for part in parts:
            by_body_part.setdefault(part, set()).add(disease.key)
    catalog = NationalDepartmentCode.objects.values_list("code", "name_zh", "name_en", "parent_id")
    names: dict[str, tuple[str, str]] = {}
    parents: dict[str, str | None] = {}
    for code, zh, en, parent in catalog:
        names[code] = (zh, en)
        parents[code] = parent
    return Graph(
        version=version or fingerprint(),
        concepts=concepts,
        diseases={k: d for k, d in diseases.items() if d.departments},
        by_finding=by_finding,
        by_body_part=by_body_part,
        department_names=names,
        department_parent=parents,
        red_flags=list(RedFlag.objects.filter(is_active=True).prefetch_related("conditions")),
        questions=list(FollowUpQuestion.objects.filter(is_active=True).select_related("symptom")),
        serves=serves,
    )
