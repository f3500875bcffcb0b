"""A hand-made month (June 2025) for the quality measures, with the answers worked out by hand.

QC-HBA1C (look-back 183 days from 2025-07-01, i.e. results after 2024-12-30):
  A  cardiology, E11.9 diagnosis, HbA1c 2025-03-01            -> met
  B  cardiology (patient_in_care), E10 active problem, HbA1c 2024-10-01 only -> failed
  C  neurology (patient_elsewhere), E11 diagnosis, no HbA1c   -> failed
  D  cardiology, I10 only                                     -> not diabetic
  E  cardiology, E11 ruled out                                -> not counted
  F  E11 but seen only in May                                 -> not counted
  => 1 / 3; cardiology 1 / 2, neurology 0 / 1.
QC-HTN-LABS (365 days): D has potassium and creatinine -> met; B also has I10 and only potassium
  -> failed. => 1 / 2.
QC-BP-FOLLOWUP (30 days): B (I10 problem) 150/95 on 06-12, again on 06-30 -> met; D (I10) 160/100
  on 06-20, nothing after -> failed; A 150/92 but not hypertensive -> not counted. => 1 / 2.
QC-CRITICAL (15 minutes): R1 cardiology told after 5 min -> met; R2 neurology after 40 min ->
  failed; R3 cardiology never told -> failed; R4 issued in July -> outside. => 1 / 3.
QC-ALERT (15 minutes): A1 acknowledged after 10 min -> met; A2 after 60 min -> failed; a warning
  alert is not counted. => 1 / 2.
QC-ABX: no data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from smartcare.cdss.models import Rule
from smartcare.cdss.seed import load_rules
from smartcare.emr.choices import (
    DiagnosisStatus,
    EncounterKind,
    EncounterStatus,
    ObservationFlag,
    ProblemStatus,
)
from smartcare.emr.models import Diagnosis, Encounter, Icd10Code, Observation, Problem, VitalSign
from smartcare.interop.models import DiagnosticReport, ReportDelivery
from smartcare.monitoring.models import Alert
from tests.factories import PatientFactory

START, END = dt.date(2025, 6, 1), dt.date(2025, 6, 30)
TZ = ZoneInfo(settings.TIME_ZONE)


def at(day: dt.date, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ)


def _code(code: str) -> Icd10Code:
    found, _ = Icd10Code.objects.get_or_create(code=code, defaults={"name_zh": code, "name_en": code})
    return found


def _encounter(h: Any, patient: Any, department: Any, day: dt.date) -> Encounter:
    return Encounter.objects.create(
        patient=patient,
        kind=EncounterKind.OUTPATIENT,
        department=department,
        attending=h.user("doctor").practitioner,
        status=EncounterStatus.FINISHED,
        started_at=at(day),
        ended_at=at(day, 10),
    )


def _diagnosis(h: Any, encounter: Encounter, code: str, status: str = DiagnosisStatus.CONFIRMED) -> None:
    Diagnosis.objects.create(
        encounter=encounter, icd10=_code(code), status=status, recorded_by=h.user("doctor")
    )


def _result(patient: Any, code: str, day: dt.date, value: float = 7.0, flag: str = "") -> Observation:
    return Observation.objects.create(
        patient=patient, code=code, name=code, value=value, observed_at=at(day), flag=flag
    )


def _bp(
    h: Any, patient: Any, encounter: Encounter | None, day: dt.date, systolic: float, diastolic: float
) -> None:
    VitalSign.objects.create(
        patient=patient,
        encounter=encounter,
        kind="bp",
        value=systolic,
        value2=diastolic,
        unit="mmHg",
        measured_at=at(day, 9, 30),
        recorded_by=h.user("nurse"),
    )


def _alert(
    patient: Any, department: Any, raised: dt.datetime, acknowledged: dt.datetime | None, severity: str
) -> Alert:
    return Alert.objects.create(
        patient=patient,
        department=department,
        kind="bp",
        rule="threshold",
        severity=severity,
        direction="high",
        status="acknowledged" if acknowledged else "open",
        value_text="190/110",
        raised_at=raised,
        critical_since=raised if severity == "critical" else None,
        acknowledged_at=acknowledged,
    )


def build_quality_month(h: Any) -> dict[str, Any]:
    if not Rule.objects.filter(key="gap.diabetes_hba1c", is_active=True).exists():
        load_rules()
    cardiology, neurology = h.cardiology, h.neurology
    a, d, e, f = (PatientFactory(name=n) for n in ("甲", "丁", "戊", "己"))
    b, c = h.patient_in_care, h.patient_elsewhere
    _diagnosis(h, _encounter(h, a, cardiology, dt.date(2025, 6, 10)), "E11.9")
    _result(a, "4548-4", dt.date(2025, 3, 1))
    b_visit = _encounter(h, b, cardiology, dt.date(2025, 6, 12))
    _bp(h, b, b_visit, dt.date(2025, 6, 12), 150, 95)
    _bp(h, b, None, dt.date(2025, 6, 30), 132, 84)
    Problem.objects.create(
        patient=b, icd10=_code("E10.9"), status=ProblemStatus.ACTIVE, recorded_by=h.user("doctor")
    )
    Problem.objects.create(
        patient=b, icd10=_code("I10"), status=ProblemStatus.ACTIVE, recorded_by=h.user("doctor")
    )
    _result(b, "4548-4", dt.date(2024, 10, 1))
    _result(b, "2823-3", dt.date(2025, 4, 1), 4.1)
    _diagnosis(h, _encounter(h, c, neurology, dt.date(2025, 6, 15)), "E11.9")
    d_visit = _encounter(h, d, cardiology, dt.date(2025, 6, 20))
    _diagnosis(h, d_visit, "I10")
    _bp(h, d, d_visit, dt.date(2025, 6, 20), 160, 100)
    _bp(h, a, None, dt.date(2025, 6, 10), 150, 92)
    _result(d, "2823-3", dt.date(2025, 1, 5), 4.2)
    _result(d, "2160-0", dt.date(2025, 2, 1), 80)
    _diagnosis(h, _encounter(h, e, cardiology, dt.date(2025, 6, 21)), "E11.9", DiagnosisStatus.RULED_OUT)
    _diagnosis(h, _encounter(h, f, cardiology, dt.date(2025, 5, 20)), "E11.9")

    reports = {}
    for name, patient, department, issued, minutes in (
        ("R1", a, cardiology, at(dt.date(2025, 6, 5), 10), 5),
        ("R2", c, neurology, at(dt.date(2025, 6, 6), 10), 40),
        ("R3", b, cardiology, at(dt.date(2025, 6, 7), 10), None),
        ("R4", a, cardiology, at(dt.date(2025, 7, 2), 10), 50),
    ):
        encounter = _encounter(h, patient, department, issued.date())
        report = DiagnosticReport.objects.create(
            patient=patient, encounter=encounter, name=name, issued_at=issued
        )
        report.results.add(_result(patient, "2823-3", issued.date(), 6.9, ObservationFlag.CRITICAL_HIGH))
        reports[name] = ReportDelivery.objects.create(
            report=report,
            kind="lab",
            source="hl7",
            critical_count=1,
            ordering_user=h.user("doctor"),
            critical_notified_at=issued + dt.timedelta(minutes=minutes) if minutes is not None else None,
            created_at=issued + dt.timedelta(minutes=1),
        )
    alerts = {
        "A1": _alert(b, cardiology, at(dt.date(2025, 6, 3), 8), at(dt.date(2025, 6, 3), 8, 10), "critical"),
        "A2": _alert(b, cardiology, at(dt.date(2025, 6, 8), 8), at(dt.date(2025, 6, 8), 9), "critical"),
        "W": _alert(c, neurology, at(dt.date(2025, 6, 9), 8), None, "warning"),
    }
    return {"patients": {"A": a, "B": b, "C": c, "D": d}, "reports": reports, "alerts": alerts}
