"""What the rules need from the knowledge graph, loaded once per graph release and cached.

Class membership (``belongs_to_class``, transitive), drug names, ATC, DrugBank and RxNorm codes,
and the LOINC codes of exams. Decision support's own drug table (``data/drugs.json``) is merged in:
drugs the graph lacks (naproxen...), more synonyms as prescribed, and RxNorm ingredient codes. The cache is refreshed when the graph changes (count and last update),
checked at most every ``RECHECK_SECONDS`` so that a CDS request does not pay for counting the
graph's edges (a new knowledge release reaches decision support within that delay).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.db.models import Count, Max

from smartcare.knowledge.choices import EdgeType, NodeType
from smartcare.knowledge.models import Edge, Node


@dataclass
class KnowledgeIndex:
    classes: dict[str, frozenset[str]] = field(default_factory=dict)  # drug/class -> every class above
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (zh, en)
    by_atc: dict[str, str] = field(default_factory=dict)
    by_drugbank: dict[str, str] = field(default_factory=dict)
    by_rxnorm: dict[str, str] = field(default_factory=dict)  # RXCUI -> drug key
    by_name: dict[str, str] = field(default_factory=dict)  # lower-case name/synonym -> drug key
    exam_by_loinc: dict[str, str] = field(default_factory=dict)
    loinc_by_exam: dict[str, str] = field(default_factory=dict)

    def classes_of(self, key: str) -> frozenset[str]:
        return self.classes.get(key, frozenset())

    def keys_of(self, key: str) -> frozenset[str]:
        """The drug itself and every class it belongs to."""
        return self.classes_of(key) | {key} if key else frozenset()

    def resolve(self, key: str = "", *, atc: str = "", name: str = "") -> str:
        """The drug a medication stands for: its key when known, else its ATC code, else its name;
        "" when decision support does not recognise it."""
        if key and key in self.names:
            return key
        found = self.by_atc.get(atc.strip().upper()) if atc else None
        return found or (self.drug_for_text(name) if name else "")

    def name(self, key: str, english: bool) -> str:
        zh, en = self.names.get(key, ("", ""))
        return (en if english else zh) or key.split(":", 1)[-1].replace("_", " ")

    def drug_for_text(self, text: str) -> str:
        """The drug a name as prescribed stands for: the whole text, else its longest leading part
        that is a drug name ("Warfarin 5 mg tablet" -> warfarin, 硝苯地平缓释片 -> 硝苯地平), so a
        strength or dosage form does not hide the drug from the checks."""
        cleaned = " ".join(text.strip().lower().split())
        if not cleaned:
            return ""
        found = self.by_name.get(cleaned)
        if found:
            return found
        words = cleaned.split(" ")
        for size in range(len(words) - 1, 0, -1):  # whole words: never half an English word
            found = self.by_name.get(" ".join(words[:size]))
            if found:
                return found
        first = words[0]
        if any("\u3400" <= char <= "\u9fff" for char in first):
            for end in range(len(first) - 1, 1, -1):  # Chinese: the name before the form (缓释片)
                found = self.by_name.get(first[:end])
                if found:
                    return found
        return ""


DRUG_TABLE = Path(__file__).parent / "data" / "drugs.json"


@cache
def drug_table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(DRUG_TABLE.read_text(encoding="utf-8"))
    return table


RECHECK_SECONDS = 30.0
_lock = threading.Lock()
_cached: tuple[tuple[object, ...], KnowledgeIndex] | None = None
_checked_at = 0.0


def _signature() -> tuple[object, ...]:
    nodes = Node.objects.aggregate(n=Count("pk"), t=Max("updated_at"))
    edges = Edge.objects.aggregate(n=Count("pk"), t=Max("updated_at"))
    return (nodes["n"], nodes["t"], edges["n"], edges["t"])


def _build() -> KnowledgeIndex:
    index = KnowledgeIndex()
    wanted = [NodeType.DRUG, NodeType.DRUG_CLASS, NodeType.EXAM, NodeType.DISEASE, NodeType.POPULATION_GROUP]
    for key, type_, zh, en, syn_zh, syn_en, atc, drugbank, loinc in Node.objects.filter(
        is_active=True, type__in=wanted
    ).values_list(
        "key", "type", "name_zh", "name_en", "synonyms_zh", "synonyms_en", "atc", "drugbank", "loinc"
    ):
        index.names[key] = (zh, en)
        if type_ == NodeType.DRUG:
            if atc:
                index.by_atc.setdefault(atc.upper(), key)
            if drugbank:
                index.by_drugbank[drugbank.upper()] = key
            for text in [zh, en, *(syn_zh or []), *(syn_en or [])]:
                index.by_name.setdefault(text.strip().lower(), key)
        if type_ == NodeType.EXAM and loinc:
            index.exam_by_loinc[loinc] = key
            index.loinc_by_exam[key] = loinc
    parents: dict[str, set[str]] = {}
    for source, target in Edge.objects.filter(
        type=EdgeType.BELONGS_TO_CLASS, source__is_active=True, target__is_active=True
    ).values_list("source__key", "target__key"):
        parents.setdefault(source, set()).add(target)
    for start in parents:
        seen: set[str] = set()
        frontier = set(parents[start])
        while frontier:
            seen |= frontier
            frontier = {p for f in frontier for p in parents.get(f, ())} - seen
        index.classes[start] = frozenset(seen)
    _merge_drug_table(index, drug_table())
    return index


def _merge_drug_table(index: KnowledgeIndex, table: dict[str, Any]) -> None:
    """Add decision support's drug table: the graph's own facts win, the table fills the gaps."""
    for drug in table["drugs"]:
        key = drug["key"]
        in_graph = key in index.names
        if not in_graph:
            index.names[key] = (drug["name_zh"], drug["name_en"])
            if drug.get("atc"):
                index.by_atc.setdefault(drug["atc"].upper(), key)
        for text in [drug["name_zh"], drug["name_en"], *drug["synonyms_zh"], *drug["synonyms_en"]]:
            index.by_name.setdefault(text.strip().lower(), key)
        classes = set(index.classes.get(key, frozenset()))
        for cls in drug["classes"]:
            classes |= {cls} | index.classes.get(cls, frozenset())
        if classes:
            index.classes[key] = frozenset(classes)
        for code in drug.get("rxnorm", []):
            index.by_rxnorm.setdefault(code, key)
    for key, codes in table["rxnorm"].items():
        if key in index.names:
            for code in codes:
                index.by_rxnorm.setdefault(code, key)


def knowledge_index() -> KnowledgeIndex:
    global _cached, _checked_at
    with _lock:
        if _cached is not None and time.monotonic() - _checked_at < RECHECK_SECONDS:
            return _cached[1]
    signature = _signature()
    with _lock:
        if _cached is not None and _cached[0] == signature:
            _checked_at = time.monotonic()
            return _cached[1]
    index = _build()
    with _lock:
        _cached = (signature, index)
        _checked_at = time.monotonic()
    return index


def forget() -> None:
    global _cached
    with _lock:
        _cached = None
