"""What an outpatient encounter does to its appointment and to the clinic queue.

Opening the visit is calling the patient in: the appointment is "in consultation" and the queue
shows the patient as called. Finishing the visit completes the appointment; cancelling a visit
opened by mistake gives the patient back their place in the queue.

The queue is the visits app's: where its services say exactly what happens (``call_next`` when the
patient is the next in line, ``finish_current`` for the patient being seen) they are used, so
audit events and the live display updates are theirs. Calling a patient out of order, and taking
a patient back into the queue, have no visits service: they are done here with the same
effects (the previous patient is finished first, as ``call_next`` does; the display is updated).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import has_capability
from smartcare.scheduling.choices import AppointmentStatus
from smartcare.scheduling.models import Appointment, ClinicSession
from smartcare.visits import services as visits
from smartcare.visits.choices import EntryState
from smartcare.visits.models import QueueEntry


def _broadcast(session_id: int) -> None:
    from smartcare.visits.live import broadcast_queue

    transaction.on_commit(lambda: broadcast_queue(session_id))


def _may_call(actor: Any, session: ClinicSession) -> bool:
    """The caller works the session's queue (as ``visits.services`` requires to call and finish)."""
    department_id = getattr(getattr(actor, "practitioner", None), "department_id", None)
    return has_capability(actor, "visits.call") and department_id == session.department_id


def _entry(appointment: Appointment) -> QueueEntry | None:
    return (
        QueueEntry.objects.select_for_update()
        .select_related("session", "appointment")
        .filter(appointment=appointment)
        .first()
    )


def _next_waiting(session: ClinicSession) -> QueueEntry | None:
    return (
        QueueEntry.objects.filter(session=session, state=EntryState.WAITING)
        .order_by("priority", "order_time", "arrived_at")
        .first()
    )


def start(actor: Any, appointment: Appointment) -> None:
    """The visit of ``appointment`` opens: the patient is in consultation (and called in the queue)."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN):
        return  # already called from the queue, or over
    entry = _entry(appointment)
    if entry is not None and entry.state in (EntryState.WAITING, EntryState.SKIPPED):
        session = entry.session
        if _may_call(actor, session):
            next_in_line = _next_waiting(session)
            if next_in_line is not None and next_in_line.pk == entry.pk:
                visits.call_next(actor, session.pk)  # finishes the previous patient, calls this one
                return
            if QueueEntry.objects.filter(session=session, state=EntryState.CALLED).exists():
                visits.finish_current(actor, session.pk)
        if not QueueEntry.objects.filter(session=entry.session, state=EntryState.CALLED).exists():
            entry.state = EntryState.CALLED
            entry.called_at = clock.now()
            entry.save(update_fields=["state", "called_at"])
            _broadcast(entry.session_id)
    now = clock.now()
    Appointment.objects.filter(pk=appointment.pk).update(
        status=AppointmentStatus.IN_CONSULTATION, called_at=appointment.called_at or now, updated_at=now
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=appointment.patient_id,
        obj=appointment,
        detail={"event": "consultation_started"},
    )


def finish(actor: Any, appointment: Appointment) -> None:
    """The visit is finished: the appointment is completed and the patient leaves the queue."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if appointment.status != AppointmentStatus.IN_CONSULTATION:
        return
    entry = _entry(appointment)
    if entry is not None and entry.state == EntryState.CALLED and _may_call(actor, entry.session):
        visits.finish_current(actor, entry.session_id)  # this entry is the session's called one
        return
    now = clock.now()
    if entry is not None and entry.state == EntryState.CALLED:
        entry.state = EntryState.FINISHED
        entry.finished_at = now
        entry.save(update_fields=["state", "finished_at"])
        _broadcast(entry.session_id)
    Appointment.objects.filter(pk=appointment.pk).update(
        status=AppointmentStatus.COMPLETED, finished_at=now, updated_at=now
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=appointment.patient_id,
        obj=appointment,
        detail={"event": "finished"},
    )


def give_back(actor: Any, appointment: Appointment) -> None:
    """A visit opened by mistake is cancelled: the patient is checked in and waiting again, in the
    place they had in the queue."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if appointment.status != AppointmentStatus.IN_CONSULTATION:
        return
    entry = _entry(appointment)
    if entry is not None and entry.state == EntryState.CALLED:
        entry.state = EntryState.WAITING
        entry.save(update_fields=["state"])
        _broadcast(entry.session_id)
    now = clock.now()
    Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.CHECKED_IN, updated_at=now)
    record(
        actor,
        AuditAction.UPDATE,
        patient=appointment.patient_id,
        obj=appointment,
        detail={"event": "consultation_cancelled"},
    )
