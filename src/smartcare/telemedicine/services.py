"""Writes for remote consultations.

Every service is atomic, takes the acting user, checks the capability and who may act on the
consultation (requester or expert side), writes its audit event and raises coded errors; bad input
writes nothing. Notifications go through ``notify`` (visible after commit).

Guarantees: the consulted expert sees the patient's record only through a care relationship limited
in time (``TELEMEDICINE_ACCESS_DAYS`` after accepting, ``TELEMEDICINE_ACCESS_AFTER_ANSWER_DAYS``
after the opinion; ended on decline or cancel), which ``patients.access`` honours and the audit
trail shows; the opinion's diagnosis enters the record through the EMR services; a deadline is
escalated before it is missed (``escalate_deadlines``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import CareRelationship, User
from smartcare.accounts.services import register_care_relationship
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.emr.errors import UnknownCode
from smartcare.emr.models import Diagnosis, Encounter, Icd10Code, Note, Observation
from smartcare.interop.models import ImagingStudy
from smartcare.notifications.services import notify
from smartcare.organization.models import Department
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction, ConsentKind
from smartcare.patients.services import record_consent
from smartcare.telemedicine import concordance as concordance_rules
from smartcare.telemedicine.choices import (
    OPEN_STATUSES,
    ROOM_EVENT_KINDS_FROM_BROWSER,
    TRANSITIONS,
    AnnotationKind,
    Concordance,
    ConsultationStatus,
    EventKind,
    RoomEventKind,
    Urgency,
    default_response_window,
)
from smartcare.telemedicine.errors import (
    AlreadyReviewed,
    ConsentRequired,
    InvalidAnnotation,
    InvalidAttachment,
    MessageInvalid,
    NotDiscordant,
    NotTheExpert,
    NotTheRequester,
    ReasonRequired,
    RoomClosed,
    RoomTokenInvalid,
    TransitionRefused,
    UnknownExpert,
)
from smartcare.telemedicine.models import (
    ChatMessage,
    Consultation,
    ConsultationEvent,
    DiscordanceReview,
    Opinion,
    RoomEvent,
)

MAX_QUESTION = 4000
MAX_CHAT = 1000
MAX_ANNOTATIONS = 50
ROOM_SALT = "smartcare.telemedicine.room"
NOTIFY_CATEGORY = "telemedicine"
EXPERT_ROLES = (Role.DOCTOR, Role.DEPARTMENT_HEAD)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def access_days() -> dt.timedelta:
    return dt.timedelta(days=float(_setting("TELEMEDICINE_ACCESS_DAYS", 7)))


def access_after_answer() -> dt.timedelta:
    return dt.timedelta(days=float(_setting("TELEMEDICINE_ACCESS_AFTER_ANSWER_DAYS", 3)))


def room_token_lifetime() -> dt.timedelta:
    return dt.timedelta(seconds=int(_setting("TELEMEDICINE_ROOM_TOKEN_SECONDS", 2 * 3600)))


# --- Helpers -------------------------------------------------------------------------------------


def _pk(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise NotFound() from None


def _department_id(user: Any) -> int | None:
    practitioner = getattr(user, "practitioner", None)
    return getattr(practitioner, "department_id", None)


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise InvalidInput(_("This field is required."), field=field)
    if len(text) > limit:
        raise InvalidInput(_("The text is too long."), field=field)
    return text


def _icd10(code: Any, field: str) -> Icd10Code:
    text = str(code or "").strip().upper()
    found = Icd10Code.objects.filter(code=text, is_active=True).first()
    if found is None:
        raise UnknownCode(code=text or "-", field=field)
    return found


def is_expert_side(user: Any, consultation: Consultation) -> bool:
    """The consulted expert, or (while nobody has accepted) a doctor of the consulted specialty."""
    if not has_capability(user, "telemedicine.consult"):
        return False
    if consultation.expert_id is not None:
        return bool(consultation.expert_id == user.pk)
    return _department_id(user) == consultation.specialty_id


def is_participant(user: Any, consultation: Consultation) -> bool:
    return user is not None and user.pk in (consultation.requester_id, consultation.expert_id)


def _load(actor: Any, consultation_id: Any, *, lock: bool = True) -> Consultation:
    rows = Consultation.objects.select_related("patient", "specialty", "requesting_department")
    if lock:
        rows = rows.select_for_update(of=("self",))
    consultation = rows.filter(pk=_pk(consultation_id)).first()
    if consultation is None:
        raise NotFound()
    if not (
        is_participant(actor, consultation)
        or is_expert_side(actor, consultation)
        or _is_head_of(actor, consultation)
    ):
        raise NotFound()
    return consultation


def _is_head_of(user: Any, consultation: Consultation) -> bool:
    return getattr(user, "role", "") == Role.DEPARTMENT_HEAD and _department_id(user) in (
        consultation.specialty_id,
        consultation.requesting_department_id,
    )


def _move(consultation: Consultation, target: str) -> None:
    if target not in TRANSITIONS[consultation.status]:
        raise TransitionRefused(
            current=consultation.get_status_display(), target=ConsultationStatus(target).label
        )
    consultation.status = target


def _event(
    consultation: Consultation, kind: str, actor: Any = None, text: str = "", *, audit: str = ""
) -> ConsultationEvent:
    """Add ``kind`` to the consultation's timeline; with ``audit``, also record the change in the
    audit trail under that event name."""
    event = ConsultationEvent.objects.create(
        consultation=consultation, kind=kind, actor=actor, text=text, at=clock.now()
    )
    if audit:
        record(
            actor,
            AuditAction.UPDATE,
            patient=consultation.patient_id,
            obj=consultation,
            detail={"event": audit},
        )
    return event


def _link(consultation: Consultation) -> str:
    return f"/telemedicine/consultations/{consultation.pk}/"


def _language(user: Any) -> str:
    return str(getattr(user, "preferred_language", "") or settings.LANGUAGE_CODE)


# A notification's (subject, body), rendered once per recipient in the recipient's language.
Message = Callable[[], tuple[str, str]]


def _tell(users: Iterable[Any], consultation: Consultation, message: Message) -> None:
    """Notify each user once, the text rendered in that user's preferred language (not the
    sender's, nor the worker's default): ``message`` is called under ``translation.override``."""
    seen: set[int] = set()
    for user in users:
        if user is None or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        with translation.override(_language(user)):
            subject, body = message()
        notify(user, category=NOTIFY_CATEGORY, subject=subject, body=body, link=_link(consultation))


def pool(department_id: int) -> list[User]:
    """The doctors (and head) of a department who may take a pooled request."""
    return list(
        User.objects.filter(
            practitioner__department_id=department_id, role__in=EXPERT_ROLES, is_active=True
        ).order_by("pk")
    )


def heads(department_ids: Iterable[int]) -> list[User]:
    return list(
        User.objects.filter(
            practitioner__department_id__in=list(department_ids), role=Role.DEPARTMENT_HEAD, is_active=True
        )
    )


def _care_source(consultation: Consultation) -> str:
    return f"telemedicine.consultation:{consultation.pk}"


def _end_access(consultation: Consultation, actor: Any) -> None:
    now = clock.now()
    ended = CareRelationship.objects.filter(
        kind=CareRelationshipKind.CONSULTATION, source=_care_source(consultation), ended_at=None
    ).update(ended_at=now)
    if ended:
        consultation.access_until = now
        _event(consultation, EventKind.ACCESS_ENDED, actor)
        record(
            actor,
            AuditAction.UPDATE,
            patient=consultation.patient_id,
            obj=consultation,
            detail={"event": "consultation_access_ended"},
        )


def _grant_access(consultation: Consultation, actor: Any, until: dt.datetime) -> None:
    assert consultation.expert is not None
    register_care_relationship(
        patient=consultation.patient,
        department=consultation.specialty,
        kind=CareRelationshipKind.CONSULTATION,
        source=_care_source(consultation),
        practitioner_user=consultation.expert,
        valid_from=consultation.accepted_at or clock.now(),
        valid_until=until,
    )
    consultation.access_until = until
    record(
        actor,
        AuditAction.UPDATE,
        patient=consultation.patient_id,
        obj=consultation,
        detail={
            "event": "consultation_access_granted",
            "expert": consultation.expert.username,
            "until": until.isoformat(),
        },
    )


def _ids(values: Iterable[Any]) -> set[int]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidAttachment(field="attachments")
    return {_pk(v) for v in values if str(v).strip()}


def _attachments(patient: Any, **chosen: Iterable[Any]) -> dict[str, list[Any]]:
    """The chosen notes, results, diagnoses and imaging studies, each checked to be this patient's
    (the caller opened the patient with ``access_patient``): one that is not, or does not exist,
    refuses the whole request (TM-007)."""
    rows = {
        "notes": Note.objects.filter(encounter__patient=patient),
        "results": Observation.objects.filter(patient=patient),
        "diagnoses": Diagnosis.objects.filter(encounter__patient=patient),
        "studies": ImagingStudy.objects.filter(patient=patient),
    }
    found: dict[str, list[Any]] = {}
    for name, values in chosen.items():
        pks = _ids(values)
        found[name] = list(rows[name].filter(pk__in=pks)) if pks else []
        if len(found[name]) != len(pks):
            raise InvalidAttachment(field=name)
    return found


def _attach(consultation: Consultation, attached: dict[str, list[Any]], *, replace: bool = True) -> None:
    for name, rows in attached.items():
        related = getattr(consultation, name)
        if replace:
            related.set(rows)
        elif rows:
            related.add(*rows)


# --- The request ---------------------------------------------------------------------------------


@transaction.atomic
def request_consultation(
    actor: Any,
    *,
    patient_id: Any,
    specialty_id: Any,
    question: str,
    working_diagnosis: str,
    urgency: str = Urgency.ROUTINE,
    expert_id: Any = None,
    note_ids: Iterable[Any] = (),
    study_ids: Iterable[Any] = (),
    result_ids: Iterable[Any] = (),
    diagnosis_ids: Iterable[Any] = (),
    encounter_id: Any = None,
    consent_given: bool = False,
    consent_note: str = "",
    external_hospital: str = "",
) -> Consultation:
    """Ask a specialty (a named expert or its pool) for an opinion on one patient.

    Records the patient's consent to share the record (required), the working diagnosis and the
    attachments (notes, results, diagnoses and imaging studies of this patient only, which the
    requester may see since the patient was opened with ``access_patient``), sets the answer deadline from the urgency
    and notifies the expert or the pool.
    """
    require_capability(actor, "telemedicine.request")
    department_id = _department_id(actor)
    if department_id is None:
        raise InvalidInput(
            _("Only a practitioner of a department can ask for a consultation."), field="patient"
        )
    patient = access_patient(actor, patient_id, AccessAction.CLINICAL, audit=False)
    if urgency not in Urgency.values:
        raise InvalidInput(_("Unknown urgency."), field="urgency")
    text = _text(question, "question", MAX_QUESTION, required=True)
    working = _icd10(working_diagnosis, "working_diagnosis")
    specialty = (
        Department.objects.filter(pk=int(str(specialty_id))).first() if str(specialty_id).isdigit() else None
    )
    if specialty is None:
        raise InvalidInput(_("Choose the consulted specialty."), field="specialty")
    expert = None
    if expert_id not in (None, ""):
        expert = User.objects.filter(
            pk=_pk(expert_id), role__in=EXPERT_ROLES, is_active=True, practitioner__department=specialty
        ).first()
        if expert is None or expert.pk == actor.pk:
            raise UnknownExpert(field="expert")
    attached = _attachments(
        patient, notes=note_ids, studies=study_ids, results=result_ids, diagnoses=diagnosis_ids
    )
    encounter = None
    if encounter_id not in (None, ""):
        encounter = Encounter.objects.filter(pk=_pk(encounter_id), patient=patient).first()
        if encounter is None:
            raise InvalidAttachment(field="encounter")
    if not consent_given:
        raise ConsentRequired(field="consent")
    consent = record_consent(
        actor,
        patient.pk,
        ConsentKind.DATA_SHARING,
        True,
        note=_text(consent_note, "consent_note", 200) or _("Remote consultation"),
    )
    now = clock.now()
    consultation = Consultation.objects.create(
        patient=patient,
        requester=actor,
        requesting_department_id=department_id,
        external_hospital=_text(external_hospital, "external_hospital", 120),
        specialty=specialty,
        expert=expert,
        urgency=urgency,
        question=text,
        working_diagnosis=working,
        encounter=encounter,
        consent=consent,
        requested_at=now,
        deadline_at=now + default_response_window(urgency),
    )
    _attach(consultation, attached)
    _event(consultation, EventKind.REQUESTED, actor)
    record(
        actor,
        AuditAction.CREATE,
        patient=patient,
        obj=consultation,
        detail={
            "event": "consultation_requested",
            "specialty": specialty.pk,
            **{name: sorted(r.pk for r in rows) for name, rows in attached.items()},
        },
    )
    recipients = [expert] if expert is not None else [u for u in pool(specialty.pk) if u.pk != actor.pk]
    _tell(
        recipients,
        consultation,
        lambda: (
            _("New remote consultation request (%(urgency)s)")
            % {"urgency": consultation.get_urgency_display()},
            _("%(department)s asks for your opinion; answer due by %(deadline)s.")
            % {
                "department": consultation.requesting_department.name,
                "deadline": timezone.localtime(consultation.deadline_at).strftime("%Y-%m-%d %H:%M"),
            },
        ),
    )
    return consultation


@transaction.atomic
def accept(actor: Any, consultation_id: Any) -> Consultation:
    """The expert (or a member of the pool, who becomes the expert) takes the request and gets the
    time-limited care relationship with the patient."""
    require_capability(actor, "telemedicine.consult")
    consultation = _load(actor, consultation_id)
    if not is_expert_side(actor, consultation):
        raise NotTheExpert()
    _move(consultation, ConsultationStatus.ACCEPTED)
    now = clock.now()
    consultation.expert = actor
    consultation.accepted_at = now
    _grant_access(consultation, actor, now + access_days())
    consultation.save(update_fields=["status", "expert", "accepted_at", "access_until", "updated_at"])
    _event(consultation, EventKind.ACCEPTED, actor)
    _tell(
        [consultation.requester],
        consultation,
        lambda: (
            _("Consultation %(number)s accepted") % {"number": consultation.number},
            _("%(expert)s accepted your request.") % {"expert": str(actor)},
        ),
    )
    return consultation


@transaction.atomic
def ask_for_information(actor: Any, consultation_id: Any, question: str) -> Consultation:
    require_capability(actor, "telemedicine.consult")
    consultation = _load(actor, consultation_id)
    if not is_expert_side(actor, consultation):
        raise NotTheExpert()
    text = _text(question, "question", MAX_QUESTION, required=True)
    _move(consultation, ConsultationStatus.INFO_REQUESTED)
    consultation.save(update_fields=["status", "updated_at"])
    _event(consultation, EventKind.INFO_REQUESTED, actor, text, audit="info_requested")
    _tell(
        [consultation.requester],
        consultation,
        lambda: (
            _("More information asked for %(number)s") % {"number": consultation.number},
            text,
        ),
    )
    return consultation


@transaction.atomic
def provide_information(
    actor: Any,
    consultation_id: Any,
    text: str,
    *,
    note_ids: Iterable[Any] = (),
    study_ids: Iterable[Any] = (),
    result_ids: Iterable[Any] = (),
    diagnosis_ids: Iterable[Any] = (),
) -> Consultation:
    require_capability(actor, "telemedicine.request")
    consultation = _load(actor, consultation_id)
    if consultation.requester_id != actor.pk:
        raise NotTheRequester()
    answer = _text(text, "text", MAX_QUESTION, required=True)
    patient = access_patient(actor, consultation.patient_id, AccessAction.CLINICAL, audit=False)
    attached = _attachments(
        patient, notes=note_ids, studies=study_ids, results=result_ids, diagnoses=diagnosis_ids
    )
    target = ConsultationStatus.ACCEPTED if consultation.accepted_at else ConsultationStatus.REQUESTED
    if consultation.status != ConsultationStatus.INFO_REQUESTED:
        raise TransitionRefused(
            current=consultation.get_status_display(), target=ConsultationStatus(target).label
        )
    _move(consultation, target)
    consultation.save(update_fields=["status", "updated_at"])
    _attach(consultation, attached, replace=False)
    _event(consultation, EventKind.INFO_PROVIDED, actor, answer)
    record(
        actor,
        AuditAction.UPDATE,
        patient=patient,
        obj=consultation,
        detail={
            "event": "info_provided",
            **{name: sorted(r.pk for r in rows) for name, rows in attached.items()},
        },
    )
    recipients = [consultation.expert] if consultation.expert else pool(consultation.specialty_id)
    _tell(
        recipients,
        consultation,
        lambda: (
            _("Information added to %(number)s") % {"number": consultation.number},
            answer,
        ),
    )
    return consultation


@transaction.atomic
def decline(actor: Any, consultation_id: Any, reason: str) -> Consultation:
    require_capability(actor, "telemedicine.consult")
    consultation = _load(actor, consultation_id)
    if not is_expert_side(actor, consultation):
        raise NotTheExpert()
    text = _text(reason, "reason", 300)
    if not text:
        raise ReasonRequired(field="reason")
    if consultation.status not in (ConsultationStatus.REQUESTED,):
        raise TransitionRefused(
            current=consultation.get_status_display(), target=ConsultationStatus.DECLINED.label
        )
    _move(consultation, ConsultationStatus.DECLINED)
    consultation.closed_reason = text
    consultation.room_generation += 1
    _end_access(consultation, actor)
    consultation.save(
        update_fields=["status", "closed_reason", "room_generation", "access_until", "updated_at"]
    )
    _event(consultation, EventKind.DECLINED, actor, text, audit="declined")
    _tell(
        [consultation.requester],
        consultation,
        lambda: (
            _("Consultation %(number)s declined") % {"number": consultation.number},
            text,
        ),
    )
    return consultation


@transaction.atomic
def cancel(actor: Any, consultation_id: Any, reason: str) -> Consultation:
    require_capability(actor, "telemedicine.request")
    consultation = _load(actor, consultation_id)
    if consultation.requester_id != actor.pk:
        raise NotTheRequester()
    text = _text(reason, "reason", 300)
    if not text:
        raise ReasonRequired(field="reason")
    _move(consultation, ConsultationStatus.CANCELLED)
    consultation.closed_reason = text
    consultation.room_generation += 1
    _end_access(consultation, actor)
    consultation.save(
        update_fields=["status", "closed_reason", "room_generation", "access_until", "updated_at"]
    )
    _event(consultation, EventKind.CANCELLED, actor, text, audit="cancelled")
    if consultation.expert:
        _tell(
            [consultation.expert],
            consultation,
            lambda: (
                _("Consultation %(number)s cancelled") % {"number": consultation.number},
                text,
            ),
        )
    return consultation


# --- The opinion ---------------------------------------------------------------------------------


# Per shared instance: (row spacing mm, column spacing mm, source) when known, else None.
InstanceSpacing = dict[int, tuple[float, float, str] | None]


def distance(points: list[list[float]], spacing: tuple[float, float, str] | None) -> dict[str, Any]:
    """The length of a distance measurement, with its unit: in mm when the image's pixel spacing is
    known (x runs along a row, so it scales with the column spacing; y with the row spacing), else
    in image pixels. Imager Pixel Spacing (at the detector) is flagged: the length is approximate."""
    (x0, y0), (x1, y1) = points
    if spacing is None:
        return {"length": round(math.hypot(x1 - x0, y1 - y0), 1), "unit": "px"}
    row, column, source = spacing
    return {
        "length": round(math.hypot((x1 - x0) * column, (y1 - y0) * row), 2),
        "unit": "mm",
        "spacing": source,
    }


def clean_annotations(value: Any, instances: InstanceSpacing | None = None) -> list[dict[str, Any]]:
    """Measurements and annotations from the viewer: a list of
    ``{"kind": "distance"|"arrow"|"text", "instance": id, "frame": n, "points": [[x, y], ...],
    "text": "..."}`` with coordinates in image pixels. ``instances``: the images shared with the
    consultation (others are refused) and their pixel spacing. A distance is measured here, not
    taken from the browser, and saved with its unit: ``"length"`` and ``"unit"`` ("mm", with
    ``"spacing"`` "pixel" or "imager"; or "px" when the image has no known spacing)."""
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > MAX_ANNOTATIONS:
        raise InvalidAnnotation(field="annotations")
    cleaned: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict) or item.get("kind") not in AnnotationKind.values:
            raise InvalidAnnotation(field="annotations")
        points = item.get("points")
        need = 1 if item["kind"] == AnnotationKind.TEXT else 2
        if not isinstance(points, list) or len(points) != need:
            raise InvalidAnnotation(field="annotations")
        try:
            pts = [[float(p[0]), float(p[1])] for p in points]
            instance = int(item["instance"])
            frame = int(item.get("frame", 1))
        except (KeyError, TypeError, ValueError, IndexError):
            raise InvalidAnnotation(field="annotations") from None
        if any(not (0 <= c < 100000) for p in pts for c in p) or frame < 1:
            raise InvalidAnnotation(field="annotations")
        if instances is not None and instance not in instances:
            raise InvalidAnnotation(field="annotations")
        entry: dict[str, Any] = {"kind": item["kind"], "instance": instance, "frame": frame, "points": pts}
        text = str(item.get("text") or "").strip()
        if len(text) > 200:
            raise InvalidAnnotation(field="annotations")
        if text:
            entry["text"] = text
        if item["kind"] == AnnotationKind.DISTANCE:
            entry.update(distance(pts, instances.get(instance) if instances is not None else None))
        cleaned.append(entry)
    return cleaned


def _shared_instances(consultation: Consultation) -> InstanceSpacing:
    from smartcare.interop.dicom.services import known_pixel_spacing
    from smartcare.interop.models import ImagingInstance

    rows = list(ImagingInstance.objects.filter(series__study__in=consultation.studies.all()))
    known_pixel_spacing(rows)
    return {
        i.pk: (i.row_spacing, i.column_spacing, i.spacing_source)
        if i.row_spacing and i.column_spacing
        else None
        for i in rows
    }


def _enter_record(actor: Any, consultation: Consultation, diagnosis: Icd10Code) -> str:
    """The expert's diagnosis enters the patient's record through the EMR services: as a provisional
    diagnosis of the open encounter the request came from, else on the problem list."""
    from smartcare.emr import services as emr
    from smartcare.emr.choices import DiagnosisStatus, EncounterStatus, ProblemStatus
    from smartcare.emr.models import Problem

    encounter = consultation.encounter
    if encounter is not None and encounter.status == EncounterStatus.IN_PROGRESS:
        existing = Diagnosis.objects.filter(encounter=encounter, icd10=diagnosis).first()
        if existing is not None:
            return f"emr.diagnosis:{existing.pk}"
        added = emr.add_diagnosis(
            actor, encounter.pk, code=diagnosis.code, status=DiagnosisStatus.PROVISIONAL
        )
        return f"emr.diagnosis:{added.pk}"
    problem = Problem.objects.filter(
        patient_id=consultation.patient_id, icd10=diagnosis, status=ProblemStatus.ACTIVE
    ).first()
    if problem is None:
        problem = emr.record_problem(
            actor,
            consultation.patient_id,
            code=diagnosis.code,
            comment=_("Remote consultation %(number)s") % {"number": consultation.number},
        )
    return f"emr.problem:{problem.pk}"


@transaction.atomic
def submit_opinion(
    actor: Any,
    consultation_id: Any,
    *,
    diagnosis: str,
    recommendations: str,
    findings: str = "",
    annotations: Any = None,
) -> Opinion:
    """The expert's structured opinion: ICD-10 diagnosis, findings, recommendations, the viewer's
    measurements and annotations. Computes the concordance with the working diagnosis, enters the
    diagnosis into the record, closes the room and shortens the expert's access."""
    require_capability(actor, "telemedicine.consult")
    consultation = _load(actor, consultation_id)
    if consultation.expert_id != actor.pk:
        raise NotTheExpert()
    if consultation.status != ConsultationStatus.ACCEPTED:
        raise TransitionRefused(
            current=consultation.get_status_display(), target=ConsultationStatus.ANSWERED.label
        )
    code = _icd10(diagnosis, "diagnosis")
    advice = _text(recommendations, "recommendations", MAX_QUESTION, required=True)
    found = _text(findings, "findings", MAX_QUESTION)
    marks = clean_annotations(annotations, _shared_instances(consultation))
    access_patient(actor, consultation.patient_id, AccessAction.CLINICAL, obj=consultation, audit=False)
    level = concordance_rules.configured_level()
    agreement = concordance_rules.compare(consultation.working_diagnosis_id, code.code, level)
    now = clock.now()
    entry = _enter_record(actor, consultation, code)
    opinion = Opinion.objects.create(
        consultation=consultation,
        expert=actor,
        diagnosis=code,
        findings=found,
        recommendations=advice,
        annotations=marks,
        concordance=agreement,
        concordance_level=level,
        record_entry=entry,
    )
    _move(consultation, ConsultationStatus.ANSWERED)
    consultation.answered_at = now
    consultation.room_generation += 1
    until = now + access_after_answer()
    if consultation.access_until is None or until < consultation.access_until:
        _grant_access(consultation, actor, until)
    consultation.save(
        update_fields=["status", "answered_at", "room_generation", "access_until", "updated_at"]
    )
    _event(consultation, EventKind.ANSWERED, actor)
    record(
        actor,
        AuditAction.CREATE,
        patient=consultation.patient_id,
        obj=opinion,
        detail={"icd10": code.code, "concordance": str(agreement), "record_entry": entry},
    )
    _tell(
        [consultation.requester],
        consultation,
        lambda: (
            _("Opinion for %(number)s") % {"number": consultation.number},
            _("The expert's opinion is in the record."),
        ),
    )
    if agreement == Concordance.DISCORDANT:
        _tell(
            heads([consultation.requesting_department_id]),
            consultation,
            lambda: (
                _("Discordant consultation %(number)s to review") % {"number": consultation.number},
                _("The expert's diagnosis differs from the working diagnosis."),
            ),
        )
    return opinion


@transaction.atomic
def review_discordance(
    actor: Any, consultation_id: Any, *, feedback: str, training_note: str = ""
) -> DiscordanceReview:
    require_capability(actor, "telemedicine.review")
    consultation = _load(actor, consultation_id)
    if not _is_head_of(actor, consultation):
        raise NotFound()
    opinion = Opinion.objects.filter(consultation=consultation).first()
    if opinion is None or opinion.concordance != Concordance.DISCORDANT:
        raise NotDiscordant()
    if DiscordanceReview.objects.filter(consultation=consultation).exists():
        raise AlreadyReviewed()
    text = _text(feedback, "feedback", MAX_QUESTION, required=True)
    review = DiscordanceReview.objects.create(
        consultation=consultation,
        reviewer=actor,
        feedback=text,
        training_note=_text(training_note, "training_note", MAX_QUESTION),
    )
    record(
        actor,
        AuditAction.CREATE,
        patient=consultation.patient_id,
        obj=review,
        detail={"event": "discordance_reviewed"},
    )
    _tell(
        [consultation.requester],
        consultation,
        lambda: (
            _("Feedback on consultation %(number)s") % {"number": consultation.number},
            text,
        ),
    )
    return review


# --- Deadlines -----------------------------------------------------------------------------------


def escalation_lead(consultation: Consultation) -> dt.timedelta:
    """How long before the deadline an unanswered request is escalated: a share of its window."""
    fraction = float(_setting("TELEMEDICINE_ESCALATE_FRACTION", 0.25))
    return (consultation.deadline_at - consultation.requested_at) * fraction


def escalate_deadlines(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Escalate open requests whose deadline is near (to the expert or the pool and the consulted
    department's head) and flag the ones whose deadline passed (to the requester and both heads).
    Idempotent: each consultation is escalated once and flagged once."""
    now = now or clock.now()
    counts = {"escalated": 0, "overdue": 0}
    # Open requests are few (each lives hours to a day): check them all rather than guess a horizon.
    candidates = Consultation.objects.filter(status__in=OPEN_STATUSES).filter(
        Q(escalated_at=None) | Q(overdue_at=None)
    )
    for pk in list(candidates.values_list("pk", flat=True)):
        for kind in _escalate_one(pk, now):
            counts[kind] += 1
    return counts


@transaction.atomic
def _escalate_one(pk: int, now: dt.datetime) -> list[str]:
    consultation = (
        Consultation.objects.select_for_update(of=("self",))
        .select_related("expert", "requester", "requesting_department", "specialty")
        .filter(pk=pk, status__in=OPEN_STATUSES)
        .first()
    )
    if consultation is None:
        return []
    done: list[str] = []
    if consultation.escalated_at is None and now >= consultation.deadline_at - escalation_lead(consultation):
        consultation.escalated_at = now
        consultation.save(update_fields=["escalated_at", "updated_at"])
        _event(consultation, EventKind.ESCALATED)
        experts = [consultation.expert] if consultation.expert else pool(consultation.specialty_id)
        _tell(
            [*experts, *heads([consultation.specialty_id])],
            consultation,
            lambda: (
                _("Consultation %(number)s is due soon") % {"number": consultation.number},
                _("Please answer by %(deadline)s or hand the request over.")
                % {"deadline": date_format(timezone.localtime(consultation.deadline_at), "Y-m-d H:i")},
            ),
        )
        done.append("escalated")
    if consultation.overdue_at is None and now >= consultation.deadline_at:
        consultation.overdue_at = now
        consultation.save(update_fields=["overdue_at", "updated_at"])
        _event(consultation, EventKind.OVERDUE)
        _tell(
            [
                consultation.requester,
                *heads([consultation.specialty_id, consultation.requesting_department_id]),
            ],
            consultation,
            lambda: (
                _("Consultation %(number)s missed its deadline") % {"number": consultation.number},
                _("The expert's answer is late."),
            ),
        )
        done.append("overdue")
    return done


# --- The room ------------------------------------------------------------------------------------


def room_is_open(consultation: Consultation) -> bool:
    return consultation.expert_id is not None and consultation.status in (
        ConsultationStatus.ACCEPTED,
        ConsultationStatus.INFO_REQUESTED,
    )


def issue_room_token(actor: Any, consultation_id: Any) -> tuple[str, dt.datetime]:
    """A signed, expiring token for one participant of one consultation's room."""
    require_capability(actor, "telemedicine.consult")
    consultation = _load(actor, consultation_id, lock=False)
    if not is_participant(actor, consultation):
        raise RoomTokenInvalid()
    if not room_is_open(consultation):
        raise RoomClosed()
    expires = clock.now() + room_token_lifetime()
    token = signing.dumps(
        {
            "c": consultation.pk,
            "u": actor.pk,
            "g": consultation.room_generation,
            "e": int(expires.timestamp()),
        },
        salt=ROOM_SALT,
        compress=True,
    )
    return token, expires


def open_room(user: Any, consultation_id: Any, token: str) -> Consultation:
    """The consultation whose room ``token`` opens for ``user``; audited (the patient's record is
    shown in the room)."""
    try:
        data = signing.loads(str(token), salt=ROOM_SALT)
    except signing.BadSignature:
        raise RoomTokenInvalid() from None
    if not isinstance(data, dict) or user is None or not getattr(user, "is_authenticated", False):
        raise RoomTokenInvalid()
    if data.get("u") != user.pk or data.get("c") != _pk(consultation_id):
        raise RoomTokenInvalid()
    if int(data.get("e", 0)) <= clock.now().timestamp():
        raise RoomTokenInvalid()
    consultation = Consultation.objects.select_related("patient").filter(pk=data["c"]).first()
    if consultation is None or not is_participant(user, consultation):
        raise RoomTokenInvalid()
    if data.get("g") != consultation.room_generation or not room_is_open(consultation):
        raise RoomClosed()
    access_patient(
        user, consultation.patient_id, AccessAction.CLINICAL, obj=consultation, reason="consultation room"
    )
    return consultation


def post_chat(user: Any, consultation: Consultation, text: Any) -> ChatMessage:
    body = str(text or "").strip()
    if not body or len(body) > MAX_CHAT:
        raise MessageInvalid(field="text")
    return ChatMessage.objects.create(consultation=consultation, author=user, text=body, sent_at=clock.now())


def log_room_event(user: Any, consultation: Consultation, kind: str, detail: Any = None) -> RoomEvent:
    """Joins and leaves (from the server), connection quality samples and failures (from the
    browser: round-trip time, packet loss, bitrate, ICE state)."""
    if kind not in RoomEventKind.values:
        raise InvalidInput(field="kind")
    clean: dict[str, Any] = {}
    if isinstance(detail, dict):
        for key, value in list(detail.items())[:12]:
            if isinstance(value, int | float | bool) or (isinstance(value, str) and len(value) <= 80):
                clean[str(key)[:30]] = value
    return RoomEvent.objects.create(
        consultation=consultation, user=user, kind=kind, detail=clean, at=clock.now()
    )


def browser_event_allowed(kind: Any) -> bool:
    return kind in ROOM_EVENT_KINDS_FROM_BROWSER


def clean_viewer_state(consultation: Consultation, state: Any) -> dict[str, Any]:
    """The shared viewer's position: ``{study, series, index, wc, ww}``; the study must be one shared
    with the consultation."""
    if not isinstance(state, dict):
        raise InvalidInput(field="viewer")
    try:
        study = int(state["study"])
        series = int(state["series"])
        index = int(state.get("index", 0))
        wc = None if state.get("wc") in (None, "") else float(state["wc"])
        ww = None if state.get("ww") in (None, "") else float(state["ww"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(field="viewer") from None
    if not consultation.studies.filter(pk=study, series__pk=series).exists() or index < 0:
        raise InvalidInput(field="viewer")
    if ww is not None and not (1 <= ww <= 100000):
        raise InvalidInput(field="viewer")
    if wc is not None and not (-100000 <= wc <= 100000):
        raise InvalidInput(field="viewer")
    return {"study": study, "series": series, "index": index, "wc": wc, "ww": ww}


def save_viewer_state(consultation: Consultation, state: dict[str, Any]) -> None:
    Consultation.objects.filter(pk=consultation.pk).update(viewer_state=state)
