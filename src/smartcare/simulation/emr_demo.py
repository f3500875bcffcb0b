"""The medical record of the demo year: for finished doctor visits, an encounter with a signed
note (writing times around the 10-minute target), a diagnosis the department treats, first-line
drugs at usual doses and recommended exams from the knowledge graph, results for the exams, and
the chronic diagnoses on the problem list.

Real clinics also prescribe what decision support exists for, and so does the demo, on purpose and
at realistic rates: a patient's regular drug re-prescribed with a new one that interacts with it,
a drug the patient's state contraindicates (pregnancy, kidney failure, an ulcer, old age, a
recorded allergy), a test repeated within its window (the earlier result came from another visit
or hospital), a dose slip, a child's dose without a recorded weight, and a traditional Chinese
medicine decision support cannot check. ``cdss_demo`` then asks decision support about these
orders and records the doctors' answers.

Written in bulk (like the other demo generators): it is history, not something users did.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone, translation

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import CareRelationship
from smartcare.core import clock
from smartcare.emr.choices import (
    AllergySeverity,
    EncounterKind,
    EncounterStatus,
    MovementKind,
    NoteKind,
    NoteStatus,
    OrderKind,
    OrderStatus,
    VitalKind,
)
from smartcare.emr.icd10 import ensure_icd10
from smartcare.emr.models import (
    Allergy,
    Diagnosis,
    Encounter,
    EncounterMovement,
    Icd10Code,
    Note,
    NoteVersion,
    Observation,
    Order,
    Problem,
    VitalSign,
)
from smartcare.emr.services import CARE_AFTER_ENCOUNTER, _summary_sections
from smartcare.knowledge.choices import EdgeType
from smartcare.knowledge.models import Edge, Node
from smartcare.knowledge.seed import ensure_seed
from smartcare.organization.choices import BedStatus, RoomKind
from smartcare.organization.models import Bed, Department, Practitioner
from smartcare.patients.models import Patient
from smartcare.scheduling.choices import AppointmentStatus
from smartcare.scheduling.models import Appointment
from smartcare.simulation.registry import DemoContext, register_generator

MAX_ENCOUNTERS = 3000
WRITING_MEDIAN_SECONDS = 420  # 7 minutes; about one note in five takes longer than 10
WRITING_SIGMA = 0.45
DRUG_SHARE = 0.6
EXAM_SHARE = 0.4
# What decision support is for, on purpose at realistic rates (shares of the visits that qualify).
INTERACTION_SHARE = 0.1  # adult visits with drugs: a regular drug renewed with a new interacting one
CONTRAINDICATION_SHARE = 0.04  # visits of a patient in a state that contraindicates a usual drug
ALLERGY_SHARE = 0.012  # visits with drugs: a penicillin for a patient with a recorded allergy
REPEAT_SHARE = 0.12  # exam orders: the same test done within its window, at another visit or hospital
DOSE_SLIP_SHARE = 0.01  # drug orders: ten times the usual dose
UNRECOGNISED_SHARE = 0.015  # visits with drugs: a Chinese patent medicine not in the drug table
CHILD_WEIGHT_SHARE = 0.85  # children's visits with a weight recorded (the others cannot be dosed per kg)
# Plausible values of common exams (LOINC: low, high, unit) for demo results.
RESULT_RANGES: dict[str, tuple[float, float, str]] = {
    "4548-4": (4.0, 6.0, "%"),
    "2160-0": (45.0, 110.0, "umol/L"),
    "2823-3": (3.5, 5.3, "mmol/L"),
    "2345-7": (3.9, 6.1, "mmol/L"),
    "718-7": (115.0, 160.0, "g/L"),
}
# Usual adult doses (mg, times a day) of the drugs the demo prescribes most; others get a small
# plausible dose. Children get a weight-based dose of the few drugs they are given here.
USUAL_DOSES: dict[str, tuple[str, int]] = {
    "drug:paracetamol": ("500", 3),
    "drug:ibuprofen": ("400", 3),
    "drug:aspirin": ("100", 1),
    "drug:amoxicillin": ("500", 3),
    "drug:azithromycin": ("500", 1),
    "drug:cefuroxime": ("250", 2),
    "drug:clarithromycin": ("500", 2),
    "drug:ciprofloxacin": ("500", 2),
    "drug:levofloxacin": ("500", 1),
    "drug:metformin": ("500", 2),
    "drug:amlodipine": ("5", 1),
    "drug:atorvastatin": ("20", 1),
    "drug:simvastatin": ("20", 1),
    "drug:enalapril": ("10", 1),
    "drug:losartan": ("50", 1),
    "drug:valsartan": ("80", 1),
    "drug:metoprolol": ("47.5", 1),
    "drug:warfarin": ("3", 1),
    "drug:omeprazole": ("20", 1),
    "drug:diazepam": ("5", 1),
    "drug:tramadol": ("50", 2),
    "drug:cetirizine": ("10", 1),
    "drug:loratadine": ("10", 1),
    "drug:allopurinol": ("100", 1),
    "drug:digoxin": ("0.125", 1),
    "drug:levothyroxine": ("0.05", 1),
    "drug:colchicine": ("0.5", 2),
    "drug:sertraline": ("50", 1),
    "drug:gabapentin": ("300", 3),
    "drug:prednisone": ("20", 1),
    "drug:diclofenac": ("50", 2),
    "drug:clopidogrel": ("75", 1),
    "drug:lithium": ("300", 2),
    "drug:rivaroxaban": ("20", 1),
    "drug:amiodarone": ("200", 1),
    "drug:methotrexate": ("10", 1),
}
CHILD_MG_PER_KG = {
    "drug:paracetamol": 12,
    "drug:ibuprofen": 8,
    "drug:amoxicillin": 25,
    "drug:azithromycin": 10,
}
# (the patient's regular drug, the new drug). Naproxen is prescribed by name (it is in decision
# support's drug table, not in the knowledge graph), as a doctor types it.
INTERACTIONS: list[tuple[str, str]] = [
    ("drug:warfarin", "drug:ibuprofen"),
    ("drug:warfarin", "naproxen"),
    ("drug:warfarin", "drug:paracetamol"),
    ("drug:simvastatin", "drug:clarithromycin"),
    ("drug:sertraline", "drug:ibuprofen"),
    ("drug:enalapril", "drug:ibuprofen"),
    ("drug:clopidogrel", "drug:omeprazole"),
    ("drug:methotrexate", "drug:diclofenac"),
    ("drug:lithium", "drug:ibuprofen"),
    ("drug:rivaroxaban", "drug:diclofenac"),
    ("drug:amiodarone", "drug:simvastatin"),
    ("drug:diclofenac", "drug:ibuprofen"),  # two NSAIDs: duplicate therapy
]
FREE_TEXT = {"naproxen": ("萘普生片", "M01AE02", "250", 2)}
UNRECOGNISED = ["复方丹参滴丸", "连花清瘟胶囊", "六味地黄丸"]
# Chronic conditions go on the problem list (care gaps are about them).
CHRONIC = ("E10", "E11", "E14", "I10", "I11", "I25", "I48", "N18", "E78", "M10", "E03", "J44", "J45", "M06")


@dataclass
class Plan:
    """What one visit orders beyond the note and the diagnosis."""

    drugs: list[tuple[str, str, str, Decimal, int]] = field(
        default_factory=list
    )  # key, name, code, dose, per day
    exams: list[Node] = field(default_factory=list)
    extra_diagnosis: str = ""
    prior_results: list[tuple[str, str, float, str, int]] = field(
        default_factory=list
    )  # code, name, value, unit, days before
    allergy: bool = False
    child_weight: float | None = None


def _write_first_versions(notes: list[Note], *, batch_size: int) -> None:
    """The signed version 1 of each signed demo note (what signing writes one by one)."""
    NoteVersion.objects.bulk_create(
        (
            NoteVersion(
                note=n,
                number=1,
                content=n.sections(),
                signed_by=n.author,
                signed_at=n.signed_at or n.opened_at,
            )
            for n in notes
        ),
        batch_size=batch_size,
    )


def _department_diseases() -> dict[str, list[Node]]:
    """National department code id -> diseases the knowledge graph treats there (with ICD-10)."""
    known = set(Icd10Code.objects.values_list("code", flat=True))
    by_code: dict[str, list[Node]] = defaultdict(list)
    edges = Edge.objects.filter(type=EdgeType.TREATED_IN, source__type="disease", source__is_active=True)
    for edge in edges.select_related("source", "target"):
        if edge.source.icd10 in known and edge.target.department_id:
            by_code[str(edge.target.department_id)].append(edge.source)
    return by_code


def _neighbours(edge_type: str) -> dict[int, list[Node]]:
    found: dict[int, list[Node]] = defaultdict(list)
    for edge in Edge.objects.filter(type=edge_type, target__is_active=True).select_related("target"):
        found[edge.source_id].append(edge.target)
    return found


def _first_line_drugs() -> dict[int, list[list[Node]]]:
    """Disease -> first-line choices, each a list of drugs: one drug, or the members of a
    first-line class (NSAIDs), of which the doctor picks one (preferring the common ones)."""
    members: dict[str, list[Node]] = defaultdict(list)
    for edge in Edge.objects.filter(
        type=EdgeType.BELONGS_TO_CLASS, source__type="drug", source__is_active=True
    ).select_related("source", "target"):
        members[edge.target.key].append(edge.source)
    found: dict[int, list[list[Node]]] = defaultdict(list)
    for disease, targets in _neighbours(EdgeType.FIRST_LINE_DRUG).items():
        for node in targets:
            if node.type == "drug":
                found[disease].append([node])
            elif members.get(node.key):
                common = [n for n in members[node.key] if n.key in USUAL_DOSES]
                found[disease].append(common or members[node.key])
    return found


def _windows() -> dict[str, int]:
    """Repeat-exam windows (days) by LOINC code or exam key, from decision support's shipped rule."""
    from smartcare.cdss.seed import data_file

    return dict(data_file("exams.json")["repeated"]["parameters"]["windows"])


class Prescriber:
    """Drug orders with usual doses, and the scenarios decision support is for."""

    def __init__(self, ctx: DemoContext) -> None:
        self.rng = ctx.rng
        self.nodes = {n.key: n for n in Node.objects.filter(type="drug", is_active=True)}
        self.interactions = [
            (a, b) for a, b in INTERACTIONS if a in self.nodes and (b in self.nodes or b in FREE_TEXT)
        ]

    def drug(
        self, key: str, *, age: int | None = None, weight: float | None = None
    ) -> tuple[str, str, str, Decimal, int]:
        if key in FREE_TEXT:
            name, code, dose, per_day = FREE_TEXT[key]
            return "", name, code, Decimal(dose), per_day
        node = self.nodes[key]
        dose, per_day = USUAL_DOSES.get(
            key, (self.rng.choice(["5", "10", "20", "50"]), self.rng.choice([1, 2, 3]))
        )
        amount = Decimal(dose)
        if age is not None and age < 12 and key in CHILD_MG_PER_KG:
            kg = weight or 2 * age + 8
            amount = Decimal(int(CHILD_MG_PER_KG[key] * kg / 5) * 5 or 5)
        if self.rng.random() < DOSE_SLIP_SHARE:
            amount *= 10  # a slip of the decimal point
        return key, node.name_zh, node.atc, amount, per_day

    def plan(
        self, patient: Patient, age: int, drugs: list[Node], exams: list[Node], windows: dict[str, int]
    ) -> Plan:
        rng = self.rng
        plan = Plan()
        if age < 12 and rng.random() < CHILD_WEIGHT_SHARE:
            plan.child_weight = round((2 * age + 8) * rng.uniform(0.85, 1.2), 1)
        for node in drugs if rng.random() < DRUG_SHARE else []:
            plan.drugs.append(self.drug(node.key, age=age, weight=plan.child_weight))
        if plan.drugs and age >= 18 and self.interactions and rng.random() < INTERACTION_SHARE:
            regular, new = rng.choice(self.interactions)
            plan.drugs += [self.drug(regular), self.drug(new)]
        if rng.random() < CONTRAINDICATION_SHARE:
            self._contraindicated(patient, age, plan)
        if plan.drugs and rng.random() < ALLERGY_SHARE and "drug:amoxicillin" in self.nodes:
            plan.allergy = True
            plan.drugs.append(self.drug("drug:amoxicillin", age=age, weight=plan.child_weight))
        if plan.drugs and rng.random() < UNRECOGNISED_SHARE:
            plan.drugs.append(("", rng.choice(UNRECOGNISED), "", Decimal("1"), 3))
        for exam in exams if rng.random() < EXAM_SHARE else []:
            plan.exams.append(exam)
            # The test's own window, else decision support's default of a week.
            window = windows.get(exam.key) or windows.get(exam.loinc or "-") or 7
            if rng.random() < REPEAT_SHARE:
                days = rng.randint(2, max(3, int(window * 0.6)))
                bottom, top, unit = RESULT_RANGES.get(exam.loinc, (0.0, 0.0, ""))
                earlier = round(rng.uniform(bottom, top * 1.1), 1) if unit else 0.0
                plan.prior_results.append((exam.loinc or exam.key, exam.name_zh, earlier, unit, days))
        return plan

    def _contraindicated(self, patient: Patient, age: int, plan: Plan) -> None:
        """A usual drug for a patient whose state contraindicates it."""
        female = patient.sex == "female"
        choices: list[tuple[str, str, list[tuple[str, str, float, str, int]]]] = []
        if age >= 65:
            choices.append(("", "drug:diazepam", []))  # Beers criteria
        if female and 20 <= age <= 42:
            choices.append(("O13", "drug:enalapril", []))  # gestational hypertension
        if age >= 50:
            choices.append(("N18.4", "drug:metformin", [("2160-0", "肌酐", 280.0, "umol/L", 20)]))
        if age >= 18:
            choices.append(("K27.9", "drug:ibuprofen", []))  # peptic ulcer
        if not choices:
            return
        diagnosis, drug, results = self.rng.choice(choices)
        if drug not in self.nodes:
            return
        plan.extra_diagnosis = diagnosis
        plan.prior_results += results
        plan.drugs.append(self.drug(drug))


def _age(patient: Patient, on: dt.date) -> int:
    born = patient.birth_date
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def build_emr(ctx: DemoContext) -> None:
    rng = ctx.rng
    ensure_seed()
    ensure_icd10()
    diseases = _department_diseases()
    fallback = list(Node.objects.filter(type="disease", is_active=True).exclude(icd10=""))
    known_codes = set(Icd10Code.objects.values_list("code", flat=True))
    fallback = [n for n in fallback if n.icd10 in known_codes][:50]
    drugs = _first_line_drugs()
    exams = _neighbours(EdgeType.RECOMMENDED_EXAM)
    windows = _windows()
    prescriber = Prescriber(ctx)
    national = dict(Department.objects.values_list("pk", "national_code_id"))
    # Sample the visits by id first: a year holds 100,000+ of them, and loading them all costs minutes.
    finished = list(
        Appointment.objects.filter(
            status=AppointmentStatus.COMPLETED,
            session__practitioner__isnull=False,
            finished_at__lte=clock.now(),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sample = sorted(rng.sample(finished, min(len(finished), MAX_ENCOUNTERS)))
    visits = list(
        Appointment.objects.filter(pk__in=sample).select_related("session__practitioner__user").order_by("pk")
    )
    # Only the patients' sex and age (their other fields are encrypted: not decrypted for nothing).
    patients = {
        pk: Patient(pk=pk, sex=sex, birth_date=born)
        for pk, sex, born in Patient.objects.filter(pk__in={a.patient_id for a in visits}).values_list(
            "pk", "sex", "birth_date"
        )
    }
    rows: list[tuple[Appointment, dt.datetime, dt.datetime, Any]] = []
    for a in visits:
        practitioner = a.session.practitioner
        if a.finished_at is None or practitioner is None:
            continue
        started = a.called_at or a.finished_at - dt.timedelta(minutes=10)
        rows.append((a, started, a.finished_at, practitioner))
    encounters = [
        Encounter(
            patient_id=a.patient_id,
            kind=EncounterKind.OUTPATIENT,
            department_id=a.department_id,
            attending=practitioner,
            appointment=a,
            status=EncounterStatus.FINISHED,
            started_at=started,
            ended_at=ended,
            created_at=started,
        )
        for a, started, ended, practitioner in rows
    ]
    Encounter.objects.bulk_create(encounters, batch_size=500)
    notes: list[Note] = []
    diagnoses: list[Diagnosis] = []
    orders: list[Order] = []
    problems: dict[tuple[int, str], Problem] = {}
    allergies: dict[int, Allergy] = {}
    vitals: list[VitalSign] = []
    prior: list[Observation] = []
    pending_results: list[tuple[Order, Node, dt.datetime]] = []
    for (visit, started, ended, practitioner), encounter in zip(rows, encounters, strict=True):
        author = practitioner.user
        pool = diseases.get(str(national.get(visit.department_id) or ""), []) or fallback
        if not pool:
            continue
        disease = rng.choice(pool)
        seconds = int(WRITING_MEDIAN_SECONDS * math.exp(rng.gauss(0, WRITING_SIGMA)))
        signed_at = max(started + dt.timedelta(seconds=seconds), ended)
        opened_at = signed_at - dt.timedelta(seconds=seconds)
        drug_pool, exam_pool = drugs.get(disease.pk, []), exams.get(disease.pk, [])
        plan_drugs: list[Node] = []
        for choice in rng.sample(drug_pool, min(2, len(drug_pool))):
            picked = rng.choice(choice)
            if picked not in plan_drugs:
                plan_drugs.append(picked)
        plan_exams = rng.sample(exam_pool, min(1, len(exam_pool)))
        patient = patients[visit.patient_id]
        age = _age(patient, started.date())
        plan = prescriber.plan(patient, age, plan_drugs, plan_exams, windows)
        notes.append(
            Note(
                encounter=encounter,
                author=author,
                kind=NoteKind.PROGRESS,
                status=NoteStatus.SIGNED,
                chief_complaint=disease.name_zh,
                assessment=f"{disease.icd10} {disease.name_zh}",
                plan="；".join([d[1] for d in plan.drugs] + [n.name_zh for n in plan.exams]),
                opened_at=opened_at,
                signed_at=signed_at,
                writing_seconds=seconds,
                drafted_from=["problems", "last_plan"],
            )
        )
        diagnoses.append(
            Diagnosis(
                encounter=encounter,
                icd10_id=disease.icd10,
                is_primary=True,
                recorded_by=author,
                created_at=signed_at,
            )
        )
        codes = [disease.icd10]
        if (
            plan.extra_diagnosis
            and plan.extra_diagnosis in known_codes
            and plan.extra_diagnosis != disease.icd10
        ):
            codes.append(plan.extra_diagnosis)
            diagnoses.append(
                Diagnosis(
                    encounter=encounter,
                    icd10_id=plan.extra_diagnosis,
                    recorded_by=author,
                    created_at=signed_at,
                )
            )
        for code in codes:
            if code.startswith(CHRONIC) and (visit.patient_id, code) not in problems:
                problems[(visit.patient_id, code)] = Problem(
                    patient_id=visit.patient_id, icd10_id=code, recorded_by=author, created_at=signed_at
                )
        if plan.allergy and visit.patient_id not in allergies:
            allergies[visit.patient_id] = Allergy(
                patient_id=visit.patient_id,
                substance="drug_class:penicillins",
                name="青霉素",
                reaction="皮疹",
                severity=AllergySeverity.MODERATE,
                recorded_by=author,
                created_at=started - dt.timedelta(days=rng.randint(60, 900)),
            )
        if plan.child_weight is not None:
            vitals.append(
                VitalSign(
                    patient_id=visit.patient_id,
                    encounter=encounter,
                    kind=VitalKind.WEIGHT,
                    value=plan.child_weight,
                    unit="kg",
                    measured_at=started,
                    recorded_by=author,
                )
            )
        for code, name, earlier, unit, days in plan.prior_results:
            when = started - dt.timedelta(days=days, hours=rng.randint(1, 8))
            prior.append(
                Observation(
                    patient_id=visit.patient_id,
                    code=code,
                    name=name,
                    value=earlier if unit else None,
                    value_text="" if unit else "未见明显异常",
                    unit=unit,
                    observed_at=when,
                    source="hl7v2",
                )
            )
        for key, name, code, dose, per_day in plan.drugs:
            orders.append(
                Order(
                    encounter=encounter,
                    patient_id=encounter.patient_id,
                    kind=OrderKind.MEDICATION,
                    status=OrderStatus.COMPLETED,
                    item=key,
                    name=name,
                    code=code,
                    dose=dose,
                    dose_unit="mg" if key or code else "丸",
                    route="oral",
                    frequency_per_day=Decimal(per_day),
                    duration_days=rng.choice([7, 14, 30]),
                    ordered_by=author,
                    ordered_at=signed_at,
                    signed_at=signed_at,
                    ended_at=signed_at + dt.timedelta(days=30),
                )
            )
        for exam in plan.exams:
            resulted = signed_at + dt.timedelta(hours=2)
            order = Order(
                encounter=encounter,
                patient_id=encounter.patient_id,
                kind=OrderKind.LAB if exam.loinc else OrderKind.IMAGING,
                status=OrderStatus.COMPLETED,
                item=exam.key,
                name=exam.name_zh,
                code=exam.loinc,
                ordered_by=author,
                ordered_at=signed_at,
                signed_at=signed_at,
                ended_at=resulted,
            )
            orders.append(order)
            pending_results.append((order, exam, resulted))
    Note.objects.bulk_create(notes, batch_size=500)
    _write_first_versions(notes, batch_size=500)
    Diagnosis.objects.bulk_create(diagnoses, batch_size=500)
    Order.objects.bulk_create(orders, batch_size=500)
    Problem.objects.bulk_create(list(problems.values()), batch_size=500, ignore_conflicts=True)
    Allergy.objects.bulk_create(list(allergies.values()), batch_size=500, ignore_conflicts=True)
    VitalSign.objects.bulk_create(vitals, batch_size=500)
    results: list[Observation] = list(prior)
    for order, exam, resulted in pending_results:
        low: float | None = None
        high: float | None = None
        value: float | None = None
        unit, flag, text = "", "", ""
        if exam.loinc in RESULT_RANGES:
            bottom, top, unit = RESULT_RANGES[exam.loinc]
            number = round(rng.uniform(bottom * 0.8, top * 1.3), 1)
            low, high, value = bottom, top, number
            flag = "H" if number > top else ("L" if number < bottom else "")
        else:
            abnormal = rng.random() >= 0.8
            text = "轻度异常，建议随访" if abnormal else "未见明显异常"
            flag = "A" if abnormal else ""
        results.append(
            Observation(
                patient_id=order.patient_id,
                encounter=order.encounter,
                order=order,
                code=exam.loinc or exam.key,
                name=exam.name_zh,
                value=value,
                value_text=text,
                unit=unit,
                reference_low=low,
                reference_high=high,
                flag=flag,
                observed_at=resulted,
                source="lab" if order.kind == OrderKind.LAB else "manual",
            )
        )
    Observation.objects.bulk_create(results, batch_size=500)
    within = sum(1 for n in notes if (n.writing_seconds or 0) <= 600)
    stays_started = time.monotonic()
    builder = StayBuilder(
        ctx,
        diseases=diseases,
        fallback=fallback,
        drugs=drugs,
        exams=exams,
        prescriber=prescriber,
    )
    builder.admit_all()
    counts = builder.write_records()
    ctx.state["inpatient_stays"] = [s.encounter.pk for s in builder.stays]  # for later generators
    ctx.log(
        f"emr: {len(encounters)} encounters, {len(notes)} signed notes "
        f"({within / max(1, len(notes)):.0%} within 10 minutes), {len(diagnoses)} diagnoses, "
        f"{len(orders)} orders, {len(results)} results, {len(problems)} problems, "
        f"{len(allergies)} allergies"
    )
    ctx.log(
        f"emr: {counts['stays']} inpatient stays ({counts['open']} in hospital now, "
        f"{counts['documented']} with their full record, "
        f"{counts['transfers']} transfers, {counts['operations']} operations), {counts['notes']} notes "
        f"({counts['summaries']} signed discharge summaries), {counts['orders']} orders, "
        f"{counts['results']} results ({time.monotonic() - stays_started:.1f}s)"
    )


# --- Inpatient stays ------------------------------------------------------------------------------

STAY_DAYS = 395  # the demo year and the month before it (stays that were open when the year began)
OCCUPANCY = 0.8  # of the ward beds, at the default demo size (5,000 patients)
DEFAULT_PATIENTS = 5000
PROGRESS_WRITING_MEDIAN = 300  # a daily progress note: 5 minutes
ADMISSION_WRITING_MEDIAN = 900  # the admission note is the long one: 15 minutes
SUMMARY_WRITING_MEDIAN = 360  # the drafted discharge summary, read, edited and signed: 6 minutes
TRANSFER_SHARE = 0.08  # stays moved to another bed of the ward (a single room, the monitored beds)
CARDIAC_PCI_SHARE = 0.25  # cardiology stays with a coronary stent
SURGERY_SHARE = 0.75  # surgical and gynaecological stays with an operation
DISCHARGE_DRUG_DAYS = 14
# The full record (notes, orders, results, discharge summary) of the stays of the last 60 days and of
# today's inpatients: writing it for the whole year would cost minutes (the summary generator alone
# takes about 17 ms a stay, and the year has 20,000 stays).
RECORD_DAYS = dt.timedelta(days=60)
# Admission blood tests of every stay (LOINC, name), resulted within hours.
ADMISSION_LABS = [("718-7", "血红蛋白"), ("2160-0", "肌酐"), ("2823-3", "血钾"), ("2345-7", "葡萄糖")]
# Operations by ward (national department code). The names carry the words follow-up's
# post-operative templates look for (胆囊切除, 关节置换, 支架).
OPERATIONS: dict[str, list[str]] = {
    "04.01": ["腹腔镜胆囊切除术", "腹腔镜阑尾切除术", "腹股沟疝无张力修补术"],
    "04.02": ["开颅血肿清除术", "脑室腹腔分流术"],
    "04.03": ["人工全髋关节置换术", "人工全膝关节置换术", "骨折切开复位内固定术"],
    "04.04": ["经尿道前列腺电切术", "输尿管镜钬激光碎石术"],
    "04.05": ["胸腔镜肺叶切除术", "胸腔闭式引流术"],
    "05.01": ["腹腔镜子宫肌瘤剔除术", "宫腔镜检查术"],
    "05.02": ["子宫下段剖宫产术", "会阴侧切缝合术"],
    "03.04": ["冠状动脉支架植入术（PCI）"],
}
FALLBACK_DRUG = "drug:paracetamol"  # for diseases without a first-line drug in the knowledge graph
# Wards that operate on some of their diseases only (ICD-10 prefixes): deliveries, coronary disease.
OPERATED_DISEASES: dict[str, tuple[str, ...] | str] = {"05.02": ("O",), "03.04": ("I20", "I21", "I24", "I25")}
ROUTINE_CARE = "一级护理，监测生命体征，完善相关检查"


@dataclass
class Stay:
    encounter: Encounter
    disease: Node
    code: str  # national department code
    attending_user: Any
    doctors: list[Any]
    age: int
    transfer: tuple[dt.datetime, Any, Any] | None = None  # at, from bed, to bed
    operation: str = ""
    operated_at: dt.datetime | None = None
    discharge_drugs: list[Order] = field(default_factory=list)


def _writing(rng: Any, median: int) -> int:
    return max(60, int(median * math.exp(rng.gauss(0, WRITING_SIGMA))))


def _vitals_text(rng: Any) -> str:
    return (
        f"T {rng.uniform(36.2, 37.6):.1f}℃，P {rng.randint(64, 96)}次/分，R {rng.randint(16, 20)}次/分，"
        f"BP {rng.randint(105, 150)}/{rng.randint(62, 92)}mmHg。神志清，精神可。"
    )


class StayBuilder:
    """A year of inpatient stays on the demo wards, with their record."""

    def __init__(
        self,
        ctx: DemoContext,
        *,
        diseases: dict[str, list[Node]],
        fallback: list[Node],
        drugs: dict[int, list[list[Node]]],
        exams: dict[int, list[Node]],
        prescriber: Prescriber,
    ) -> None:
        self.ctx = ctx
        # A generator of its own: the stays do not change what the later generators draw.
        self.rng = random.Random(f"inpatient-{ctx.seed}")
        self.diseases = diseases
        self.fallback = fallback
        self.drugs = drugs
        self.exams = exams
        self.prescriber = copy.copy(prescriber)
        self.prescriber.rng = self.rng
        self.now = clock.now()
        self.departments = {
            d.pk: d for d in Department.objects.filter(is_active=True).select_related("national_code")
        }
        self.beds: dict[int, list[int]] = defaultdict(list)
        for pk, department_id in (
            Bed.objects.filter(room__kind=RoomKind.WARD, room__department__isnull=False)
            .order_by("pk")
            .values_list("pk", "room__department_id")
        ):
            self.beds[department_id].append(pk)
        self.doctors: dict[int, list[Any]] = defaultdict(list)
        for practitioner in (
            Practitioner.objects.filter(
                user__role=Role.DOCTOR, user__is_active=True, department__isnull=False
            )
            .select_related("user")
            .order_by("pk")
        ):
            self.doctors[practitioner.department_id].append(practitioner)
        demo_patient = getattr(ctx.state.get("demo_patient"), "pk", None)
        self.patients = [
            Patient(pk=pk, sex=sex, birth_date=born)
            for pk, sex, born in Patient.objects.exclude(pk=demo_patient or 0)
            .order_by("pk")
            .values_list("pk", "sex", "birth_date")
        ]
        self.lab_items = {
            n.loinc: n.key
            for n in Node.objects.filter(loinc__in=[c for c, _n in ADMISSION_LABS], is_active=True)
        }
        self.stays: list[Stay] = []

    # -- who is admitted where and when --

    def _candidates(self, department: Department) -> list[Patient]:
        today = clock.today()
        return [
            p
            for p in self.patients
            if (department.min_age is None or _age(p, today) >= department.min_age)
            and (department.max_age is None or _age(p, today) <= department.max_age)
            and (not department.serves_sex or p.sex == department.serves_sex)
        ]

    def admit_all(self) -> None:
        rng = self.rng
        scale = min(1.0, self.ctx.patients / DEFAULT_PATIENTS)  # a smaller demo, emptier wards
        first = clock.today() - dt.timedelta(days=STAY_DAYS)
        busy_until: dict[int, dt.datetime] = {}
        planned: list[tuple[dt.datetime, int, float]] = []
        for department_id, beds in sorted(self.beds.items()):
            department = self.departments.get(department_id)
            if department is None or not self.doctors.get(department_id):
                continue
            for offset in range(STAY_DAYS + 1):
                day = first + dt.timedelta(days=offset)
                mean_stay = 9.5 - 1.5 * offset / STAY_DAYS  # stays shorten slowly over the year
                admissions = len(beds) * OCCUPANCY * scale / mean_stay
                for _ in range(int(admissions) + (rng.random() < admissions % 1)):
                    start = timezone.make_aware(dt.datetime.combine(day, dt.time(8)))
                    admitted = start + dt.timedelta(hours=rng.uniform(0, 12))
                    if admitted < self.now:
                        planned.append((admitted, department_id, mean_stay))
        planned.sort(key=lambda row: (row[0], row[1]))
        free_from: dict[int, dt.datetime] = {}
        pools = {pk: self._candidates(d) for pk, d in self.departments.items() if pk in self.beds}
        for admitted, department_id, mean_stay in planned:
            department = self.departments[department_id]
            beds = [b for b in self.beds[department_id] if free_from.get(b, admitted) <= admitted]
            pool = pools.get(department_id) or []
            if not beds or not pool:
                continue  # the ward is full: the patient goes elsewhere
            patient = None
            for _ in range(12):
                candidate = rng.choice(pool)
                if busy_until.get(candidate.pk, admitted) <= admitted:
                    patient = candidate
                    break
            if patient is None:
                continue
            days = max(1.0, rng.gammavariate(4.0, mean_stay / 4.0))
            due = timezone.localtime(admitted + dt.timedelta(days=days))
            # Discharged in the morning round; those due after now are today's inpatients.
            discharged = due.replace(hour=rng.randint(9, 11), minute=rng.randint(0, 59))
            if discharged <= admitted + dt.timedelta(hours=20):
                discharged = admitted + dt.timedelta(hours=20)
            open_stay = discharged >= self.now
            bed = rng.choice(beds)
            code = str(department.national_code_id or "")
            pool_diseases = self.diseases.get(code) or self.fallback
            if not pool_diseases:
                continue
            doctors = self.doctors[department_id]
            attending = rng.choice(doctors)
            end = None if open_stay else discharged
            encounter = Encounter(
                patient_id=patient.pk,
                kind=EncounterKind.INPATIENT,
                department_id=department_id,
                attending=attending,
                status=EncounterStatus.IN_PROGRESS if open_stay else EncounterStatus.FINISHED,
                started_at=admitted,
                ended_at=end,
                admitted_at=admitted,
                discharged_at=end,
                bed_id=bed,
                created_at=admitted,
            )
            encounter.patient = patient
            encounter.department = department
            stay = Stay(
                encounter=encounter,
                disease=rng.choice(pool_diseases),
                code=code,
                attending_user=attending.user,
                doctors=[d.user for d in doctors],
                age=_age(patient, admitted.date()),
            )
            released = discharged if not open_stay else self.now + dt.timedelta(days=3650)
            if days >= 3 and rng.random() < TRANSFER_SHARE:
                others = [b for b in beds if b != bed]
                if others:
                    at = admitted + dt.timedelta(days=rng.uniform(1, days - 1), hours=0)
                    if at < self.now:
                        to_bed = rng.choice(others)
                        stay.transfer = (at, bed, to_bed)
                        encounter.bed_id = to_bed
                        free_from[bed] = at + dt.timedelta(hours=2)
                        free_from[to_bed] = released + dt.timedelta(hours=2)
            if stay.transfer is None:
                free_from[bed] = released + dt.timedelta(hours=2)
            busy_until[patient.pk] = released + dt.timedelta(days=7)
            operations = OPERATIONS.get(code)
            share = CARDIAC_PCI_SHARE if code == "03.04" else SURGERY_SHARE
            fits = stay.disease.icd10.startswith(OPERATED_DISEASES.get(code, ""))
            if operations and fits and rng.random() < share:
                operated = admitted + dt.timedelta(days=min(2.0, days / 3), hours=rng.uniform(0, 4))
                if operated < self.now:
                    stay.operation = rng.choice(operations)
                    stay.operated_at = operated
            self.stays.append(stay)
        Encounter.objects.bulk_create([s.encounter for s in self.stays], batch_size=1000)

    # -- the record of each stay --

    def write_records(self) -> dict[str, int]:
        rng = self.rng
        movements: list[EncounterMovement] = []
        notes: list[Note] = []
        diagnoses: list[Diagnosis] = []
        orders: list[Order] = []
        problems: dict[tuple[int, str], Problem] = {}
        care: list[CareRelationship] = []
        pending: list[tuple[Order, str, str, dt.datetime]] = []  # order, code, name, resulted
        for stay in self.stays:
            e = stay.encounter
            admitted = e.admitted_at
            assert admitted is not None
            until = e.discharged_at or self.now
            author = stay.attending_user
            disease = stay.disease
            diagnosis = f"{disease.icd10} {disease.name_zh}"
            movements.append(
                EncounterMovement(
                    encounter=e,
                    kind=MovementKind.ADMISSION,
                    to_department_id=e.department_id,
                    to_bed_id=stay.transfer[1] if stay.transfer else e.bed_id,
                    at=admitted,
                    by=author,
                    reason=disease.name_zh,
                )
            )
            if stay.transfer:
                at, from_bed, to_bed = stay.transfer
                movements.append(
                    EncounterMovement(
                        encounter=e,
                        kind=MovementKind.TRANSFER,
                        from_department_id=e.department_id,
                        to_department_id=e.department_id,
                        from_bed_id=from_bed,
                        to_bed_id=to_bed,
                        at=at,
                        by=author,
                        reason=rng.choice(["转入监护床位", "调至单间", "同病房调床"]),
                    )
                )
            if e.discharged_at:
                movements.append(
                    EncounterMovement(
                        encounter=e,
                        kind=MovementKind.DISCHARGE,
                        from_department_id=e.department_id,
                        from_bed_id=e.bed_id,
                        at=e.discharged_at,
                        by=author,
                        reason="好转出院",
                    )
                )
            care.append(
                CareRelationship(
                    patient_id=e.patient_id,
                    department_id=e.department_id,
                    kind=CareRelationshipKind.ADMISSION,
                    source=f"emr.encounter:{e.pk}",
                    valid_from=admitted,
                    valid_until=e.discharged_at + CARE_AFTER_ENCOUNTER if e.discharged_at else None,
                )
            )
            diagnoses.append(
                Diagnosis(
                    encounter=e,
                    icd10_id=disease.icd10,
                    is_primary=True,
                    recorded_by=author,
                    created_at=admitted,
                )
            )
            if disease.icd10.startswith(CHRONIC) and (e.patient_id, disease.icd10) not in problems:
                problems[(e.patient_id, disease.icd10)] = Problem(
                    patient_id=e.patient_id, icd10_id=disease.icd10, recorded_by=author, created_at=admitted
                )
            if not self.documented(e):
                continue
            # Drugs: the disease's first-line choices, given in hospital; the first one goes home.
            choices = self.drugs.get(disease.pk, [])
            picked: list[Node] = []
            for choice in rng.sample(choices, min(2, len(choices))):
                node = rng.choice(choice)
                if node not in picked:
                    picked.append(node)
            if not picked and FALLBACK_DRUG in self.prescriber.nodes:
                picked.append(self.prescriber.nodes[FALLBACK_DRUG])  # symptomatic treatment
            drug_lines: list[str] = []
            ordered = admitted + dt.timedelta(hours=1)
            for node in picked:
                key, name, atc, dose, per_day = self.prescriber.drug(node.key, age=stay.age)
                drug_lines.append(name)
                orders.append(
                    Order(
                        encounter=e,
                        patient_id=e.patient_id,
                        kind=OrderKind.MEDICATION,
                        status=OrderStatus.COMPLETED if e.discharged_at else OrderStatus.ACTIVE,
                        item=key,
                        name=name,
                        code=atc,
                        dose=dose,
                        dose_unit="mg",
                        route="oral",
                        frequency_per_day=Decimal(per_day),
                        ordered_by=author,
                        ordered_at=ordered,
                        signed_at=ordered,
                        ended_at=e.discharged_at,
                        end_reason="出院" if e.discharged_at else "",
                    )
                )
            if picked and e.discharged_at:
                key, name, atc, dose, per_day = self.prescriber.drug(picked[0].key, age=stay.age)
                going_home = e.discharged_at - dt.timedelta(hours=1)
                order = Order(
                    encounter=e,
                    patient_id=e.patient_id,
                    kind=OrderKind.MEDICATION,
                    status=OrderStatus.ACTIVE,
                    item=key,
                    name=name,
                    code=atc,
                    dose=dose,
                    dose_unit="mg",
                    route="oral",
                    frequency_per_day=Decimal(per_day),
                    duration_days=DISCHARGE_DRUG_DAYS,
                    instructions="出院带药",
                    ordered_by=author,
                    ordered_at=going_home,
                    signed_at=going_home,
                )
                orders.append(order)
                stay.discharge_drugs.append(order)
            # Tests: the admission bloods, and the exams the disease calls for.
            tests: list[tuple[str, str, str, str]] = [
                (code, name, self.lab_items.get(code, ""), OrderKind.LAB) for code, name in ADMISSION_LABS
            ]
            for exam in self.exams.get(disease.pk, [])[:2]:
                tests.append(
                    (
                        exam.loinc or exam.key,
                        exam.name_zh,
                        exam.key,
                        OrderKind.LAB if exam.loinc else OrderKind.IMAGING,
                    )
                )
            for code, name, item, kind in tests:
                resulted = admitted + dt.timedelta(hours=rng.uniform(2, 20))
                done = resulted <= until
                order = Order(
                    encounter=e,
                    patient_id=e.patient_id,
                    kind=kind,
                    status=OrderStatus.COMPLETED if done else OrderStatus.SIGNED,
                    item=item,
                    name=name,
                    code=code if kind == OrderKind.LAB else "",
                    ordered_by=author,
                    ordered_at=ordered,
                    signed_at=ordered,
                    ended_at=resulted if done else None,
                )
                orders.append(order)
                if done:
                    pending.append((order, code, name, resulted))
            if stay.operation and stay.operated_at:
                booked = stay.operated_at - dt.timedelta(hours=18)
                orders.append(
                    Order(
                        encounter=e,
                        patient_id=e.patient_id,
                        kind=OrderKind.PROCEDURE,
                        status=OrderStatus.COMPLETED,
                        item="procedure:" + stay.operation,
                        name=stay.operation,
                        ordered_by=author,
                        ordered_at=max(booked, ordered),
                        signed_at=max(booked, ordered),
                        ended_at=stay.operated_at + dt.timedelta(hours=2),
                    )
                )
            # The admission note, then a progress note every day until discharge (or today).
            seconds = _writing(rng, ADMISSION_WRITING_MEDIAN)
            opened = admitted + dt.timedelta(hours=rng.uniform(0.5, 4))
            plan = "；".join(
                [ROUTINE_CARE, *drug_lines] + ([f"拟行{stay.operation}"] if stay.operation else [])
            )
            # Admitted in the last hours: the admission note is still being written.
            writing = opened + dt.timedelta(seconds=seconds) > self.now
            notes.append(
                Note(
                    encounter=e,
                    author=author,
                    kind=NoteKind.ADMISSION,
                    status=NoteStatus.DRAFT if writing else NoteStatus.SIGNED,
                    chief_complaint=f"{disease.name_zh}，症状加重{rng.randint(1, 14)}天",
                    history=f"患者{stay.age}岁，因“{disease.name_zh}”门诊收入院。既往体健，否认药物过敏史。",
                    examination=_vitals_text(rng),
                    assessment=diagnosis,
                    plan=plan,
                    opened_at=min(opened, self.now),
                    signed_at=None if writing else opened + dt.timedelta(seconds=seconds),
                    writing_seconds=None if writing else seconds,
                    drafted_from=["triage", "problems", "medications", "allergies"],
                    created_at=opened,
                )
            )
            day = 1
            while True:
                rounds = timezone.localtime(admitted).replace(hour=8, minute=30) + dt.timedelta(days=day)
                opened = rounds + dt.timedelta(minutes=rng.randint(30, 240))
                seconds = _writing(rng, PROGRESS_WRITING_MEDIAN)
                if opened + dt.timedelta(seconds=seconds) >= until:
                    break
                after = (
                    (opened - stay.operated_at).days
                    if stay.operated_at and opened > stay.operated_at
                    else None
                )
                history = f"住院第{day + 1}天" + (
                    f"，{stay.operation}术后第{after + 1}天" if after is not None else ""
                )
                history += rng.choice(
                    ["，患者自述症状较前好转。", "，一般情况可，饮食睡眠可。", "，无新发不适。"]
                )
                notes.append(
                    Note(
                        encounter=e,
                        author=rng.choice(stay.doctors),
                        kind=NoteKind.PROGRESS,
                        status=NoteStatus.SIGNED,
                        history=history,
                        examination=_vitals_text(rng) + ("切口干燥，无渗出。" if after is not None else ""),
                        assessment=f"{diagnosis}，病情稳定",
                        plan=rng.choice(
                            ["继续当前治疗，观察病情变化", "继续治疗，复查相关指标", "维持当前方案"]
                        ),
                        opened_at=opened,
                        signed_at=opened + dt.timedelta(seconds=seconds),
                        writing_seconds=seconds,
                        drafted_from=["last_plan"],
                        created_at=opened,
                    )
                )
                day += 1
        EncounterMovement.objects.bulk_create(movements, batch_size=1000)
        CareRelationship.objects.bulk_create(care, batch_size=1000, ignore_conflicts=True)
        Diagnosis.objects.bulk_create(diagnoses, batch_size=1000)
        Problem.objects.bulk_create(list(problems.values()), batch_size=1000, ignore_conflicts=True)
        Order.objects.bulk_create(orders, batch_size=1000)
        results = [self._result(order, code, name, resulted) for order, code, name, resulted in pending]
        Observation.objects.bulk_create(results, batch_size=1000)
        Note.objects.bulk_create(notes, batch_size=1000)
        summaries = self._discharge_summaries()
        signed = [n for n in notes if n.status == NoteStatus.SIGNED] + summaries
        _write_first_versions(signed, batch_size=1000)
        self._finish_discharge_drugs()
        self._beds()
        return {
            "stays": len(self.stays),
            "open": sum(1 for s in self.stays if s.encounter.discharged_at is None),
            "transfers": sum(1 for s in self.stays if s.transfer),
            "operations": sum(1 for s in self.stays if s.operation),
            "notes": len(notes) + len(summaries),
            "signed": len(signed),
            "summaries": len(summaries),
            "documented": sum(1 for s in self.stays if self.documented(s.encounter)),
            "orders": len(orders),
            "results": len(results),
        }

    def documented(self, encounter: Encounter) -> bool:
        """Whether the stay gets its notes, orders, results and discharge summary: today's
        inpatients and the stays of the last ``RECORD_DAYS`` (older ones keep admission, beds,
        transfer, discharge and diagnosis, which is what the stay and bed indicators read)."""
        return encounter.discharged_at is None or encounter.discharged_at >= self.now - RECORD_DAYS

    def _result(self, order: Order, code: str, name: str, resulted: dt.datetime) -> Observation:
        rng = self.rng
        low: float | None = None
        high: float | None = None
        value: float | None = None
        unit, flag, text = "", "", ""
        if code in RESULT_RANGES:
            bottom, top, unit = RESULT_RANGES[code]
            # Three results in four within the reference range.
            value = round(
                rng.uniform(bottom, top) if rng.random() < 0.75 else rng.uniform(bottom * 0.85, top * 1.2), 1
            )
            low, high = bottom, top
            flag = "H" if value > top else ("L" if value < bottom else "")
        else:
            abnormal = rng.random() < 0.3
            text = "可见与临床诊断相符的改变" if abnormal else "未见明显异常"
            flag = "A" if abnormal else ""
        return Observation(
            patient_id=order.patient_id,
            encounter=order.encounter,
            order=order,
            code=code,
            name=name,
            value=value,
            value_text=text,
            unit=unit,
            reference_low=low,
            reference_high=high,
            flag=flag,
            observed_at=resulted,
            source="lab" if order.kind == OrderKind.LAB else "manual",
        )

    def _discharge_summaries(self) -> list[Note]:
        """Every finished stay's discharge summary, drafted from the record by the EMR's own summary
        generator (the one behind "Generate discharge summary"), read and signed by the attending."""
        rng = self.rng
        summaries: list[Note] = []
        with translation.override("zh-hans"):
            for stay in self.stays:
                e = stay.encounter
                if e.discharged_at is None or not self.documented(e):
                    continue
                sections = _summary_sections(e, NoteKind.DISCHARGE_SUMMARY, "zh-hans")
                seconds = _writing(rng, SUMMARY_WRITING_MEDIAN)
                signed = e.discharged_at - dt.timedelta(minutes=rng.randint(10, 90))
                opened = signed - dt.timedelta(seconds=seconds)
                summaries.append(
                    Note(
                        encounter=e,
                        author=stay.attending_user,
                        kind=NoteKind.DISCHARGE_SUMMARY,
                        status=NoteStatus.SIGNED,
                        language="zh-hans",
                        opened_at=opened,
                        signed_at=signed,
                        writing_seconds=seconds,
                        drafted_from=["record"],
                        created_at=opened,
                        **sections,
                    )
                )
        Note.objects.bulk_create(summaries, batch_size=1000)
        return summaries

    def _finish_discharge_drugs(self) -> None:
        """Drugs taken home end when their course does (after the summary listed them)."""
        ended = [
            o
            for s in self.stays
            for o in s.discharge_drugs
            if o.signed_at and o.signed_at + dt.timedelta(days=DISCHARGE_DRUG_DAYS) < self.now
        ]
        for order in ended:
            order.status = OrderStatus.COMPLETED
            order.ended_at = (order.signed_at or self.now) + dt.timedelta(days=DISCHARGE_DRUG_DAYS)
        Order.objects.bulk_update(ended, ["status", "ended_at"], batch_size=1000)

    def _beds(self) -> None:
        """The wards as they are now: the beds of today's inpatients occupied, those left in the
        last two hours being cleaned, the others free."""
        Bed.objects.filter(room__kind=RoomKind.WARD).update(status=BedStatus.FREE)
        recent = self.now - dt.timedelta(hours=2)
        cleaning = [
            s.encounter.bed_id
            for s in self.stays
            if s.encounter.bed_id and s.encounter.discharged_at and s.encounter.discharged_at >= recent
        ]
        Bed.objects.filter(pk__in=cleaning).update(status=BedStatus.CLEANING)
        occupied = [
            s.encounter.bed_id for s in self.stays if s.encounter.bed_id and s.encounter.discharged_at is None
        ]
        Bed.objects.filter(pk__in=occupied).update(status=BedStatus.OCCUPIED)


register_generator("emr", build_emr, order=40)
