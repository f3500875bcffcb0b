"""Reading and checking knowledge files into one in-memory ``Dataset`` before anything is written.

Two formats are read: smartcare's own JSON (``data/FORMAT.md``) and the JSON-lines format of
open Chinese medical knowledge graphs (see ``jsonl.py``). Both produce a ``Dataset``;
``services.apply_dataset`` writes one in a single transaction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from smartcare.knowledge.choices import EdgeType, NodeType, RedFlagAction, Severity
from smartcare.knowledge.errors import KnowledgeFileInvalid

FORMAT = "smartcare-knowledge"
KEY = re.compile(r"^(?P<type>[a-z_]+):[a-z0-9_]+$")
FINDING_TYPES = {NodeType.SYMPTOM.value, NodeType.SIGN.value}

# Which node types each edge type joins (source types, target types).
EDGE_ENDPOINTS: dict[str, tuple[set[str], set[str]]] = {
    EdgeType.HAS_SYMPTOM: ({"disease"}, FINDING_TYPES),
    EdgeType.TREATED_IN: ({"disease"}, {"department"}),
    EdgeType.RECOMMENDED_EXAM: ({"disease"}, {"exam"}),
    EdgeType.FIRST_LINE_DRUG: ({"disease"}, {"drug", "drug_class"}),
    EdgeType.CONTRAINDICATED_IN: ({"drug", "drug_class"}, {"disease", "population_group"}),
    EdgeType.INTERACTS_WITH: ({"drug"}, {"drug"}),
    EdgeType.BELONGS_TO_CLASS: ({"drug", "drug_class"}, {"drug_class"}),
    EdgeType.COMPLICATION_OF: ({"disease"}, {"disease"}),
    EdgeType.LOCATED_IN: (FINDING_TYPES | {"disease"}, {"body_part"}),
    EdgeType.SERVES: ({"population_group"}, {"department"}),
}

NODE_FIELDS = {
    "id", "type", "name_zh", "name_en", "synonyms_zh", "synonyms_en", "description_zh",
    "description_en", "icd10", "atc", "drugbank", "loinc", "department_code", "min_age",
    "max_age", "sex",
}  # fmt: skip
EDGE_FIELDS = {
    "type", "source", "target", "provenance", "frequency", "rank", "severity", "management_zh",
    "management_en",
}  # fmt: skip


@dataclass
class Dataset:
    """A knowledge file, read and checked: plain dicts in the shape of ``FORMAT.md``."""

    origin: str
    version: str
    format: str
    source: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    red_flags: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    replace: bool = True  # content of this origin that the file no longer has is retired
    report: dict[str, Any] = field(default_factory=dict)


class Problems:
    """Collects every problem of a file so the user sees them all at once."""

    LIMIT = 200

    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}
        self.count = 0

    def add(self, where: str, message: str) -> None:
        self.count += 1
        if self.count <= self.LIMIT:
            self.items.setdefault(where, []).append(message)

    def raise_if_any(self) -> None:
        if self.count:
            raise KnowledgeFileInvalid(errors=self.items, count=self.count)


def parse_json(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KnowledgeFileInvalid(errors={"file": [_("Not valid JSON: %s") % exc]}, count=1) from exc


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def read_smartcare(
    data: Any,
    *,
    origin: str = "smartcare-seed",
    known_keys: dict[str, str] | None = None,
    known_codes: set[str] | None = None,
) -> Dataset:
    """Check a smartcare-format object and return it as a Dataset; raise with every problem found.

    ``known_keys`` (id -> type) are nodes already in the database that edges may point at;
    ``known_codes`` are the national department codes.
    """
    problems = Problems()
    if not isinstance(data, dict):
        problems.add("file", _("The file must hold one JSON object."))
        problems.raise_if_any()
    if data.get("format") != FORMAT:
        problems.add("format", _("The field format must be %s.") % FORMAT)
    for name in ("version", "source"):
        if not isinstance(data.get(name), str) or not data.get(name):
            problems.add(name, _("This field is required."))
    for name in ("nodes", "edges", "red_flags", "followup_questions"):
        if not isinstance(data.get(name), list):
            problems.add(name, _("This field must be a list."))
    problems.raise_if_any()

    types: dict[str, str] = dict(known_keys or {})
    file_keys: set[str] = set()
    for index, node in enumerate(data["nodes"]):
        where = f"nodes[{index}]"
        if not isinstance(node, dict):
            problems.add(where, _("Each node must be an object."))
            continue
        unknown = set(node) - NODE_FIELDS
        if unknown:
            problems.add(where, _("Unknown fields: %s") % ", ".join(sorted(unknown)))
        key, kind = str(node.get("id")), str(node.get("type"))
        match = KEY.match(key) if isinstance(key, str) else None
        if kind not in NodeType.values:
            problems.add(where, _("Unknown node type %r.") % kind)
        if not match or match["type"] != kind:
            problems.add(where, _("The id %r must have the form <type>:<slug>.") % key)
        elif key in file_keys:
            problems.add(where, _("The id %s appears twice.") % key)
        else:
            file_keys.add(key)
            types[key] = kind
        for name in ("name_zh", "name_en"):
            if not isinstance(node.get(name), str) or not node[name].strip():
                problems.add(where, _("%s is required.") % name)
        for name in ("synonyms_zh", "synonyms_en"):
            if not _strings(node.get(name, [])):
                problems.add(where, _("%s must be a list of non-empty texts.") % name)
        if kind == "disease" and not node.get("icd10"):
            problems.add(where, _("A disease needs an ICD-10 code."))
        if kind == "department":
            code = node.get("department_code")
            if not code or (known_codes is not None and code not in known_codes):
                problems.add(where, _("The department code %r is not in the national catalog.") % code)
        for name in ("min_age", "max_age"):
            if name in node and (not isinstance(node[name], int) or node[name] < 0):
                problems.add(where, _("%s must be a whole number of years.") % name)
        if node.get("sex", "male") not in ("male", "female"):
            problems.add(where, _("sex must be male or female."))

    seen_edges: set[tuple[str, str, str]] = set()
    for index, edge in enumerate(data["edges"]):
        where = f"edges[{index}]"
        if not isinstance(edge, dict):
            problems.add(where, _("Each edge must be an object."))
            continue
        unknown = set(edge) - EDGE_FIELDS
        if unknown:
            problems.add(where, _("Unknown fields: %s") % ", ".join(sorted(unknown)))
        kind, source, target = str(edge.get("type")), str(edge.get("source")), str(edge.get("target"))
        if kind not in EDGE_ENDPOINTS:
            problems.add(where, _("Unknown edge type %r.") % kind)
            continue
        sources, targets = EDGE_ENDPOINTS[kind]
        if types.get(source) not in sources:
            problems.add(
                where,
                _("The source %(node)r is missing or not of type %(types)s.")
                % {"node": source, "types": "/".join(sorted(sources))},
            )
        if types.get(target) not in targets:
            problems.add(
                where,
                _("The target %(node)r is missing or not of type %(types)s.")
                % {"node": target, "types": "/".join(sorted(targets))},
            )
        if not isinstance(edge.get("provenance"), str) or not edge["provenance"].strip():
            problems.add(where, _("Every edge needs its provenance."))
        pair = (
            (kind, *sorted((str(source), str(target))))
            if kind == EdgeType.INTERACTS_WITH
            else (kind, str(source), str(target))
        )
        if pair in seen_edges:
            problems.add(where, _("This edge appears twice."))
        seen_edges.add(pair)  # type: ignore[arg-type]
        frequency = edge.get("frequency")
        if frequency is not None and (not isinstance(frequency, int | float) or not 0 <= frequency <= 1):
            problems.add(where, _("frequency must be a number from 0 to 1."))
        rank = edge.get("rank")
        if rank is not None and (not isinstance(rank, int) or rank < 1):
            problems.add(where, _("rank must be a whole number from 1."))
        if edge.get("severity", "high") not in Severity.values:
            problems.add(where, _("severity must be high, moderate or low."))

    for index, flag in enumerate(data["red_flags"]):
        where = f"red_flags[{index}]"
        if not isinstance(flag, dict):
            problems.add(where, _("Each red flag must be an object."))
            continue
        for name in ("id", "name_zh", "name_en", "reason_zh", "reason_en"):
            if not isinstance(flag.get(name), str) or not flag[name].strip():
                problems.add(where, _("%s is required.") % name)
        if flag.get("action") not in RedFlagAction.values:
            problems.add(where, _("action must be emergency or call_120."))
        all_of, any_of = flag.get("all_of", []), flag.get("any_of", [])
        if not isinstance(all_of, list) or not isinstance(any_of, list) or not (all_of or any_of):
            problems.add(where, _("A red flag needs findings in all_of or any_of."))
            continue
        for key in [*all_of, *any_of]:
            if types.get(key) not in FINDING_TYPES:
                problems.add(where, _("%r is not a symptom or sign.") % key)
        conditions = flag.get("conditions", [])
        if not isinstance(conditions, list) or not all(isinstance(k, str) for k in conditions):
            problems.add(where, _("conditions must be a list of disease ids."))
            continue
        for key in conditions:
            if types.get(key) != NodeType.DISEASE:
                problems.add(
                    where,
                    _("The red flag %(flag)s warns of %(node)r, which is not a disease in the graph.")
                    % {"flag": flag.get("id"), "node": key},
                )
        if len(set(conditions)) != len(conditions):
            problems.add(where, _("A condition appears twice."))
        provenance = flag.get("provenance")
        if conditions and (not isinstance(provenance, str) or not provenance.strip()):
            problems.add(where, _("A red flag linked to conditions needs its provenance."))

    for index, question in enumerate(data["followup_questions"]):
        where = f"followup_questions[{index}]"
        if not isinstance(question, dict):
            problems.add(where, _("Each question must be an object."))
            continue
        for name in ("id", "question_zh", "question_en"):
            if not isinstance(question.get(name), str) or not question[name].strip():
                problems.add(where, _("%s is required.") % name)
        for key in [question.get("symptom"), *question.get("context", [])]:
            if types.get(key) not in FINDING_TYPES:
                problems.add(where, _("%r is not a symptom or sign.") % key)

    problems.raise_if_any()
    return Dataset(
        origin=origin,
        version=data["version"],
        format=FORMAT,
        source=data["source"],
        nodes=data["nodes"],
        edges=data["edges"],
        red_flags=data["red_flags"],
        questions=data["followup_questions"],
    )
