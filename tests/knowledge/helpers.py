"""Counting what the knowledge tables hold, to show that a rejected import wrote nothing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from smartcare.knowledge.models import Edge, FollowUpQuestion, KnowledgeRelease, Node, RedFlag


def table_state() -> dict[str, Any]:
    return {
        "releases": KnowledgeRelease.objects.count(),
        "nodes": Node.objects.count(),
        "active_nodes": Node.objects.filter(is_active=True).count(),
        "edges": Edge.objects.count(),
        "red_flags": RedFlag.objects.count(),
        "questions": FollowUpQuestion.objects.count(),
        "node_values": _digest(
            Node.objects.order_by("pk").values_list("key", "name_zh", "origin", "is_active")
        ),
        "edge_values": _digest(
            Edge.objects.order_by("pk").values_list("pk", "type", "frequency", "rank", "origin")
        ),
    }


def _digest(rows: Any) -> str:
    return hashlib.sha256(json.dumps(list(rows), ensure_ascii=False).encode()).hexdigest()


def smartcare_file(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], version: str = "1") -> bytes:
    """A small file in smartcare's format (data/FORMAT.md)."""
    return json.dumps(
        {
            "format": "smartcare-knowledge",
            "version": version,
            "source": "test",
            "nodes": nodes,
            "edges": edges,
            "red_flags": [],
            "followup_questions": [],
        },
        ensure_ascii=False,
    ).encode()


def disease(key: str, name_zh: str, icd10: str = "X99", **extra: Any) -> dict[str, Any]:
    return {
        "id": key,
        "type": "disease",
        "name_zh": name_zh,
        "name_en": key.split(":")[1].replace("_", " "),
        "synonyms_zh": [],
        "synonyms_en": [],
        "icd10": icd10,
        **extra,
    }


def edge(kind: str, source: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "source": source, "target": target, "provenance": "test", **extra}
