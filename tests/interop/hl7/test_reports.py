"""Reports to patients: the portal page with abnormal results highlighted and explained, the
clinician's lab report, and the entry point for reports written elsewhere (FHIR)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.emr.models import Observation
from smartcare.interop.hl7.services import receive
from smartcare.interop.models import DiagnosticReport, ReportDelivery
from smartcare.interop.reports import services
from smartcare.interop.reports.explanations import explain
from smartcare.notifications.models import Notification
from tests.interop.hl7 import messages as m

pytestmark = pytest.mark.django_db


def result(
    patient: Any, code: str, name: str, value: float, low: float, high: float, flag: str, unit: str = "mmol/L"
) -> Observation:
    return Observation.objects.create(
        patient=patient,
        code=code,
        name=name,
        value=value,
        unit=unit,
        reference_low=low,
        reference_high=high,
        flag=flag,
        observed_at=clock.now(),
    )


def lab_report(lis: Any, patient: Any, control: str = "R-1", status: str = "F") -> DiagnosticReport:
    receive(
        m.oru(
            control,
            identifiers=f"{patient.medical_record_number}^^^SMARTCARE^MR",
            groups=[
                (
                    m.obr(filler=control, status=status),
                    [
                        m.obx(1, "NM", "2345-7^Glucose^LN", "9.8", "mmol/L", "3.9-6.1", "H"),
                        m.obx(2, "NM", "2823-3^Potassium^LN", "2.4", "mmol/L", "3.5-5.1", "LL"),
                        m.obx(3, "NM", "2951-2^Sodium^LN", "140", "mmol/L", "135-145", "N"),
                    ],
                )
            ],
        )
    )
    return DiagnosticReport.objects.get(delivery__filler_number=control)


def test_the_patient_sees_abnormal_results_highlighted_and_explained(
    client: Client, lis: Any, hospital: Any
) -> None:
    report = lab_report(lis, hospital.own_patient)
    client.force_login(hospital.user("patient"))
    listing = client.get("/interop/reports/")
    assert listing.status_code == 200 and report.name in listing.content.decode()
    page = client.get(f"/interop/reports/{report.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('data-testid="abnormal-result"') == 2
    assert 'class="table-danger" data-flag="LL"' in html and 'class="table-warning" data-flag="H"' in html
    assert html.count('data-testid="explanation"') == 2
    assert "Potassium is a salt" in html  # the explanation of a low potassium
    # The patient's inbox links to it.
    note = Notification.objects.get(recipient=hospital.user("patient"), category="report")
    assert note.link == f"/interop/reports/{report.pk}/"


def test_patients_do_not_see_preliminary_reports_or_other_patients(
    client: Client, lis: Any, hospital: Any
) -> None:
    preliminary = lab_report(lis, hospital.own_patient, "R-2", status="P")
    someone_else = lab_report(lis, hospital.other_patient, "R-3")
    client.force_login(hospital.user("patient"))
    assert client.get(f"/interop/reports/{preliminary.pk}/").status_code == 404
    assert client.get(f"/interop/reports/{someone_else.pk}/").status_code == 404
    assert f"/interop/reports/{someone_else.pk}/" not in client.get("/interop/reports/").content.decode()


def test_explanations() -> None:
    high = Observation(
        code="2345-7",
        name="Glucose",
        value=9.8,
        flag="H",
        reference_low=3.9,
        reference_high=6.1,
        unit="mmol/L",
    )
    assert "blood sugar" in explain(high).lower() and "diabetes" in explain(high)
    unknown = Observation(
        code="99999-9", name="Zinc", value=30, flag="H", reference_low=10, reference_high=20, unit="umol/L"
    )
    assert "Zinc" in explain(unknown) and "10–20" in explain(unknown)
    critical = Observation(
        code="2823-3", name="Potassium", value=2.4, flag="LL", reference_low=3.5, reference_high=5.1
    )
    assert "your doctor has been told" in explain(critical)
    assert explain(Observation(code="2345-7", name="Glucose", value=5, flag="")) == ""


def test_a_doctor_finalizes_a_lab_report_from_results_in_the_record(hospital: Any) -> None:
    patient = hospital.patient_in_care  # cared for by cardiology
    doctor = hospital.user("doctor")
    sugar = result(patient, "2345-7", "Glucose", 2.1, 3.9, 6.1, "LL")
    report = services.write_report(doctor, patient.pk, kind="lab", name="Glucose", observation_ids=[sugar.pk])
    assert report.status == "final" and list(report.results.all()) == [sugar]
    delivery = report.delivery
    assert (
        delivery.source == "clinician" and delivery.ordering_user == doctor and delivery.critical_count == 1
    )
    assert Notification.objects.get(category="critical_result").recipient == doctor


def test_writing_a_report_refuses_bad_input_and_writes_nothing(hospital: Any) -> None:
    doctor = hospital.user("doctor")
    other = result(hospital.patient_elsewhere, "2345-7", "Glucose", 5, 3.9, 6.1, "")
    with pytest.raises(InvalidInput) as no_results:
        services.write_report(doctor, hospital.patient_in_care.pk, kind="lab", name="")
    assert set(no_results.value.errors) == {"name", "results"}
    with pytest.raises(NotFound):  # a result of another patient
        services.write_report(
            doctor, hospital.patient_in_care.pk, kind="lab", name="X", observation_ids=[other.pk]
        )
    with pytest.raises(NotFound):  # a patient the doctor does not care for
        services.write_report(
            doctor, hospital.patient_elsewhere.pk, kind="lab", name="X", observation_ids=[other.pk]
        )
    assert (
        not DiagnosticReport.objects.exists() and not Notification.objects.filter(category="report").exists()
    )


def test_report_finalized_publishes_once(hospital: Any) -> None:
    """The entry point for DiagnosticReports written elsewhere (the FHIR API)."""
    patient = hospital.own_patient
    high = result(patient, "2160-0", "Creatinine", 190, 45, 110, "H", "umol/L")
    report = DiagnosticReport.objects.create(
        patient=patient, name="Renal function", status="final", category_code="LAB"
    )
    report.results.add(high)
    services.report_finalized(None, report)
    services.report_finalized(None, report)
    notes = Notification.objects.filter(recipient=patient.user, category="report")
    assert notes.count() == 1 and "Creatinine" in notes.get().body
    assert ReportDelivery.objects.get(report=report).source == "fhir"
