"""Booking by time slot. Every write is atomic, permission-checked and audited.

The invariant that matters: a slot never holds more bookings than its capacity. Booking
increments ``Slot.booked`` with a conditional UPDATE (``booked < capacity``), which is atomic on
both SQLite and PostgreSQL, and a CHECK constraint refuses anything that slipped past it. The
unique constraints on Appointment stop double bookings per department and session, and make a
retried request with the same idempotency key book once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from smartcare.accounts.choices import CareRelationshipKind
from smartcare.accounts.services import end_care_relationship, register_care_relationship
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.scheduling.choices import (
    ACTIVE_STATUSES,
    AppointmentStatus,
    Channel,
    PreVisitStatus,
    SessionStatus,
    WaitlistStatus,
)
from smartcare.scheduling.errors import (
    AlreadyBooked,
    BookingSuspended,
    CancellationTooLate,
    DailyLimitReached,
    IdempotencyConflict,
    NoOffer,
    NotCancellable,
    PatientNotEligible,
    SessionNotOpen,
    SlotFull,
)
from smartcare.scheduling.models import (
    Appointment,
    BookingPolicy,
    ClinicSession,
    ExamType,
    PreVisitExam,
    PreVisitRule,
    ReleaseRule,
    ScheduleTemplate,
    Slot,
    WaitlistEntry,
)
from smartcare.scheduling.policy import policy_for


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _source(appointment: Appointment) -> str:
    return f"scheduling.appointment:{appointment.pk}"


# --- Sessions and slots -------------------------------------------------------------------------


def release_time_for(department_id: int, date: dt.date) -> dt.datetime:
    rule = ReleaseRule.objects.filter(department_id=department_id).first()
    days, at = (rule.days_ahead, rule.release_time) if rule else (7, dt.time(8, 0))
    return dt.datetime.combine(date - dt.timedelta(days=days), at, tzinfo=_tz())


def build_session(template: ScheduleTemplate, date: dt.date) -> ClinicSession | None:
    """Create one dated session with its slots from a template (idempotent per template and date)."""
    existing = ClinicSession.objects.filter(template=template, date=date).first()
    if existing is not None:
        return None
    tz = _tz()
    starts = dt.datetime.combine(date, template.start_time, tzinfo=tz)
    ends = dt.datetime.combine(date, template.end_time, tzinfo=tz)
    session = ClinicSession.objects.create(
        template=template,
        department_id=template.department_id,
        practitioner_id=template.practitioner_id,
        room_id=template.room_id,
        exam_type_id=template.exam_type_id,
        date=date,
        period=template.period,
        starts_at=starts,
        ends_at=ends,
        fee_class=template.fee_class,
        releases_at=release_time_for(template.department_id, date),
    )
    slots = []
    moment = starts
    step = dt.timedelta(minutes=template.slot_minutes)
    while moment + step <= ends:
        slots.append(
            Slot(
                session=session, starts_at=moment, ends_at=moment + step, capacity=template.capacity_per_slot
            )
        )
        moment += step
    Slot.objects.bulk_create(slots)
    return session


@transaction.atomic
def generate_sessions(start: dt.date, days: int) -> int:
    """Materialise sessions for ``days`` days from ``start`` from every active template."""
    templates = list(ScheduleTemplate.objects.filter(is_active=True))
    created = 0
    for offset in range(days):
        date = start + dt.timedelta(days=offset)
        for template in templates:
            if template.weekday == date.weekday() and build_session(template, date) is not None:
                created += 1
    return created


# --- Booking ------------------------------------------------------------------------------------


def _check_eligibility(patient: Any, department: Any) -> None:
    age = patient.age
    if department.min_age is not None and age < department.min_age:
        raise PatientNotEligible(reason=_("minimum age %(age)s") % {"age": department.min_age})
    if department.max_age is not None and age > department.max_age:
        raise PatientNotEligible(reason=_("maximum age %(age)s") % {"age": department.max_age})
    if department.serves_sex and department.serves_sex != patient.sex:
        raise PatientNotEligible(reason=str(department.get_serves_sex_display()))


def _check_rules(patient: Any, session: ClinicSession, policy: BookingPolicy) -> None:
    """No-show suspension, the daily limit and one booking per department and session, from one
    query: the patient's recent no-shows and the session day's active bookings (a few rows)."""
    since = (clock.now() - dt.timedelta(days=policy.no_show_window_days)).date()
    rows = list(
        Appointment.objects.filter(
            Q(status=AppointmentStatus.NO_SHOW, date__gte=since)
            | Q(status__in=ACTIVE_STATUSES, date=session.date),
            patient=patient,
        ).values_list("status", "date", "department_id", "period")
    )
    no_shows = sorted(
        (date for status, date, _d, _p in rows if status == AppointmentStatus.NO_SHOW), reverse=True
    )
    if len(no_shows) >= policy.no_show_limit:
        until = no_shows[0] + dt.timedelta(days=policy.suspension_days)
        if until >= clock.today():
            raise BookingSuspended(until=until.isoformat(), count=len(no_shows))
    active = [(dept, period) for status, date, dept, period in rows if status in ACTIVE_STATUSES]
    if len(active) >= policy.max_bookings_per_day:
        raise DailyLimitReached(limit=policy.max_bookings_per_day)
    if (session.department_id, session.period) in active:
        raise AlreadyBooked()


def _preparation(session: ClinicSession) -> tuple[str, str]:
    if session.exam_type_id:
        exam = session.exam_type
        assert exam is not None
        return exam.preparation_zh, exam.preparation_en
    prep = getattr(session.department, "visit_preparation", None)
    return (prep.text_zh, prep.text_en) if prep else ("", "")


@dataclass
class BookingResult:
    appointment: Appointment
    created: bool


def book_slot(
    actor: Any,
    *,
    patient_id: Any,
    slot_id: int,
    channel: str,
    idempotency_key: str | None = None,
    reserved: bool = False,
) -> BookingResult:
    """Book ``slot_id`` for the patient. Guarantees: never more bookings than capacity, one active
    booking per patient, department and session, and one booking per idempotency key (a retry
    returns the first booking with ``created=False``). ``reserved`` is used by the waitlist, which
    already holds the place."""
    require_capability(actor, "scheduling.book")
    if channel not in Channel.values:
        raise InvalidInput(field="channel")
    key = (idempotency_key or "").strip()[:80] or None
    replay = _replay(actor, key, patient_id, slot_id)
    if replay is not None:
        return replay
    try:
        with transaction.atomic():
            patient = access_patient(actor, patient_id, AccessAction.VIEW, audit=False)
            # One query for the slot and everything the booking and its answer need from it.
            slot = (
                Slot.objects.select_related(
                    "session__department__visit_preparation",
                    "session__exam_type",
                    "session__practitioner__user",
                )
                .filter(pk=slot_id)
                .first()
            )
            if slot is None:
                raise NotFound()
            session = slot.session
            if not session.is_open or slot.starts_at <= clock.now():
                raise SessionNotOpen()
            _check_eligibility(patient, session.department)
            _check_rules(patient, session, policy_for(session.department_id))
            prep_zh, prep_en = _preparation(session)
            # From here on rows are locked (the slot's counter, then the new rows' unique keys)
            # until the commit: only inserts follow, no reads and no Python work in between.
            if not reserved:
                taken = Slot.objects.filter(pk=slot.pk, booked__lt=F("capacity")).update(
                    booked=F("booked") + 1
                )
                if taken == 0:
                    raise SlotFull()
            appointment = Appointment.objects.create(
                slot=slot,
                session=session,
                department=session.department,
                date=session.date,
                period=session.period,
                patient=patient,
                channel=channel,
                booked_by=actor,
                idempotency_key=key,
                fee_class=session.fee_class,
                preparation_zh=prep_zh,
                preparation_en=prep_en,
            )
            register_care_relationship(
                patient=patient,
                department=session.department,
                kind=CareRelationshipKind.APPOINTMENT,
                source=_source(appointment),
                valid_until=session.ends_at + dt.timedelta(days=30),
                new_source=True,
            )
            link_exam_booking(appointment)
            # Written in this transaction, so the booking and its audit event commit together;
            # linked into the hash chain right after the commit, so that bookings do not queue
            # on the chain's head while they hold their slot (see audit.services.record).
            record(
                actor,
                AuditAction.CREATE,
                patient=patient,
                obj=appointment,
                detail={"channel": channel, "slot": slot.pk},
                chain_after_commit=True,
            )
            transaction.on_commit(lambda: _after_booking(appointment))
    except (IntegrityError, CodedError) as exc:
        # A concurrent request won: the same idempotency key, or the same patient and session.
        # When it was this request's own first attempt (same key), the retry may have been refused
        # by what that attempt wrote (already booked, slot full): it gets that booking back.
        replay = _replay(actor, key, patient_id, slot_id)
        if replay is not None:
            return replay
        if isinstance(exc, IntegrityError):
            raise AlreadyBooked() from None
        raise
    return BookingResult(appointment, True)


def _replay(actor: Any, key: str | None, patient_id: Any, slot_id: int) -> BookingResult | None:
    """The booking already made with this idempotency key, if any; the same key for a different
    booking is a conflict."""
    if key is None:
        return None
    previous = Appointment.objects.filter(booked_by=actor, idempotency_key=key).first()
    if previous is None:
        return None
    if previous.slot_id != slot_id or str(previous.patient_id) != str(getattr(patient_id, "pk", patient_id)):
        raise IdempotencyConflict()
    # The caller may have lost access since (a channel binding revoked): check again.
    access_patient(actor, previous.patient_id, AccessAction.VIEW, audit=False)
    return BookingResult(previous, False)


def _after_booking(appointment: Appointment) -> None:
    """After the commit: routine pre-visit exams and the reminders, from the booking in hand
    (its slot, session and patient are loaded) rather than read again."""
    from smartcare.scheduling import reminders

    order_routine_pre_visit_exams(appointment)
    reminders.schedule_reminders(appointment)


# --- Pre-visit exams ------------------------------------------------------------------------------


def order_routine_pre_visit_exams(appointment: Appointment | int) -> list[PreVisitExam]:
    """Apply the department's pre-visit rules to a new doctor's booking (not to exam bookings)."""
    if not isinstance(appointment, Appointment):
        found = Appointment.objects.select_related("session", "patient").filter(pk=appointment).first()
        if found is None:
            return []
        appointment = found
    if appointment.session.exam_type_id is not None:
        return []
    ordered = []
    rules = PreVisitRule.objects.filter(department_id=appointment.department_id, is_active=True)
    for rule in rules.select_related("exam_type"):
        if rule.min_age is not None and appointment.patient.age < rule.min_age:
            continue
        exam, created = PreVisitExam.objects.get_or_create(
            appointment=appointment, exam_type=rule.exam_type, defaults={"rule": f"rule:{rule.pk}"}
        )
        if created:
            ordered.append(exam)
    if ordered:
        _tell_about_pre_visit_exams(appointment, ordered)
    return ordered


def _tell_about_pre_visit_exams(appointment: Appointment, exams: list[PreVisitExam]) -> None:
    from smartcare.notifications.services import notify

    if appointment.patient.user_id:
        notify(
            appointment.patient.user,
            category="pre_visit_exam",
            subject=_("Exams to do before your visit"),
            body=_("Please book and do these exams before your appointment: %(exams)s")
            % {"exams": ", ".join(e.exam_type.name for e in exams)},
            link="/booking/mine/",
        )


@transaction.atomic
def order_pre_visit_exam(actor: Any, appointment_id: int, exam_code: str) -> PreVisitExam:
    """A doctor orders an exam to be done before the patient's visit."""
    require_capability(actor, "scheduling.order_pre_visit")
    appointment = Appointment.objects.select_related("patient").filter(pk=appointment_id).first()
    if appointment is None:
        raise NotFound()
    access_patient(actor, appointment.patient_id, AccessAction.CLINICAL, audit=False)
    exam_type = ExamType.objects.filter(code=exam_code).first()
    if exam_type is None:
        raise InvalidInput(_("Unknown exam."), field="exam")
    exam, created = PreVisitExam.objects.get_or_create(
        appointment=appointment, exam_type=exam_type, defaults={"ordered_by": actor}
    )
    record(actor, AuditAction.CREATE, patient=appointment.patient_id, obj=exam, detail={"exam": exam_code})
    if created:
        transaction.on_commit(lambda: _tell_about_pre_visit_exams(appointment, [exam]))
    return exam


def link_exam_booking(appointment: Appointment) -> int:
    """When a patient books an exam slot, attach it to their ordered pre-visit exam of that type."""
    if appointment.session.exam_type_id is None:
        return 0
    return PreVisitExam.objects.filter(
        appointment__patient_id=appointment.patient_id,
        exam_type_id=appointment.session.exam_type_id,
        status=PreVisitStatus.ORDERED,
        appointment__slot__starts_at__gte=appointment.slot.starts_at,
    ).update(status=PreVisitStatus.BOOKED, exam_appointment=appointment, updated_at=clock.now())


@transaction.atomic
def record_pre_visit_result(actor: Any, exam_id: int, summary: str) -> PreVisitExam:
    """Record the result (from the lab, the imaging room or an interface) so the doctor sees it."""
    require_capability(actor, "scheduling.record_result")
    exam = PreVisitExam.objects.select_for_update().select_related("appointment").filter(pk=exam_id).first()
    if exam is None:
        raise NotFound()
    access_patient(actor, exam.appointment.patient_id, AccessAction.CLINICAL, audit=False)
    if not summary.strip():
        raise InvalidInput(_("Enter the result."), field="summary")
    exam.status = PreVisitStatus.RESULTED
    exam.result_summary = summary.strip()
    exam.resulted_at = clock.now()
    exam.save(update_fields=["status", "result_summary", "resulted_at", "updated_at"])
    record(
        actor, AuditAction.UPDATE, patient=exam.appointment.patient_id, obj=exam, detail={"event": "resulted"}
    )
    return exam


def _release_place(slot_id: int) -> None:
    Slot.objects.filter(pk=slot_id, booked__gt=0).update(booked=F("booked") - 1)


@transaction.atomic
def cancel_appointment(
    actor: Any, appointment_id: int, *, reason: str = "", by_hospital: bool = False
) -> Appointment:
    """Cancel a booking and free its place (offered to the waitlist after commit). Patients and
    channels must cancel before the department's deadline; the hospital may always cancel."""
    appointment = (
        Appointment.objects.select_for_update().select_related("session").filter(pk=appointment_id).first()
    )
    if appointment is None:
        raise NotFound()
    access_patient(actor, appointment.patient_id, AccessAction.UPDATE, audit=False)
    return _cancel(actor, appointment, reason=reason, by_hospital=by_hospital)


def _cancel(actor: Any, appointment: Appointment, *, reason: str, by_hospital: bool) -> Appointment:
    """Cancel without the patient-level check: for callers that already decided (the patient's own
    cancellation above, or the hospital stopping a whole session)."""
    if appointment.status != AppointmentStatus.BOOKED:
        raise NotCancellable()
    policy = policy_for(appointment.department_id)
    staff = getattr(actor, "is_staff_member", False)
    if not (by_hospital or staff):
        deadline = appointment.slot.starts_at - dt.timedelta(hours=policy.cancellation_deadline_hours)
        if clock.now() > deadline:
            raise CancellationTooLate(hours=policy.cancellation_deadline_hours)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_at = clock.now()
    appointment.cancel_reason = reason[:300]
    appointment.save(update_fields=["status", "cancelled_at", "cancel_reason", "updated_at"])
    _release_place(appointment.slot_id)
    end_care_relationship(source=_source(appointment))
    record(
        actor,
        AuditAction.UPDATE,
        patient=appointment.patient_id,
        obj=appointment,
        detail={"event": "cancelled"},
        reason=reason[:300],
    )
    slot_id = appointment.slot_id
    transaction.on_commit(lambda: offer_freed_place(slot_id))
    return appointment


# --- Waitlist -----------------------------------------------------------------------------------


@transaction.atomic
def join_waitlist(
    actor: Any,
    *,
    patient_id: Any,
    department_id: int,
    date: dt.date,
    channel: str,
    practitioner_id: int | None = None,
) -> WaitlistEntry:
    require_capability(actor, "scheduling.book")
    patient = access_patient(actor, patient_id, AccessAction.VIEW, audit=False)
    if date < clock.today():
        raise InvalidInput(field="date")
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                patient=patient,
                department_id=department_id,
                practitioner_id=practitioner_id,
                date=date,
                requested_by=actor,
                channel=channel,
            )
    except IntegrityError:
        raise AlreadyBooked(
            _("The patient is already on the waitlist for this department and day.")
        ) from None
    record(actor, AuditAction.CREATE, patient=patient, obj=entry)
    return entry


def offer_freed_place(slot_id: int) -> WaitlistEntry | None:
    """Offer a freed place to the first waiting patient. The place is held (counted as booked)
    until the offer is accepted or expires."""
    from smartcare.notifications.services import notify

    with transaction.atomic():
        slot = Slot.objects.select_related("session").filter(pk=slot_id).first()
        if slot is None or slot.starts_at <= clock.now() or slot.session.status != SessionStatus.SCHEDULED:
            return None
        session = slot.session
        candidates = WaitlistEntry.objects.select_for_update().filter(
            department_id=session.department_id, date=session.date, status=WaitlistStatus.WAITING
        )
        entry = next(
            (
                e
                for e in candidates.order_by("created_at")
                if e.practitioner_id in (None, session.practitioner_id)
            ),
            None,
        )
        if entry is None:
            return None
        if Slot.objects.filter(pk=slot.pk, booked__lt=F("capacity")).update(booked=F("booked") + 1) == 0:
            return None
        minutes = policy_for(session.department_id).waitlist_offer_minutes
        entry.status = WaitlistStatus.OFFERED
        entry.offered_slot = slot
        entry.offer_expires_at = clock.now() + dt.timedelta(minutes=minutes)
        entry.save(update_fields=["status", "offered_slot", "offer_expires_at", "updated_at"])
        if entry.patient.user_id:
            local = slot.starts_at.astimezone(_tz())
            notify(
                entry.patient.user,
                category="waitlist_offer",
                subject=_("A place is free for you"),
                body=_("%(dept)s at %(time)s. Accept within %(minutes)s minutes.")
                % {
                    "dept": session.department.name,
                    "time": local.strftime("%Y-%m-%d %H:%M"),
                    "minutes": minutes,
                },
                link="/booking/mine/",
            )
        entry_id, expires = entry.pk, entry.offer_expires_at
        transaction.on_commit(lambda: _schedule_offer_expiry(entry_id, expires))
    return entry


def _schedule_offer_expiry(entry_id: int, at: dt.datetime) -> None:
    from smartcare.scheduling.tasks import enqueue_at, expire_waitlist_offer

    enqueue_at(expire_waitlist_offer, at, entry_id)


def accept_offer(actor: Any, entry_id: int, *, channel: str) -> Appointment:
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().filter(pk=entry_id).first()
        if entry is None:
            raise NotFound()
        access_patient(actor, entry.patient_id, AccessAction.VIEW, audit=False)
        if (
            entry.status != WaitlistStatus.OFFERED
            or entry.offered_slot_id is None
            or (entry.offer_expires_at and entry.offer_expires_at < clock.now())
        ):
            raise NoOffer()
        result = book_slot(
            actor, patient_id=entry.patient_id, slot_id=entry.offered_slot_id, channel=channel, reserved=True
        )
        entry.status = WaitlistStatus.ACCEPTED
        entry.appointment = result.appointment
        entry.save(update_fields=["status", "appointment", "updated_at"])
    return result.appointment


def expire_offer(entry_id: int) -> bool:
    """Release the held place of an unanswered offer and pass it on."""
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().filter(pk=entry_id).first()
        if entry is None or entry.status != WaitlistStatus.OFFERED:
            return False
        if entry.offer_expires_at and entry.offer_expires_at > clock.now():
            return False
        slot_id = entry.offered_slot_id
        entry.status = WaitlistStatus.EXPIRED
        entry.save(update_fields=["status", "updated_at"])
        if slot_id:
            _release_place(slot_id)
            transaction.on_commit(lambda: offer_freed_place(slot_id))
    return True


def expire_overdue_offers() -> int:
    """The periodic safety net behind the deferred expiry task: every offer past its time limit is
    expired and its place handed on, exactly as ``expire_offer`` does (which re-checks each entry
    under its row lock, so a sweep racing the task, or another worker's sweep, changes nothing
    twice). Returns the number of offers expired by this call."""
    overdue = WaitlistEntry.objects.filter(
        status=WaitlistStatus.OFFERED, offer_expires_at__lte=clock.now()
    ).values_list("pk", flat=True)
    return sum(1 for entry_id in list(overdue) if expire_offer(entry_id))


# --- Stopping and replacing sessions -------------------------------------------------------------


def alternatives_for(session: ClinicSession, limit: int = 5) -> list[Slot]:
    """Open slots in the same department on the same or the following days."""
    return list(
        Slot.objects.select_related("session__practitioner__user")
        .filter(
            session__department_id=session.department_id,
            session__status=SessionStatus.SCHEDULED,
            session__date__gte=session.date,
            session__date__lte=session.date + dt.timedelta(days=7),
            starts_at__gt=clock.now(),
            booked__lt=F("capacity"),
        )
        .exclude(session=session)
        .order_by("starts_at")[:limit]
    )


def _describe(slot: Slot) -> str:
    local = slot.starts_at.astimezone(_tz())
    doctor = slot.session.practitioner
    return f"{local:%m-%d %H:%M} {doctor.user if doctor else ''}".strip()


def _managed_session(actor: Any, session_id: int) -> ClinicSession:
    """A session the actor may stop or change: department heads their own department's, front desk
    and operations managers any."""
    require_capability(actor, "scheduling.manage")
    session = ClinicSession.objects.select_for_update().filter(pk=session_id).first()
    if session is None:
        raise NotFound()
    if getattr(actor, "role", "") == "department_head":
        own = getattr(getattr(actor, "practitioner", None), "department_id", None)
        if own != session.department_id:
            raise NotFound()
    return session


@transaction.atomic
def stop_session(actor: Any, session_id: int, *, reason: str) -> int:
    """Stop a session (doctor ill, equipment down): every booking is cancelled by the hospital and
    the patient is told, with alternatives. Returns the number of patients told."""
    from smartcare.notifications.services import notify

    session = _managed_session(actor, session_id)
    if not reason.strip():
        raise InvalidInput(_("Give a reason for stopping the session."), field="reason")
    session.status = SessionStatus.STOPPED
    session.stop_reason = reason.strip()[:300]
    session.save(update_fields=["status", "stop_reason", "updated_at"])
    record(actor, AuditAction.UPDATE, obj=session, detail={"event": "stopped"}, reason=session.stop_reason)
    options = alternatives_for(session)
    told = 0
    booked = session.appointments.select_for_update().filter(status=AppointmentStatus.BOOKED)
    for appointment in booked.select_related("patient", "session"):
        # A session-level decision: the caller need not have access to each patient's record.
        _cancel(actor, appointment, reason=session.stop_reason, by_hospital=True)
        if appointment.patient.user_id:
            notify(
                appointment.patient.user,
                category="session_stopped",
                subject=_("Your appointment was cancelled by the hospital"),
                body=_("%(reason)s. Other times you can book: %(options)s")
                % {
                    "reason": session.stop_reason,
                    "options": "; ".join(_describe(s) for s in options) or _("please book again"),
                },
                link="/booking/",
            )
        told += 1
    return told


@transaction.atomic
def replace_session(actor: Any, session_id: int, *, practitioner_id: int, reason: str) -> ClinicSession:
    """Another doctor takes the session: bookings move to the same times with the new doctor and
    the patients are told."""
    from smartcare.notifications.services import notify
    from smartcare.organization.models import Practitioner

    session = _managed_session(actor, session_id)
    substitute = Practitioner.objects.select_related("user").filter(pk=practitioner_id).first()
    if substitute is None:
        raise NotFound()
    if substitute.department_id != session.department_id:
        raise InvalidInput(_("The substitute must work in the same department."), field="practitioner_id")
    session.practitioner = substitute
    session.stop_reason = reason.strip()[:300]
    session.save(update_fields=["practitioner", "stop_reason", "updated_at"])
    record(
        actor,
        AuditAction.UPDATE,
        obj=session,
        detail={"event": "replaced", "practitioner": substitute.pk},
        reason=session.stop_reason,
    )
    for appointment in session.appointments.filter(status=AppointmentStatus.BOOKED).select_related("patient"):
        if appointment.patient.user_id:
            notify(
                appointment.patient.user,
                category="session_replaced",
                subject=_("Your doctor has changed"),
                body=_(
                    "Your appointment at the same time will be with %(doctor)s. You may cancel free of charge."
                )
                % {"doctor": str(substitute.user)},
                link="/booking/",
            )
    return session


def mark_no_shows(before: dt.datetime | None = None) -> int:
    """Bookings whose slot ended more than the grace period ago without check-in become no-shows."""
    now = before or clock.now()
    cutoff = now - dt.timedelta(minutes=policy_for(None).late_grace_minutes)
    count = 0
    for appointment in Appointment.objects.filter(status=AppointmentStatus.BOOKED, slot__ends_at__lt=cutoff):
        with transaction.atomic():
            updated = Appointment.objects.filter(pk=appointment.pk, status=AppointmentStatus.BOOKED).update(
                status=AppointmentStatus.NO_SHOW, updated_at=now
            )
            if updated:
                end_care_relationship(source=_source(appointment))
                count += 1
    return count
