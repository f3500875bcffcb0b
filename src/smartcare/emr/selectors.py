"""Reads of the medical record, already restricted to what the user may see.

``clinical_facts`` fills the structure decision support reads (``facts.py``) from the record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import get_language

from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.core.permissions import require_capability
from smartcare.emr import facts as cf
from smartcare.emr.choices import (
    CURRENT_ORDER_STATUSES,
    AllergyStatus,
    EncounterStatus,
    NoteStatus,
    OrderKind,
    OrderStatus,
    ProblemStatus,
    VitalKind,
)
from smartcare.emr.models import (
    Allergy,
    Encounter,
    Icd10Code,
    Note,
    Observation,
    Order,
    Problem,
    VitalSign,
)
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

CREATININE_LOINC = "2160-0"
PREGNANCY_CODES = ("Z33", "Z32.1", "Z34", "Z35", "O")  # pregnant state, supervision, obstetric codes
BREASTFEEDING_CODES = ("Z39.1",)
TRIAGE_LOOKBACK = dt.timedelta(days=7)


# --- ICD-10 ------------------------------------------------------------------------------------


def search_icd10(q: str, limit: int = 20) -> list[Icd10Code]:
    """Codes whose code, Chinese or English title contain ``q``; exact and prefix code hits first."""
    text = (q or "").strip()
    limit = max(1, min(int(limit), 100))
    rows = Icd10Code.objects.filter(is_active=True)
    if not text:
        return list(rows.order_by("code")[:limit])
    upper = text.upper()
    matches = rows.filter(
        Q(code__istartswith=upper) | Q(name_zh__icontains=text) | Q(name_en__icontains=text)
    )
    found = list(matches[:500])

    def rank(row: Icd10Code) -> tuple[int, int, str]:
        if row.code == upper:
            return (0, 0, row.code)
        if row.code.startswith(upper):
            return (1, len(row.code), row.code)
        name = row.name_zh if not text.isascii() else row.name_en.lower()
        starts = name.startswith(text if not text.isascii() else text.lower())
        return (2 if starts else 3, len(name), row.code)

    found.sort(key=rank)
    return found[:limit]


# --- Encounters ----------------------------------------------------------------------------------


def visible_encounters(user: Any) -> QuerySet[Encounter]:
    """Encounters of patients the user may see (no audit: a list of the user's own work)."""
    return Encounter.objects.filter(patient__in=Patient.objects.visible_to(user)).select_related(
        "patient", "department", "attending__user", "bed"
    )


def workstation_encounters(user: Any, *, day: dt.date | None = None) -> list[Encounter]:
    """The doctor's list: open encounters of their department and theirs started on ``day``."""
    require_capability(user, "emr.view")
    day = day or clock.local_now().date()
    practitioner = getattr(user, "practitioner", None)
    department_id = getattr(practitioner, "department_id", None)
    mine = Q(attending=practitioner) if practitioner is not None else Q(pk__in=[])
    if department_id is not None:
        mine |= Q(department_id=department_id)
    rows = visible_encounters(user).filter(mine)
    start = clock.local_now().replace(year=day.year, month=day.month, day=day.day, hour=0, minute=0, second=0)
    open_or_today = Q(status=EncounterStatus.IN_PROGRESS) | Q(started_at__gte=start)
    return list(rows.filter(open_or_today).order_by("-started_at")[:200])


def encounter_for(user: Any, encounter_id: Any, *, reason: str = "") -> Encounter:
    """One encounter for a clinical read (audited); NotFound when missing or not allowed."""
    try:
        pk = int(encounter_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    encounter = (
        Encounter.objects.select_related("patient", "department", "attending__user", "bed", "appointment")
        .filter(pk=pk)
        .first()
    )
    if encounter is None:
        raise NotFound()
    access_patient(user, encounter.patient_id, AccessAction.CLINICAL, obj=encounter, reason=reason)
    return encounter


def note_for(user: Any, note_id: Any) -> Note:
    try:
        pk = int(note_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    note = Note.objects.select_related("encounter", "author").filter(pk=pk).first()
    if note is None:
        raise NotFound()
    access_patient(user, note.encounter.patient_id, AccessAction.CLINICAL, obj=note)
    return note


def patient_for(user: Any, patient_id: Any, *, reason: str = "") -> Patient:
    return access_patient(user, patient_id, AccessAction.CLINICAL, reason=reason)


# --- The record of one patient ---------------------------------------------------------------------


def active_problems(patient: Any) -> list[Problem]:
    return list(Problem.objects.filter(patient=patient, status=ProblemStatus.ACTIVE).select_related("icd10"))


def active_allergies(patient: Any) -> list[Allergy]:
    return list(Allergy.objects.filter(patient=patient, status=AllergyStatus.ACTIVE))


def current_medications(patient: Any) -> list[Order]:
    """Signed or active medication orders that have not ended (the current medication list)."""
    return list(
        Order.objects.filter(
            patient=patient, kind=OrderKind.MEDICATION, status__in=CURRENT_ORDER_STATUSES
        ).order_by("ordered_at")
    )


def latest_vitals(patient: Any) -> dict[str, VitalSign]:
    latest: dict[str, VitalSign] = {}
    for vital in VitalSign.objects.filter(patient=patient).order_by("-measured_at", "-pk")[:200]:
        latest.setdefault(vital.kind, vital)
    return latest


def recent_results(patient: Any, *, since: dt.datetime | None = None, limit: int = 50) -> list[Observation]:
    rows = Observation.objects.filter(patient=patient)
    if since is not None:
        rows = rows.filter(observed_at__gte=since)
    return list(reversed(rows.order_by("-observed_at", "-pk")[:limit]))


def last_plan(patient: Any, *, before: Encounter | None = None) -> tuple[Note | None, str]:
    """The plan of the most recent signed note of an earlier encounter."""
    notes = Note.objects.filter(
        encounter__patient=patient, status__in=[NoteStatus.SIGNED, NoteStatus.AMENDED]
    ).select_related("encounter")
    if before is not None:
        notes = notes.exclude(encounter=before)
    note = notes.order_by("-signed_at", "-pk").first()
    return note, (note.plan if note else "")


def latest_triage(patient: Any, *, since: dt.datetime | None = None) -> Any:
    """The patient's latest triage record, or None.

    Read through the app registry: triage sits above emr in the layers (it may one day read the
    record), so emr must not import it.
    """
    try:
        model = apps.get_model("triage", "TriageRecord")
    except LookupError:
        return None
    rows = model.objects.filter(patient=patient)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return rows.order_by("-created_at", "-pk").first()


def node_names(keys: Iterable[str]) -> dict[str, str]:
    Node = apps.get_model("knowledge", "Node")
    wanted = [k for k in keys if k]
    return {n.key: n.name for n in Node.objects.filter(key__in=wanted)}


@dataclass
class EncounterRecord:
    encounter: Encounter
    notes: list[Note]
    diagnoses: list[Any]
    orders: list[Order]
    allergies: list[Allergy]
    problems: list[Problem]
    vitals: list[VitalSign]
    medications: list[Order]
    results: list[Observation]
    movements: list[Any] = field(default_factory=list)


def encounter_record(encounter: Encounter) -> EncounterRecord:
    patient = encounter.patient
    return EncounterRecord(
        encounter=encounter,
        notes=list(encounter.notes.select_related("author").prefetch_related("versions")),
        diagnoses=list(encounter.diagnoses.select_related("icd10")),
        orders=list(encounter.orders.order_by("-ordered_at", "-pk")),
        allergies=active_allergies(patient),
        problems=active_problems(patient),
        vitals=list(VitalSign.objects.filter(patient=patient).order_by("-measured_at", "-pk")[:20]),
        medications=current_medications(patient),
        results=recent_results(patient, limit=20),
        movements=list(encounter.movements.select_related("to_department", "to_bed")),
    )


# --- Clinical facts for decision support -------------------------------------------------------


def _icd10_to_disease() -> list[tuple[str, str]]:
    """(ICD-10 code, disease key) pairs from the knowledge graph, longest code first."""
    Node = apps.get_model("knowledge", "Node")
    pairs = Node.objects.filter(type="disease", is_active=True).exclude(icd10="").values_list("icd10", "key")
    return sorted(((code.upper(), key) for code, key in pairs), key=lambda p: (-len(p[0]), p[0], p[1]))


def disease_for_icd10(code: str, mapping: list[tuple[str, str]] | None = None) -> str:
    """The knowledge disease of an ICD-10 code: an exact code, else the nearest shorter one (E11.9
    -> E11), else a node whose code extends this category (E11 -> E11.9)."""
    code = (code or "").upper()
    pairs = mapping if mapping is not None else _icd10_to_disease()
    for known, key in pairs:
        if code == known:
            return key
    for known, key in pairs:
        if code.startswith(known) and len(known) >= 3:
            return key
    for known, key in sorted(pairs, key=lambda p: (len(p[0]), p[0])):
        if known.startswith(code[:3]) and len(code) >= 3:
            return key
    return ""


def _age(born: dt.date, on: dt.date) -> tuple[int, int]:
    months = (on.year - born.year) * 12 + on.month - born.month - (1 if on.day < born.day else 0)
    return months // 12, months


def _medication(order: Order, status: str) -> cf.Medication:
    return cf.Medication(
        drug=order.item if order.item.startswith("drug:") else "",
        name=order.name,
        dose=float(order.dose) if order.dose is not None else None,
        dose_unit=order.dose_unit,
        route=order.route,
        frequency_per_day=float(order.frequency_per_day) if order.frequency_per_day is not None else None,
        duration_days=order.duration_days,
        atc=order.code,
        status=status,
        order_id=str(order.pk or ""),
    )


def clinical_facts(
    patient: Any,
    *,
    encounter: Encounter | None = None,
    as_of: dt.datetime | None = None,
    draft_orders: Iterable[Order] = (),
) -> cf.ClinicalFacts:
    """What decision support needs to know about ``patient`` at ``as_of`` (default: now).

    No access check: callers have opened the patient already (services and views do).
    ``draft_orders`` are orders being placed now (saved drafts or unsaved ``Order`` objects).
    """
    as_of = as_of or clock.now()
    patient = patient if isinstance(patient, Patient) else Patient.objects.get(pk=patient)
    years, months = _age(patient.birth_date, timezone.localtime(as_of).date())
    facts = cf.ClinicalFacts(
        patient_id=str(patient.pk),
        age_years=years,
        age_months=months,
        sex=str(patient.sex or ""),
        department_code=encounter.department.code if encounter is not None else "",
        as_of=as_of,
    )
    mapping = _icd10_to_disease()
    codes = Problem.objects.filter(patient=patient, status=ProblemStatus.ACTIVE, created_at__lte=as_of)
    seen: set[str] = set()
    for problem in codes.select_related("icd10"):
        seen.add(problem.icd10_id)
        facts.conditions.append(
            cf.Condition(
                icd10=problem.icd10_id,
                name=problem.icd10.name,
                disease=disease_for_icd10(problem.icd10_id, mapping),
                onset=problem.onset,
            )
        )
    if encounter is not None:
        for diagnosis in encounter.diagnoses.exclude(status="ruled_out").select_related("icd10"):
            if diagnosis.icd10_id not in seen:
                seen.add(diagnosis.icd10_id)
                facts.conditions.append(
                    cf.Condition(
                        icd10=diagnosis.icd10_id,
                        name=diagnosis.icd10.name,
                        disease=disease_for_icd10(diagnosis.icd10_id, mapping),
                    )
                )
    facts.pregnant = any(c.icd10.upper().startswith(PREGNANCY_CODES) for c in facts.conditions)
    facts.breastfeeding = any(c.icd10.upper().startswith(BREASTFEEDING_CODES) for c in facts.conditions)
    for allergy in Allergy.objects.filter(patient=patient, status=AllergyStatus.ACTIVE):
        facts.allergies.append(
            cf.Allergy(
                substance=allergy.substance,
                name=allergy.name,
                reaction=allergy.reaction,
                severity=allergy.severity,
            )
        )
    vitals = VitalSign.objects.filter(patient=patient, measured_at__lte=as_of).order_by("-measured_at", "-pk")
    weight = vitals.filter(kind=VitalKind.WEIGHT).first()
    height = vitals.filter(kind=VitalKind.HEIGHT).first()
    facts.weight_kg = weight.value if weight else None
    facts.height_cm = height.value if height else None
    orders = Order.objects.filter(patient=patient, ordered_at__lte=as_of)
    draft_ids = {o.pk for o in draft_orders if o.pk}
    for order in orders.filter(kind=OrderKind.MEDICATION, status__in=CURRENT_ORDER_STATUSES).exclude(
        pk__in=draft_ids
    ):
        facts.medications.append(_medication(order, "active"))
    for observation in Observation.objects.filter(patient=patient, observed_at__lte=as_of).order_by(
        "observed_at", "pk"
    ):
        facts.observations.append(
            cf.Observation(
                code=observation.code,
                name=observation.name,
                value=observation.value,
                unit=observation.unit,
                when=observation.observed_at,
                flag=observation.flag,
            )
        )
    exams = orders.filter(kind__in=[OrderKind.LAB, OrderKind.IMAGING]).exclude(
        status__in=[OrderStatus.DRAFT, OrderStatus.CANCELLED]
    )
    for order in exams.exclude(pk__in=draft_ids).order_by("ordered_at", "pk"):
        facts.exam_orders.append(
            cf.ExamOrder(
                exam=order.item or order.code,
                name=order.name,
                when=order.signed_at or order.ordered_at,
                status="completed" if order.status == OrderStatus.COMPLETED else "active",
                order_id=str(order.pk),
            )
        )
    for order in draft_orders:
        if order.kind == OrderKind.MEDICATION:
            facts.draft_medications.append(_medication(order, "draft"))
        elif order.kind in (OrderKind.LAB, OrderKind.IMAGING):
            facts.exam_orders.append(
                cf.ExamOrder(
                    exam=order.item or order.code, name=order.name, when=as_of, order_id=str(order.pk or "")
                )
            )
    return facts


def creatinine_umol_per_l(observation: cf.Observation) -> float | None:
    """Serum creatinine in µmol/L whether it was reported in µmol/L or mg/dL (x 88.4)."""
    if observation.value is None:
        return None
    unit = observation.unit.replace("μ", "u").replace("µ", "u").lower()
    if unit.startswith("mg/dl"):
        return observation.value * 88.4
    return observation.value


def display_language() -> str:
    return "en" if (get_language() or "").lower().startswith("en") else "zh-hans"


# --- Indicators ----------------------------------------------------------------------------------

WRITING_TARGET_SECONDS = 600  # the plan's target: record writing at most 10 minutes per case


@dataclass
class WritingTime:
    notes: int
    median_seconds: float | None
    within_target: float | None  # share of notes signed within WRITING_TARGET_SECONDS
    total_seconds: float = 0.0  # sum of the writing times (for means over several periods)


def writing_time(
    *, department: Any = None, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> WritingTime:
    """The record-writing-time indicator over signed notes (opening to first signature).

    No patient data: counts and durations only (for kpi and the management cockpit).
    """
    rows = Note.objects.exclude(status=NoteStatus.DRAFT).exclude(writing_seconds=None)
    if department is not None:
        rows = rows.filter(encounter__department=department)
    if since is not None:
        rows = rows.filter(signed_at__gte=since)
    if until is not None:
        rows = rows.filter(signed_at__lt=until)
    seconds = sorted(int(s) for s in rows.values_list("writing_seconds", flat=True) if s is not None)
    if not seconds:
        return WritingTime(0, None, None)
    middle = len(seconds) // 2
    median = float(seconds[middle]) if len(seconds) % 2 else (seconds[middle - 1] + seconds[middle]) / 2
    within = sum(1 for s in seconds if s <= WRITING_TARGET_SECONDS) / len(seconds)
    return WritingTime(len(seconds), median, within, float(sum(seconds)))
