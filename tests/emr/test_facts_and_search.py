"""clinical_facts (what decision support reads) and the ICD-10 table and search."""

from __future__ import annotations

import datetime as dt

import pytest

from smartcare.core import clock
from smartcare.emr import selectors, services
from smartcare.emr.icd10 import chapter_of, read_rows
from smartcare.emr.models import Icd10Code, Order
from smartcare.knowledge.models import Node
from smartcare.organization.choices import Sex
from tests.emr.test_records import med
from tests.factories import PatientFactory, TestHospital


def test_the_table_covers_every_knowledge_code_and_the_common_ones(db: object) -> None:
    rows = read_rows()
    codes = {r["code"] for r in rows}
    assert len(rows) >= 600 and len(codes) == len(rows)
    used = set(Node.objects.exclude(icd10="").values_list("icd10", flat=True))
    assert used <= codes
    assert {"I10", "E11.9", "J06.9", "K29.7", "M54.5", "Z33", "N39.0", "R51"} <= codes
    assert all(r["name_zh"] and r["name_en"] and r["chapter"] == chapter_of(r["code"]) for r in rows)
    assert Icd10Code.objects.count() == len(rows)
    assert chapter_of("S72.0") == chapter_of("T07") == "XIX"


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("I10", "I10"),
        ("e11.9", "E11.9"),
        ("原发性高血压", "I10"),
        ("essential hypertension", "I10"),
        ("2型糖尿病", "E11.9"),
    ],
)
def test_icd10_search_by_code_chinese_and_english(db: object, query: str, first: str) -> None:
    hits = selectors.search_icd10(query)
    assert hits and hits[0].code == first


def test_icd10_search_prefix_and_limit(db: object) -> None:
    hits = selectors.search_icd10("E11", limit=5)
    assert len(hits) == 5 and all(h.code.startswith("E11") for h in hits)
    assert hits[0].code == "E11"[:3] or hits[0].code.startswith("E11")
    assert selectors.search_icd10("no such disease at all") == []


def test_disease_mapping_by_icd10_prefix(db: object) -> None:
    assert selectors.disease_for_icd10("E11.9") == "disease:type2_diabetes"
    assert selectors.disease_for_icd10("I10") == "disease:hypertension"
    # A more specific code than the graph knows maps to the nearest shorter one, and a category
    # to a node of that category.
    assert selectors.disease_for_icd10("I10.0") == "disease:hypertension"
    assert selectors.disease_for_icd10("E11").startswith("disease:")
    assert selectors.disease_for_icd10("Z00.0") == ""


def test_clinical_facts(h: TestHospital) -> None:
    doctor, nurse = h.user("doctor"), h.user("nurse")
    patient = PatientFactory(
        name="事实",
        sex=Sex.FEMALE,
        birth_date=clock.local_now().date().replace(year=clock.local_now().year - 34) - dt.timedelta(days=40),
    )
    from smartcare.accounts.services import register_care_relationship

    register_care_relationship(patient=patient, department=h.cardiology, kind="appointment", source="facts")
    encounter = services.open_encounter(doctor, patient_id=patient.pk)
    services.record_problem(doctor, patient.pk, code="E11.9")
    services.record_problem(doctor, patient.pk, code="Z33")
    services.add_diagnosis(doctor, encounter.pk, code="I10")
    services.record_allergy(
        nurse, patient.pk, substance="drug_class:penicillins", reaction="urticaria", severity="severe"
    )
    services.record_vital(nurse, patient.pk, kind="weight", value=61.5)
    services.record_vital(
        nurse, patient.pk, kind="weight", value=63, measured_at=clock.now() - dt.timedelta(days=30)
    )
    services.record_vital(nurse, patient.pk, kind="height", value=162)
    services.record_result(nurse, patient.pk, code="2160-0", name="Creatinine", value=1.4, unit="mg/dL")
    services.record_result(nurse, patient.pk, code="2160-0", name="Creatinine", value=98, unit="umol/L")
    warfarin = services.place_order(
        doctor, encounter.pk, med(item="drug:warfarin", dose="3", frequency_per_day="1", duration_days="30")
    )
    services.sign_order(doctor, warfarin.pk)
    hba1c = services.place_order(doctor, encounter.pk, services.OrderData(kind="lab", item="exam:hba1c"))
    services.sign_order(doctor, hba1c.pk)
    draft = services.place_order(
        doctor, encounter.pk, med(item="drug:aspirin", dose="100", frequency_per_day="1", duration_days="30")
    )
    unsaved = Order(kind="lab", item="exam:hba1c", name="HbA1c")

    facts = selectors.clinical_facts(patient, encounter=encounter, draft_orders=[draft, unsaved])
    assert facts.patient_id == str(patient.pk)
    assert facts.age_years == 34 and facts.age_months == 34 * 12 + 1
    assert facts.sex == "female" and facts.pregnant and not facts.breastfeeding
    assert facts.weight_kg == 61.5 and facts.height_cm == 162
    assert facts.department_code == h.cardiology.code
    by_code = {c.icd10: c for c in facts.conditions}
    assert by_code["E11.9"].disease == "disease:type2_diabetes"
    assert by_code["I10"].disease == "disease:hypertension"
    assert by_code["Z33"].disease == ""
    assert [(a.substance, a.severity) for a in facts.allergies] == [("drug_class:penicillins", "severe")]
    assert [(m.drug, m.dose, m.frequency_per_day, m.route, m.atc) for m in facts.medications] == [
        ("drug:warfarin", 3.0, 1.0, "oral", "B01AA03")
    ]
    assert [(m.drug, m.status) for m in facts.draft_medications] == [("drug:aspirin", "draft")]
    creatinine = [o for o in facts.observations if o.code == selectors.CREATININE_LOINC]
    assert [round(selectors.creatinine_umol_per_l(o) or 0) for o in creatinine] == [124, 98]
    exams = [(e.exam, e.status) for e in facts.exam_orders]
    assert exams == [("exam:hba1c", "active"), ("exam:hba1c", "draft")]

    past = selectors.clinical_facts(patient, as_of=clock.now() - dt.timedelta(days=10))
    assert past.weight_kg == 63 and not past.medications and not past.conditions
