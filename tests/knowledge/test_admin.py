"""Curating the graph in the admin (IT administrators): pages open, releases stay read-only."""

from __future__ import annotations

import pytest

from smartcare.knowledge.models import Edge, KnowledgeRelease, Node
from tests.factories import TestHospital
from tests.knowledge.conftest import client_for

pytestmark = pytest.mark.django_db


def test_admin_pages_for_the_graph(hospital: TestHospital) -> None:
    client = client_for(hospital.user("itadmin"))
    node = Node.objects.get(key="disease:hypertension")
    edge = Edge.objects.filter(source=node).first()
    release = KnowledgeRelease.objects.get(origin="smartcare-seed")
    for url in (
        "/admin/knowledge/node/?q=拉肚子",
        "/admin/knowledge/node/?type__exact=drug&is_active__exact=1",
        f"/admin/knowledge/node/{node.pk}/change/",
        "/admin/knowledge/edge/?type__exact=interacts_with&q=warfarin",
        f"/admin/knowledge/edge/{edge.pk}/change/" if edge else "/admin/knowledge/edge/",
        "/admin/knowledge/redflag/",
        "/admin/knowledge/followupquestion/",
        "/admin/knowledge/knowledgerelease/",
        f"/admin/knowledge/knowledgerelease/{release.pk}/change/",
    ):
        assert client.get(url).status_code == 200, url
    assert "symptom:diarrhea" in client.get("/admin/knowledge/node/?q=拉肚子").content.decode()
    assert client.get("/admin/knowledge/knowledgerelease/add/").status_code == 403


def test_an_admin_edit_is_audited(hospital: TestHospital) -> None:
    from smartcare.audit.models import AuditEvent

    client = client_for(hospital.user("itadmin"))
    node = Node.objects.get(key="symptom:diarrhea")
    before = AuditEvent.objects.count()
    response = client.post(
        f"/admin/knowledge/node/{node.pk}/change/",
        {
            "name_zh": node.name_zh,
            "name_en": "Diarrhoea (curated)",
            "key": node.key,
            "type": node.type,
            "synonyms_zh": '["拉肚子"]',
            "synonyms_en": "[]",
            "origin": node.origin,
            "is_active": "on",
            "out_edges-TOTAL_FORMS": "0",
            "out_edges-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    node.refresh_from_db()
    assert node.name_en == "Diarrhoea (curated)"
    assert "diarrhoea (curated)" in node.search_text
    assert AuditEvent.objects.count() > before
