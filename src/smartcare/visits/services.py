"""Check-in, queues and calling. Writes are atomic and audited; every change to a queue is
broadcast to its display and to the phones of the patients in it after commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.core.permissions import require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient
from smartcare.scheduling.choices import AppointmentStatus
from smartcare.scheduling.models import Appointment, ClinicSession
from smartcare.scheduling.policy import policy_for
from smartcare.visits.choices import EntryState, Priority
from smartcare.visits.errors import (
    AlreadyCheckedIn,
    CheckInWindowClosed,
    NoBookingToday,
    NothingCalled,
    NotRequeueable,
    QueueEmpty,
)
from smartcare.visits.models import KioskPresence, QueueEntry

KIOSK_PRESENCE_MINUTES = 5
PRIORITY_AGE = 75
# Checked in, but away from the queue: they go back into it when they return.
AWAY = (EntryState.SKIPPED, EntryState.AT_EXAM)


def _broadcast(session_id: int) -> None:
    from smartcare.visits.live import broadcast_queue

    transaction.on_commit(lambda: broadcast_queue(session_id))


def present_code(kiosk: Any, code: str) -> Patient:
    """A patient scans their one code at a kiosk: the kiosk may act for them for a few minutes."""
    require_capability(kiosk, "visits.kiosk")
    patient = Patient.objects.filter(one_code=(code or "").strip()).first()
    if patient is None:
        raise NotFound()
    if getattr(kiosk, "role", "") == "device":
        KioskPresence.objects.create(
            kiosk=kiosk,
            patient=patient,
            expires_at=clock.now() + dt.timedelta(minutes=KIOSK_PRESENCE_MINUTES),
        )
    return access_patient(kiosk, patient, AccessAction.VIEW, reason="one code presented at kiosk")


def todays_appointments(patient: Any) -> list[Appointment]:
    return list(
        Appointment.objects.select_related(
            "slot", "session__practitioner__user", "department", "session__room"
        )
        .filter(
            patient=patient,
            date=clock.local_now().date(),
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN],
        )
        .order_by("slot__starts_at")
    )


def _next_number(session: ClinicSession) -> str:
    count = QueueEntry.objects.filter(session=session).count()
    prefix = "E" if session.exam_type_id else "A"
    return f"{prefix}{count + 1:03d}"


def _priority_for(patient: Any, requested: int | None) -> int:
    if requested is not None:
        return int(Priority(requested))
    return Priority.PRIORITY if patient.age >= PRIORITY_AGE else Priority.NORMAL


@transaction.atomic
def check_in(
    actor: Any,
    *,
    appointment_id: int | None = None,
    code: str | None = None,
    channel: str = "desk",
    priority: int | None = None,
) -> QueueEntry:
    """Record the patient's arrival and put them in the queue of their session.

    By one code (desk, kiosk) or by appointment (the patient's phone, within the check-in window
    before the booked time). Late arrivals queue by arrival time behind those on time. A patient
    who missed their call or was sent to an exam today and checks in again goes back into their
    queue by the queue's rule (see ``requeue``) instead of being refused.
    """
    require_capability(actor, "visits.check_in")
    now = clock.now()
    if code:
        patient = Patient.objects.filter(one_code=code.strip()).first()
        patient = access_patient(actor, patient, AccessAction.VIEW, audit=False)
        chosen = _appointment_to_check_in(patient, appointment_id, now)
        if chosen is None:
            if any(a.status == AppointmentStatus.CHECKED_IN for a in todays_appointments(patient)):
                entry = QueueEntry.objects.filter(
                    appointment__patient=patient, appointment__date=clock.local_now().date()
                ).first()
                raise AlreadyCheckedIn(number=entry.number if entry else "-")
            raise NoBookingToday()
        appointment = chosen
    else:
        found = (
            Appointment.objects.select_related("slot", "session").filter(pk=appointment_id).first()
            if appointment_id is not None
            else None
        )
        if found is None:
            raise NotFound()
        access_patient(actor, found.patient_id, AccessAction.VIEW, audit=False)
        appointment, patient = found, found.patient
    appointment = (
        Appointment.objects.select_for_update().select_related("slot", "session").get(pk=appointment.pk)
    )
    returning: QueueEntry | None = None
    if appointment.status == AppointmentStatus.CHECKED_IN:
        returning = QueueEntry.objects.select_for_update().get(appointment=appointment)
        if returning.state not in AWAY or appointment.date != clock.local_now().date():
            raise AlreadyCheckedIn(number=returning.number)
    elif appointment.status != AppointmentStatus.BOOKED or appointment.date != clock.local_now().date():
        raise NoBookingToday()
    policy = policy_for(appointment.department_id)
    if getattr(actor, "role", "") == "patient":
        opens = appointment.slot.starts_at - dt.timedelta(minutes=policy.check_in_opens_minutes)
        if now < opens or now > appointment.slot.ends_at:
            raise CheckInWindowClosed(minutes=policy.check_in_opens_minutes)
    if returning is not None:
        return _requeue(
            actor, returning, after_exam=returning.state == EntryState.AT_EXAM, channel=channel[:20]
        )
    late = now > appointment.slot.starts_at + dt.timedelta(minutes=policy.late_grace_minutes)
    session = appointment.session
    ClinicSession.objects.select_for_update().filter(pk=session.pk).first()  # serialise numbering
    entry = QueueEntry.objects.create(
        appointment=appointment,
        session=session,
        number=_next_number(session),
        priority=_priority_for(patient, priority),
        order_time=now if late else appointment.slot.starts_at,
        is_late=late,
        arrived_at=now,
        check_in_channel=channel[:20],
    )
    appointment.status = AppointmentStatus.CHECKED_IN
    appointment.checked_in_at = now
    appointment.save(update_fields=["status", "checked_in_at", "updated_at"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=patient,
        obj=appointment,
        detail={"event": "checked_in", "number": entry.number, "late": late},
    )
    _broadcast(session.pk)
    return entry


def _appointment_to_check_in(
    patient: Any, appointment_id: int | None, now: dt.datetime
) -> Appointment | None:
    """Which of today's appointments a scan of the one code is about: a queue the patient stepped
    out of (missed call, sent to an exam) whose session is still running, else the next booking
    not checked in yet, else a queue they stepped out of in a session that has ended."""
    todays = [a for a in todays_appointments(patient) if appointment_id is None or a.pk == appointment_id]
    away_ids = set(
        QueueEntry.objects.filter(
            appointment__in=[a.pk for a in todays if a.status == AppointmentStatus.CHECKED_IN],
            state__in=AWAY,
        ).values_list("appointment_id", flat=True)
    )
    away = [a for a in todays if a.pk in away_ids]
    running = [a for a in away if a.session.ends_at > now]
    booked = [a for a in todays if a.status == AppointmentStatus.BOOKED]
    return next(iter(running or booked or away), None)


def _session_for_caller(actor: Any, session_id: int) -> ClinicSession:
    require_capability(actor, "visits.call")
    session = ClinicSession.objects.filter(pk=session_id).first()
    department_id = getattr(getattr(actor, "practitioner", None), "department_id", None)
    if session is None or session.department_id != department_id:
        raise NotFound()
    return session


def call_next(actor: Any, session_id: int) -> QueueEntry:
    """Finish whoever is being seen, then call the first waiting patient. With nobody waiting the
    finish still stands (and is broadcast); VISIT-004 is raised after it is committed."""
    with transaction.atomic():
        entry = _call_next(actor, session_id)
    if entry is None:
        raise QueueEmpty()
    return entry


def _call_next(actor: Any, session_id: int) -> QueueEntry | None:
    session = _session_for_caller(actor, session_id)
    ClinicSession.objects.select_for_update().filter(pk=session.pk).first()
    current = QueueEntry.objects.filter(session=session, state=EntryState.CALLED).first()
    if current is not None:
        _finish(actor, current)
    entry = (
        QueueEntry.objects.filter(session=session, state=EntryState.WAITING)
        .order_by("priority", "order_time", "arrived_at")
        .first()
    )
    if entry is None:
        _broadcast(session.pk)
        return None
    now = clock.now()
    entry.state = EntryState.CALLED
    entry.called_at = now
    entry.save(update_fields=["state", "called_at"])
    Appointment.objects.filter(pk=entry.appointment_id).update(
        status=AppointmentStatus.IN_CONSULTATION, called_at=now, updated_at=now
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=entry.appointment.patient_id,
        obj=entry.appointment,
        detail={"event": "called", "number": entry.number},
    )
    _broadcast(session.pk)
    return entry


def _finish(actor: Any, entry: QueueEntry) -> None:
    now = clock.now()
    entry.state = EntryState.FINISHED
    entry.finished_at = now
    entry.save(update_fields=["state", "finished_at"])
    Appointment.objects.filter(pk=entry.appointment_id).update(
        status=AppointmentStatus.COMPLETED, finished_at=now, updated_at=now
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=entry.appointment.patient_id,
        obj=entry.appointment,
        detail={"event": "finished", "number": entry.number},
    )


def _called_entry(actor: Any, session_id: int) -> tuple[ClinicSession, QueueEntry]:
    """The session the caller works in and the patient being seen in it (locked)."""
    session = _session_for_caller(actor, session_id)
    current = QueueEntry.objects.select_for_update().filter(session=session, state=EntryState.CALLED).first()
    if current is None:
        raise NothingCalled()
    return session, current


@transaction.atomic
def finish_current(actor: Any, session_id: int) -> QueueEntry:
    session, current = _called_entry(actor, session_id)
    _finish(actor, current)
    _broadcast(session.pk)
    return current


@transaction.atomic
def recall_current(actor: Any, session_id: int) -> QueueEntry:
    session, current = _called_entry(actor, session_id)
    current.recalls += 1
    current.save(update_fields=["recalls"])
    _broadcast(session.pk)
    return current


@transaction.atomic
def skip_current(actor: Any, session_id: int) -> QueueEntry:
    """The called patient did not come: mark them missed; they re-queue when they come back."""
    session, current = _called_entry(actor, session_id)
    current.state = EntryState.SKIPPED
    current.save(update_fields=["state"])
    Appointment.objects.filter(pk=current.appointment_id).update(status=AppointmentStatus.CHECKED_IN)
    record(
        actor,
        AuditAction.UPDATE,
        patient=current.appointment.patient_id,
        obj=current.appointment,
        detail={"event": "skipped", "number": current.number},
    )
    _broadcast(session.pk)
    return current


@transaction.atomic
def send_to_exam(actor: Any, session_id: int) -> QueueEntry:
    """The patient being seen goes for an exam (ECG, blood test) and will come back: they leave
    the queue without finishing, and return near the front (``requeue`` with ``after_exam``)."""
    session, current = _called_entry(actor, session_id)
    current.state = EntryState.AT_EXAM
    current.save(update_fields=["state"])
    Appointment.objects.filter(pk=current.appointment_id).update(
        status=AppointmentStatus.CHECKED_IN, updated_at=clock.now()
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=current.appointment.patient_id,
        obj=current.appointment,
        detail={"event": "sent_to_exam", "number": current.number},
    )
    _broadcast(session.pk)
    return current


@transaction.atomic
def requeue(actor: Any, entry_id: int, *, after_exam: bool = False) -> QueueEntry:
    """Put a skipped patient (late) or a patient back from an exam (near the front) in the queue:
    the desk or nurse station, for a patient they may open."""
    require_capability(actor, "visits.check_in")
    entry = QueueEntry.objects.select_for_update().select_related("appointment").filter(pk=entry_id).first()
    if entry is None:
        raise NotFound()
    access_patient(actor, entry.appointment.patient_id, AccessAction.VIEW, audit=False)
    return _requeue(actor, entry, after_exam=after_exam)


@transaction.atomic
def return_to_queue(actor: Any, session_id: int, entry_id: int, *, after_exam: bool = False) -> QueueEntry:
    """The same from the doctor's queue page, for the queue of a session the caller works in."""
    session = _session_for_caller(actor, session_id)
    entry = (
        QueueEntry.objects.select_for_update()
        .select_related("appointment")
        .filter(pk=entry_id, session=session)
        .first()
    )
    if entry is None:
        raise NotFound()
    return _requeue(actor, entry, after_exam=after_exam)


def _requeue(actor: Any, entry: QueueEntry, *, after_exam: bool, channel: str = "") -> QueueEntry:
    """The queue's rule for returns: back from an exam, at the original call time (near the
    front); back after a missed call, by the return time like a late arrival. Only patients away
    from today's queue return (and, after an exam, one the doctor finished before sending them)."""
    allowed = {*AWAY, EntryState.FINISHED} if after_exam else set(AWAY)
    session_date = ClinicSession.objects.filter(pk=entry.session_id).values_list("date", flat=True).first()
    if entry.state not in allowed or session_date != clock.local_now().date():
        raise NotRequeueable(number=entry.number, state=entry.get_state_display())
    previous = entry.state
    now = clock.now()
    entry.state = EntryState.WAITING
    if after_exam:
        entry.returned_from_exam = True
        entry.order_time = entry.called_at or entry.order_time
    else:
        entry.is_late = True
        entry.order_time = now
    entry.save(update_fields=["state", "returned_from_exam", "is_late", "order_time"])
    Appointment.objects.filter(pk=entry.appointment_id).update(
        status=AppointmentStatus.CHECKED_IN, updated_at=now
    )
    detail: dict[str, Any] = {
        "event": "requeued",
        "number": entry.number,
        "after_exam": after_exam,
        "from": str(previous),
    }
    if channel:
        detail["channel"] = channel
    record(
        actor, AuditAction.UPDATE, patient=entry.appointment.patient_id, obj=entry.appointment, detail=detail
    )
    _broadcast(entry.session_id)
    return entry


def average_consultation_minutes(session: ClinicSession) -> float:
    """Measured from today's finished patients of this session, else the booked pace."""
    finished = list(
        QueueEntry.objects.filter(
            session=session, state=EntryState.FINISHED, called_at__isnull=False, finished_at__isnull=False
        )
        .order_by("-finished_at")
        .values_list("called_at", "finished_at")[:10]
    )
    if finished:
        seconds = [(f - c).total_seconds() for c, f in finished if c is not None and f is not None]
        return sum(seconds) / len(seconds) / 60
    template = session.template
    if template is not None and template.capacity_per_slot:
        return template.slot_minutes / template.capacity_per_slot
    return 10.0


def queue_state(session: ClinicSession) -> dict[str, Any]:
    """The queue as shown on displays and phones: who is called, who waits in which order, and an
    estimated wait per position. Names are masked (张*英)."""
    entries = list(
        QueueEntry.objects.select_related("appointment__patient")
        .filter(session=session, state__in=[EntryState.WAITING, EntryState.CALLED])
        .order_by("priority", "order_time", "arrived_at")
    )
    pace = average_consultation_minutes(session)
    called = next((e for e in entries if e.state == EntryState.CALLED), None)
    waiting = [e for e in entries if e.state == EntryState.WAITING]
    last = QueueEntry.objects.filter(session=session).aggregate(m=Max("called_at"))["m"]
    away = list(
        QueueEntry.objects.select_related("appointment__patient")
        .filter(session=session, state__in=AWAY)
        .order_by("called_at", "pk")
    )
    return {
        "session": session.pk,
        "called": _public(called, 0, 0.0) if called else None,
        "recalls": called.recalls if called else 0,
        "waiting": [
            _public(e, i + 1, round((i + (1 if called else 0)) * pace, 1)) for i, e in enumerate(waiting)
        ],
        "skipped": [e.appointment_id for e in away if e.state == EntryState.SKIPPED],
        "at_exam": [e.appointment_id for e in away if e.state == EntryState.AT_EXAM],
        # Checked in but out of the queue (missed call, at an exam): the queue page returns them.
        "away": [_public(e, 0, 0.0) | {"state": str(e.state)} for e in away],
        "pace_minutes": round(pace, 1),
        "updated_at": clock.now().isoformat(),
        "last_call_at": last.isoformat() if last else None,
    }


def mask_name(name: str) -> str:
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _public(entry: QueueEntry, position: int, wait: float) -> dict[str, Any]:
    return {
        "entry": entry.pk,
        "appointment": entry.appointment_id,
        "number": entry.number,
        "name": mask_name(entry.appointment.patient.name),
        "position": position,
        "estimated_wait_minutes": wait,
        "priority": entry.priority,
        "late": entry.is_late,
        "returned": entry.returned_from_exam,
    }
