"""Risk in the record: computed when inputs arrive, stored with inputs and model version, advice
made by the rules, enrolment with education, adherence, and unhappy paths writing nothing."""

from __future__ import annotations

import pytest

from smartcare.core.errors import NotFound, PermissionDenied
from smartcare.emr import services as emr
from smartcare.followup.models import EducationDelivery
from smartcare.health import advice as rules
from smartcare.health import services
from smartcare.health.errors import (
    AdherenceInvalid,
    AlreadyEnrolled,
    AnswersInvalid,
    NotEnoughData,
    OutsideValidatedRange,
)
from smartcare.health.models import (
    AdherenceReport,
    Advice,
    Enrolment,
    LifestyleAnswers,
    Programme,
    RiskAssessment,
)
from smartcare.monitoring.models import Reading
from smartcare.notifications.models import Notification
from tests.factories import TestHospital
from tests.health.helpers import LIFESTYLE, fill_record


def test_risks_are_computed_when_the_last_input_arrives(h: TestHospital) -> None:
    patient = h.patient_in_care
    doctor = h.user("doctor")
    emr.record_vital(doctor, patient.pk, kind="bp", value=150, value2=90)
    emr.record_result(doctor, patient.pk, code="2093-3", name="TC", value=6.2, unit="mmol/L")
    assert not RiskAssessment.objects.filter(patient=patient).exists()  # HDL and smoking missing
    emr.record_result(doctor, patient.pk, code="2085-9", name="HDL", value=1.1, unit="mmol/L")
    services.save_lifestyle(doctor, patient.pk, LIFESTYLE)
    pce = RiskAssessment.objects.get(patient=patient, model="pce")
    assert pce.model_version == "goff-2013" and pce.source == "record"
    assert pce.inputs["total_cholesterol"] == pytest.approx(6.2 * 38.67, abs=0.01)
    assert pce.inputs["race"] == "other" and pce.inputs["smoker"] is True
    assert pce.measures["systolic_bp"] == 150
    assert {d["factor"] for d in pce.drivers} >= {"smoker", "systolic_bp"}
    assert RiskAssessment.objects.filter(patient=patient, model="framingham").exists()
    # FINDRISC needs the BMI: weight and height arrive, it is computed.
    emr.record_vital(doctor, patient.pk, kind="weight", value=78)
    emr.record_vital(doctor, patient.pk, kind="height", value=170)
    findrisc = RiskAssessment.objects.get(patient=patient, model="findrisc")
    assert findrisc.inputs["bmi"] == 27.0 and findrisc.score is not None


def test_unchanged_inputs_are_not_stored_twice(h: TestHospital) -> None:
    patient = fill_record(h)
    before = RiskAssessment.objects.filter(patient=patient).count()
    assert services.refresh_from_record(patient) == []
    emr.record_vital(h.user("doctor"), patient.pk, kind="bp", value=150, value2=85)  # same systolic
    assert RiskAssessment.objects.filter(patient=patient).count() == before


def test_home_readings_replace_an_older_office_value(h: TestHospital) -> None:
    from datetime import timedelta

    from smartcare.core import clock

    patient = fill_record(h, sbp=160)
    office = patient.vital_signs.filter(kind="bp").latest("measured_at")
    office.measured_at -= timedelta(days=1)
    office.save()
    for days in (3, 2, 1):
        Reading.objects.create(
            patient=patient,
            kind="blood_pressure",
            value=130,
            value2=80,
            unit="mmHg",
            measured_at=clock.now() - timedelta(seconds=days),
            source="manual",
        )
    services.refresh_from_record(patient)
    latest = services.latest_assessments(patient)["pce"]
    assert latest.inputs["systolic_bp"] == 130 and latest.measures["systolic_source"] == "home"


def test_out_of_range_patients_get_no_pce_but_no_error_in_the_record(h: TestHospital) -> None:
    young = h.own_patient
    young.birth_date = young.birth_date.replace(year=1995)
    young.save()
    fill_record(h, young)
    models = set(RiskAssessment.objects.filter(patient=young).values_list("model", flat=True))
    assert "pce" not in models and "framingham" in models


def test_advice_rules(h: TestHospital) -> None:
    profile = {
        "smoker": True,
        "systolic_bp": 150,
        "bp_treated": True,
        "bmi": 27,
        "total_cholesterol": 240,
        "cv_risk": 0.12,
        "physically_active": False,
        "findrisc_score": 13,
    }
    keys = {r.key for r in rules.advise(profile)}
    assert keys == set(rules.RULES)
    healthy = {
        "smoker": False,
        "systolic_bp": 118,
        "bp_treated": False,
        "bmi": 22,
        "total_cholesterol": 170,
        "ldl": 100,
        "cv_risk": 0.03,
        "physically_active": True,
        "findrisc_score": 5,
    }
    assert rules.advise(healthy) == []
    assert {r.key for r in rules.advise({**healthy, "ldl": 130})} == {"lipid-diet"}
    assert {r.key for r in rules.advise({**healthy, "cv_risk": 0.075})} == {"statin-review"}
    assert {r.key for r in rules.advise({**healthy, "systolic_bp": 145})} == {
        "bp-home-measurement",
        "low-salt",
    }
    assert {r.key for r in rules.advise({**healthy, "systolic_bp": 145, "bp_treated": True})} == {
        "bp-home-measurement",
        "low-salt",
        "bp-medication-review",
    }


def test_advice_follows_the_record_and_is_retired_when_it_no_longer_applies(h: TestHospital) -> None:
    patient = fill_record(h)
    current = set(Advice.objects.filter(patient=patient, is_current=True).values_list("rule", flat=True))
    assert {
        "stop-smoking",
        "bp-home-measurement",
        "low-salt",
        "lose-weight",
        "move-more",
        "lipid-diet",
    } <= current
    services.save_lifestyle(h.user("doctor"), patient.pk, {**LIFESTYLE, "smoker": "no"})
    current = set(Advice.objects.filter(patient=patient, is_current=True).values_list("rule", flat=True))
    assert "stop-smoking" not in current
    assert Advice.objects.filter(patient=patient, rule="stop-smoking", is_current=False).exists()


def test_enrolment_sends_education_and_tells_the_patient(h: TestHospital) -> None:
    patient = fill_record(h, h.own_patient)
    programme = Programme.objects.get(key="cardiovascular-risk")
    enrolment = services.enrol(h.user("doctor"), programme.pk, patient.pk)
    assert enrolment.baseline.model == "pce" and enrolment.department == h.cardiology
    assert Advice.objects.filter(enrolment=enrolment).count() >= 5
    keys = set(EducationDelivery.objects.filter(patient=patient).values_list("item__key", flat=True))
    assert {"quit-smoking", "low-salt-diet", "home-bp-measurement"} <= keys
    assert Notification.objects.filter(recipient=h.user("patient"), category="health_advice").exists()
    with pytest.raises(AlreadyEnrolled):
        services.enrol(h.user("doctor"), programme.pk, patient.pk)
    assert Enrolment.objects.filter(patient=patient).count() == 1


def test_enrolment_needs_a_baseline_and_access(h: TestHospital) -> None:
    programme = Programme.objects.get(key="cardiovascular-risk")
    with pytest.raises(NotEnoughData):
        services.enrol(h.user("doctor"), programme.pk, h.patient_in_care.pk)
    with pytest.raises(NotFound):
        services.enrol(h.user("doctor"), programme.pk, h.patient_elsewhere.pk)
    with pytest.raises(PermissionDenied):
        services.enrol(h.user("nurse"), programme.pk, h.patient_in_care.pk)
    assert not Enrolment.objects.exists()


def test_the_patient_reports_adherence_once_a_day(h: TestHospital) -> None:
    patient = fill_record(h, h.own_patient)
    advice = Advice.objects.filter(patient=patient, for_doctor=False).first()
    assert advice is not None
    services.report_adherence(h.user("patient"), advice.pk, "partly")
    services.report_adherence(h.user("patient"), advice.pk, "followed", note="walked")
    report = AdherenceReport.objects.get(advice=advice)
    assert report.level == "followed" and report.note == "walked"
    with pytest.raises(AdherenceInvalid) as error:
        services.report_adherence(h.user("patient"), advice.pk, "sometimes")
    assert error.value.code == "HL-010"
    with pytest.raises(NotFound):
        services.report_adherence(h.user("other_patient_user"), advice.pk, "followed")
    doctor_only = Advice.objects.filter(patient=patient, for_doctor=True).first()
    if doctor_only is not None:
        with pytest.raises(NotFound):
            services.report_adherence(h.user("patient"), doctor_only.pk, "followed")
    assert AdherenceReport.objects.count() == 1


def test_bad_lifestyle_answers_write_nothing(h: TestHospital) -> None:
    with pytest.raises(AnswersInvalid) as error:
        services.save_lifestyle(
            h.user("patient"), h.own_patient.pk, {**LIFESTYLE, "waist_cm": "5", "smoker": "?"}
        )
    assert set(error.value.errors) == {"waist_cm", "smoker"}
    assert not LifestyleAnswers.objects.exists()


def test_manual_assessment_refuses_out_of_range_and_stores_nothing(h: TestHospital) -> None:
    raw = {
        "age": 85,
        "sex": "female",
        "race": "other",
        "total_cholesterol": 5.5,
        "total_cholesterol_unit": "mmol/L",
        "hdl": 1.3,
        "hdl_unit": "mmol/L",
        "systolic_bp": 130,
        "bp_treated": False,
        "smoker": False,
        "diabetes": False,
    }
    with pytest.raises(OutsideValidatedRange):
        services.assess_manually(h.user("doctor"), h.patient_in_care.pk, "pce", raw)
    assert not RiskAssessment.objects.exists()
    stored = services.assess_manually(h.user("doctor"), h.patient_in_care.pk, "pce", {**raw, "age": 60})
    assert stored.source == "manual" and stored.computed_by == h.user("doctor")


def test_refresh_says_what_is_missing(h: TestHospital) -> None:
    with pytest.raises(NotEnoughData) as error:
        services.refresh_for(h.user("doctor"), h.patient_in_care.pk)
    assert "total_cholesterol" in error.value.detail


def test_enrolled_patients_who_stop_reporting_are_reminded_once_a_week(h: TestHospital) -> None:
    import datetime as dt

    from smartcare.core import clock

    patient = fill_record(h, h.own_patient)
    programme = Programme.objects.get(key="cardiovascular-risk")
    enrolment = services.enrol(h.user("doctor"), programme.pk, patient.pk)
    assert services.remind_adherence() == 0  # enrolled today
    Enrolment.objects.filter(pk=enrolment.pk).update(enrolled_on=clock.today() - dt.timedelta(days=10))
    assert services.remind_adherence() == 1
    assert services.remind_adherence() == 0  # not twice in a week
    reminders = Notification.objects.filter(recipient=h.user("patient"), category="health_adherence")
    assert reminders.count() == 1 and reminders.get().link == "/health/me/"
    Notification.objects.filter(category="health_adherence").delete()
    advice = Advice.objects.filter(enrolment=enrolment, for_doctor=False).first()
    assert advice is not None
    services.report_adherence(h.user("patient"), advice.pk, "followed")
    assert services.remind_adherence() == 0  # reported this week


def test_imported_records_get_their_risks_in_batches(h: TestHospital) -> None:
    from django.core.cache import cache

    from smartcare.emr.models import Observation, VitalSign

    cache.delete("health:unassessed-after")
    patients = [h.patient_in_care, h.own_patient, h.other_patient]
    for patient in patients:  # bulk writes, as an import does: no signals
        VitalSign.objects.bulk_create(
            [VitalSign(patient=patient, kind="bp", value=140, unit="mmHg", recorded_by=h.user("doctor"))]
        )
        Observation.objects.bulk_create(
            [
                Observation(patient=patient, code="2093-3", name="TC", value=5.8, unit="mmol/L"),
                Observation(patient=patient, code="2085-9", name="HDL", value=1.2, unit="mmol/L"),
            ]
        )
        LifestyleAnswers.objects.create(
            patient=patient,
            **{
                **{k: v == "yes" for k, v in LIFESTYLE.items() if k not in ("family_history", "waist_cm")},
                "family_history": "none",
            },
        )
    assert not RiskAssessment.objects.exists()
    assert services.assess_unassessed(limit=2) == 2
    assert services.assess_unassessed(limit=2) == 1
    assert services.assess_unassessed(limit=2) == 0  # all done, the walk starts again
    assert RiskAssessment.objects.filter(model="pce").values("patient").distinct().count() == 3
