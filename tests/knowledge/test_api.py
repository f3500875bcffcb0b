"""The knowledge API: reads for staff, imports for curators, problem+json errors with codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from smartcare.knowledge.models import KnowledgeRelease
from tests.factories import TestHospital
from tests.knowledge.conftest import client_for
from tests.knowledge.helpers import table_state

pytestmark = pytest.mark.django_db


def _problem(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/problem+json"), response.content[:200]
    return json.loads(response.content)


def test_search(hospital: TestHospital) -> None:
    client = client_for(hospital.user("doctor"))
    response = client.get("/api/knowledge/nodes", {"q": "拉肚子"})
    assert response.status_code == 200
    first = response.json()[0]
    assert (first["key"], first["type"], first["name_zh"]) == ("symptom:diarrhea", "symptom", "腹泻")
    assert "拉肚子" in first["synonyms_zh"]
    drugs = client.get("/api/knowledge/nodes", {"q": "amlodipine", "type": "drug", "limit": 1}).json()
    assert [(d["key"], d["atc"]) for d in drugs] == [("drug:amlodipine", "C08CA01")]
    response = client.get("/api/knowledge/nodes", {"q": "x", "type": "planet"})
    assert response.status_code == 400
    assert _problem(response)["code"] == "CORE-001"


def test_node_with_neighbours(hospital: TestHospital) -> None:
    client = client_for(hospital.user("nurse"))
    body = client.get("/api/knowledge/nodes/disease:hypertension").json()
    assert (body["node"]["key"], body["node"]["icd10"]) == ("disease:hypertension", "I10")
    groups = {(g["type"], g["direction"]): g for g in body["groups"]}
    treated = groups[("treated_in", "out")]
    first = treated["neighbours"][0]
    assert (first["node"]["key"], first["rank"]) == ("department:cardiology", 1)
    symptom = groups[("has_symptom", "out")]["neighbours"][0]
    assert symptom["frequency"] == 0.95 and symptom["provenance"]
    interactions = client.get("/api/knowledge/nodes/drug:warfarin").json()["groups"]
    group = next(g for g in interactions if g["type"] == "interacts_with")
    assert group["direction"] == "both"
    assert all(n["severity"] and n["management_en"] for n in group["neighbours"])

    missing = client.get("/api/knowledge/nodes/disease:unicorn_fever")
    assert missing.status_code == 404
    assert _problem(missing)["code"] == "KNOW-404"


def test_path(hospital: TestHospital) -> None:
    client = client_for(hospital.user("doctor"))
    body = client.get(
        "/api/knowledge/path", {"source": "disease:hypertension", "target": "drug:amlodipine"}
    ).json()
    assert body["length"] == 1
    assert [n["key"] for n in body["nodes"]] == ["disease:hypertension", "drug:amlodipine"]
    assert body["edges"][0]["type"] == "first_line_drug"

    for params, status, code in (
        ({"source": "disease:hypertension", "target": "drug:montelukast"}, 404, "KNOW-002"),
        ({"source": "disease:hypertension", "target": "drug:unobtainium"}, 404, "KNOW-404"),
        ({"source": "disease:hypertension", "target": "drug:amlodipine", "max_depth": 9}, 400, "CORE-001"),
        ({"source": "disease:hypertension"}, 400, "CORE-001"),
    ):
        response = client.get("/api/knowledge/path", params)
        assert response.status_code == status, params
        assert _problem(response)["code"] == code


def test_reading_needs_a_staff_role(hospital: TestHospital) -> None:
    assert client_for(None).get("/api/knowledge/nodes").status_code == 401
    for name in ("patient", "device"):
        response = client_for(hospital.user(name)).get("/api/knowledge/nodes/disease:hypertension")
        assert response.status_code == 403
        assert _problem(response)["code"] == "CORE-403"


def _upload(client: Any, content: bytes, name: str = "medical.jsonl", **fields: str) -> Any:
    return client.post("/api/knowledge/releases", {"file": SimpleUploadedFile(name, content), **fields})


def test_a_curator_uploads_a_file_and_gets_the_release_with_its_report(
    hospital: TestHospital, sample: bytes
) -> None:
    client = client_for(hospital.user("steward"))
    response = _upload(client, sample, origin="qamedkg", version="2026.1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["origin"], body["version"], body["format"], body["changed"]) == (
        "qamedkg",
        "2026.1",
        "jsonl-disease",
        True,
    )
    assert body["imported_by"] == "steward"
    assert body["counts"]["nodes_created"] > 0
    assert [e["name"] for e in body["report"]["unmapped_departments"]] == ["中医综合", "其他科室"]

    again = _upload(client, sample, origin="qamedkg")
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["changed"]) == (body["id"], False)

    listed = client_for(hospital.user("doctor")).get("/api/knowledge/releases").json()
    assert [r["origin"] for r in listed][:2] == ["qamedkg", "smartcare-seed"]


def test_a_bad_upload_lists_its_problems_and_writes_nothing(hospital: TestHospital, sample: bytes) -> None:
    client = client_for(hospital.user("itadmin"))
    before = table_state()
    response = _upload(client, sample + b"{broken\n", origin="qamedkg")
    assert response.status_code == 400
    problem = _problem(response)
    assert problem["code"] == "KNOW-001"
    assert [e["field"] for e in problem["errors"]] == ["line 8"]
    bad_format = _upload(client, sample, format="xml")
    assert _problem(bad_format)["code"] == "CORE-001"
    bad_origin = _upload(client, sample, origin="Not A Name!")
    assert (_problem(bad_origin)["code"], _problem(bad_origin)["field"]) == ("CORE-001", "origin")
    no_file = client.post("/api/knowledge/releases", {"origin": "x"})
    assert (_problem(no_file)["code"], _problem(no_file)["field"]) == ("CORE-001", "file")
    assert table_state() == before


def test_only_curators_may_import(hospital: TestHospital, sample: bytes) -> None:
    before = table_state()
    for name in ("doctor", "head", "auditor", "patient"):
        response = _upload(client_for(hospital.user(name)), sample)
        assert response.status_code == 403
        assert _problem(response)["code"] == "CORE-403"
    assert _upload(client_for(None), sample).status_code == 401
    assert table_state() == before
    assert not KnowledgeRelease.objects.exclude(origin="smartcare-seed").exists()
