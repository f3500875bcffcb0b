"""The CapabilityStatement tells the truth: every type, interaction and search parameter it lists
works, and nothing else is claimed."""

from __future__ import annotations

from typing import Any

from django.test import Client

from smartcare.interop.fhir.registry import Access, mappings
from smartcare.interop.fhir.validation import problems

VALUES = {"token": "x", "date": "2025", "reference": "Patient/1", "string": "x"}


def test_metadata_is_a_valid_capability_statement(db: Any) -> None:
    response = Client().get("/fhir/R4/metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    statement = response.json()
    assert problems(statement) == []
    rest = statement["rest"][0]
    listed = {r["type"] for r in rest["resource"]}
    assert listed == {m.resource_type for m in mappings()}
    required = {
        "Patient",
        "Practitioner",
        "Organization",
        "Location",
        "Schedule",
        "Slot",
        "Appointment",
        "Encounter",
        "Condition",
        "Observation",
        "MedicationRequest",
        "AllergyIntolerance",
        "Procedure",
        "Immunization",
        "DiagnosticReport",
        "ImagingStudy",
        "CarePlan",
        "AuditEvent",
    }
    assert required <= listed
    by_type = {r["type"]: {i["code"] for i in r["interaction"]} for r in rest["resource"]}
    assert by_type["AuditEvent"] == {"read", "search-type"}
    assert {"create", "update"} <= by_type["Observation"]
    assert "delete" not in set().union(*by_type.values())
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}


def test_every_listed_search_parameter_and_include_is_accepted(hospital: Any, client_for: Any) -> None:
    users = {
        Access.PATIENT_CLINICAL: hospital.user("doctor"),
        Access.PATIENT_VIEW: hospital.user("frontdesk"),
        Access.DIRECTORY: hospital.user("doctor"),
        Access.SCHEDULE: hospital.user("doctor"),
        Access.AUDIT: hospital.user("auditor"),
    }
    statement = Client().get("/fhir/R4/metadata").json()
    declared = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for mapping in mappings():
        client = client_for(users[mapping.access])
        resource = declared[mapping.resource_type]
        for param in resource["searchParam"]:
            url = f"/fhir/R4/{mapping.resource_type}?{param['name']}={VALUES[param['type']]}"
            response = client.get(url)
            assert response.status_code == 200, (url, response.content[:300])
        for include in resource.get("searchInclude", []):
            response = client.get(f"/fhir/R4/{mapping.resource_type}?_include={include}")
            assert response.status_code == 200, include
        undeclared = client.get(f"/fhir/R4/{mapping.resource_type}?not-a-parameter=1")
        assert undeclared.status_code == 400


def test_versioning_is_claimed_only_where_every_resource_has_versions(db: Any) -> None:
    statement = Client().get("/fhir/R4/metadata").json()
    versioning = {r["type"]: r["versioning"] for r in statement["rest"][0]["resource"]}
    for mapping in mappings():
        expected = "versioned" if mapping.sources[0].is_store else "no-version"
        assert versioning[mapping.resource_type] == expected, mapping.resource_type
    # Observations map onto smartcare's results: those rows have no versions to read.
    assert versioning["Observation"] == "no-version"
    assert versioning["AuditEvent"] == "no-version"
