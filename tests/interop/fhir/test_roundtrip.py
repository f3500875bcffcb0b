"""Round trips through the API for every resource type: what is written is read back, valid FHIR
R4 (fhir.resources), and updates change smartcare's own rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.emr.models import Allergy, Diagnosis, Encounter, Observation, Order, Problem, VitalSign
from smartcare.interop.fhir.datatypes import ICD10, RESIDENT_ID_SYSTEM
from smartcare.interop.fhir.validation import problems
from smartcare.interop.models import DiagnosticReport, FhirResource, Immunization
from smartcare.organization.models import Bed, Room
from smartcare.patients.models import Patient
from smartcare.scheduling.models import Appointment
from tests.factories import make_national_id
from tests.interop.fhir.conftest import issue_code, post, put

LOINC = "http://loinc.org"


def read(client: Any, reference: str) -> dict[str, Any]:
    response = client.get(f"/fhir/R4/{reference}")
    assert response.status_code == 200, response.content
    resource: dict[str, Any] = response.json()
    assert problems(resource) == [], (reference, problems(resource))
    return resource


def created(response: Any) -> str:
    assert response.status_code == 201, response.content
    return str(response["Location"].split("/fhir/R4/")[1].split("/_history/")[0])


@pytest.fixture()
def doctor(hospital: Any, client_for: Any) -> Any:
    return client_for(hospital.user("doctor"))


@pytest.fixture()
def encounter(hospital: Any) -> Encounter:
    return Encounter.objects.create(
        patient=hospital.patient_in_care,
        kind="outpatient",
        department=hospital.cardiology,
        attending=hospital.user("doctor").practitioner,
        status="in_progress",
        started_at=clock.now(),
    )


def subject(hospital: Any) -> dict[str, str]:
    return {"reference": f"Patient/{hospital.patient_in_care.pk}"}


def test_patient(hospital: Any, client_for: Any) -> None:
    front = client_for(hospital.user("frontdesk"))
    national_id = make_national_id(dt.date(1990, 2, 3))
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": RESIDENT_ID_SYSTEM, "value": national_id}],
        "name": [{"family": "张", "given": ["三"]}],
        "gender": "female",
        "birthDate": "1990-02-03",
        "telecom": [{"system": "phone", "value": "13912345678", "use": "mobile"}],
        "address": [{"text": "上海市徐汇区漕溪北路 1 号"}],
    }
    reference = created(post(front, "/fhir/R4/Patient", body))
    patient = Patient.objects.by_national_id(national_id).get()
    assert reference == f"Patient/{patient.pk}" and patient.name == "张三"
    resource = read(front, reference)
    assert resource["birthDate"] == "1990-02-03" and resource["gender"] == "female"
    assert {"system": RESIDENT_ID_SYSTEM}.items() <= resource["identifier"][1].items()
    body["address"] = [{"text": "上海市黄浦区 9 号"}]
    assert put(front, f"/fhir/R4/{reference}", {**body, "id": str(patient.pk)}).status_code == 200
    patient.refresh_from_db()
    assert patient.address == "上海市黄浦区 9 号"
    # registration validates the resident ID, as the page does
    bad = post(
        front, "/fhir/R4/Patient", {**body, "identifier": [{"system": RESIDENT_ID_SYSTEM, "value": "123"}]}
    )
    assert bad.status_code == 400 and issue_code(bad) == "PAT-003"


def test_encounter(hospital: Any, doctor: Any) -> None:
    body = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": subject(hospital),
        "serviceProvider": {"reference": f"Organization/d-{hospital.cardiology.pk}"},
        "participant": [
            {"individual": {"reference": f"Practitioner/{hospital.user('doctor').practitioner.pk}"}}
        ],
        "period": {"start": "2026-01-05T09:00:00+08:00"},
        "reasonCode": [{"text": "胸痛"}],
    }
    reference = created(post(doctor, "/fhir/R4/Encounter", body))
    row = Encounter.objects.get()
    assert (row.department, row.attending, row.reason) == (
        hospital.cardiology,
        hospital.user("doctor").practitioner,
        "胸痛",
    )
    resource = read(doctor, reference)
    assert resource["serviceProvider"]["reference"] == f"Organization/d-{hospital.cardiology.pk}"
    body["status"] = "finished"
    body["period"]["end"] = "2026-01-05T09:30:00+08:00"
    assert put(doctor, f"/fhir/R4/{reference}", body).status_code == 200
    row.refresh_from_db()
    assert row.status == "finished" and row.ended_at is not None


def test_condition_as_diagnosis_and_problem(hospital: Any, doctor: Any, encounter: Encounter) -> None:
    diagnosis = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": ICD10, "code": "I20.9"}], "text": "心绞痛"},
        "subject": subject(hospital),
        "encounter": {"reference": f"Encounter/{encounter.pk}"},
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "provisional",
                }
            ]
        },
    }
    reference = created(post(doctor, "/fhir/R4/Condition", diagnosis))
    assert reference.startswith("Condition/dx-")
    assert Diagnosis.objects.get(encounter=encounter).status == "provisional"
    assert read(doctor, reference)["code"]["coding"][0]["code"] == "I20.9"
    problem = {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": ICD10, "code": "I10"}]},
        "subject": subject(hospital),
        "onsetDateTime": "2020-06-01",
    }
    reference = created(post(doctor, "/fhir/R4/Condition", problem))
    assert reference.startswith("Condition/pl-")
    assert Problem.objects.get().onset == dt.date(2020, 6, 1)
    # a second active problem with the same code is a duplicate
    again = post(doctor, "/fhir/R4/Condition", problem)
    assert again.status_code == 409 and issue_code(again) == "INTEROP-109"
    # SNOMED CT only: kept as FHIR, served at its own id
    snomed = dict(problem, code={"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]})
    reference = created(post(doctor, "/fhir/R4/Condition", snomed))
    row = FhirResource.objects.get(resource_type="Condition")
    assert reference == f"Condition/{row.fhir_id}" and "ICD-10" in row.reason
    assert read(doctor, reference)["meta"]["versionId"] == "1"


def test_observation_result_and_vital_sign(hospital: Any, doctor: Any, encounter: Encounter) -> None:
    result = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2339-0", "display": "Glucose"}]},
        "subject": subject(hospital),
        "encounter": {"reference": f"Encounter/{encounter.pk}"},
        "effectiveDateTime": "2026-01-05T08:00:00+08:00",
        "valueQuantity": {"value": 8.2, "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.9}, "high": {"value": 6.1}}],
        "interpretation": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "H",
                    }
                ]
            }
        ],
    }
    reference = created(post(doctor, "/fhir/R4/Observation", result))
    row = Observation.objects.get()
    assert (row.code, row.value, row.unit, row.flag, row.reference_high) == (
        "2339-0",
        8.2,
        "mmol/L",
        "H",
        6.1,
    )
    resource = read(doctor, reference)
    assert resource["interpretation"][0]["coding"][0]["code"] == "H"
    result["valueQuantity"]["value"] = 5.0
    result["interpretation"] = []
    assert put(doctor, f"/fhir/R4/{reference}", result).status_code == 200
    row.refresh_from_db()
    assert row.value == 5.0 and row.flag == ""
    pressure = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": subject(hospital),
        "effectiveDateTime": "2026-01-05T08:05:00+08:00",
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": {"value": 150, "unit": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": {"value": 95, "unit": "mm[Hg]"},
            },
        ],
    }
    reference = created(post(doctor, "/fhir/R4/Observation", pressure))
    vital = VitalSign.objects.get()
    assert (vital.kind, vital.value, vital.value2) == ("bp", 150, 95)
    assert [c["valueQuantity"]["value"] for c in read(doctor, reference)["component"]] == [150, 95]
    fever = dict(
        pressure,
        code={"coding": [{"system": LOINC, "code": "8310-5"}]},
        valueQuantity={"value": 101.3, "unit": "[degF]"},
    )
    fever.pop("component")
    created(post(doctor, "/fhir/R4/Observation", fever))
    assert VitalSign.objects.get(kind="temp").value == pytest.approx(38.5)


def test_medication_request(hospital: Any, doctor: Any, encounter: Encounter) -> None:
    body = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "B01AC06"}],
            "text": "阿司匹林肠溶片",
        },
        "subject": subject(hospital),
        "encounter": {"reference": f"Encounter/{encounter.pk}"},
        "authoredOn": "2026-01-05T09:20:00+08:00",
        "dosageInstruction": [
            {
                "text": "每日一次，每次100mg",
                "timing": {
                    "repeat": {
                        "frequency": 1,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsDuration": {"value": 30, "unit": "d", "code": "d"},
                    }
                },
                "route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]},
                "doseAndRate": [{"doseQuantity": {"value": 100, "unit": "mg"}}],
            }
        ],
    }
    reference = created(post(doctor, "/fhir/R4/MedicationRequest", body))
    order = Order.objects.get()
    assert (order.kind, order.code, order.route, order.dose, order.duration_days) == (
        "medication",
        "B01AC06",
        "oral",
        100,
        30,
    )
    assert order.ordered_by == hospital.user("doctor") and order.signed_at is not None
    resource = read(doctor, reference)
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 100
    assert resource["requester"]["reference"] == f"Practitioner/{hospital.user('doctor').practitioner.pk}"
    body["status"] = "stopped"
    assert put(doctor, f"/fhir/R4/{reference}", body).status_code == 200
    order.refresh_from_db()
    assert order.status == "discontinued"
    # without a smartcare encounter an order cannot exist: kept as FHIR
    del body["encounter"]
    reference = created(post(doctor, "/fhir/R4/MedicationRequest", body))
    assert FhirResource.objects.filter(resource_type="MedicationRequest").exists()


def test_procedure(hospital: Any, doctor: Any, encounter: Encounter) -> None:
    body = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "29303009", "display": "ECG"}],
            "text": "心电图",
        },
        "subject": subject(hospital),
        "encounter": {"reference": f"Encounter/{encounter.pk}"},
        "performedPeriod": {"start": "2026-01-05T09:00:00+08:00", "end": "2026-01-05T09:10:00+08:00"},
    }
    reference = created(post(doctor, "/fhir/R4/Procedure", body))
    order = Order.objects.get(kind="procedure")
    assert (order.code, order.status, order.name) == ("29303009", "completed", "心电图")
    resource = read(doctor, reference)
    assert resource["status"] == "completed" and resource["performedPeriod"]["end"].startswith(
        "2026-01-05T09:10"
    )


def test_allergy(hospital: Any, doctor: Any) -> None:
    body = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {
            "coding": [{"system": "https://smartcare.example/knowledge", "code": "drug_class:penicillins"}],
            "text": "青霉素",
        },
        "patient": subject(hospital),
        "reaction": [{"manifestation": [{"text": "皮疹"}], "severity": "moderate"}],
    }
    reference = created(post(doctor, "/fhir/R4/AllergyIntolerance", body))
    allergy = Allergy.objects.get()
    assert (allergy.substance, allergy.reaction, allergy.severity) == (
        "drug_class:penicillins",
        "皮疹",
        "moderate",
    )
    read(doctor, reference)
    body["clinicalStatus"]["coding"][0]["code"] = "inactive"
    assert put(doctor, f"/fhir/R4/{reference}", body).status_code == 200
    allergy.refresh_from_db()
    assert allergy.status == "inactive"


def test_immunization(hospital: Any, doctor: Any) -> None:
    body = {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {
            "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}],
            "text": "流感疫苗",
        },
        "patient": subject(hospital),
        "occurrenceDateTime": "2025-10-01T10:00:00+08:00",
        "lotNumber": "LOT-1",
        "doseQuantity": {"value": 0.5, "unit": "mL"},
    }
    reference = created(post(doctor, "/fhir/R4/Immunization", body))
    row = Immunization.objects.get()
    assert (row.vaccine_code, row.lot_number, float(row.dose_value)) == ("140", "LOT-1", 0.5)
    assert read(doctor, reference)["vaccineCode"]["text"] == "流感疫苗"


def test_diagnostic_report(hospital: Any, doctor: Any) -> None:
    result = Observation.objects.create(
        patient=hospital.patient_in_care, code="2339-0", name="Glucose", value=5.1, unit="mmol/L"
    )
    body = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "24323-8"}], "text": "肝肾功能"},
        "subject": subject(hospital),
        "effectiveDateTime": "2026-01-05T08:00:00+08:00",
        "result": [{"reference": f"Observation/{result.pk}"}],
        "conclusion": "未见异常",
    }
    reference = created(post(doctor, "/fhir/R4/DiagnosticReport", body))
    report = DiagnosticReport.objects.get()
    assert list(report.results.all()) == [result] and report.conclusion == "未见异常"
    assert read(doctor, reference)["result"] == [{"reference": f"Observation/{result.pk}"}]
    # a final report written through FHIR is handed to the report push (patient inbox)
    from smartcare.interop.models import ReportDelivery

    assert ReportDelivery.objects.get(report=report).source == "fhir"


def test_appointment_books_and_cancels_through_scheduling(hospital: Any, client_for: Any) -> None:
    from tests.scheduling.builders import build_clinic, now

    with clock.frozen_at(now()):
        clinic = build_clinic(hospital)
        slot = clinic.slot(1)
        patient_client = client_for(hospital.user("patient"))
        schedule = read(patient_client, f"Schedule/{slot.session_id}")
        assert schedule["actor"][0]["reference"] == f"Practitioner/{hospital.user('doctor').practitioner.pk}"
        assert read(patient_client, f"Slot/{slot.pk}")["status"] == "free"
        body = {
            "resourceType": "Appointment",
            "status": "booked",
            "slot": [{"reference": f"Slot/{slot.pk}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{hospital.own_patient.pk}"}, "status": "accepted"}
            ],
        }
        reference = created(post(patient_client, "/fhir/R4/Appointment", body))
        appointment = Appointment.objects.get()
        assert appointment.patient == hospital.own_patient and appointment.slot == slot
        assert read(patient_client, reference)["status"] == "booked"
        again = post(patient_client, "/fhir/R4/Appointment", body)
        assert again.status_code == 409 and issue_code(again) == "SCHED-003"
        body["status"] = "cancelled"
        body["cancelationReason"] = {"text": "出差"}
        assert put(patient_client, f"/fhir/R4/{reference}", body).status_code == 200
        appointment.refresh_from_db()
        assert appointment.status == "cancelled" and appointment.cancel_reason == "出差"


def test_directory_types(hospital: Any, doctor: Any) -> None:
    practitioner = hospital.user("doctor").practitioner
    resource = read(doctor, f"Practitioner/{practitioner.pk}")
    assert resource["identifier"][0]["value"] == practitioner.licence_number
    read(doctor, f"Organization/h-{hospital.hospital.pk}")
    department = read(doctor, f"Organization/d-{hospital.cardiology.pk}")
    assert department["partOf"]["reference"] == f"Organization/h-{hospital.hospital.pk}"
    room = Room.objects.create(
        campus=hospital.hospital.campuses.first(), department=hospital.cardiology, code="W3", kind="ward"
    )
    bed = Bed.objects.create(room=room, code="01", status="occupied")
    assert read(doctor, f"Location/r-{room.pk}")["physicalType"]["coding"][0]["code"] == "ro"
    assert read(doctor, f"Location/b-{bed.pk}")["operationalStatus"]["code"] == "O"
    found = doctor.get(f"/fhir/R4/Location?organization=Organization/d-{hospital.cardiology.pk}").json()
    assert {e["resource"]["id"] for e in found["entry"]} == {f"r-{room.pk}", f"b-{bed.pk}"}


def test_stored_types_have_versions(hospital: Any, client_for: Any) -> None:
    steward = client_for(hospital.user("steward"))
    claim = {
        "resourceType": "Claim",
        "status": "active",
        "type": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}
            ]
        },
        "use": "claim",
        "patient": subject(hospital),
        "created": "2026-01-05",
        "provider": {"display": "Clinic"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "医保"}}],
    }
    reference = created(post(steward, "/fhir/R4/Claim", claim))
    claim["status"] = "cancelled"
    response = put(steward, f"/fhir/R4/{reference}", claim)
    assert response.status_code == 200 and response["ETag"] == 'W/"2"'
    doctor = client_for(hospital.user("doctor"))
    assert read(doctor, reference)["status"] == "cancelled"
    assert read(doctor, f"{reference}/_history/1")["status"] == "active"
    assert doctor.get(f"/fhir/R4/{reference}/_history/3").status_code == 404
    assert doctor.get(f"/fhir/R4/Patient/{hospital.patient_in_care.pk}/_history/1").status_code == 404


def test_care_plan_and_imaging_study_are_read(hospital: Any, doctor: Any) -> None:
    from smartcare.interop.models import ImagingSeries, ImagingStudy

    study = ImagingStudy.objects.create(
        study_uid="1.2.3.4",
        patient=hospital.patient_in_care,
        modalities="CT",
        source="upload",
        description="胸部 CT",
    )
    ImagingSeries.objects.create(study=study, series_uid="1.2.3.4.1", modality="CT", number=1)
    resource = read(doctor, f"ImagingStudy/{study.pk}")
    assert resource["series"][0]["modality"]["code"] == "CT"
    found = doctor.get("/fhir/R4/ImagingStudy?modality=CT").json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(study.pk)]
    assert doctor.get("/fhir/R4/CarePlan").status_code == 200
