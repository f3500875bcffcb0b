"""Bulk import: Bundles and NDJSON, counts per type, re-import without duplicates, rejections."""

from __future__ import annotations

import json
import random
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from smartcare.audit.models import AuditEvent
from smartcare.emr.models import Diagnosis, Encounter, Observation, Order, VitalSign
from smartcare.interop.fhir.importer import import_paths
from smartcare.interop.fhir.synthetic import patient_bundle, write_population
from smartcare.interop.models import DiagnosticReport, FhirResource, Immunization, ImportRun
from smartcare.patients.models import Patient

SYNTHEA = Path(__file__).resolve().parents[4] / "shared" / "data" / "synthea"


def _types(bundle: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in bundle["entry"]:
        kind = entry["resource"]["resourceType"]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _written(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    return {t: sum(v for k, v in c.items() if k != "rejected") for t, c in counts.items()}


def test_generated_population_imports_every_resource_and_maps_them(hospital: Any, tmp_path: Path) -> None:
    paths = write_population(tmp_path, 3, seed=3, encounters=5)
    expected: dict[str, int] = {}
    for path in paths:
        for kind, number in _types(json.loads(path.read_text())).items():
            expected[kind] = expected.get(kind, 0) + number

    result = import_paths([tmp_path], workers=0)

    assert result.total("rejected") == 0
    assert _written(result.counts) == expected
    assert Patient.objects.count() == 4 + 3  # the test hospital's four and the imported three
    assert Encounter.objects.filter(department=hospital.general).count() == expected["Encounter"]
    vitals = VitalSign.objects.count()
    results = Observation.objects.count()
    assert vitals > 0 and results > 0
    assert vitals + results + result.counts["Observation"].get("stored", 0) == expected["Observation"]
    assert Immunization.objects.count() == expected.get("Immunization", 0)
    assert DiagnosticReport.objects.count() == expected["DiagnosticReport"]
    assert FhirResource.objects.filter(resource_type="Claim").count() == expected["Claim"]
    assert Order.objects.filter(kind="medication").count() == result.counts.get("MedicationRequest", {}).get(
        "created", 0
    )
    # imported record numbers follow registration's pattern
    imported = Patient.objects.order_by("-pk")[:3]
    assert all(p.medical_record_number == f"MRN{p.pk:08d}" for p in imported)
    # one audit event for the whole run, with the counts
    events = AuditEvent.objects.filter(object_type="interop.ImportRun")
    assert events.count() == 1
    assert events.get().detail["counts"] == result.counts
    assert not AuditEvent.objects.filter(object_type__startswith="fhir.").exists()


def test_reimport_creates_no_duplicates(hospital: Any, tmp_path: Path) -> None:
    write_population(tmp_path, 2, seed=5, encounters=4)
    first = import_paths([tmp_path], workers=0)
    rows = (
        Patient.objects.count(),
        Encounter.objects.count(),
        Observation.objects.count(),
        FhirResource.objects.count(),
    )

    again = import_paths([tmp_path], workers=0)

    assert again.total("created") == again.total("stored") == 0
    assert again.total("unchanged") == first.resources
    assert rows == (
        Patient.objects.count(),
        Encounter.objects.count(),
        Observation.objects.count(),
        FhirResource.objects.count(),
    )


def test_changed_resource_updates_the_row(hospital: Any, tmp_path: Path) -> None:
    bundle = patient_bundle(random.Random(11), encounters=2)
    path = tmp_path / "one.json"
    path.write_text(json.dumps(bundle))
    import_paths([path], workers=0)
    patient_entry = bundle["entry"][0]
    patient_entry["resource"]["address"] = [{"text": "上海市徐汇区新地址 8 号"}]
    claim = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Claim")
    claim["resource"]["status"] = "cancelled"
    path.write_text(json.dumps(bundle))

    result = import_paths([path], workers=0)

    assert result.counts["Patient"] == {"updated": 1}
    assert result.counts["Claim"].get("stored") == 1  # a new version of the stored claim
    patient = Patient.objects.order_by("-pk").first()
    assert patient.address == "上海市徐汇区新地址 8 号"
    stored = FhirResource.objects.get(resource_type="Claim", status="cancelled")
    assert stored.version == 2
    assert stored.history.get().content["status"] == "active"


def test_rejected_resources_are_reported_and_their_dependents_too(hospital: Any, tmp_path: Path) -> None:
    bundle = patient_bundle(random.Random(13), encounters=2)
    encounter = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    encounter["resource"]["class"] = "AMB"  # a Coding, not a string: not valid FHIR
    bundle["entry"].append({"resource": {"resourceType": "Basic", "code": {"text": "x"}}})
    bundle["entry"].append({"resource": {"resourceType": "Observation", "status": "final"}})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))

    result = import_paths([path], workers=0)

    reasons = {(r["resource_type"], r["code"]) for r in result.rejected}
    assert ("Encounter", "INTEROP-102") in reasons
    assert ("Observation", "INTEROP-102") in reasons  # no code: not valid FHIR
    assert ("Basic", "INTEROP-103") in reasons  # a type smartcare neither maps nor stores: skipped
    # what refers to the rejected encounter is rejected, and what refers to those in turn
    dependents = [r for r in result.rejected if r["code"] == "INTEROP-117"]
    assert any(encounter["fullUrl"] in r["reason"] for r in dependents)
    rejected_urls = {bundle["entry"][int(r["where"].split()[-1])].get("fullUrl") for r in result.rejected}
    assert all(any(url and url in r["reason"] for url in rejected_urls) for r in dependents)
    assert result.counts["Patient"] == {"created": 1}
    assert Encounter.objects.count() == result.counts["Encounter"].get("created", 0)


def test_ndjson_files_reference_each_other_by_type_and_id(hospital: Any, tmp_path: Path) -> None:
    bundle = patient_bundle(random.Random(17), encounters=2)
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}

    def relative(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: relative(v) for k, v in node.items()}
            ref = node.get("reference")
            if isinstance(ref, str) and ref in by_url:
                out["reference"] = f"{by_url[ref]['resourceType']}/{by_url[ref]['id']}"
            return out
        if isinstance(node, list):
            return [relative(v) for v in node]
        return node

    files: dict[str, list[str]] = {}
    for entry in bundle["entry"]:
        resource = relative(entry["resource"])
        files.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for kind, lines in files.items():
        # Observations first on disk: the importer orders the files by type itself
        (tmp_path / f"{'0' if kind == 'Observation' else '1'}-{kind}.ndjson").write_text(
            "\n".join(lines) + "\n"
        )

    result = import_paths([tmp_path], source="test-server", workers=0)

    assert result.total("rejected") == 0
    assert Observation.objects.exclude(encounter=None).exists()
    assert VitalSign.objects.filter(patient__in=Patient.objects.order_by("-pk")[:1]).exists()
    again = import_paths([tmp_path], source="test-server", workers=0)
    assert again.total("unchanged") == result.resources


def test_command_prints_counts_and_rejections(hospital: Any, tmp_path: Path) -> None:
    bundle = patient_bundle(random.Random(19), encounters=1)
    bundle["entry"].append({"resource": {"resourceType": "Basic"}})
    (tmp_path / "a.json").write_text(json.dumps(bundle))
    (tmp_path / "broken.json").write_text("{not json")
    report = tmp_path / "report.json"
    out = StringIO()

    call_command("import_fhir", str(tmp_path), "--no-progress", "--report", str(report), stdout=out)

    text = out.getvalue()
    assert "Patient" in text and "created" in text
    assert "broken.json" in text and "INTEROP-101" in text
    assert "INTEROP-103" in text
    saved = json.loads(report.read_text())
    assert saved["counts"]["Patient"]["created"] == 1
    assert ImportRun.objects.get(pk=saved["run"]).finished_at is not None


def test_command_refuses_a_missing_path(hospital: Any, tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="INTEROP-115"):
        call_command("import_fhir", str(tmp_path / "nothing-here"), "--no-progress")
    assert not ImportRun.objects.exists()


def test_validation_in_worker_processes_gives_the_same_result(hospital: Any, tmp_path: Path) -> None:
    bundle = patient_bundle(random.Random(23), encounters=2)
    bundle["entry"][1]["resource"]["status"] = "nonsense"
    (tmp_path / "x.json").write_text(json.dumps(bundle))

    result = import_paths([tmp_path], workers=1)

    assert [r["code"] for r in result.rejected if r["where"].endswith("entry 1")] == ["INTEROP-102"]


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="the shared Synthea sample is not on this machine")
def test_synthea_sample_counts_per_type_match_the_files(hospital: Any) -> None:
    expected: dict[str, int] = {}
    for path in SYNTHEA.glob("*.json"):
        for kind, number in _types(json.loads(path.read_text())).items():
            expected[kind] = expected.get(kind, 0) + number

    result = import_paths([SYNTHEA], workers=0)

    assert result.total("rejected") == 0
    assert _written(result.counts) == expected
    assert result.counts["Patient"] == {"created": 3}
    assert result.counts["Encounter"] == {"created": expected["Encounter"]}
    assert result.counts["Immunization"] == {"created": expected["Immunization"]}
    # Synthea's conditions are SNOMED CT only: kept as FHIR, not in the ICD-10 problem list
    assert result.counts["Condition"] == {"stored": expected["Condition"]}
    assert not Diagnosis.objects.exists()
    for kind in ("Claim", "ExplanationOfBenefit", "DocumentReference", "Provenance"):
        assert result.counts[kind] == {"stored": expected[kind]}
        assert FhirResource.objects.filter(resource_type=kind).count() == expected[kind]
