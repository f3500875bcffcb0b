"""The medical record over REST: encounters, notes (sign, amend), orders, diagnoses, allergies,
vital signs, problems, results and ICD-10 search. Same services, access rules and audit as the pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.emr import selectors, services
from smartcare.emr.choices import NoteStatus, OrderStatus
from smartcare.emr.models import Encounter, Note, Order, VitalSign

router = Router(tags=["emr"])


# --- Schemas -------------------------------------------------------------------------------------


class Icd10Out(Schema):
    code: str
    name: str
    name_zh: str
    name_en: str
    chapter: str


class EncounterSummaryOut(Schema):
    id: int
    patient_id: int
    patient_name: str
    kind: str
    status: str
    department: str
    attending: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    bed: str


class NoteVersionOut(Schema):
    number: int
    content: dict[str, str]
    signed_by: str
    signed_at: dt.datetime
    reason: str


class NoteOut(Schema):
    id: int
    encounter_id: int
    kind: str
    status: str
    language: str
    chief_complaint: str
    history: str
    examination: str
    assessment: str
    plan: str
    opened_at: dt.datetime
    signed_at: dt.datetime | None
    writing_seconds: int | None
    drafted_from: list[str]
    versions: list[NoteVersionOut]


class OrderOut(Schema):
    id: int
    encounter_id: int
    kind: str
    status: str
    item: str
    name: str
    code: str
    dose: Decimal | None
    dose_unit: str
    route: str
    frequency_per_day: Decimal | None
    duration_days: int | None
    instructions: str
    ordered_at: dt.datetime
    signed_at: dt.datetime | None


class DiagnosisOut(Schema):
    id: int
    code: str
    name: str
    is_primary: bool
    status: str


class AllergyOut(Schema):
    id: int
    substance: str
    name: str
    reaction: str
    severity: str
    status: str


class VitalOut(Schema):
    id: int
    kind: str
    value: float
    value2: float | None
    unit: str
    measured_at: dt.datetime


class ProblemOut(Schema):
    id: int
    code: str
    name: str
    status: str
    onset: dt.date | None


class ResultOut(Schema):
    id: int
    code: str
    name: str
    value: float | None
    value_text: str
    unit: str
    reference_low: float | None
    reference_high: float | None
    flag: str
    observed_at: dt.datetime


class EncounterOut(EncounterSummaryOut):
    diagnoses: list[DiagnosisOut]
    notes: list[NoteOut]
    orders: list[OrderOut]
    allergies: list[AllergyOut]
    problems: list[ProblemOut]
    medications: list[OrderOut]


def _encounter_summary(e: Encounter) -> dict[str, Any]:
    return {
        "id": e.pk,
        "patient_id": e.patient_id,
        "patient_name": e.patient.name,
        "kind": e.kind,
        "status": e.status,
        "department": e.department.name,
        "attending": str(e.attending.user) if e.attending else "",
        "started_at": e.started_at,
        "ended_at": e.ended_at,
        "bed": str(e.bed) if e.bed else "",
    }


def _note(n: Note) -> dict[str, Any]:
    return {
        "id": n.pk,
        "encounter_id": n.encounter_id,
        "kind": n.kind,
        "status": n.status,
        "language": n.language,
        **n.sections(),
        "opened_at": n.opened_at,
        "signed_at": n.signed_at,
        "writing_seconds": n.writing_seconds,
        "drafted_from": list(n.drafted_from or []),
        "versions": [
            {
                "number": v.number,
                "content": v.content,
                "signed_by": str(v.signed_by),
                "signed_at": v.signed_at,
                "reason": v.reason,
            }
            for v in n.versions.order_by("number").select_related("signed_by")
        ],
    }


def _order(o: Order) -> dict[str, Any]:
    return {
        field: getattr(o, field)
        for field in (
            "kind",
            "status",
            "item",
            "name",
            "code",
            "dose",
            "dose_unit",
            "route",
            "frequency_per_day",
            "duration_days",
            "instructions",
            "ordered_at",
            "signed_at",
        )
    } | {"id": o.pk, "encounter_id": o.encounter_id}


def _allergy(a: Any) -> dict[str, Any]:
    return {f: getattr(a, f) for f in ("substance", "name", "reaction", "severity", "status")} | {"id": a.pk}


def _vital(v: Any) -> dict[str, Any]:
    return {f: getattr(v, f) for f in ("kind", "value", "value2", "unit", "measured_at")} | {"id": v.pk}


def _problem(p: Any) -> dict[str, Any]:
    return {"id": p.pk, "code": p.icd10_id, "name": p.icd10.name, "status": p.status, "onset": p.onset}


def _result(r: Any) -> dict[str, Any]:
    fields = ("code", "name", "value", "value_text", "unit", "reference_low", "reference_high", "flag")
    return {f: getattr(r, f) for f in fields} | {"id": r.pk, "observed_at": r.observed_at}


def _is_patient(request: HttpRequest) -> bool:
    return getattr(request.user, "role", "") == "patient"


def _visible_notes(request: HttpRequest, notes: list[Note]) -> list[Note]:
    # Patients read what their doctor signed, not drafts in progress.
    if _is_patient(request):
        return [n for n in notes if n.status != NoteStatus.DRAFT]
    return notes


# --- ICD-10 ---------------------------------------------------------------------------------------


@router.get("/icd10", response=list[Icd10Out], summary="Search ICD-10 codes by code, Chinese or English name")
def icd10(request: HttpRequest, q: str = "", limit: int = 20) -> list[dict[str, Any]]:
    require_capability(request.user, "emr.view")
    return [
        {"code": c.code, "name": c.name, "name_zh": c.name_zh, "name_en": c.name_en, "chapter": c.chapter}
        for c in selectors.search_icd10(q, limit=limit)
    ]


# --- Encounters ----------------------------------------------------------------------------------


@router.get("/encounters", response=list[EncounterSummaryOut], summary="My encounters: open ones and today's")
def encounters(request: HttpRequest) -> list[dict[str, Any]]:
    return [_encounter_summary(e) for e in selectors.workstation_encounters(request.user)]


class OpenEncounterIn(Schema):
    appointment_id: int | None = None
    patient_id: int | None = None
    kind: str = "outpatient"
    reason: str = Field(default="", max_length=300)
    language: str | None = None


@router.post(
    "/encounters", response={201: EncounterSummaryOut}, summary="Open a visit (appointment or walk-in)"
)
def open_encounter(request: HttpRequest, payload: OpenEncounterIn) -> tuple[int, dict[str, Any]]:
    encounter = services.open_encounter(request.user, **payload.dict())
    return 201, _encounter_summary(encounter)


@router.get("/encounters/{int:encounter_id}", response=EncounterOut, summary="One encounter and its record")
def encounter(request: HttpRequest, encounter_id: int) -> dict[str, Any]:
    found = selectors.encounter_for(request.user, encounter_id)
    rec = selectors.encounter_record(found)
    return _encounter_summary(found) | {
        "diagnoses": [
            {
                "id": d.pk,
                "code": d.icd10_id,
                "name": d.icd10.name,
                "is_primary": d.is_primary,
                "status": d.status,
            }
            for d in rec.diagnoses
        ],
        "notes": [_note(n) for n in _visible_notes(request, rec.notes)],
        "orders": [
            _order(o) for o in rec.orders if not (_is_patient(request) and o.status == OrderStatus.DRAFT)
        ],
        "allergies": [_allergy(a) for a in rec.allergies],
        "problems": [_problem(p) for p in rec.problems],
        "medications": [_order(o) for o in rec.medications],
    }


@router.post("/encounters/{int:encounter_id}/finish", response=EncounterSummaryOut, summary="End the visit")
def finish(request: HttpRequest, encounter_id: int) -> dict[str, Any]:
    return _encounter_summary(services.finish_encounter(request.user, encounter_id))


class AdmissionIn(Schema):
    patient_id: int
    department_id: int
    bed_id: int
    reason: str = Field(default="", max_length=300)
    language: str | None = None


@router.post("/admissions", response={201: EncounterSummaryOut}, summary="Admit to a ward bed")
def admit(request: HttpRequest, payload: AdmissionIn) -> tuple[int, dict[str, Any]]:
    return 201, _encounter_summary(services.admit(request.user, **payload.dict()))


class MovementIn(Schema):
    bed_id: int | None = None
    department_id: int | None = None
    reason: str = Field(default="", max_length=300)


@router.post(
    "/encounters/{int:encounter_id}/transfer", response=EncounterSummaryOut, summary="Move to another bed"
)
def transfer(request: HttpRequest, encounter_id: int, payload: MovementIn) -> dict[str, Any]:
    return _encounter_summary(
        services.transfer(
            request.user,
            encounter_id,
            bed_id=payload.bed_id,
            department_id=payload.department_id,
            reason=payload.reason,
        )
    )


@router.post("/encounters/{int:encounter_id}/discharge", response=EncounterSummaryOut, summary="Discharge")
def discharge(request: HttpRequest, encounter_id: int, payload: MovementIn | None = None) -> dict[str, Any]:
    reason = payload.reason if payload is not None else ""
    return _encounter_summary(services.discharge(request.user, encounter_id, reason=reason))


class DiagnosisIn(Schema):
    code: str = Field(min_length=1, max_length=10)
    is_primary: bool = False
    status: str = "confirmed"


@router.post(
    "/encounters/{int:encounter_id}/diagnoses", response={201: DiagnosisOut}, summary="Add a diagnosis"
)
def add_diagnosis(
    request: HttpRequest, encounter_id: int, payload: DiagnosisIn
) -> tuple[int, dict[str, Any]]:
    d = services.add_diagnosis(request.user, encounter_id, **payload.dict())
    return 201, {
        "id": d.pk,
        "code": d.icd10_id,
        "name": d.icd10.name,
        "is_primary": d.is_primary,
        "status": d.status,
    }


class NoteRequestIn(Schema):
    kind: str = "progress"
    language: str | None = None


@router.post(
    "/encounters/{int:encounter_id}/notes",
    response={201: NoteOut},
    summary="Draft a note, or generate a summary (visit_summary, discharge_summary, referral)",
)
def new_note(request: HttpRequest, encounter_id: int, payload: NoteRequestIn) -> tuple[int, dict[str, Any]]:
    if payload.kind in ("visit_summary", "discharge_summary", "referral"):
        note = services.generate_summary(
            request.user, encounter_id, kind=payload.kind, language=payload.language
        )
    else:
        note = services.draft_note(request.user, encounter_id, kind=payload.kind, language=payload.language)
    return 201, _note(note)


# --- Notes ---------------------------------------------------------------------------------------


class SectionsIn(Schema):
    chief_complaint: str | None = Field(default=None, max_length=20000)
    history: str | None = Field(default=None, max_length=20000)
    examination: str | None = Field(default=None, max_length=20000)
    assessment: str | None = Field(default=None, max_length=20000)
    plan: str | None = Field(default=None, max_length=20000)


class AmendIn(SectionsIn):
    reason: str = Field(default="", max_length=500)


@router.get("/notes/{int:note_id}", response=NoteOut, summary="One note with its signed versions")
def note(request: HttpRequest, note_id: int) -> dict[str, Any]:
    found = selectors.note_for(request.user, note_id)
    if not _visible_notes(request, [found]):
        raise NotFound()
    return _note(found)


@router.patch("/notes/{int:note_id}", response=NoteOut, summary="Save a draft (autosave)")
def save_note(request: HttpRequest, note_id: int, payload: SectionsIn) -> dict[str, Any]:
    return _note(services.save_draft(request.user, note_id, payload.dict(exclude_none=True)))


@router.post("/notes/{int:note_id}/sign", response=NoteOut, summary="Sign a draft note")
def sign_note(request: HttpRequest, note_id: int, payload: SectionsIn | None = None) -> dict[str, Any]:
    sections = payload.dict(exclude_none=True) if payload is not None else {}
    return _note(services.sign_note(request.user, note_id, sections))


@router.post("/notes/{int:note_id}/amend", response=NoteOut, summary="Amend a signed note (new version)")
def amend_note(request: HttpRequest, note_id: int, payload: AmendIn) -> dict[str, Any]:
    data = payload.dict(exclude_none=True)
    reason = data.pop("reason", "")
    return _note(services.amend_note(request.user, note_id, data, reason))


# --- Orders --------------------------------------------------------------------------------------


class OrderIn(Schema):
    kind: str
    item: str = Field(default="", max_length=120)
    name: str = Field(default="", max_length=200)
    dose: Decimal | None = None
    dose_unit: str = Field(default="", max_length=10)
    route: str = ""
    frequency_per_day: Decimal | None = None
    duration_days: int | None = None
    instructions: str = Field(default="", max_length=300)


@router.post("/encounters/{int:encounter_id}/orders", response={201: OrderOut}, summary="Place a draft order")
def place_order(request: HttpRequest, encounter_id: int, payload: OrderIn) -> tuple[int, dict[str, Any]]:
    order = services.place_order(request.user, encounter_id, services.OrderData(**payload.dict()))
    return 201, _order(order)


class OrderStatusIn(Schema):
    status: str
    reason: str = Field(default="", max_length=300)


_ORDER_MOVES = {
    OrderStatus.SIGNED: lambda u, pk, reason: services.sign_order(u, pk),
    OrderStatus.ACTIVE: lambda u, pk, reason: services.activate_order(u, pk),
    OrderStatus.CANCELLED: lambda u, pk, reason: services.cancel_order(u, pk, reason),
    OrderStatus.DISCONTINUED: lambda u, pk, reason: services.discontinue_order(u, pk, reason),
    OrderStatus.COMPLETED: lambda u, pk, reason: services.complete_order(u, pk),
}


@router.post(
    "/orders/{int:order_id}/status",
    response=OrderOut,
    summary="Move an order along its lifecycle (signed, active, completed, cancelled, discontinued)",
)
def move_order(request: HttpRequest, order_id: int, payload: OrderStatusIn) -> dict[str, Any]:
    move = _ORDER_MOVES.get(payload.status)  # type: ignore[call-overload]
    if move is None:
        require_capability(request.user, "emr.document")
        raise InvalidInput(field="status")
    return _order(move(request.user, order_id, payload.reason))


# --- The patient's record ------------------------------------------------------------------------


class PatientRecordOut(Schema):
    allergies: list[AllergyOut]
    problems: list[ProblemOut]
    medications: list[OrderOut]
    vitals: list[VitalOut]
    results: list[ResultOut]
    encounters: list[EncounterSummaryOut]


@router.get("/patients/{int:patient_id}", response=PatientRecordOut, summary="A patient's record at a glance")
def patient_record(request: HttpRequest, patient_id: int) -> dict[str, Any]:
    patient = selectors.patient_for(request.user, patient_id)
    return {
        "allergies": [_allergy(a) for a in selectors.active_allergies(patient)],
        "problems": [_problem(p) for p in selectors.active_problems(patient)],
        "medications": [_order(o) for o in selectors.current_medications(patient)],
        "vitals": [
            _vital(v) for v in VitalSign.objects.filter(patient=patient).order_by("-measured_at", "-pk")[:50]
        ],
        "results": [_result(r) for r in selectors.recent_results(patient, limit=100)],
        "encounters": [
            _encounter_summary(e)
            for e in Encounter.objects.filter(patient=patient).select_related(
                "patient", "department", "attending__user", "bed"
            )[:100]
        ],
    }


class AllergyIn(Schema):
    substance: str = Field(default="", max_length=120)
    name: str = Field(default="", max_length=200)
    reaction: str = Field(default="", max_length=300)
    severity: str = ""


@router.post("/patients/{int:patient_id}/allergies", response={201: AllergyOut}, summary="Record an allergy")
def record_allergy(request: HttpRequest, patient_id: int, payload: AllergyIn) -> tuple[int, dict[str, Any]]:
    return 201, _allergy(services.record_allergy(request.user, patient_id, **payload.dict()))


class VitalIn(Schema):
    kind: str
    value: float
    value2: float | None = None
    encounter_id: int | None = None
    measured_at: dt.datetime | None = None


@router.post("/patients/{int:patient_id}/vitals", response={201: VitalOut}, summary="Record a vital sign")
def record_vital(request: HttpRequest, patient_id: int, payload: VitalIn) -> tuple[int, dict[str, Any]]:
    return 201, _vital(services.record_vital(request.user, patient_id, **payload.dict()))


class ProblemIn(Schema):
    code: str = Field(min_length=1, max_length=10)
    onset: dt.date | None = None
    comment: str = Field(default="", max_length=300)


@router.post(
    "/patients/{int:patient_id}/problems", response={201: ProblemOut}, summary="Add to the problem list"
)
def record_problem(request: HttpRequest, patient_id: int, payload: ProblemIn) -> tuple[int, dict[str, Any]]:
    return 201, _problem(services.record_problem(request.user, patient_id, **payload.dict()))


class ResultIn(Schema):
    code: str = Field(min_length=1, max_length=120)
    name: str = Field(min_length=1, max_length=200)
    value: float | None = None
    value_text: str = Field(default="", max_length=500)
    unit: str = Field(default="", max_length=20)
    reference_low: float | None = None
    reference_high: float | None = None
    flag: str | None = None
    observed_at: dt.datetime | None = None
    order_id: int | None = None
    encounter_id: int | None = None


@router.post("/patients/{int:patient_id}/results", response={201: ResultOut}, summary="Record a result")
def record_result(request: HttpRequest, patient_id: int, payload: ResultIn) -> tuple[int, dict[str, Any]]:
    return 201, _result(services.record_result(request.user, patient_id, **payload.dict()))
