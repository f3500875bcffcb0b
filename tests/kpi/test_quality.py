"""Quality measures on a hand-computed month, their failed cases, review assignment, and access."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.core.errors import CodedError, NotFound
from smartcare.kpi import quality, quality_services
from smartcare.kpi.models import QualityReview, ReviewState
from tests.kpi.quality_world import END, START, build_quality_month


@pytest.fixture()
def month(hospital: Any) -> dict[str, Any]:
    return build_quality_month(hospital)


def _by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in rows}


def test_measures_match_the_hand_computed_month(hospital: Any, month: dict[str, Any]) -> None:
    rows = _by_code(quality.measures(START, END))
    assert (rows["QC-HBA1C"]["numerator"], rows["QC-HBA1C"]["denominator"]) == (1, 3)
    assert {d["department"]: (d["numerator"], d["denominator"]) for d in rows["QC-HBA1C"]["departments"]} == {
        "03.04": (1, 2),
        "03.03": (0, 1),
    }
    assert (rows["QC-HTN-LABS"]["numerator"], rows["QC-HTN-LABS"]["denominator"]) == (1, 2)
    assert (rows["QC-CRITICAL"]["numerator"], rows["QC-CRITICAL"]["denominator"]) == (1, 3)
    assert (rows["QC-ALERT"]["numerator"], rows["QC-ALERT"]["denominator"]) == (1, 2)
    assert (rows["QC-BP-FOLLOWUP"]["numerator"], rows["QC-BP-FOLLOWUP"]["denominator"]) == (1, 2)
    assert rows["QC-HBA1C"]["rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert rows["QC-HBA1C"]["status"] == "off_target"
    assert rows["QC-ABX"]["no_data"] is True and rows["QC-ABX"]["rate"] is None
    assert rows["QC-ABX"]["status"] == "no_data" and rows["QC-ABX"]["no_data_reason"]


def test_one_department(hospital: Any, month: dict[str, Any]) -> None:
    rows = _by_code(quality.measures(START, END, department="03.03"))
    assert (rows["QC-HBA1C"]["numerator"], rows["QC-HBA1C"]["denominator"]) == (0, 1)
    assert (rows["QC-CRITICAL"]["numerator"], rows["QC-CRITICAL"]["denominator"]) == (0, 1)
    assert rows["QC-ALERT"]["no_data"] is True  # only a warning in neurology


def test_no_data_without_any_records(hospital: Any) -> None:
    rows = quality.measures(START, END)
    assert all(r["no_data"] and r["rate"] is None and r["no_data_reason"] for r in rows)


def test_bad_period_is_refused(hospital: Any) -> None:
    with pytest.raises(CodedError) as caught:
        quality.measures(END, START)
    assert caught.value.code == "QC-002"


def test_manager_sees_every_failure_masked(hospital: Any, month: dict[str, Any]) -> None:
    manager = hospital.user("manager")
    listing = quality.failed_cases(manager, "QC-HBA1C", START, END)
    keys = {c["key"] for c in listing["cases"]}
    assert keys == {f"patient-{hospital.patient_in_care.pk}", f"patient-{hospital.patient_elsewhere.pk}"}
    assert not any(c["identified"] or c["patient_name"] for c in listing["cases"])
    assert all("*" in c["medical_record_number"] for c in listing["cases"])


def test_head_sees_own_department_named_and_audited(hospital: Any, month: dict[str, Any]) -> None:
    head = hospital.user("head")
    before = AuditEvent.objects.count()
    listing = quality.failed_cases(head, "QC-HBA1C", START, END)
    assert [c["key"] for c in listing["cases"]] == [f"patient-{hospital.patient_in_care.pk}"]
    case = listing["cases"][0]
    assert case["identified"] and case["patient_name"] == hospital.patient_in_care.name
    assert case["detail"]["missing"] == ["HbA1c"]
    event = AuditEvent.objects.order_by("-pk").first()
    assert AuditEvent.objects.count() == before + 1
    assert event.patient_id == hospital.patient_in_care.pk and event.detail["event"] == "quality_case_listed"
    with pytest.raises(NotFound):
        quality.failed_cases(head, "QC-HBA1C", START, END, department="03.03")


def test_failed_critical_values_and_alerts(hospital: Any, month: dict[str, Any]) -> None:
    listing = quality.failed_cases(hospital.user("manager"), "QC-CRITICAL", START, END)
    reports = month["reports"]
    assert {c["key"] for c in listing["cases"]} == {
        f"report-{reports['R2'].pk}",
        f"report-{reports['R3'].pk}",
    }
    late = next(c for c in listing["cases"] if c["key"] == f"report-{reports['R2'].pk}")
    assert late["detail"]["minutes_to_notice"] == 40.0
    bp = quality.failed_cases(hospital.user("manager"), "QC-BP-FOLLOWUP", START, END)["cases"]
    assert [(c["key"], c["detail"]["blood_pressure"]) for c in bp] == [
        (f"patient-{month['patients']['D'].pk}", "160/100")
    ]
    alerts = quality.failed_cases(hospital.user("manager"), "QC-ALERT", START, END)["cases"]
    assert [c["key"] for c in alerts] == [f"alert-{month['alerts']['A2'].pk}"]


def test_assign_and_review_a_failed_case(
    hospital: Any, month: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    key = f"patient-{hospital.patient_in_care.pk}"
    with django_capture_on_commit_callbacks(execute=True):
        review = quality_services.assign_case(
            hospital.user("manager"),
            code="QC-HBA1C",
            key=key,
            start=START,
            end=END,
            reviewer=hospital.user("doctor").pk,
            comment="please check",
        )
    assert review.state == ReviewState.ASSIGNED and review.department == hospital.cardiology
    assert hospital.user("doctor").notifications.filter(category="quality_review").exists()
    listing = quality.failed_cases(hospital.user("manager"), "QC-HBA1C", START, END)
    assert next(c for c in listing["cases"] if c["key"] == key)["review"].pk == review.pk
    updated = quality_services.update_review(
        hospital.user("doctor"), review.pk, state="action_needed", comment="gap"
    )
    assert (updated.state, updated.comment) == ("action_needed", "gap")
    # Another doctor cannot see or change it.
    with pytest.raises(NotFound):
        quality_services.update_review(hospital.user("neurologist"), review.pk, state="closed")
    # Re-assigning hands it over and reopens it; still one review per case and period.
    quality_services.assign_case(
        hospital.user("head"), code="QC-HBA1C", key=key, start=START, end=END, reviewer=hospital.user("nurse")
    )
    review.refresh_from_db()
    assert (review.reviewer, review.state) == (hospital.user("nurse"), ReviewState.ASSIGNED)
    assert QualityReview.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"key": "patient-999999"}, "QC-003"),
        ({"code": "QC-NOPE"}, "QC-001"),
        ({"reviewer": "frontdesk"}, "QC-004"),
        ({"comment": "x" * 4001}, "QC-006"),
    ],
)
def test_bad_assignments_write_nothing(
    hospital: Any, month: dict[str, Any], change: dict[str, Any], code: str
) -> None:
    values: dict[str, Any] = {
        "code": "QC-HBA1C",
        "key": f"patient-{hospital.patient_in_care.pk}",
        "reviewer": "doctor",
        "comment": "",
        **change,
    }
    before = AuditEvent.objects.count()
    with pytest.raises(CodedError) as caught:
        quality_services.assign_case(
            hospital.user("manager"),
            code=values["code"],
            key=values["key"],
            start=START,
            end=END,
            reviewer=hospital.user(values["reviewer"]).pk,
            comment=values["comment"],
        )
    assert caught.value.code == code
    assert not QualityReview.objects.exists()
    assert AuditEvent.objects.count() == before


def test_passed_case_cannot_be_assigned(hospital: Any, month: dict[str, Any]) -> None:
    with pytest.raises(CodedError) as caught:
        quality_services.assign_case(
            hospital.user("manager"),
            code="QC-HBA1C",
            key=f"patient-{month['patients']['A'].pk}",
            start=START,
            end=END,
            reviewer=hospital.user("doctor").pk,
        )
    assert caught.value.code == "QC-003"


def test_invalid_review_state(hospital: Any, month: dict[str, Any]) -> None:
    with pytest.raises(CodedError) as caught:
        quality_services.update_review(hospital.user("doctor"), 1, state="done")
    assert caught.value.code == "QC-005"


def test_pages_and_api(hospital: Any, month: dict[str, Any]) -> None:
    client = Client()
    client.force_login(hospital.user("manager"))
    page = client.get("/kpi/quality/", {"period": "2025-06"})
    assert page.status_code == 200
    assert b'data-measure="QC-HBA1C"' in page.content and b'data-testid="no-data"' in page.content
    cases = client.get("/kpi/quality/QC-CRITICAL/", {"period": "2025-06"})
    assert cases.status_code == 200 and f"report-{month['reports']['R3'].pk}".encode() in cases.content
    key = f"report-{month['reports']['R3'].pk}"
    assigned = client.post(
        f"/kpi/quality/QC-CRITICAL/cases/{key}/assign/",
        {"period": "2025-06", "reviewer": hospital.user("doctor").pk, "comment": "never told"},
    )
    assert assigned.status_code == 302
    assert QualityReview.objects.get(case_key=key).comment == "never told"
    api = client.get("/api/kpi/quality/measures", {"period": "2025-06"})
    assert api.status_code == 200
    measures = {m["code"]: m for m in api.json()["measures"]}
    assert measures["QC-CRITICAL"]["failed"] == 2
    bad = client.post(
        f"/api/kpi/quality/measures/QC-CRITICAL/cases/{key}/assign",
        json.dumps({"period": "2025-06", "reviewer": hospital.user("frontdesk").pk}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["code"] == "QC-004"
    doctor = Client()
    doctor.force_login(hospital.user("doctor"))
    assert doctor.get("/kpi/quality/").status_code == 403
    mine = doctor.get("/kpi/quality/reviews/")
    assert mine.status_code == 200 and key.encode() in mine.content
