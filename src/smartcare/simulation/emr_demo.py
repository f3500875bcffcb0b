"""The medical record of the demo year: for finished doctor visits, an encounter with a signed
note (writing times around the 10-minute target), a diagnosis the department treats, first-line
drugs and recommended exams from the knowledge graph, and results for the exams.

Written in bulk (like the other demo generators): it is history, not something users did.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from decimal import Decimal
from typing import Any

from smartcare.core import clock
from smartcare.emr.choices import EncounterKind, EncounterStatus, NoteKind, NoteStatus, OrderKind, OrderStatus
from smartcare.emr.icd10 import ensure_icd10
from smartcare.emr.models import Diagnosis, Encounter, Icd10Code, Note, NoteVersion, Observation, Order
from smartcare.knowledge.choices import EdgeType
from smartcare.knowledge.models import Edge, Node
from smartcare.knowledge.seed import ensure_seed
from smartcare.organization.models import Department
from smartcare.scheduling.choices import AppointmentStatus
from smartcare.scheduling.models import Appointment
from smartcare.simulation.registry import DemoContext, register_generator

MAX_ENCOUNTERS = 3000
WRITING_MEDIAN_SECONDS = 420  # 7 minutes; about one note in five takes longer than 10
WRITING_SIGMA = 0.45
DRUG_SHARE = 0.6
EXAM_SHARE = 0.4
# Plausible values of common exams (LOINC: low, high, unit) for demo results.
RESULT_RANGES: dict[str, tuple[float, float, str]] = {
    "4548-4": (4.0, 6.0, "%"),
    "2160-0": (45.0, 110.0, "umol/L"),
    "2823-3": (3.5, 5.3, "mmol/L"),
    "2345-7": (3.9, 6.1, "mmol/L"),
    "718-7": (115.0, 160.0, "g/L"),
}


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


def build_emr(ctx: DemoContext) -> None:
    rng = ctx.rng
    ensure_seed()
    ensure_icd10()
    diseases = _department_diseases()
    fallback = list(Node.objects.filter(type="disease", is_active=True).exclude(icd10=""))
    fallback = [n for n in fallback if Icd10Code.objects.filter(code=n.icd10).exists()][:50]
    drugs = _neighbours(EdgeType.FIRST_LINE_DRUG)
    exams = _neighbours(EdgeType.RECOMMENDED_EXAM)
    national = dict(Department.objects.values_list("pk", "national_code_id"))
    visits = list(
        Appointment.objects.filter(
            status=AppointmentStatus.COMPLETED,
            session__practitioner__isnull=False,
            finished_at__lte=clock.now(),
        )
        .select_related("session__practitioner__user")
        .order_by("pk")
    )
    visits = sorted(rng.sample(visits, min(len(visits), MAX_ENCOUNTERS)), key=lambda a: a.pk)
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
        plan_drugs = rng.sample(drug_pool, min(2, len(drug_pool)))
        plan_exams = rng.sample(exam_pool, min(1, len(exam_pool)))
        notes.append(
            Note(
                encounter=encounter,
                author=author,
                kind=NoteKind.PROGRESS,
                status=NoteStatus.SIGNED,
                chief_complaint=disease.name_zh,
                assessment=f"{disease.icd10} {disease.name_zh}",
                plan="；".join(n.name_zh for n in plan_drugs + plan_exams),
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
        for drug in plan_drugs if rng.random() < DRUG_SHARE else []:
            orders.append(
                Order(
                    encounter=encounter,
                    patient_id=encounter.patient_id,
                    kind=OrderKind.MEDICATION,
                    status=OrderStatus.COMPLETED,
                    item=drug.key,
                    name=drug.name_zh,
                    code=drug.atc,
                    dose=Decimal(rng.choice(["5", "10", "100", "250", "500"])),
                    dose_unit="mg",
                    route="oral",
                    frequency_per_day=Decimal(rng.choice([1, 2, 3])),
                    duration_days=rng.choice([7, 14, 30]),
                    ordered_by=author,
                    ordered_at=signed_at,
                    signed_at=signed_at,
                    ended_at=signed_at + dt.timedelta(days=30),
                )
            )
        for exam in plan_exams if rng.random() < EXAM_SHARE else []:
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
    results: list[Observation] = []
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
        f"{len(orders)} orders, {len(results)} results"
    )


register_generator("emr", build_emr, order=40)
