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

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from smartcare.core import clock
from smartcare.emr.choices import (
    AllergySeverity,
    EncounterKind,
    EncounterStatus,
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
    Icd10Code,
    Note,
    NoteVersion,
    Observation,
    Order,
    Problem,
    VitalSign,
)
from smartcare.knowledge.choices import EdgeType
from smartcare.knowledge.models import Edge, Node
from smartcare.knowledge.seed import ensure_seed
from smartcare.organization.models import Department
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
        batch_size=500,
    )
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
    ctx.log(
        f"emr: {len(encounters)} encounters, {len(notes)} signed notes "
        f"({within / max(1, len(notes)):.0%} within 10 minutes), {len(diagnoses)} diagnoses, "
        f"{len(orders)} orders, {len(results)} results, {len(problems)} problems, "
        f"{len(allergies)} allergies"
    )


register_generator("emr", build_emr, order=40)
