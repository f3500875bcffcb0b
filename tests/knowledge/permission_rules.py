"""Permission rules for the knowledge graph: the pages under /knowledge/ and the API under
/api/knowledge/.

Loaded by tests/test_permissions.py. ``knowledge.view`` (every staff role) opens the pages and the
read API; ``knowledge.curate`` (data stewards and IT administrators; among the callers, the IT
administrator) imports files. Patients and machine identities get 403 CORE-403.

The table's API requests carry a JSON body and no query string, so the allowed caller's import
(multipart) and path search (``source`` and ``target``) answer 400 CORE-001 "missing": the check
of the capability comes first, so everyone else still gets 403. The page upload sends a real
file and imports it.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from smartcare.knowledge.models import KnowledgeRelease
from smartcare.knowledge.seed import ensure_seed
from tests.test_permissions import ADMIN, STAFF, Rule, World

CURATORS = frozenset({ADMIN})
FILE = (
    '{"name": "权限测试病", "symptom": ["头痛", "权限测试症状"], "cure_department": ["神经内科", "其他科室"]}\n'
).encode()


def setup(world: World) -> None:
    ensure_seed()  # a transactional test elsewhere may have flushed the migrated seed
    world.extra["seed_release"] = KnowledgeRelease.objects.get(origin="smartcare-seed")


def _node(world: World, missing: bool) -> dict[str, Any]:
    return {"key": "disease:no_such_disease" if missing else "disease:hypertension"}


def _release(world: World, missing: bool) -> dict[str, Any]:
    return {"release_id": 10**9 if missing else world.extra["seed_release"].pk}


def _upload(world: World, missing: bool) -> dict[str, Any]:
    return {
        "file": SimpleUploadedFile("perm.jsonl", FILE),
        "format": "jsonl",
        "origin": "perm-test",
        "version": "1",
    }


def _imported(world: World, kind: str, response: Any) -> None:
    release = KnowledgeRelease.objects.get(origin="perm-test")
    assert release.imported_by == world.user
    assert response["Location"] == f"/knowledge/releases/{release.pk}/"
    assert [e["name"] for e in release.report["unmapped_departments"]] == ["其他科室"]


def _missing_input(field: str) -> Any:
    def check(world: World, kind: str, response: Any) -> None:
        problem = json.loads(response.content)
        assert problem["code"] == "CORE-001"
        assert field in json.dumps(problem)
        assert not KnowledgeRelease.objects.exclude(origin="smartcare-seed").exists()

    return check


def _lists_seed(world: World, kind: str, response: Any) -> None:
    assert "smartcare-seed" in [r["origin"] for r in response.json()]


RULES: list[Rule] = [
    # --- pages ---
    Rule("GET", "/knowledge/", STAFF),
    Rule("GET", "/knowledge/node/{key}/", STAFF, params=_node),
    Rule("GET", "/knowledge/path/", STAFF),
    Rule("GET", "/knowledge/releases/", STAFF),
    Rule(
        "POST",
        "/knowledge/releases/",
        CURATORS,
        ok=302,
        payload=_upload,
        effect=_imported,
    ),
    Rule("GET", "/knowledge/releases/{release_id}/", STAFF, params=_release),
    # --- API ---
    Rule("GET", "/api/knowledge/nodes", STAFF),
    Rule("GET", "/api/knowledge/nodes/{key}", STAFF, params=_node),
    Rule("GET", "/api/knowledge/path", STAFF, ok=400, effect=_missing_input("source")),
    Rule("GET", "/api/knowledge/releases", STAFF, effect=_lists_seed),
    Rule("POST", "/api/knowledge/releases", CURATORS, ok=400, effect=_missing_input("file")),
]
