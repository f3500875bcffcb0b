"""Knowledge pages: search, node, path finder, releases and the curator's upload."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from smartcare.knowledge.models import KnowledgeRelease
from tests.factories import TestHospital
from tests.knowledge.conftest import client_for
from tests.knowledge.helpers import table_state

pytestmark = pytest.mark.django_db


def _html(response: Any) -> str:
    return response.content.decode()


def _error_code(response: Any) -> str:
    found = re.search(r'data-error-code="([A-Z]+-\d+)"', _html(response))
    return found.group(1) if found else ""


def test_search_page_with_type_filter(hospital: TestHospital) -> None:
    client = client_for(hospital.user("doctor"))
    page = client.get("/knowledge/")
    assert page.status_code == 200
    assert 'name="type"' in _html(page)
    assert '/knowledge/"' in _html(client.get("/"))  # in the navigation
    results = client.get("/knowledge/", {"q": "拉肚子", "type": "symptom"})
    assert results.status_code == 200
    keys = re.findall(r'data-key="([^"]+)"', _html(results))
    assert keys[0] == "symptom:diarrhea"
    assert "Diarrhoea" in _html(results) or "Diarrhea" in _html(results)  # the other language beside it
    assert "data-key" not in _html(client.get("/knowledge/", {"q": "完全不存在的东西"}))


def test_node_page_shows_codes_and_neighbours_in_both_directions(hospital: TestHospital) -> None:
    client = client_for(hospital.user("nurse"))
    page = client.get("/knowledge/node/disease:hypertension/")
    assert page.status_code == 200
    html = _html(page)
    assert "原发性高血压" in html and "Essential hypertension" in html
    assert "I10" in html
    groups = re.findall(r'data-type="([a-z_]+)" data-direction="(out|in|both)"', html)
    assert ("has_symptom", "out") in groups and ("complication_of", "in") in groups
    assert 'href="/knowledge/node/department:cardiology/"' in html
    assert "95%" in html  # frequency of the high reading
    assert "#1" in html  # rank of cardiology
    drug = _html(client.get("/knowledge/node/drug:amlodipine/"))
    assert "C08CA01" in drug and "ATC" in drug
    interactions = _html(client.get("/knowledge/node/drug:warfarin/"))
    assert "text-bg-danger" in interactions  # high severity, with management text
    assert "INR" in interactions


def test_english_pages_show_english_names_with_chinese_beside(hospital: TestHospital) -> None:
    client = client_for(hospital.user("doctor"))
    html = _html(client.get("/knowledge/node/disease:hypertension/", HTTP_ACCEPT_LANGUAGE="en"))
    heading = re.search(r"<h1.*?</h1>", html, re.DOTALL)
    assert heading is not None
    assert re.search(r"Essential hypertension\s*<small[^>]*>原发性高血压</small>", heading.group(0))
    with translation.override("zh-hans"):
        html = _html(client.get("/knowledge/node/disease:hypertension/", HTTP_ACCEPT_LANGUAGE="zh-hans"))
    heading = re.search(r"<h1.*?</h1>", html, re.DOTALL)
    assert heading is not None
    assert re.search(r"原发性高血压\s*<small[^>]*>Essential hypertension</small>", heading.group(0))


def test_unknown_node_is_a_404_page_with_the_code(hospital: TestHospital) -> None:
    page = client_for(hospital.user("doctor")).get("/knowledge/node/disease:unicorn_fever/")
    assert page.status_code == 404
    assert _error_code(page) == "KNOW-404"
    assert "disease:unicorn_fever" in _html(page)


def test_path_finder(hospital: TestHospital) -> None:
    client = client_for(hospital.user("doctor"))
    assert client.get("/knowledge/path/").status_code == 200
    found = client.get("/knowledge/path/", {"source": "高血压", "target": "drug:amlodipine"})
    assert found.status_code == 200
    assert re.findall(r'<li class="list-group-item" data-key="([^"]+)"', _html(found)) == [
        "disease:hypertension",
        "drug:amlodipine",
    ]
    none = client.get("/knowledge/path/", {"source": "disease:hypertension", "target": "drug:montelukast"})
    assert none.status_code == 404
    assert _error_code(none) == "KNOW-002"
    unknown = client.get("/knowledge/path/", {"source": "disease:hypertension", "target": "完全不存在的东西"})
    assert _error_code(unknown) == "KNOW-404"


def test_releases_page_offers_the_upload_only_to_curators(hospital: TestHospital) -> None:
    doctor = _html(client_for(hospital.user("doctor")).get("/knowledge/releases/"))
    assert "smartcare-seed" in doctor
    assert "import-form" not in doctor
    steward = _html(client_for(hospital.user("steward")).get("/knowledge/releases/"))
    assert "import-form" in steward
    seed = KnowledgeRelease.objects.get(origin="smartcare-seed")
    detail = client_for(hospital.user("doctor")).get(f"/knowledge/releases/{seed.pk}/")
    assert detail.status_code == 200
    assert 'data-count="nodes_created"' in _html(detail)
    assert client_for(hospital.user("doctor")).get("/knowledge/releases/999999/").status_code == 404


def _post(client: Any, content: bytes, **fields: str) -> Any:
    return client.post(
        "/knowledge/releases/",
        {"file": SimpleUploadedFile("medical.jsonl", content), "format": "auto", **fields},
    )


def test_a_curator_uploads_and_sees_the_report_with_unmapped_departments(
    hospital: TestHospital, sample: bytes
) -> None:
    client = client_for(hospital.user("steward"))
    response = _post(client, sample, origin="qamedkg", version="2026.1")
    release = KnowledgeRelease.objects.get(origin="qamedkg")
    assert response.status_code == 302
    assert response["Location"] == f"/knowledge/releases/{release.pk}/"
    page = client.get(response["Location"])
    html = _html(page)
    assert 'data-testid="unmapped-departments"' in html
    assert "中医综合" in html and "其他科室" in html and "肝郁气滞证" in html
    assert "alert-success" in html
    listing = _html(client.get("/knowledge/releases/"))
    assert "qamedkg" in listing


def test_a_bad_upload_lists_the_errors_and_writes_nothing(hospital: TestHospital, sample: bytes) -> None:
    client = client_for(hospital.user("itadmin"))
    before = table_state()
    response = _post(client, sample + b"not json\n{}\n", origin="qamedkg")
    assert response.status_code == 400
    assert _error_code(response) == "KNOW-001"
    html = _html(response)
    assert "line 8" in html and "line 9" in html
    no_file = client.post("/knowledge/releases/", {"format": "auto"})
    assert no_file.status_code == 400
    assert _error_code(no_file) == "CORE-001"
    assert table_state() == before


def test_a_non_curator_cannot_upload(hospital: TestHospital, sample: bytes) -> None:
    before = table_state()
    response = _post(client_for(hospital.user("doctor")), sample)
    assert response.status_code == 403
    assert _error_code(response) == "CORE-403"
    assert table_state() == before
