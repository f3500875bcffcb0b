"""Writes to the medical record.

Every service is atomic, takes the acting user, checks the capability and the patient-level
access (``access_patient``), writes its audit event and raises coded errors; bad input writes
nothing. A signed note is never overwritten: signing and every amendment add a ``NoteVersion``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from smartcare.accounts.choices import CareRelationshipKind
from smartcare.accounts.services import register_care_relationship
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.emr import consultations, selectors
from smartcare.emr.choices import (
    ORDER_TRANSITIONS,
    SECTION_KEYS,
    SUMMARY_KINDS,
    VITAL_RANGES,
    VITAL_UNITS,
    AllergySeverity,
    AllergyStatus,
    DiagnosisStatus,
    EncounterKind,
    EncounterStatus,
    MovementKind,
    NoteKind,
    NoteStatus,
    ObservationFlag,
    ObservationSource,
    OrderKind,
    OrderStatus,
    ProblemStatus,
    Route,
    VitalKind,
)
from smartcare.emr.errors import (
    AlreadyAdmitted,
    AmendmentReasonRequired,
    BedNotAvailable,
    EncounterNotOpen,
    EncounterTransitionRefused,
    ImplausibleValue,
    IncompleteMedicationOrder,
    NoteAlreadySigned,
    NoteNotSigned,
    OrderTransitionRefused,
    UnknownCode,
)
from smartcare.emr.models import (
    Allergy,
    Diagnosis,
    Encounter,
    EncounterMovement,
    Icd10Code,
    Note,
    NoteTemplate,
    NoteVersion,
    Observation,
    Order,
    Problem,
    VitalSign,
)
from smartcare.emr.phrases import join, label, phrase
from smartcare.organization.choices import BedStatus
from smartcare.organization.models import Bed, Department, Practitioner
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.scheduling.choices import AppointmentStatus
from smartcare.scheduling.models import Appointment

# How long the care team keeps access to the record after the encounter ends (results, letters).
CARE_AFTER_ENCOUNTER = dt.timedelta(days=90)
ENCOUNTER_TRANSITIONS: dict[str, frozenset[str]] = {
    EncounterStatus.PLANNED: frozenset({EncounterStatus.IN_PROGRESS, EncounterStatus.CANCELLED}),
    EncounterStatus.IN_PROGRESS: frozenset({EncounterStatus.FINISHED, EncounterStatus.CANCELLED}),
    EncounterStatus.FINISHED: frozenset(),
    EncounterStatus.CANCELLED: frozenset(),
}
MAX_SECTION_LENGTH = 20000


# --- Helpers -------------------------------------------------------------------------------------


def _open_patient(actor: Any, patient_id: Any, capability: str, *, obj: Any = None) -> Any:
    require_capability(actor, capability)
    return access_patient(actor, patient_id, AccessAction.UPDATE, obj=obj, audit=False)


def _encounter(actor: Any, encounter_id: Any, capability: str, *, lock: bool = False) -> Encounter:
    require_capability(actor, capability)
    try:
        pk = int(encounter_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    rows = Encounter.objects.select_related("patient", "department", "bed")
    if lock:
        rows = rows.select_for_update(of=("self",))
    encounter = rows.filter(pk=pk).first()
    if encounter is None:
        raise NotFound()
    access_patient(actor, encounter.patient_id, AccessAction.UPDATE, obj=encounter, audit=False)
    return encounter


def _require_open(encounter: Encounter) -> None:
    if encounter.status != EncounterStatus.IN_PROGRESS:
        raise EncounterNotOpen()


def _practitioner(actor: Any) -> Any:
    return getattr(actor, "practitioner", None)


def _care_source(encounter: Encounter) -> str:
    return f"emr.encounter:{encounter.pk}"


def _give_care(encounter: Encounter, *, until: dt.datetime | None = None) -> None:
    """The encounter's department (its whole team) cares for the patient while it is open and for a
    while after it ends."""
    register_care_relationship(
        patient=encounter.patient,
        department=encounter.department,
        kind=CareRelationshipKind.ADMISSION
        if encounter.kind == EncounterKind.INPATIENT
        else CareRelationshipKind.ENCOUNTER,
        source=_care_source(encounter),
        valid_from=encounter.started_at,
        valid_until=until,
    )


def _clean_text(value: Any, field: str, limit: int = MAX_SECTION_LENGTH) -> str:
    text = str(value or "").strip()
    if len(text) > limit:
        raise InvalidInput(_("The text is too long."), field=field)
    return text


def _decimal(value: Any, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput(_("Enter a number."), field=field) from None
    if not number.is_finite():
        raise InvalidInput(_("Enter a number."), field=field)
    return number


def _icd10(code: Any) -> Icd10Code:
    text = str(code or "").strip().upper()
    found = Icd10Code.objects.filter(code=text, is_active=True).first()
    if found is None:
        raise UnknownCode(code=text or "-", field="code")
    return found


# --- Encounters ----------------------------------------------------------------------------------


@transaction.atomic
def open_encounter(
    actor: Any,
    *,
    appointment_id: int | None = None,
    patient_id: int | None = None,
    kind: str = EncounterKind.OUTPATIENT,
    reason: str = "",
    language: str | None = None,
) -> Encounter:
    """Open the visit: from an appointment (the doctor calls the patient) or as a walk-in.

    The encounter starts now, the department gets a care relationship for it, the appointment is
    in consultation (the queue shows the patient as called: ``consultations.start``), and a progress
    note is drafted from what is known. Opening the same appointment twice gives the open encounter.
    """
    require_capability(actor, "emr.document")
    if kind not in (EncounterKind.OUTPATIENT, EncounterKind.EMERGENCY):
        raise InvalidInput(_("Inpatient stays start with an admission."), field="kind")
    appointment = None
    if appointment_id is not None:
        appointment = Appointment.objects.select_related("department").filter(pk=appointment_id).first()
        if appointment is None:
            raise NotFound()
        patient = access_patient(
            actor, appointment.patient_id, AccessAction.UPDATE, obj=appointment, audit=False
        )
        if appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW):
            raise EncounterTransitionRefused(
                current=appointment.get_status_display(), target=EncounterStatus.IN_PROGRESS.label
            )
        existing = (
            Encounter.objects.filter(appointment=appointment)
            .exclude(status=EncounterStatus.CANCELLED)
            .first()
        )
        if existing is not None:
            return existing
        department = appointment.department
    elif patient_id is not None:
        patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
        practitioner = _practitioner(actor)
        if practitioner is None or practitioner.department_id is None:
            raise InvalidInput(
                _("Only a practitioner of a department opens a walk-in visit."), field="patient"
            )
        department = practitioner.department
    else:
        raise InvalidInput(_("Choose an appointment or a patient."), field="patient")
    now = clock.now()
    try:
        with transaction.atomic():
            encounter = Encounter.objects.create(
                patient=patient,
                kind=kind,
                department=department,
                attending=_practitioner(actor),
                appointment=appointment,
                status=EncounterStatus.IN_PROGRESS,
                started_at=now,
                reason=_clean_text(reason, "reason", 300),
            )
    except IntegrityError:
        # Two clicks at once: the other request opened it.
        found = (
            Encounter.objects.filter(appointment=appointment)
            .exclude(status=EncounterStatus.CANCELLED)
            .first()
        )
        if found is None:
            raise
        return found
    _give_care(encounter)
    record(
        actor,
        AuditAction.CREATE,
        patient=patient,
        obj=encounter,
        detail={"event": "encounter_opened", "kind": kind},
    )
    if appointment is not None:
        consultations.start(actor, appointment)
    draft_note(actor, encounter.pk, kind=NoteKind.PROGRESS, language=language)
    return encounter


@transaction.atomic
def finish_encounter(actor: Any, encounter_id: Any) -> Encounter:
    """End the visit and complete its appointment. Inpatient stays end with discharge instead."""
    encounter = _encounter(actor, encounter_id, "emr.document", lock=True)
    if encounter.kind == EncounterKind.INPATIENT:
        raise EncounterTransitionRefused(
            current=encounter.get_status_display(), target=EncounterStatus.FINISHED.label
        )
    finished = _set_status(actor, encounter, EncounterStatus.FINISHED)
    if encounter.appointment is not None:
        consultations.finish(actor, encounter.appointment)
    return finished


@transaction.atomic
def cancel_encounter(actor: Any, encounter_id: Any, reason: str = "") -> Encounter:
    """Cancel an encounter opened by mistake (its patient goes back to the queue); refused once a
    note is signed or an order signed."""
    encounter = _encounter(actor, encounter_id, "emr.document", lock=True)
    signed = (
        encounter.notes.exclude(status=NoteStatus.DRAFT).exists()
        or encounter.orders.exclude(status__in=[OrderStatus.DRAFT, OrderStatus.CANCELLED]).exists()
    )
    if signed or encounter.kind == EncounterKind.INPATIENT:
        raise EncounterTransitionRefused(
            current=encounter.get_status_display(), target=EncounterStatus.CANCELLED.label
        )
    cancelled = _set_status(actor, encounter, EncounterStatus.CANCELLED, reason=reason)
    if encounter.appointment is not None:
        consultations.give_back(actor, encounter.appointment)
    return cancelled


def _set_status(actor: Any, encounter: Encounter, target: str, *, reason: str = "") -> Encounter:
    if target not in ENCOUNTER_TRANSITIONS[encounter.status]:
        raise EncounterTransitionRefused(
            current=encounter.get_status_display(), target=EncounterStatus(target).label
        )
    now = clock.now()
    encounter.status = target
    encounter.ended_at = now
    encounter.save(update_fields=["status", "ended_at", "updated_at"])
    _give_care(encounter, until=now + CARE_AFTER_ENCOUNTER)
    record(
        actor,
        AuditAction.UPDATE,
        patient=encounter.patient,
        obj=encounter,
        reason=reason,
        detail={"event": f"encounter_{target}"},
    )
    return encounter


def _take_bed(bed_id: Any) -> Bed:
    bed = Bed.objects.select_related("room").filter(pk=bed_id).first() if bed_id else None
    if bed is None:
        raise InvalidInput(_("Choose a bed."), field="bed")
    # A conditional update: of two admissions to one bed, only one finds it free.
    if Bed.objects.filter(pk=bed.pk, status=BedStatus.FREE).update(status=BedStatus.OCCUPIED) != 1:
        raise BedNotAvailable(field="bed")
    return bed


def _release_bed(bed_id: int | None) -> None:
    if bed_id:
        Bed.objects.filter(pk=bed_id).update(status=BedStatus.CLEANING)


@transaction.atomic
def admit(
    actor: Any,
    *,
    patient_id: Any,
    department_id: Any,
    bed_id: Any,
    reason: str = "",
    language: str | None = None,
    admitted_at: dt.datetime | None = None,
    attending_id: int | None = None,
    capability: str = "emr.record",
) -> Encounter:
    """Admit to a ward bed: an inpatient encounter, an admission movement, the bed occupied, the
    ward's care relationship and a drafted admission note.

    An admission the hospital information system reports (HL7 ADT^A01) says when and under which
    doctor (``admitted_at`` no later than now, ``attending_id``); its actor is the connected
    system, which the interop layer has checked and which holds ``interop.hl7.send``, not
    ``emr.record`` (``capability``)."""
    patient = _open_patient(actor, patient_id, capability)
    department = Department.objects.filter(pk=department_id or 0, is_active=True).first()
    if department is None:
        raise InvalidInput(_("Choose a department."), field="department")
    if Encounter.objects.filter(
        patient=patient, kind=EncounterKind.INPATIENT, status=EncounterStatus.IN_PROGRESS
    ).exists():
        raise AlreadyAdmitted()
    bed = _take_bed(bed_id)
    now = min(admitted_at, clock.now()) if admitted_at else clock.now()
    attending = _practitioner(actor) if attending_id is None else Practitioner.objects.get(pk=attending_id)
    try:
        with transaction.atomic():
            encounter = Encounter.objects.create(
                patient=patient,
                kind=EncounterKind.INPATIENT,
                department=department,
                attending=attending
                if attending_id is not None or getattr(attending, "department_id", None) == department.pk
                else None,
                status=EncounterStatus.IN_PROGRESS,
                started_at=now,
                admitted_at=now,
                bed=bed,
                reason=_clean_text(reason, "reason", 300),
            )
    except IntegrityError:
        raise AlreadyAdmitted() from None
    EncounterMovement.objects.create(
        encounter=encounter,
        kind=MovementKind.ADMISSION,
        to_department=department,
        to_bed=bed,
        at=now,
        by=actor,
        reason=encounter.reason,
    )
    _give_care(encounter)
    record(
        actor, AuditAction.CREATE, patient=patient, obj=encounter, detail={"event": "admitted", "bed": bed.pk}
    )
    if "emr.document" in _capabilities(actor):
        draft_note(actor, encounter.pk, kind=NoteKind.ADMISSION, language=language)
    return encounter


def _capabilities(actor: Any) -> frozenset[str]:
    from smartcare.core.permissions import capabilities_of

    return capabilities_of(getattr(actor, "role", ""))


@transaction.atomic
def transfer(
    actor: Any,
    encounter_id: Any,
    *,
    bed_id: Any,
    department_id: Any = None,
    reason: str = "",
    capability: str = "emr.record",
) -> Encounter:
    """Move an inpatient to another bed (and department): the old bed goes to cleaning.
    (``capability``: see ``admit``.)"""
    encounter = _encounter(actor, encounter_id, capability, lock=True)
    _require_open(encounter)
    if encounter.kind != EncounterKind.INPATIENT:
        raise EncounterTransitionRefused(
            current=encounter.get_kind_display(), target=MovementKind.TRANSFER.label
        )
    department = (
        Department.objects.filter(pk=department_id).first() if department_id else encounter.department
    )
    if department is None:
        raise InvalidInput(_("Choose a department."), field="department")
    old_bed, old_department = encounter.bed, encounter.department
    new_bed = _take_bed(bed_id)
    _release_bed(old_bed.pk if old_bed else None)
    encounter.bed = new_bed
    encounter.department = department
    encounter.save(update_fields=["bed", "department", "updated_at"])
    EncounterMovement.objects.create(
        encounter=encounter,
        kind=MovementKind.TRANSFER,
        from_department=old_department,
        to_department=department,
        from_bed=old_bed,
        to_bed=new_bed,
        by=actor,
        reason=_clean_text(reason, "reason", 300),
    )
    if department.pk != old_department.pk:
        register_care_relationship(
            patient=encounter.patient,
            department=department,
            kind=CareRelationshipKind.ADMISSION,
            source=f"{_care_source(encounter)}:{department.pk}",
            valid_from=clock.now(),
        )
    record(
        actor,
        AuditAction.UPDATE,
        patient=encounter.patient,
        obj=encounter,
        detail={"event": "transferred", "bed": new_bed.pk},
    )
    return encounter


@transaction.atomic
def discharge(
    actor: Any, encounter_id: Any, *, reason: str = "", capability: str = "emr.record"
) -> Encounter:
    """End the stay now: a discharge movement, the bed to cleaning. (``capability``: see ``admit``.)"""
    encounter = _encounter(actor, encounter_id, capability, lock=True)
    _require_open(encounter)
    if encounter.kind != EncounterKind.INPATIENT:
        raise EncounterTransitionRefused(
            current=encounter.get_kind_display(), target=MovementKind.DISCHARGE.label
        )
    now = clock.now()
    EncounterMovement.objects.create(
        encounter=encounter,
        kind=MovementKind.DISCHARGE,
        from_department=encounter.department,
        from_bed=encounter.bed,
        at=now,
        by=actor,
        reason=_clean_text(reason, "reason", 300),
    )
    _release_bed(encounter.bed_id)
    encounter.discharged_at = now
    encounter.save(update_fields=["discharged_at", "updated_at"])
    return _set_status(actor, encounter, EncounterStatus.FINISHED, reason=reason)


# --- Notes ---------------------------------------------------------------------------------------


DEPARTMENT_TEMPLATES = Path(__file__).parent / "data" / "note_templates.json"


@functools.cache
def _shipped_templates() -> dict[tuple[str, str], dict[str, Any]]:
    """Department templates shipped with smartcare, by (national code, note kind)."""
    data = json.loads(DEPARTMENT_TEMPLATES.read_text(encoding="utf-8"))
    return {(t["department_code"], t["kind"]): t for t in data["templates"]}


def template_for(department: Any, kind: str) -> NoteTemplate | None:
    """The department's template for ``kind``; the first time a department needs one, the
    template shipped for its national code (or the parent code: 03.04 -> 03) becomes its row,
    which curators then edit in the admin; else the hospital-wide default."""
    found = NoteTemplate.objects.filter(department=department, kind=kind).first()
    if found is None and department is not None:
        code = getattr(department, "national_code_id", None) or ""
        shipped = _shipped_templates().get((code, kind)) or _shipped_templates().get(
            (code.split(".")[0], kind)
        )
        if shipped is not None:
            found, _created = NoteTemplate.objects.get_or_create(
                department=department,
                kind=kind,
                defaults={
                    "name_zh": shipped["name_zh"],
                    "name_en": shipped["name_en"],
                    "sections": shipped["sections"],
                },
            )
    if found is not None and found.is_active:
        return found
    return NoteTemplate.objects.filter(department__isnull=True, kind=kind, is_active=True).first()


def _language(language: str | None, actor: Any) -> str:
    chosen = (
        language or getattr(actor, "preferred_language", "") or translation.get_language() or "zh-hans"
    ).lower()
    return "en" if chosen.startswith("en") else "zh-hans"


def _name(row: Any, language: str) -> str:
    return (row.name_en or row.name_zh) if language == "en" else (row.name_zh or row.name_en)


def _medication_line(order: Order, language: str, names: dict[str, tuple[str, str]] | None = None) -> str:
    name = order.name
    if names and order.item in names:
        zh, en = names[order.item]
        name = (en or zh) if language == "en" else (zh or en)
    parts = [name]
    if order.dose is not None:
        parts.append(f"{order.dose.normalize():f} {order.dose_unit}".strip())
    if order.route:
        parts.append(label(order.route, language))
    if order.frequency_per_day is not None:
        parts.append(phrase("times_a_day", language, times=f"{order.frequency_per_day.normalize():f}"))
    if order.duration_days:
        parts.append(phrase("for_days", language, days=order.duration_days))
    return " ".join(parts)


def _drug_names(orders: list[Order]) -> dict[str, tuple[str, str]]:
    Node = apps.get_model("knowledge", "Node")
    keys = [o.item for o in orders if o.item]
    return {n.key: (n.name_zh, n.name_en) for n in Node.objects.filter(key__in=keys)}


def _vital_line(vital: VitalSign, language: str) -> str:
    value = f"{vital.value:g}/{vital.value2:g}" if vital.value2 is not None else f"{vital.value:g}"
    return f"{label(vital.kind, language)} {value} {vital.unit}"


def _result_line(observation: Observation) -> str:
    value = f"{observation.value:g}" if observation.value is not None else observation.value_text
    flag = f" ({observation.flag})" if observation.flag else ""
    when = f"{timezone.localtime(observation.observed_at):%Y-%m-%d}"
    return " ".join(p for p in (observation.name, value, observation.unit) if p) + f"{flag} [{when}]"


def _draft_sections(encounter: Encounter, language: str) -> tuple[dict[str, str], list[str]]:
    """The note as far as the record already tells it, and where each part came from."""
    patient = encounter.patient
    sections = dict.fromkeys(SECTION_KEYS, "")
    sources: list[str] = []
    history: list[str] = []
    examination: list[str] = []
    started = encounter.started_at or clock.now()
    triage = selectors.latest_triage(patient, since=started - selectors.TRIAGE_LOOKBACK)
    if triage is not None:
        sources.append("triage")
        if triage.text:
            sections["chief_complaint"] = str(triage.text).strip()
        names = selectors.node_names(list(triage.findings or []) + list(triage.negated or []))
        found = [names.get(k, k) for k in triage.findings or []]
        absent = [names.get(k, k) for k in triage.negated or []]
        if found:
            history.append(phrase("triage_reported", language, findings=join(found, language)))
            if not sections["chief_complaint"]:
                sections["chief_complaint"] = join(found, language)
        if absent:
            history.append(phrase("triage_denied", language, findings=join(absent, language)))
    problems = selectors.active_problems(patient)
    if problems:
        sources.append("problems")
        listed = [f"{p.icd10_id} {_name(p.icd10, language)}" for p in problems]
        history.append(phrase("active_problems", language, problems=join(listed, language)))
    medications = selectors.current_medications(patient)
    if medications:
        sources.append("medications")
        names_by_key = _drug_names(medications)
        lines = [_medication_line(m, language, names_by_key) for m in medications]
        history.append(phrase("current_medications", language, list=join(lines, language)))
    allergies = selectors.active_allergies(patient)
    if allergies:
        sources.append("allergies")
        lines = [f"{a.name} ({a.reaction})" if a.reaction else a.name for a in allergies]
        history.append(phrase("allergies", language, list=join(lines, language)))
    else:
        history.append(phrase("no_allergies", language))
    if encounter.appointment is not None:
        pre_visit = [
            e for e in encounter.appointment.pre_visit_exams.select_related("exam_type") if e.result_summary
        ]
        if pre_visit:
            sources.append("pre_visit")
            lines = [f"{_name(e.exam_type, language)}: {e.result_summary}" for e in pre_visit]
            examination.append(phrase("pre_visit", language, list=join(lines, language)))
    results = selectors.recent_results(patient, since=started - dt.timedelta(days=30), limit=20)
    if results:
        sources.append("results")
        examination.append(
            phrase("recent_results", language, list=join([_result_line(r) for r in results], language))
        )
    vitals = [
        v
        for v in selectors.latest_vitals(patient).values()
        if v.measured_at >= started - dt.timedelta(days=1)
    ]
    if vitals:
        sources.append("vitals")
        examination.append(
            phrase("vitals", language, list=join([_vital_line(v, language) for v in vitals], language))
        )
    last_note, plan = selectors.last_plan(patient, before=encounter)
    if last_note is not None and plan:
        sources.append("last_plan")
        when = f"{timezone.localtime(last_note.signed_at or last_note.opened_at):%Y-%m-%d}"
        sections["plan"] = phrase("last_plan", language, date=when, plan=plan)
    sections["history"] = "\n".join(history)
    sections["examination"] = "\n".join(examination)
    return sections, sources


@transaction.atomic
def draft_note(
    actor: Any, encounter_id: Any, *, kind: str = NoteKind.PROGRESS, language: str | None = None
) -> Note:
    """Draft the note of an open encounter from what is known: triage answers, pre-visit results,
    active problems, medications, allergies and the last visit's plan. One draft per kind: asking
    again gives the existing draft."""
    encounter = _encounter(actor, encounter_id, "emr.document")
    _require_open(encounter)
    if kind not in NoteKind.values:
        raise InvalidInput(_("Unknown kind of note."), field="kind")
    existing = encounter.notes.filter(kind=kind, status=NoteStatus.DRAFT).first()
    if existing is not None:
        return existing
    language = _language(language, actor)
    with translation.override(language):
        sections, sources = _draft_sections(encounter, language)
    note = Note.objects.create(
        encounter=encounter,
        author=actor,
        kind=kind,
        language=language,
        drafted_from=sources,
        opened_at=clock.now(),
        **sections,
    )
    record(
        actor,
        AuditAction.CREATE,
        patient=encounter.patient,
        obj=note,
        detail={"event": "note_drafted", "from": sources},
    )
    return note


def _clean_sections(sections: dict[str, Any] | None) -> dict[str, str]:
    if not sections:
        return {}
    unknown = set(sections) - set(SECTION_KEYS)
    if unknown:
        raise InvalidInput(_("Unknown note section."), field=sorted(unknown)[0])
    return {key: _clean_text(value, key) for key, value in sections.items() if value is not None}


def _note(actor: Any, note_id: Any, *, lock: bool = True) -> Note:
    require_capability(actor, "emr.document")
    try:
        pk = int(note_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    rows = Note.objects.select_related("encounter__patient")
    if lock:
        rows = rows.select_for_update(of=("self",))
    note = rows.filter(pk=pk).first()
    if note is None:
        raise NotFound()
    access_patient(actor, note.encounter.patient_id, AccessAction.UPDATE, obj=note, audit=False)
    return note


@transaction.atomic
def save_draft(actor: Any, note_id: Any, sections: dict[str, Any]) -> Note:
    """Autosave of the editor. A signed note is refused (EMR-004): it is amended instead."""
    note = _note(actor, note_id)
    if note.status != NoteStatus.DRAFT:
        raise NoteAlreadySigned()
    cleaned = _clean_sections(sections)
    for key, value in cleaned.items():
        setattr(note, key, value)
    note.save(update_fields=[*cleaned, "updated_at"])
    record(
        actor, AuditAction.UPDATE, patient=note.encounter.patient_id, obj=note, detail={"event": "note_saved"}
    )
    return note


@transaction.atomic
def sign_note(actor: Any, note_id: Any, sections: dict[str, Any] | None = None) -> Note:
    """Sign a draft: its text becomes version 1, and the writing time (opening to signing) is stored."""
    note = _note(actor, note_id)
    if note.status != NoteStatus.DRAFT:
        raise NoteAlreadySigned()
    for key, value in _clean_sections(sections).items():
        setattr(note, key, value)
    if not any(note.sections().values()):
        raise InvalidInput(_("An empty note cannot be signed."), field="assessment")
    now = clock.now()
    note.status = NoteStatus.SIGNED
    note.signed_at = now
    note.writing_seconds = max(0, int((now - note.opened_at).total_seconds()))
    note.save()
    NoteVersion.objects.create(note=note, number=1, content=note.sections(), signed_by=actor, signed_at=now)
    record(
        actor,
        AuditAction.UPDATE,
        patient=note.encounter.patient_id,
        obj=note,
        detail={"event": "note_signed", "writing_seconds": note.writing_seconds},
    )
    return note


@transaction.atomic
def amend_note(actor: Any, note_id: Any, sections: dict[str, Any], reason: str) -> Note:
    """Amend a signed note: a new version with the reason; every earlier version is kept as signed."""
    note = _note(actor, note_id)
    if note.status == NoteStatus.DRAFT:
        raise NoteNotSigned()
    reason = _clean_text(reason, "reason", 500)
    if not reason:
        raise AmendmentReasonRequired(field="reason")
    cleaned = _clean_sections(sections)
    if not cleaned:
        raise InvalidInput(_("Nothing was changed."), field="sections")
    for key, value in cleaned.items():
        setattr(note, key, value)
    last = note.versions.order_by("-number").values_list("number", flat=True).first() or 0
    now = clock.now()
    note.status = NoteStatus.AMENDED
    note.save()
    version = NoteVersion.objects.create(
        note=note, number=last + 1, content=note.sections(), signed_by=actor, signed_at=now, reason=reason
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=note.encounter.patient_id,
        obj=note,
        reason=reason,
        detail={"event": "note_amended", "version": version.number},
    )
    return note


def _summary_sections(encounter: Encounter, kind: str, language: str) -> dict[str, str]:
    """A summary from the structured record (diagnoses, orders, results, notes), in ``language``."""
    patient = encounter.patient
    notes = list(encounter.notes.exclude(kind__in=SUMMARY_KINDS).order_by("opened_at", "pk"))
    first = next((n for n in notes if n.chief_complaint), None)
    sections = dict.fromkeys(SECTION_KEYS, "")
    sections["chief_complaint"] = first.chief_complaint if first else encounter.reason
    course: list[str] = []
    started = f"{timezone.localtime(encounter.started_at or clock.now()):%Y-%m-%d}"
    department = _name(encounter.department, language)
    if encounter.kind == EncounterKind.INPATIENT:
        course.append(phrase("admitted", language, date=started, department=department))
        for movement in encounter.movements.filter(kind=MovementKind.TRANSFER).select_related(
            "to_department"
        ):
            course.append(
                phrase(
                    "transferred",
                    language,
                    date=f"{timezone.localtime(movement.at):%Y-%m-%d}",
                    department=_name(movement.to_department, language) if movement.to_department else "",
                )
            )
        if encounter.discharged_at:
            course.append(
                phrase("discharged", language, date=f"{timezone.localtime(encounter.discharged_at):%Y-%m-%d}")
            )
    else:
        course.append(phrase("seen", language, date=started, department=department))
    histories = [n.history for n in notes if n.history]
    if histories:
        course.append(histories[0])
    sections["history"] = "\n".join(course)
    examination: list[str] = []
    findings = [n.examination for n in notes if n.examination]
    if findings:
        examination.append(findings[-1])
    results = list(encounter.observations.order_by("observed_at", "pk"))
    if results:
        examination.append(
            phrase("results", language, list=join([_result_line(r) for r in results], language))
        )
    sections["examination"] = "\n".join(examination)
    diagnoses = list(encounter.diagnoses.exclude(status=DiagnosisStatus.RULED_OUT).select_related("icd10"))
    if diagnoses:
        primary = phrase("primary", language)
        listed = [
            f"{d.icd10_id} {_name(d.icd10, language)}" + (f" ({primary})" if d.is_primary else "")
            for d in diagnoses
        ]
        sections["assessment"] = phrase("diagnoses", language, list=join(listed, language))
    else:
        assessments = [n.assessment for n in notes if n.assessment]
        sections["assessment"] = assessments[-1] if assessments else ""
    plan: list[str] = []
    if kind == NoteKind.REFERRAL:
        plan.append(phrase("referral", language))
    medications = list(
        encounter.orders.filter(
            kind=OrderKind.MEDICATION, status__in=[OrderStatus.SIGNED, OrderStatus.ACTIVE]
        )
    )
    if medications:
        names_by_key = _drug_names(medications)
        lines = join([_medication_line(m, language, names_by_key) for m in medications], language)
        key = "discharge_medications" if kind == NoteKind.DISCHARGE_SUMMARY else "medications"
        plan.append(phrase(key, language, list=lines))
    exams = [
        o.name
        for o in encounter.orders.filter(
            kind__in=[OrderKind.LAB, OrderKind.IMAGING, OrderKind.PROCEDURE]
        ).exclude(status__in=[OrderStatus.DRAFT, OrderStatus.CANCELLED])
    ]
    if exams:
        plan.append(phrase("tests_ordered", language, list=join(exams, language)))
    plans = [n.plan for n in notes if n.plan]
    if plans:
        plan.append(plans[-1])
    allergies = selectors.active_allergies(patient)
    if allergies:
        plan.append(phrase("allergies", language, list=join([a.name for a in allergies], language)))
    sections["plan"] = "\n".join(plan)
    return sections


@transaction.atomic
def generate_summary(actor: Any, encounter_id: Any, *, kind: str, language: str | None = None) -> Note:
    """A visit summary, discharge summary or referral letter drafted from the structured record, in
    zh-Hans or en, as a draft note the doctor edits and signs. Generating again replaces the draft."""
    encounter = _encounter(actor, encounter_id, "emr.document")
    if kind not in SUMMARY_KINDS:
        raise InvalidInput(_("Unknown kind of summary."), field="kind")
    if encounter.status == EncounterStatus.CANCELLED:
        raise EncounterNotOpen()
    language = _language(language, actor)
    with translation.override(language):
        sections = _summary_sections(encounter, kind, language)
    note = encounter.notes.filter(kind=kind, status=NoteStatus.DRAFT).first()
    if note is None:
        note = Note(encounter=encounter, author=actor, kind=kind, opened_at=clock.now())
    note.language = language
    note.drafted_from = ["record"]
    for key, value in sections.items():
        setattr(note, key, value)
    note.save()
    record(
        actor,
        AuditAction.CREATE,
        patient=encounter.patient,
        obj=note,
        detail={"event": "summary_generated", "kind": kind},
    )
    return note


# --- Diagnoses -----------------------------------------------------------------------------------


@transaction.atomic
def add_diagnosis(
    actor: Any,
    encounter_id: Any,
    *,
    code: str,
    is_primary: bool = False,
    status: str = DiagnosisStatus.CONFIRMED,
) -> Diagnosis:
    encounter = _encounter(actor, encounter_id, "emr.document", lock=True)
    _require_open(encounter)
    icd10 = _icd10(code)
    if status not in DiagnosisStatus.values:
        raise InvalidInput(_("Unknown status."), field="status")
    if encounter.diagnoses.filter(icd10=icd10).exists():
        raise InvalidInput(_("This diagnosis is already recorded."), field="code")
    if is_primary:
        encounter.diagnoses.filter(is_primary=True).update(is_primary=False)
    elif not encounter.diagnoses.exists():
        is_primary = True  # the first diagnosis is the primary one until another is chosen
    diagnosis = Diagnosis.objects.create(
        encounter=encounter, icd10=icd10, is_primary=is_primary, status=status, recorded_by=actor
    )
    record(actor, AuditAction.CREATE, patient=encounter.patient, obj=diagnosis, detail={"icd10": icd10.code})
    return diagnosis


@transaction.atomic
def remove_diagnosis(actor: Any, diagnosis_id: Any) -> None:
    diagnosis = Diagnosis.objects.filter(pk=diagnosis_id).first() if str(diagnosis_id).isdigit() else None
    if diagnosis is None:
        raise NotFound()
    encounter = _encounter(actor, diagnosis.encounter_id, "emr.document", lock=True)
    _require_open(encounter)
    record(
        actor,
        AuditAction.DELETE,
        patient=encounter.patient,
        obj=diagnosis,
        detail={"icd10": diagnosis.icd10_id},
    )
    diagnosis.delete()


# --- Orders --------------------------------------------------------------------------------------


@dataclass
class OrderData:
    kind: str
    item: str = ""  # drug:<slug> / exam:<slug> knowledge key
    name: str = ""
    dose: Any = None
    dose_unit: str = ""
    route: str = ""
    frequency_per_day: Any = None
    duration_days: Any = None
    instructions: str = ""


def _validated_order(data: OrderData) -> dict[str, Any]:
    if data.kind not in OrderKind.values:
        raise InvalidInput(_("Unknown kind of order."), field="kind")
    values: dict[str, Any] = {
        "kind": data.kind,
        "instructions": _clean_text(data.instructions, "instructions", 300),
    }
    item = (data.item or "").strip()
    name = _clean_text(data.name, "name", 200)
    code = ""
    if item:
        Node = apps.get_model("knowledge", "Node")
        expected = "drug" if data.kind == OrderKind.MEDICATION else "exam"
        node = Node.objects.filter(key=item, is_active=True).first()
        if node is None or node.type != expected:
            raise UnknownCode(code=item, field="item")
        name = name or node.name
        code = node.atc if expected == "drug" else node.loinc
    if not name:
        raise InvalidInput(_("Name what is ordered."), field="name")
    values.update(item=item, name=name, code=code)
    if data.kind == OrderKind.MEDICATION:
        dose = _decimal(data.dose, "dose")
        frequency = _decimal(data.frequency_per_day, "frequency_per_day")
        duration = _decimal(data.duration_days, "duration_days")
        route = (data.route or "").strip()
        unit = (data.dose_unit or "").strip()
        if dose is None or frequency is None or duration is None or not route or not unit:
            raise IncompleteMedicationOrder(field="dose")
        if route not in Route.values:
            raise InvalidInput(_("Unknown route."), field="route")
        if (
            dose <= 0
            or dose >= 10**7
            or frequency <= 0
            or frequency > 48
            or duration <= 0
            or duration > 3650
            or duration != int(duration)
        ):
            raise InvalidInput(
                _("Dose, frequency and duration must be positive and plausible."), field="dose"
            )
        values.update(
            dose=dose,
            dose_unit=unit[:10],
            route=route,
            frequency_per_day=frequency,
            duration_days=int(duration),
        )
    return values


@transaction.atomic
def place_order(actor: Any, encounter_id: Any, data: OrderData) -> Order:
    """A draft order in an open encounter; it takes effect when signed (after decision support)."""
    encounter = _encounter(actor, encounter_id, "emr.document")
    _require_open(encounter)
    values = _validated_order(data)
    order = Order.objects.create(encounter=encounter, patient=encounter.patient, ordered_by=actor, **values)
    record(
        actor,
        AuditAction.CREATE,
        patient=encounter.patient,
        obj=order,
        detail={"event": "order_placed", "item": order.item, "kind": order.kind},
    )
    return order


def _order(actor: Any, order_id: Any) -> Order:
    require_capability(actor, "emr.document")
    try:
        pk = int(order_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    order = Order.objects.select_for_update(of=("self",)).select_related("encounter").filter(pk=pk).first()
    if order is None:
        raise NotFound()
    access_patient(actor, order.patient_id, AccessAction.UPDATE, obj=order, audit=False)
    return order


def _move_order(actor: Any, order: Order, target: str, *, reason: str = "") -> Order:
    if target not in ORDER_TRANSITIONS[order.status]:
        raise OrderTransitionRefused(current=order.get_status_display(), target=OrderStatus(target).label)
    now = clock.now()
    order.status = target
    fields = ["status", "updated_at"]
    if target == OrderStatus.SIGNED:
        order.signed_at = now
        fields.append("signed_at")
    if target in (OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.DISCONTINUED):
        order.ended_at = now
        order.end_reason = _clean_text(reason, "reason", 300)
        fields += ["ended_at", "end_reason"]
    order.save(update_fields=fields)
    record(
        actor,
        AuditAction.UPDATE,
        patient=order.patient_id,
        obj=order,
        reason=reason,
        detail={"event": f"order_{target}"},
    )
    return order


@transaction.atomic
def sign_order(actor: Any, order_id: Any) -> Order:
    """Sign a draft order. The workstation shows decision-support cards before calling this."""
    order = _order(actor, order_id)
    if order.status == OrderStatus.DRAFT and order.encounter.status != EncounterStatus.IN_PROGRESS:
        raise EncounterNotOpen()
    return _move_order(actor, order, OrderStatus.SIGNED)


@transaction.atomic
def activate_order(actor: Any, order_id: Any) -> Order:
    return _move_order(actor, _order(actor, order_id), OrderStatus.ACTIVE)


@transaction.atomic
def cancel_order(actor: Any, order_id: Any, reason: str = "") -> Order:
    return _move_order(actor, _order(actor, order_id), OrderStatus.CANCELLED, reason=reason)


@transaction.atomic
def discontinue_order(actor: Any, order_id: Any, reason: str) -> Order:
    if not (reason or "").strip():
        raise InvalidInput(_("Say why the order is discontinued."), field="reason")
    return _move_order(actor, _order(actor, order_id), OrderStatus.DISCONTINUED, reason=reason)


@transaction.atomic
def complete_order(actor: Any, order_id: Any) -> Order:
    return _move_order(actor, _order(actor, order_id), OrderStatus.COMPLETED)


# --- Allergies, vital signs, problems, results ---------------------------------------------------


@transaction.atomic
def record_allergy(
    actor: Any,
    patient_id: Any,
    *,
    substance: str = "",
    name: str = "",
    reaction: str = "",
    severity: str = "",
) -> Allergy:
    """An allergy to a drug or drug class of the knowledge graph, or to a substance named in free text."""
    patient = _open_patient(actor, patient_id, "emr.record")
    substance = (substance or "").strip()
    name = _clean_text(name, "name", 200)
    if substance:
        Node = apps.get_model("knowledge", "Node")
        node = Node.objects.filter(key=substance, is_active=True, type__in=["drug", "drug_class"]).first()
        if node is None:
            raise UnknownCode(code=substance, field="substance")
        name = name or node.name
    if not name:
        raise InvalidInput(_("Name the substance."), field="name")
    if severity and severity not in AllergySeverity.values:
        raise InvalidInput(_("Unknown severity."), field="severity")
    if Allergy.objects.filter(
        patient=patient, substance=substance, name=name, status=AllergyStatus.ACTIVE
    ).exists():
        raise InvalidInput(_("This allergy is already recorded."), field="substance")
    allergy = Allergy.objects.create(
        patient=patient,
        substance=substance,
        name=name,
        reaction=_clean_text(reaction, "reaction", 300),
        severity=severity,
        recorded_by=actor,
    )
    record(actor, AuditAction.CREATE, patient=patient, obj=allergy, detail={"substance": substance})
    return allergy


@transaction.atomic
def set_allergy_status(actor: Any, allergy_id: Any, status: str) -> Allergy:
    allergy = Allergy.objects.filter(pk=allergy_id).first() if str(allergy_id).isdigit() else None
    if allergy is None:
        raise NotFound()
    _open_patient(actor, allergy.patient_id, "emr.record", obj=allergy)
    if status not in AllergyStatus.values:
        raise InvalidInput(_("Unknown status."), field="status")
    allergy.status = status
    allergy.save(update_fields=["status", "updated_at"])
    record(actor, AuditAction.UPDATE, patient=allergy.patient_id, obj=allergy, detail={"status": status})
    return allergy


def _measured(value: Any, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(_("Enter a number."), field=field) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(_("Enter a number."), field=field)
    return number


@transaction.atomic
def record_vital(
    actor: Any,
    patient_id: Any,
    *,
    kind: str,
    value: Any,
    value2: Any = None,
    encounter_id: Any = None,
    measured_at: dt.datetime | None = None,
) -> VitalSign:
    patient = _open_patient(actor, patient_id, "emr.record")
    if kind not in VitalKind.values:
        raise InvalidInput(_("Unknown measurement."), field="kind")
    low, high = VITAL_RANGES[VitalKind(kind)]
    first = _measured(value, "value")
    second = _measured(value2, "value2") if value2 not in (None, "") else None
    if kind == VitalKind.BLOOD_PRESSURE and second is None:
        raise InvalidInput(_("Enter the diastolic pressure too."), field="value2")
    if kind != VitalKind.BLOOD_PRESSURE:
        second = None
    for number, field in ((first, "value"), (second, "value2")):
        if number is not None and not low <= number <= high:
            raise ImplausibleValue(value=f"{number:g}", field=field)
    encounter = None
    if encounter_id not in (None, ""):
        encounter = Encounter.objects.filter(pk=encounter_id, patient=patient).first()
        if encounter is None:
            raise NotFound()
    when = measured_at or clock.now()
    if when > clock.now() + dt.timedelta(minutes=5):
        raise InvalidInput(_("A measurement cannot be in the future."), field="measured_at")
    vital = VitalSign.objects.create(
        patient=patient,
        encounter=encounter,
        kind=kind,
        value=first,
        value2=second,
        unit=VITAL_UNITS[VitalKind(kind)],
        measured_at=when,
        recorded_by=actor,
    )
    record(actor, AuditAction.CREATE, patient=patient, obj=vital, detail={"kind": kind})
    return vital


@transaction.atomic
def record_problem(
    actor: Any, patient_id: Any, *, code: str, onset: dt.date | None = None, comment: str = ""
) -> Problem:
    patient = _open_patient(actor, patient_id, "emr.record")
    icd10 = _icd10(code)
    if Problem.objects.filter(patient=patient, icd10=icd10, status=ProblemStatus.ACTIVE).exists():
        raise InvalidInput(_("This problem is already on the list."), field="code")
    if onset is not None and onset > clock.local_now().date():
        raise InvalidInput(_("The onset cannot be in the future."), field="onset")
    problem = Problem.objects.create(
        patient=patient,
        icd10=icd10,
        onset=onset,
        comment=_clean_text(comment, "comment", 300),
        recorded_by=actor,
    )
    record(actor, AuditAction.CREATE, patient=patient, obj=problem, detail={"icd10": icd10.code})
    return problem


@transaction.atomic
def resolve_problem(actor: Any, problem_id: Any) -> Problem:
    problem = Problem.objects.filter(pk=problem_id).first() if str(problem_id).isdigit() else None
    if problem is None:
        raise NotFound()
    _open_patient(actor, problem.patient_id, "emr.record", obj=problem)
    if problem.status != ProblemStatus.ACTIVE:
        raise InvalidInput(_("This problem is already resolved."), field="status")
    problem.status = ProblemStatus.RESOLVED
    problem.resolved_on = clock.local_now().date()
    problem.save(update_fields=["status", "resolved_on", "updated_at"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=problem.patient_id,
        obj=problem,
        detail={"event": "problem_resolved"},
    )
    return problem


def flag_for(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return ""
    if high is not None and value > high:
        return ObservationFlag.HIGH
    if low is not None and value < low:
        return ObservationFlag.LOW
    return ""


@transaction.atomic
def record_result(
    actor: Any,
    patient_id: Any,
    *,
    code: str,
    name: str,
    value: Any = None,
    value_text: str = "",
    unit: str = "",
    reference_low: Any = None,
    reference_high: Any = None,
    flag: str | None = None,
    observed_at: dt.datetime | None = None,
    order_id: Any = None,
    encounter_id: Any = None,
    source: str = ObservationSource.MANUAL,
    external_id: str = "",
) -> Observation:
    """A result (lab value or exam finding). Interfaces (HL7 v2, FHIR) call this with their source;
    without a flag, H or L is set from the reference range."""
    patient = _open_patient(actor, patient_id, "emr.record")
    code = (code or "").strip()
    name = _clean_text(name, "name", 200)
    if not code or not name:
        raise InvalidInput(_("A result needs a code and a name."), field="code")
    number = _measured(value, "value") if value not in (None, "") else None
    text = _clean_text(value_text, "value_text", 500)
    if number is None and not text:
        raise InvalidInput(_("A result needs a value."), field="value")
    low = _measured(reference_low, "reference_low") if reference_low not in (None, "") else None
    high = _measured(reference_high, "reference_high") if reference_high not in (None, "") else None
    if flag is not None and flag not in ObservationFlag.values:
        raise InvalidInput(_("Unknown flag."), field="flag")
    if source not in ObservationSource.values:
        raise InvalidInput(_("Unknown source."), field="source")
    order = None
    if order_id not in (None, ""):
        order = Order.objects.filter(pk=order_id, patient=patient).first()
        if order is None:
            raise NotFound()
    encounter = None
    if encounter_id not in (None, ""):
        encounter = Encounter.objects.filter(pk=encounter_id, patient=patient).first()
        if encounter is None:
            raise NotFound()
    observation = Observation.objects.create(
        patient=patient,
        encounter=encounter or (order.encounter if order else None),
        order=order,
        code=code[:120],
        name=name,
        value=number,
        value_text=text,
        unit=(unit or "")[:20],
        reference_low=low,
        reference_high=high,
        flag=flag if flag is not None else flag_for(number, low, high),
        observed_at=observed_at or clock.now(),
        source=source,
        external_id=(external_id or "")[:120],
        recorded_by=actor,
    )
    record(actor, AuditAction.CREATE, patient=patient, obj=observation, detail={"code": observation.code})
    return observation
