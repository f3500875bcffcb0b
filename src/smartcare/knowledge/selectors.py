"""Reading the knowledge graph: search, one node with its neighbours, paths, drug classes, releases.

Knowledge is reference data, the same for every member of staff: callers check the
``knowledge.view`` capability; nothing here depends on the user. Retired nodes (``is_active``
false) are left out of search, neighbours and paths, but their own page still opens.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from django.db.models import Case, Count, F, IntegerField, Max, Q, QuerySet, When
from django.db.models.functions import Length
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from smartcare.core.errors import InvalidInput, NotFound
from smartcare.knowledge.choices import INVERSE_EDGE_LABELS, EdgeType, NodeType
from smartcare.knowledge.errors import NodeNotFound, NoPath
from smartcare.knowledge.models import Edge, KnowledgeRelease, Node, RedFlag

SEARCH_LIMIT_MAX = 100
PATH_MAX_DEPTH = 6
GROUP_LIMIT = 200  # neighbours shown per edge group; the group still reports its total


def _name_field() -> str:
    return "name_en" if (get_language() or "").lower().startswith("en") else "name_zh"


def check_node_type(value: str | None) -> str | None:
    """An optional node-type filter: empty means any type; an unknown type is bad input."""
    if not value:
        return None
    if value not in NodeType.values:
        raise InvalidInput(_("Unknown node type %(type)s.") % {"type": value}, field="type")
    return value


# --- Search ------------------------------------------------------------------------------------


def search_nodes(q: str, type: str | None = None, limit: int = 20) -> list[Node]:
    """Active nodes whose id, names, synonyms or ICD-10/ATC/LOINC code contain ``q``.

    Exact hits come first (an exact name or code, then an exact synonym), then names that start
    with the text, then the rest, shorter names first. Without ``q``, nodes of ``type`` by id.
    """
    rows = Node.objects.filter(is_active=True).select_related("department")
    if check_node_type(type):
        rows = rows.filter(type=type)
    text = (q or "").strip().lower()
    limit = max(1, min(int(limit), SEARCH_LIMIT_MAX))
    if not text:
        return list(rows.order_by("key")[:limit])
    # search_text is lower case, one surface form per line (see Node.build_search_text).
    exact = Q(key=text) | Q(name_zh__iexact=text) | Q(name_en__iexact=text)
    exact |= Q(icd10__iexact=text) | Q(atc__iexact=text) | Q(loinc__iexact=text)
    exact_form = (
        Q(search_text__startswith=text + "\n")
        | Q(search_text__endswith="\n" + text)
        | Q(search_text__contains="\n" + text + "\n")
    )
    prefix = Q(name_zh__istartswith=text) | Q(name_en__istartswith=text)
    rows = (
        rows.filter(search_text__icontains=text)
        .annotate(
            relevance=Case(
                When(exact, then=0),
                When(exact_form, then=1),
                When(prefix, then=2),
                default=3,
                output_field=IntegerField(),
            )
        )
        .order_by("relevance", Length(_name_field()), "key")
    )
    return list(rows[:limit])


def resolve_node(text: str) -> Node:
    """The node a person means: its exact id, else the best search hit (for the path finder)."""
    text = (text or "").strip()
    found = Node.objects.filter(key=text, is_active=True).first() if text else None
    if found is None and text:
        hits = search_nodes(text, limit=1)
        found = hits[0] if hits else None
    if found is None:
        raise NodeNotFound(key=text)
    return found


# --- One node and its neighbours ---------------------------------------------------------------


@dataclass
class Neighbour:
    edge: Edge
    node: Node  # the node at the other end of the edge


@dataclass
class EdgeGroup:
    type: str
    direction: str  # "out" (this node is the source), "in" (the target), "both" (undirected)
    label: str
    total: int
    neighbours: list[Neighbour]


@dataclass
class NodeDetail:
    node: Node
    groups: list[EdgeGroup]
    red_flags: list[RedFlag] = field(default_factory=list)  # active flags that warn of this condition


def _group_order(kind: str, other: str) -> list[Any]:
    name = f"{other}__{_name_field()}"
    if kind == EdgeType.HAS_SYMPTOM:
        return [F("frequency").desc(nulls_last=True), name]
    if kind == EdgeType.TREATED_IN:
        return [F("rank").asc(nulls_last=True), name]
    if kind == EdgeType.INTERACTS_WITH:
        severity = Case(When(severity="high", then=0), When(severity="moderate", then=1), default=2)
        return [severity, "source__key", "target__key"]
    return [name]


def node_detail(key: str, *, per_group: int = GROUP_LIMIT) -> NodeDetail:
    """The node with its active neighbours, grouped by edge type and direction.

    ``interacts_with`` is undirected and comes as one group (direction "both"). Each group holds
    at most ``per_group`` neighbours, in a useful order (frequency, rank, severity, else name),
    and says how many there are in all. A disease also comes with the active red flags that warn
    of it. Raises ``NodeNotFound`` for an unknown id.
    """
    node = Node.objects.select_related("department").filter(key=key).first()
    if node is None:
        raise NodeNotFound(key=key)
    outgoing = Edge.objects.filter(source=node, target__is_active=True)
    incoming = Edge.objects.filter(target=node, source__is_active=True)
    totals: dict[tuple[str, str], int] = {}
    for direction, rows in (("out", outgoing), ("in", incoming)):
        for row in rows.order_by().values("type").annotate(n=Count("pk")):
            if row["type"] == EdgeType.INTERACTS_WITH:
                totals[(row["type"], "both")] = totals.get((row["type"], "both"), 0) + row["n"]
            else:
                totals[(row["type"], direction)] = row["n"]
    groups: list[EdgeGroup] = []
    for direction in ("out", "both", "in"):
        for kind in EdgeType.values:
            total = totals.get((kind, direction), 0)
            if not total:
                continue
            if direction == "both":
                rows = Edge.objects.filter(type=kind).filter(
                    Q(source=node, target__is_active=True) | Q(target=node, source__is_active=True)
                )
                edges = rows.select_related("source", "target").order_by(*_group_order(kind, "target"))
                neighbours = [
                    Neighbour(e, e.target if e.source_id == node.pk else e.source) for e in edges[:per_group]
                ]
                label = str(EdgeType(kind).label)
            elif direction == "out":
                edges = (
                    outgoing.filter(type=kind)
                    .select_related("target")
                    .order_by(*_group_order(kind, "target"))
                )
                neighbours = [Neighbour(e, e.target) for e in edges[:per_group]]
                label = str(EdgeType(kind).label)
            else:
                edges = (
                    incoming.filter(type=kind)
                    .select_related("source")
                    .order_by(*_group_order(kind, "source"))
                )
                neighbours = [Neighbour(e, e.source) for e in edges[:per_group]]
                label = str(INVERSE_EDGE_LABELS[EdgeType(kind)])
            groups.append(EdgeGroup(kind, direction, label, total, neighbours))
    flags = list(node.red_flags.filter(is_active=True).order_by("action", "key"))
    return NodeDetail(node=node, groups=groups, red_flags=flags)


# --- Paths -------------------------------------------------------------------------------------


@dataclass
class PathResult:
    nodes: list[Node]
    edges: list[Edge]  # every edge joining two consecutive nodes of the path, in path order

    @property
    def length(self) -> int:
        return len(self.nodes) - 1


_graph_lock = threading.Lock()
_graph_cache: dict[str, Any] = {"signature": None, "graph": None}


def forget_graph() -> None:
    """Drop the cached graph (tests whose transactions roll back call this)."""
    with _graph_lock:
        _graph_cache.update(signature=None, graph=None)


def _graph_signature() -> tuple[Any, ...]:
    """Changes whenever the graph may have changed: a new release, or an edit in the admin."""
    latest = KnowledgeRelease.objects.order_by("-pk").values_list("pk", flat=True).first()
    edges = Edge.objects.aggregate(n=Count("pk"), top=Max("pk"))
    nodes = Node.objects.aggregate(n=Count("pk", filter=Q(is_active=True)), changed=Max("updated_at"))
    return (latest, edges["n"], edges["top"], nodes["n"], nodes["changed"])


def _graph() -> nx.Graph:
    """The undirected graph of active nodes (by pk), built once per state of the graph."""
    signature = _graph_signature()
    with _graph_lock:
        if _graph_cache["signature"] != signature:
            graph = nx.Graph()
            pairs = (
                Edge.objects.filter(source__is_active=True, target__is_active=True)
                .order_by("pk")
                .values_list("source_id", "target_id")
            )
            graph.add_edges_from(pairs.iterator(chunk_size=5000))
            _graph_cache.update(signature=signature, graph=graph)
        return _graph_cache["graph"]


def find_path(from_key: str, to_key: str, max_depth: int = 4) -> PathResult:
    """A shortest path between two active nodes, ignoring edge direction.

    Raises ``NodeNotFound`` for an unknown or retired node and ``NoPath`` when no path of at most
    ``max_depth`` steps (1 to 6) joins them.
    """
    if not 1 <= int(max_depth) <= PATH_MAX_DEPTH:
        raise InvalidInput(
            _("max_depth must be a whole number from 1 to %(max)s.") % {"max": PATH_MAX_DEPTH},
            field="max_depth",
        )
    found = {n.key: n for n in Node.objects.filter(key__in=[from_key, to_key], is_active=True)}
    for key in (from_key, to_key):
        if key not in found:
            raise NodeNotFound(key=key)
    source, target = found[from_key], found[to_key]
    if source.pk == target.pk:
        return PathResult(nodes=[source], edges=[])
    try:
        pks = nx.bidirectional_shortest_path(_graph(), source.pk, target.pk)
    except (nx.NetworkXNoPath, nx.NodeNotFound) as exc:
        raise NoPath(depth=max_depth) from exc
    if len(pks) - 1 > max_depth:
        raise NoPath(depth=max_depth)
    by_pk = Node.objects.in_bulk(pks)
    steps = list(itertools.pairwise(pks))
    joining = Q()
    for a, b in steps:
        joining |= Q(source_id=a, target_id=b) | Q(source_id=b, target_id=a)
    position = {frozenset(step): index for index, step in enumerate(steps)}
    edges = sorted(
        Edge.objects.filter(joining).select_related("source", "target"),
        key=lambda e: (position[frozenset((e.source_id, e.target_id))], e.type),
    )
    return PathResult(nodes=[by_pk[pk] for pk in pks], edges=edges)


# --- Drug classes (for decision support) -------------------------------------------------------


def drug_classes(drug_key: str) -> list[Node]:
    """Every active class a drug (or class) belongs to, following ``belongs_to_class`` transitively.

    Nearest classes first. An unknown or retired drug has no classes (decision support checks
    whatever medication list it gets, so an unknown drug must not stop it).
    """
    start = Node.objects.filter(key=drug_key, is_active=True).values_list("pk", flat=True).first()
    if start is None:
        return []
    seen, frontier, ordered = {start}, {start}, []
    while frontier:
        found = set(
            Edge.objects.filter(
                type=EdgeType.BELONGS_TO_CLASS, source_id__in=frontier, target__is_active=True
            ).values_list("target_id", flat=True)
        )
        frontier = found - seen
        seen |= frontier
        ordered.extend(sorted(frontier))
    by_pk = Node.objects.in_bulk(ordered)
    return [by_pk[pk] for pk in ordered]


# --- Releases ----------------------------------------------------------------------------------


def releases() -> QuerySet[KnowledgeRelease]:
    """Every import, newest first."""
    return KnowledgeRelease.objects.select_related("imported_by").order_by("-imported_at", "-pk")


def release(release_id: int) -> KnowledgeRelease:
    found = releases().filter(pk=release_id).first()
    if found is None:
        raise NotFound()
    return found
