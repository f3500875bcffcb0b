"""What decision support needs to know about a patient, in one plain structure.

The EMR fills it from its records (``selectors.clinical_facts``); CDS Hooks fills it from the
FHIR resources an external EMR sends (``smartcare.cdss.fhir_context``). Rules read only this, so
the workstation and an external EMR get the same advice. Drug, class, disease and exam ids are
knowledge-graph keys (``drug:warfarin``, ``drug_class:penicillins``, ``disease:type2_diabetes``,
``exam:hba1c``) where known; codes keep their system (ICD-10, LOINC, ATC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class Medication:
    drug: str  # drug:<slug> knowledge key ("" when the drug is not in the graph)
    name: str  # as ordered (generic name)
    dose: float | None = None
    dose_unit: str = ""  # mg, g, mcg, IU, mL
    route: str = ""  # oral, iv, im, sc, topical, inhaled...
    frequency_per_day: float | None = None
    duration_days: int | None = None
    atc: str = ""
    status: str = "active"  # active (current medication) or draft (being ordered now)
    order_id: str = ""  # the EMR order or FHIR MedicationRequest id it came from


@dataclass
class Condition:
    icd10: str
    name: str = ""
    disease: str = ""  # disease:<slug> knowledge key when mapped
    onset: dt.date | None = None
    status: str = "active"


@dataclass
class Allergy:
    substance: str  # drug:<slug> or drug_class:<slug> knowledge key, or "" when free text only
    name: str
    reaction: str = ""
    severity: str = ""  # mild, moderate, severe


@dataclass
class Observation:
    code: str  # LOINC code, or exam:<slug> knowledge key for tests without LOINC
    name: str
    value: float | None
    unit: str = ""
    when: dt.datetime | None = None
    flag: str = ""  # H, L, HH, LL, A or ""


@dataclass
class ExamOrder:
    exam: str  # exam:<slug> knowledge key, or LOINC code
    name: str
    when: dt.datetime | None = None
    status: str = "draft"  # draft (being ordered now), active, completed
    order_id: str = ""


@dataclass
class ClinicalFacts:
    patient_id: str
    age_years: int | None = None
    age_months: int | None = None
    sex: str = ""  # male / female
    pregnant: bool = False
    breastfeeding: bool = False
    weight_kg: float | None = None
    height_cm: float | None = None
    department_code: str = ""  # national code of the encounter's department
    conditions: list[Condition] = field(default_factory=list)
    allergies: list[Allergy] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)  # current, status active
    draft_medications: list[Medication] = field(default_factory=list)  # being ordered now
    observations: list[Observation] = field(default_factory=list)  # results, newest last
    exam_orders: list[ExamOrder] = field(default_factory=list)  # past and draft exam orders
    as_of: dt.datetime | None = None
