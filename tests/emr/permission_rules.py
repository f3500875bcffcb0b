"""Permission rules for the medical record: the pages under /emr/ and the API under /api/emr/.

``setup`` gives the target patient of each caller an open cardiology encounter with a signed
note, a draft note and a draft lab order (written directly: the callers differ in whom they may
see, the world must not).

Capabilities: ``emr.view`` (doctors, nurses, department heads) opens the workstation and the
ICD-10 search; ``emr.document`` (doctors, department heads) opens visits, writes notes, diagnoses
and orders; ``emr.record`` (the care team) records allergies, vitals, problems and results.
Reading one patient's record needs clinical access to that patient (``access_patient``): the
patient themself (signed notes only), clinicians with a care relationship or after breaking the
glass. Clinicians without care get 404 CORE-404, as for a record that does not exist; roles
without the capability get 403 CORE-403.
"""

from __future__ import annotations

from typing import Any

from smartcare.core import clock
from smartcare.emr.choices import NoteStatus, OrderStatus
from smartcare.emr.icd10 import ensure_icd10
from smartcare.emr.models import Allergy, Encounter, Note, NoteVersion, Order, VitalSign
from smartcare.knowledge.seed import ensure_seed
from smartcare.organization.models import Bed, Room
from tests.test_permissions import (
    BREAK_GLASS,
    CARE,
    CLINICIANS,
    HEAD,
    MISSING_ID,
    NO_CARE,
    PATIENT_OWN,
    SIGNED_IN,
    Rule,
    World,
)

WRITERS = frozenset({CARE, BREAK_GLASS, HEAD})  # with the capability and access to the target
READERS = WRITERS | {PATIENT_OWN}
NOT_FOUND = {NO_CARE: 404}


def setup(world: World) -> None:
    ensure_seed()
    ensure_icd10()
    doctor = world.h.user("doctor")
    now = clock.now()
    encounter = Encounter.objects.create(
        patient=world.target,
        kind="outpatient",
        department=world.h.cardiology,
        attending=doctor.practitioner,
        status="in_progress",
        started_at=now,
    )
    signed = Note.objects.create(
        encounter=encounter,
        author=doctor,
        status=NoteStatus.SIGNED,
        assessment="稳定型心绞痛",
        signed_at=now,
        writing_seconds=300,
    )
    NoteVersion.objects.create(
        note=signed, number=1, content=signed.sections(), signed_by=doctor, signed_at=now
    )
    draft = Note.objects.create(encounter=encounter, author=doctor, assessment="草稿")
    order = Order.objects.create(
        encounter=encounter,
        patient=world.target,
        kind="lab",
        item="exam:hba1c",
        name="HbA1c",
        ordered_by=doctor,
    )
    room = Room.objects.create(
        campus=world.h.hospital.campuses.first(), department=world.h.cardiology, code="PERM-W", kind="ward"
    )
    bed = Bed.objects.create(room=room, code="01")
    world.extra.update(
        emr_encounter=encounter, emr_signed=signed, emr_draft=draft, emr_order=order, emr_bed=bed
    )


def _encounter(world: World, missing: bool) -> dict[str, Any]:
    return {"encounter_id": MISSING_ID if missing else world.extra["emr_encounter"].pk}


def _signed(world: World, missing: bool) -> dict[str, Any]:
    return {"note_id": MISSING_ID if missing else world.extra["emr_signed"].pk}


def _draft(world: World, missing: bool) -> dict[str, Any]:
    return {"note_id": MISSING_ID if missing else world.extra["emr_draft"].pk}


def _order(world: World, missing: bool) -> dict[str, Any]:
    return {"order_id": MISSING_ID if missing else world.extra["emr_order"].pk}


def _stay(world: World, missing: bool) -> dict[str, Any]:
    """An open inpatient stay of the target in a cardiology ward bed, and a free bed to move to.

    Made for the transfer and discharge rules only (the admission rule admits the same patient,
    and a patient has one open stay), when the request's URL is built.
    """
    if missing:
        return {"encounter_id": MISSING_ID}
    if "emr_stay" not in world.extra:
        room = world.extra["emr_bed"].room
        occupied = Bed.objects.create(room=room, code="02", status="occupied")
        world.extra["emr_free_bed"] = Bed.objects.create(room=room, code="03")
        world.extra["emr_stay"] = Encounter.objects.create(
            patient=world.target,
            kind="inpatient",
            department=world.h.cardiology,
            attending=world.h.user("doctor").practitioner,
            status="in_progress",
            started_at=clock.now(),
            admitted_at=clock.now(),
            bed=occupied,
        )
    return {"encounter_id": world.extra["emr_stay"].pk}


def _transferred(world: World, kind: str, response: Any) -> None:
    stay = Encounter.objects.get(pk=world.extra["emr_stay"].pk)
    assert stay.bed == world.extra["emr_free_bed"]
    assert stay.movements.filter(kind="transfer").count() == 1


def _discharged(world: World, kind: str, response: Any) -> None:
    stay = Encounter.objects.get(pk=world.extra["emr_stay"].pk)
    assert stay.status == "finished" and stay.discharged_at is not None and stay.bed_id is not None
    assert Bed.objects.get(pk=stay.bed_id).status == "cleaning"


def _walk_in(world: World, missing: bool) -> dict[str, Any]:
    return {"code": "NO-SUCH-MRN" if missing else world.target.medical_record_number}


def _encounter_opened(world: World, kind: str, response: Any) -> None:
    opened = Encounter.objects.exclude(pk=world.extra["emr_encounter"].pk).get(patient=world.target)
    assert opened.notes.filter(status=NoteStatus.DRAFT).exists()


def _draft_signed(world: World, kind: str, response: Any) -> None:
    note = Note.objects.get(pk=world.extra["emr_draft"].pk)
    assert note.status == NoteStatus.SIGNED and note.versions.count() == 1


def _amended(world: World, kind: str, response: Any) -> None:
    note = Note.objects.get(pk=world.extra["emr_signed"].pk)
    assert [v.number for v in note.versions.all()] == [1, 2]
    assert note.versions.get(number=1).content["assessment"] == "稳定型心绞痛"


def _order_signed(world: World, kind: str, response: Any) -> None:
    assert Order.objects.get(pk=world.extra["emr_order"].pk).status == OrderStatus.SIGNED


def _patient_sees_signed_only(world: World, kind: str, response: Any) -> None:
    ids = [n["id"] for n in response.json()["notes"]]
    assert world.extra["emr_signed"].pk in ids
    assert (world.extra["emr_draft"].pk in ids) == (kind != PATIENT_OWN)


RULES: list[Rule] = [
    # --- pages ---
    Rule("GET", "/emr/", CLINICIANS),
    Rule("GET", "/emr/open/", SIGNED_IN, ok=405),
    Rule(
        "POST",
        "/emr/open/",
        WRITERS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        payload=_walk_in,
        effect=_encounter_opened,
    ),
    Rule(
        "GET", "/emr/encounters/{encounter_id}/", WRITERS, special=NOT_FOUND, record=True, params=_encounter
    ),
    Rule(
        "POST",
        "/emr/encounters/{encounter_id}/",
        WRITERS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        params=_encounter,
        payload=lambda w, m: {"action": "vital", "kind": "hr", "value": "72"},
        effect=lambda w, k, r: VitalSign.objects.get(patient=w.target, value=72),
    ),
    Rule("GET", "/emr/patients/{patient_id}/", READERS, deny=404, record=True),
    # --- API ---
    Rule("GET", "/api/emr/icd10", CLINICIANS),
    Rule("GET", "/api/emr/encounters", CLINICIANS),
    Rule(
        "POST",
        "/api/emr/encounters",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"patient_id": MISSING_ID if m else w.target.pk},
        effect=_encounter_opened,
    ),
    Rule(
        "GET",
        "/api/emr/encounters/{encounter_id}",
        READERS,
        deny=404,
        record=True,
        params=_encounter,
        effect=_patient_sees_signed_only,
    ),
    Rule(
        "POST",
        "/api/emr/encounters/{encounter_id}/finish",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_encounter,
    ),
    Rule(
        "POST",
        "/api/emr/encounters/{encounter_id}/diagnoses",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        params=_encounter,
        payload=lambda w, m: {"code": "I20.9"},
    ),
    Rule(
        "POST",
        "/api/emr/encounters/{encounter_id}/notes",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        params=_encounter,
        payload=lambda w, m: {"kind": "visit_summary", "language": "en"},
    ),
    Rule(
        "POST",
        "/api/emr/encounters/{encounter_id}/orders",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        params=_encounter,
        payload=lambda w, m: {
            "kind": "medication",
            "item": "drug:aspirin",
            "dose": 100,
            "dose_unit": "mg",
            "route": "oral",
            "frequency_per_day": 1,
            "duration_days": 30,
        },
    ),
    Rule(
        "POST",
        "/api/emr/admissions",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {
            "patient_id": MISSING_ID if m else w.target.pk,
            "department_id": w.h.cardiology.pk,
            "bed_id": w.extra["emr_bed"].pk,
        },
        effect=lambda w, k, r: Encounter.objects.get(
            patient=w.target, kind="inpatient", bed=w.extra["emr_bed"]
        ),
    ),
    # Transfer and discharge act on an open inpatient stay of the target patient (``_stay``), so the
    # allowed callers succeed and the rule is about access, not about the state of the encounter.
    Rule(
        "POST",
        "/api/emr/encounters/{encounter_id}/transfer",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_stay,
        payload=lambda w, m: {"bed_id": w.extra["emr_free_bed"].pk, "reason": "permission test"},
        effect=_transferred,
    ),
    Rule(
        "POST",
        "/api/emr/encounters/{encounter_id}/discharge",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_stay,
        payload=lambda w, m: {"reason": "permission test"},
        effect=_discharged,
    ),
    Rule("GET", "/api/emr/notes/{note_id}", READERS, deny=404, record=True, params=_signed),
    Rule(
        "PATCH",
        "/api/emr/notes/{note_id}",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_draft,
        payload=lambda w, m: {"plan": "复查心电图"},
    ),
    Rule(
        "POST",
        "/api/emr/notes/{note_id}/sign",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_draft,
        effect=_draft_signed,
    ),
    Rule(
        "POST",
        "/api/emr/notes/{note_id}/amend",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_signed,
        payload=lambda w, m: {"assessment": "不稳定型心绞痛", "reason": "肌钙蛋白升高"},
        effect=_amended,
    ),
    Rule(
        "POST",
        "/api/emr/orders/{order_id}/status",
        WRITERS,
        special=NOT_FOUND,
        record=True,
        params=_order,
        payload=lambda w, m: {"status": "signed"},
        effect=_order_signed,
    ),
    Rule("GET", "/api/emr/patients/{patient_id}", READERS, deny=404, record=True),
    Rule(
        "POST",
        "/api/emr/patients/{patient_id}/allergies",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"name": "花粉", "reaction": "鼻炎"},
        effect=lambda w, k, r: Allergy.objects.get(patient=w.target, name="花粉"),
    ),
    Rule(
        "POST",
        "/api/emr/patients/{patient_id}/vitals",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"kind": "temp", "value": 36.8},
    ),
    Rule(
        "POST",
        "/api/emr/patients/{patient_id}/problems",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"code": "I10"},
    ),
    Rule(
        "POST",
        "/api/emr/patients/{patient_id}/results",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"code": "2160-0", "name": "肌酐", "value": 80, "unit": "umol/L"},
    ),
]
