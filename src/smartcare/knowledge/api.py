"""Knowledge graph API: search, a node with its neighbours, paths, releases and imports.

Reading needs ``knowledge.view`` (all staff); importing a file needs ``knowledge.curate`` (data
stewards and IT administrators). Errors are problem+json with codes (KNOW-001 for a bad file,
KNOW-404 for an unknown node, KNOW-002 when no path joins two nodes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from smartcare.core.errors import InvalidInput
from smartcare.core.permissions import require_capability
from smartcare.knowledge import selectors, services
from smartcare.knowledge.choices import EdgeType
from smartcare.knowledge.models import Edge, KnowledgeRelease, Node

router = Router(tags=["knowledge"])


class NodeBrief(Schema):
    key: str
    type: str
    name: str
    name_zh: str
    name_en: str
    is_active: bool


class NodeOut(NodeBrief):
    type_label: str
    synonyms_zh: list[str]
    synonyms_en: list[str]
    description_zh: str
    description_en: str
    icd10: str
    atc: str
    drugbank: str
    loinc: str
    department_code: str | None
    origin: str


class NeighbourOut(Schema):
    node: NodeBrief
    frequency: float | None
    rank: int | None
    severity: str
    management_zh: str
    management_en: str
    provenance: str
    origin: str


class EdgeGroupOut(Schema):
    type: str
    direction: str
    label: str
    total: int
    neighbours: list[NeighbourOut]


class RedFlagOut(Schema):
    key: str
    name_zh: str
    name_en: str
    action: str = Field(description='"call_120" or "emergency"')
    reason_zh: str
    reason_en: str
    provenance: str


class NodeDetailOut(Schema):
    node: NodeOut
    groups: list[EdgeGroupOut]
    red_flags: list[RedFlagOut] = Field(description="Red flags that warn of this condition (diseases)")


class PathEdgeOut(Schema):
    type: str
    label: str
    source: str
    target: str
    frequency: float | None
    rank: int | None
    severity: str
    provenance: str


class PathOut(Schema):
    length: int
    nodes: list[NodeBrief]
    edges: list[PathEdgeOut]


class ReleaseOut(Schema):
    id: int
    origin: str
    version: str
    format: str
    source: str
    file_name: str
    checksum: str
    status: str
    imported_at: dt.datetime
    imported_by: str | None
    counts: dict[str, int]
    report: dict[str, Any]


class ImportOut(ReleaseOut):
    changed: bool


def _brief(node: Node) -> dict[str, Any]:
    return {
        "key": node.key,
        "type": node.type,
        "name": node.name,
        "name_zh": node.name_zh,
        "name_en": node.name_en,
        "is_active": node.is_active,
    }


def _node(node: Node) -> dict[str, Any]:
    return {
        **_brief(node),
        "type_label": str(node.get_type_display()),
        "synonyms_zh": list(node.synonyms_zh or []),
        "synonyms_en": list(node.synonyms_en or []),
        "description_zh": node.description_zh,
        "description_en": node.description_en,
        "icd10": node.icd10,
        "atc": node.atc,
        "drugbank": node.drugbank,
        "loinc": node.loinc,
        "department_code": node.department_id,
        "origin": node.origin,
    }


def _path_edge(edge: Edge) -> dict[str, Any]:
    return {
        "type": edge.type,
        "label": str(EdgeType(edge.type).label),
        "source": edge.source.key,
        "target": edge.target.key,
        "frequency": edge.frequency,
        "rank": edge.rank,
        "severity": edge.severity,
        "provenance": edge.provenance,
    }


def _release(release: KnowledgeRelease) -> dict[str, Any]:
    return {
        "id": release.pk,
        "origin": release.origin,
        "version": release.version,
        "format": release.format,
        "source": release.source,
        "file_name": release.file_name,
        "checksum": release.checksum,
        "status": release.status,
        "imported_at": release.imported_at,
        "imported_by": release.imported_by.username if release.imported_by else None,
        "counts": release.counts or {},
        "report": release.report or {},
    }


@router.get("/nodes", response=list[NodeOut], summary="Search nodes by id, name, synonym or code")
def search(request: HttpRequest, q: str = "", type: str = "", limit: int = 20) -> list[dict[str, Any]]:
    require_capability(request.user, "knowledge.view")
    return [_node(n) for n in selectors.search_nodes(q, type or None, limit)]


@router.get("/nodes/{key}", response=NodeDetailOut, summary="A node with its neighbours by edge type")
def node(request: HttpRequest, key: str) -> dict[str, Any]:
    require_capability(request.user, "knowledge.view")
    detail = selectors.node_detail(key)
    return {
        "node": _node(detail.node),
        "groups": [
            {
                "type": group.type,
                "direction": group.direction,
                "label": group.label,
                "total": group.total,
                "neighbours": [
                    {
                        "node": _brief(n.node),
                        "frequency": n.edge.frequency,
                        "rank": n.edge.rank,
                        "severity": n.edge.severity,
                        "management_zh": n.edge.management_zh,
                        "management_en": n.edge.management_en,
                        "provenance": n.edge.provenance,
                        "origin": n.edge.origin,
                    }
                    for n in group.neighbours
                ],
            }
            for group in detail.groups
        ],
        "red_flags": [
            {
                "key": flag.key,
                "name_zh": flag.name_zh,
                "name_en": flag.name_en,
                "action": flag.action,
                "reason_zh": flag.reason_zh,
                "reason_en": flag.reason_en,
                "provenance": flag.provenance,
            }
            for flag in detail.red_flags
        ],
    }


@router.get("/path", response=PathOut, summary="A shortest path between two nodes (any direction)")
def path(request: HttpRequest, source: str = "", target: str = "", max_depth: int = 4) -> dict[str, Any]:
    require_capability(request.user, "knowledge.view")
    given = {"source": source, "target": target}
    missing = {name: [_("This field is required.")] for name, value in given.items() if not value}
    if missing:
        raise InvalidInput(errors=missing)
    found = selectors.find_path(source, target, max_depth=max_depth)
    return {
        "length": found.length,
        "nodes": [_brief(n) for n in found.nodes],
        "edges": [_path_edge(e) for e in found.edges],
    }


@router.get("/releases", response=list[ReleaseOut], summary="Imports of knowledge, newest first")
def releases(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "knowledge.view")
    return [_release(r) for r in selectors.releases()[:100]]


@router.post(
    "/releases",
    response={200: ImportOut, 201: ImportOut},
    summary="Import a knowledge file (multipart: file, format auto|smartcare|jsonl, origin, version)",
)
def import_release(
    request: HttpRequest,
    file: UploadedFile | None = File(None),  # noqa: B008 - Django Ninja's way to declare parameters
    format: str = Form("auto"),
    origin: str = Form(""),
    version: str = Form(""),
    force: bool = Form(False),
) -> Status:
    """201 with the new release; 200 with the current one when this exact file is already the
    dataset's latest release. A bad file answers 400 KNOW-001 with every problem and writes nothing."""
    require_capability(request.user, "knowledge.curate")
    if file is None:
        raise InvalidInput(_("Choose a file to import."), field="file")
    services.check_upload_size(file.size)
    release, changed = services.import_knowledge_file(
        request.user,
        file.read(),
        file_name=file.name or "",
        format=format,
        origin=origin,
        version=version,
        force=force,
    )
    return Status(201 if changed else 200, {**_release(release), "changed": changed})
