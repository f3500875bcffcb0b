"""Search parameters: _id, patient/subject, code with system, date prefixes, status, identifier,
_count and paging links, _sort across tables, _include, and refused parameters."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from urllib.parse import urlsplit

import pytest

from smartcare.accounts.choices import CareRelationshipKind
from smartcare.accounts.services import register_care_relationship
from smartcare.emr.models import Encounter, Observation, VitalSign
from smartcare.interop.fhir.datatypes import MRN_SYSTEM
from smartcare.interop.fhir.importer import import_paths
from smartcare.interop.fhir.synthetic import patient_bundle
from smartcare.interop.models import DiagnosticReport
from smartcare.patients.models import Patient
from tests.interop.fhir.conftest import issue_code

TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture()
def imported(hospital: Any, tmp_path: Any) -> dict[str, Any]:
    import json

    bundle = patient_bundle(random.Random(29), encounters=6)
    (tmp_path / "p.json").write_text(json.dumps(bundle))
    import_paths([tmp_path], workers=0)
    patient = Patient.objects.order_by("-pk").first()
    register_care_relationship(
        patient=patient,
        department=hospital.cardiology,
        kind=CareRelationshipKind.REFERRAL,
        source="test:fhir",
    )
    return {"bundle": bundle, "patient": patient}


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def get(client: Any, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body


def test_id_patient_and_subject(hospital: Any, client_for: Any, imported: dict[str, Any]) -> None:
    client = client_for(hospital.user("doctor"))
    patient = imported["patient"]
    vitals = list(VitalSign.objects.filter(patient=patient).values_list("pk", flat=True)[:2])
    wanted = [f"vs-{pk}" for pk in vitals]
    assert sorted(ids(get(client, f"/fhir/R4/Observation?_id={','.join(wanted)}"))) == sorted(wanted)
    by_patient = get(client, f"/fhir/R4/Observation?patient={patient.pk}&_count=500")
    by_subject = get(client, f"/fhir/R4/Observation?subject=Patient/{patient.pk}&_count=500")
    total = (
        Observation.objects.filter(patient=patient).count()
        + VitalSign.objects.filter(patient=patient).count()
    )
    assert by_patient["total"] == by_subject["total"] == total
    assert ids(by_patient) == ids(by_subject)


def test_code_with_and_without_system(hospital: Any, client_for: Any, imported: dict[str, Any]) -> None:
    client = client_for(hospital.user("doctor"))
    patient = imported["patient"]
    heights = VitalSign.objects.filter(patient=patient, kind="height").count()
    bp = VitalSign.objects.filter(patient=patient, kind="bp").count()
    assert get(client, "/fhir/R4/Observation?code=http://loinc.org|8302-2")["total"] == heights
    assert get(client, "/fhir/R4/Observation?code=8302-2")["total"] == heights
    assert (
        get(client, "/fhir/R4/Observation?code=http://loinc.org|8302-2,http://loinc.org|85354-9")["total"]
        == heights + bp
    )
    assert get(client, "/fhir/R4/Observation?code=http://snomed.info/sct|8302-2")["total"] == 0
    smoking = Observation.objects.filter(patient=patient, code="72166-2").count()
    assert get(client, "/fhir/R4/Observation?code=http://loinc.org|72166-2")["total"] == smoking
    # diagnoses are found by their ICD-10 code, conditions kept as FHIR by any of theirs
    condition = get(client, "/fhir/R4/Condition?_count=100")
    assert condition["total"] > 0
    for entry in condition["entry"]:
        codings = entry["resource"]["code"]["coding"]
        if entry["resource"]["id"].startswith("dx-"):
            codings = [c for c in codings if c["system"] == "http://hl7.org/fhir/sid/icd-10"]
        coding = codings[0]
        found = get(client, f"/fhir/R4/Condition?code={coding['system']}|{coding['code']}")
        assert entry["resource"]["id"] in ids(found)


def test_date_prefixes(hospital: Any, client_for: Any) -> None:
    patient = hospital.patient_in_care
    for day in (1, 2, 3):
        Observation.objects.create(
            patient=patient,
            code="2339-0",
            name="Glucose",
            value=5 + day,
            unit="mmol/L",
            observed_at=dt.datetime(2025, 3, day, 10, 0, tzinfo=TZ),
        )
    client = client_for(hospital.user("doctor"))

    def values(query: str) -> list[float]:
        bundle = get(client, f"/fhir/R4/Observation?{query}&_sort=date")
        return [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]]

    assert values("date=2025-03-02") == [7]
    assert values("date=eq2025-03-02") == [7]
    assert values("date=ge2025-03-02") == [7, 8]
    assert values("date=gt2025-03-02") == [8]
    assert values("date=le2025-03-02") == [6, 7]
    assert values("date=lt2025-03-02") == [6]
    assert values("date=ne2025-03-02") == [6, 8]
    assert values("date=2025-03") == [6, 7, 8]
    assert values("date=ge2025-03-01&date=lt2025-03-03") == [6, 7]
    assert values("date=ge2025-03-02T10:00:00%2B08:00") == [7, 8]


def test_status_and_identifier(hospital: Any, client_for: Any, imported: dict[str, Any]) -> None:
    client = client_for(hospital.user("doctor"))
    patient = imported["patient"]
    encounters = Encounter.objects.filter(patient=patient)
    assert get(client, "/fhir/R4/Encounter?status=finished")["total"] == encounters.count()
    assert get(client, "/fhir/R4/Encounter?status=in-progress")["total"] == 0
    entry = next(e for e in imported["bundle"]["entry"] if e["resource"]["resourceType"] == "Encounter")
    identifier = entry["resource"]["identifier"][0]
    found = get(client, f"/fhir/R4/Encounter?identifier={identifier['system']}|{identifier['value']}")
    assert found["total"] == 1
    mrn = get(client, f"/fhir/R4/Patient?identifier={MRN_SYSTEM}|{patient.medical_record_number}")
    assert ids(mrn) == [str(patient.pk)]
    ssn = next(i for i in imported["bundle"]["entry"][0]["resource"]["identifier"] if "us-ssn" in i["system"])
    assert ids(get(client, f"/fhir/R4/Patient?identifier={ssn['system']}|{ssn['value']}")) == [
        str(patient.pk)
    ]


def test_count_and_paging_links(hospital: Any, client_for: Any, imported: dict[str, Any]) -> None:
    client = client_for(hospital.user("doctor"))
    total = get(client, "/fhir/R4/Observation?_summary=count")["total"]
    assert total > 5
    seen: list[str] = []
    url: str | None = "/fhir/R4/Observation?_count=4&_sort=date"
    pages = 0
    while url:
        page = get(client, url)
        assert page["total"] == total
        seen.extend(ids(page))
        links = {link["relation"]: link["url"] for link in page["link"]}
        assert {"self", "first", "last"} <= set(links)
        if pages:
            assert "previous" in links
        nxt = links.get("next")
        url = (urlsplit(nxt).path + "?" + urlsplit(nxt).query) if nxt else None
        pages += 1
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 4)


def test_sort_merges_tables(hospital: Any, client_for: Any, imported: dict[str, Any]) -> None:
    client = client_for(hospital.user("doctor"))
    ascending = get(client, "/fhir/R4/Observation?_sort=date&_count=500")
    dates = [e["resource"]["effectiveDateTime"] for e in ascending["entry"]]
    moments = [dt.datetime.fromisoformat(d) for d in dates]
    assert moments == sorted(moments)
    kinds = {e["resource"]["id"].startswith("vs-") for e in ascending["entry"]}
    assert kinds == {True, False}  # vital signs and results in one ordered list
    descending = get(client, "/fhir/R4/Observation?_sort=-date&_count=500")
    assert [
        dt.datetime.fromisoformat(e["resource"]["effectiveDateTime"]) for e in descending["entry"]
    ] == sorted(moments, reverse=True)


def test_include(hospital: Any, client_for: Any, imported: dict[str, Any]) -> None:
    client = client_for(hospital.user("doctor"))
    patient = imported["patient"]
    bundle = get(client, f"/fhir/R4/Observation?patient={patient.pk}&_count=3&_include=Observation:patient")
    assert ids(bundle, "include") == [str(patient.pk)]
    report = DiagnosticReport.objects.filter(patient=patient).exclude(results=None).first()
    reports = get(client, f"/fhir/R4/DiagnosticReport?_id={report.pk}&_include=DiagnosticReport:result")
    assert sorted(ids(reports, "include")) == sorted(
        str(pk) for pk in report.results.values_list("pk", flat=True)
    )
    encounters = get(
        client, f"/fhir/R4/Encounter?patient={patient.pk}&_count=1&_include=Encounter:service-provider"
    )
    assert ids(encounters, "include") == [f"d-{hospital.general.pk}"]


def test_refused_parameters(hospital: Any, client_for: Any) -> None:
    client = client_for(hospital.user("doctor"))
    for query in (
        "unknown=1",
        "code:text=glucose",
        "subject.name=x",
        "date=yesterday",
        "date=sa2025-01-01",
        "_count=many",
        "_sort=value",
        "_include=Observation:performer",
    ):
        response = client.get(f"/fhir/R4/Observation?{query}")
        assert response.status_code == 400, query
        assert issue_code(response) == "INTEROP-105"
    response = client.get("/fhir/R4/Nonsense")
    assert response.status_code == 404
    assert issue_code(response) == "INTEROP-103"


def test_post_search(hospital: Any, client_for: Any, imported: dict[str, Any]) -> None:
    client = client_for(hospital.user("doctor"))
    response = client.post("/fhir/R4/Observation/_search", {"code": "http://loinc.org|8302-2"})
    assert response.status_code == 200
    assert response.json()["total"] == VitalSign.objects.filter(kind="height").count()
