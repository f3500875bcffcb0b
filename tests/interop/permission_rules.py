"""Permission rules for interop: the FHIR R4 API under /fhir/R4/ (and HL7 v2 and DICOM below).

FHIR: ``setup`` gives each caller's target patient a result (emr.Observation) and a condition kept
as FHIR (SNOMED CT only). The generic routes are exercised with Observation (search, read,
create, update) and the stored Condition (vread). Reading the clinical record needs clinical
access to the patient (``access_patient``): the patient themself and clinicians in care or after
breaking the glass; others get 404 CORE-404 exactly as for a record that does not exist. Searching
the clinical record is refused (403) to roles that never see it; a search shows only visible
patients. Writing a result needs ``emr.record`` and update access. Errors are OperationOutcome.
"""

from __future__ import annotations

from typing import Any

from smartcare.emr.models import Observation, VitalSign
from smartcare.interop.models import FhirResource
from tests.test_permissions import (
    BREAK_GLASS,
    CARE,
    CLINICIANS,
    EVERYONE,
    HEAD,
    MISSING_ID,
    NO_CARE,
    PATIENT_OTHER,
    PATIENT_OWN,
    SIGNED_IN,
    Rule,
    World,
)

FHIR_WRITERS = frozenset({CARE, BREAK_GLASS, HEAD})  # emr.record and access to the target
FHIR_READERS = FHIR_WRITERS | {PATIENT_OWN}
FHIR_SEARCHERS = CLINICIANS | {PATIENT_OWN, PATIENT_OTHER}  # roles that may see clinical records


def setup(world: World) -> None:
    result = Observation.objects.create(
        patient=world.target, code="2339-0", name="Glucose", value=5.6, unit="mmol/L"
    )
    condition = FhirResource.objects.create(
        resource_type="Condition",
        fhir_id="perm-condition-1",
        patient=world.target,
        content={
            "resourceType": "Condition",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
            "subject": {"reference": f"Patient/{world.target.pk}"},
        },
    )
    world.extra.update(fhir_result=result, fhir_condition=condition)


def _observation(world: World, missing: bool) -> dict[str, Any]:
    return {
        "resource_type": "Observation",
        "resource_id": MISSING_ID if missing else world.extra["fhir_result"].pk,
    }


def _condition(world: World, missing: bool) -> dict[str, Any]:
    return {
        "resource_type": "Condition",
        "resource_id": "no-such-condition" if missing else world.extra["fhir_condition"].fhir_id,
        "version_id": 1,
    }


def _heart_rate(world: World, missing: bool) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{MISSING_ID if missing else world.target.pk}"},
        "effectiveDateTime": "2026-01-05T09:10:00+08:00",
        "valueQuantity": {"value": 72, "unit": "/min"},
    }


def _transaction(world: World, missing: bool) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": _heart_rate(world, missing), "request": {"method": "POST", "url": "Observation"}}
        ],
    }


def _updated_result(world: World, missing: bool) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": f"Patient/{world.target.pk}"},
        "effectiveDateTime": "2026-01-05T08:00:00+08:00",
        "valueQuantity": {"value": 6.6, "unit": "mmol/L"},
    }


def _heart_rate_recorded(world: World, kind: str, response: Any) -> None:
    assert VitalSign.objects.get(patient=world.target, kind="hr").value == 72


def _result_updated(world: World, kind: str, response: Any) -> None:
    assert Observation.objects.get(pk=world.extra["fhir_result"].pk).value == 6.6


RULES: list[Rule] = [
    # --- FHIR R4 ---
    Rule("GET", "/fhir/R4/metadata", EVERYONE),
    Rule("GET", "/fhir/R4/", SIGNED_IN, ok=405, anon=401),  # whole-system search is not offered
    Rule(
        "POST",
        "/fhir/R4/",
        FHIR_WRITERS,
        special={NO_CARE: 404},
        record=True,
        anon=401,
        payload=_transaction,
        effect=_heart_rate_recorded,
    ),
    Rule("GET", "/fhir/R4/{resource_type}", FHIR_SEARCHERS, anon=401, params=_observation),
    Rule(
        "POST",
        "/fhir/R4/{resource_type}",
        FHIR_WRITERS,
        ok=201,
        special={NO_CARE: 404},
        record=True,
        anon=401,
        params=_observation,
        payload=_heart_rate,
        effect=_heart_rate_recorded,
    ),
    # a search: it writes only the audit events of what it shows
    Rule("POST", "/fhir/R4/{resource_type}/_search", FHIR_SEARCHERS, anon=401, params=_observation),
    Rule(
        "GET",
        "/fhir/R4/{resource_type}/{resource_id}",
        FHIR_READERS,
        deny=404,
        record=True,
        anon=401,
        params=_observation,
    ),
    Rule(
        "PUT",
        "/fhir/R4/{resource_type}/{resource_id}",
        FHIR_WRITERS,
        special={NO_CARE: 404},
        record=True,
        anon=401,
        params=_observation,
        payload=_updated_result,
        effect=_result_updated,
    ),
    Rule(
        "GET",
        "/fhir/R4/{resource_type}/{resource_id}/_history/{version_id}",
        FHIR_READERS,
        deny=404,
        record=True,
        anon=401,
        params=_condition,
    ),
]


# --- HL7 v2, DICOM and reports: pages under /interop/, API under /api/interop/ ------------------
#
# ``_imaging_setup`` gives the target patient a CT study (one stored image, a small synthetic
# file under the DICOM store), a final lab report sent to them, and a result not yet in a report.
# Capabilities: ``interop.imaging.view`` (clinicians, patients for their own images),
# ``interop.imaging.search`` and ``.upload`` (clinicians; PACS machine identities for STOW),
# ``interop.reports.view`` (patients, clinicians), ``interop.reports.write`` (doctors, department
# heads), ``interop.hl7.monitor`` (IT administrator), ``interop.hl7.send`` (connected systems: an
# external-channel identity, not among the callers, so nobody here may post HL7). Opening one
# patient's images or reports needs clinical access to the patient (``access_patient``); without
# it the answer is 404 CORE-404, as for a record that does not exist.

from smartcare.core import clock as _clock  # noqa: E402
from smartcare.interop.dicom import storage as _storage  # noqa: E402
from smartcare.interop.dicom.phantom import ct_series as _ct_series  # noqa: E402
from smartcare.interop.models import (  # noqa: E402
    DiagnosticReport,
    ImagingInstance,
    ImagingSeries,
    ImagingStudy,
    ReportDelivery,
)
from tests.test_permissions import ADMIN  # noqa: E402

IMAGING_READERS = frozenset({PATIENT_OWN, CARE, BREAK_GLASS, HEAD})
IMAGING_WRITERS = frozenset({CARE, BREAK_GLASS, HEAD})
NOT_IN_CARE = {NO_CARE: 404, PATIENT_OTHER: 404}


def _imaging_setup(world: World) -> None:
    import pydicom

    data = _ct_series(patient_id="PERMISSION-TEST", patient_name="x", slices=1, seed=7)[0]
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data), stop_before_pixels=True)
    relative = _storage.relative_path(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    path = _storage.absolute(relative)
    if not path.exists():
        _storage.write_atomically(path, data)
    study = ImagingStudy.objects.create(
        study_uid=ds.StudyInstanceUID,
        patient=world.target,
        source="upload",
        modalities="CT",
        started_at=_clock.now(),
    )
    series = ImagingSeries.objects.create(study=study, series_uid=ds.SeriesInstanceUID, modality="CT")
    instance = ImagingInstance.objects.create(
        series=series,
        sop_instance_uid=ds.SOPInstanceUID,
        sop_class_uid=ds.SOPClassUID,
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        storage="local",
        file_path=relative,
    )
    result = Observation.objects.create(
        patient=world.target, code="2345-7", name="Glucose", value=9.1, unit="mmol/L", flag="H"
    )
    report = DiagnosticReport.objects.create(
        patient=world.target, name="Glucose", status="final", issued_at=_clock.now()
    )
    report.results.add(
        Observation.objects.create(
            patient=world.target, code="2823-3", name="Potassium", value=4.0, unit="mmol/L"
        )
    )
    ReportDelivery.objects.create(
        report=report, kind="lab", source="hl7", published_at=_clock.now(), published_status="final"
    )
    world.extra.update(
        imaging_study=study, imaging_instance=instance, imaging_result=result, imaging_report=report
    )


_fhir_setup = setup


def setup(world: World) -> None:
    _fhir_setup(world)
    _imaging_setup(world)


def _study(world: World, missing: bool) -> dict[str, Any]:
    return {"study_id": MISSING_ID if missing else world.extra["imaging_study"].pk}


def _frame(world: World, missing: bool) -> dict[str, Any]:
    return {"instance_id": MISSING_ID if missing else world.extra["imaging_instance"].pk, "frame": 1}


def _rendered(world: World, missing: bool) -> dict[str, Any]:
    instance = world.extra["imaging_instance"]
    return {
        "study_uid": instance.series.study.study_uid,
        "series_uid": instance.series.series_uid,
        "sop_uid": "9.9.9.9" if missing else instance.sop_instance_uid,
        "frame": 1,
    }


def _report(world: World, missing: bool) -> dict[str, Any]:
    return {"report_id": MISSING_ID if missing else world.extra["imaging_report"].pk}


def _lab_report(world: World, missing: bool) -> dict[str, Any]:
    return {"kind": "lab", "name": "Glucose follow-up", "results": [world.extra["imaging_result"].pk]}


def _lab_report_written(world: World, kind: str, response: Any) -> None:
    report = DiagnosticReport.objects.get(patient=world.target, name="Glucose follow-up")
    assert list(report.results.all()) == [world.extra["imaging_result"]]


def _upload(world: World, missing: bool) -> dict[str, Any]:
    return {"patient": "NO-SUCH-PATIENT" if missing else world.target.medical_record_number}


RULES += [
    # --- pages ---
    Rule("GET", "/interop/hl7/", frozenset({ADMIN})),
    Rule("GET", "/interop/imaging/", CLINICIANS),
    Rule("GET", "/interop/imaging/upload/", CLINICIANS),
    # Allowed: the patient is found, but no file was sent (DICOM-013); nothing is stored here.
    Rule(
        "POST",
        "/interop/imaging/upload/",
        IMAGING_WRITERS,
        ok=400,
        special={NO_CARE: 404},
        record=True,
        payload=_upload,
    ),
    Rule(
        "GET",
        "/interop/imaging/studies/{study_id}/",
        IMAGING_READERS,
        special=NOT_IN_CARE,
        record=True,
        params=_study,
    ),
    Rule(
        "GET",
        "/interop/imaging/instances/{instance_id}/frames/{frame}.png",
        IMAGING_READERS,
        special=NOT_IN_CARE,
        record=True,
        params=_frame,
    ),
    Rule("GET", "/interop/imaging/patients/{patient_id}/", IMAGING_READERS, special=NOT_IN_CARE, record=True),
    # No PACS is configured in tests: allowed callers are sent back with DICOM-017.
    Rule(
        "POST",
        "/interop/imaging/patients/{patient_id}/sync/",
        IMAGING_WRITERS,
        ok=302,
        special={NO_CARE: 404},
        record=True,
    ),
    Rule("GET", "/interop/reports/", CLINICIANS | {PATIENT_OWN, PATIENT_OTHER}),
    Rule(
        "GET",
        "/interop/reports/{report_id}/",
        IMAGING_READERS,
        special=NOT_IN_CARE,
        record=True,
        params=_report,
    ),
    Rule(
        "GET",
        "/interop/reports/patients/{patient_id}/new/",
        IMAGING_WRITERS,
        special={NO_CARE: 404},
        record=True,
    ),
    Rule(
        "POST",
        "/interop/reports/patients/{patient_id}/new/",
        IMAGING_WRITERS,
        ok=302,
        special={NO_CARE: 404},
        record=True,
        payload=_lab_report,
        effect=_lab_report_written,
    ),
    # --- API ---
    Rule("POST", "/api/interop/hl7/messages", frozenset()),
    # Allowed callers reach the body check: the permission test posts JSON (DICOM-019).
    Rule("POST", "/api/interop/dicomweb/studies", CLINICIANS, ok=415),
    Rule("GET", "/api/interop/imaging/studies", CLINICIANS),
    Rule(
        "GET",
        "/api/interop/dicomweb/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/{frame}/rendered",
        IMAGING_READERS,
        special=NOT_IN_CARE,
        record=True,
        params=_rendered,
    ),
]
