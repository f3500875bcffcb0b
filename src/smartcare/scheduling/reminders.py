"""Reminders: at booking, the day before, and a set time before the appointment.

Each reminder is a background task scheduled with ``run_after``; sending checks that the
booking is still active, so a cancelled appointment is never reminded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from smartcare.core import clock
from smartcare.notifications.choices import Channel
from smartcare.notifications.services import notify
from smartcare.scheduling.choices import AppointmentStatus
from smartcare.scheduling.models import Appointment

KINDS = ("booked", "day_before", "soon")


def reminder_times(appointment: Appointment) -> dict[str, dt.datetime]:
    tz = ZoneInfo(settings.TIME_ZONE)
    start = appointment.slot.starts_at
    day_before = dt.datetime.combine(
        start.astimezone(tz).date() - dt.timedelta(days=1),
        dt.time(settings.SMARTCARE_REMINDER_DAY_BEFORE_HOUR),
        tzinfo=tz,
    )
    soon = start - dt.timedelta(minutes=settings.SMARTCARE_REMINDER_MINUTES_BEFORE)
    return {"booked": clock.now(), "day_before": day_before, "soon": soon}


def schedule_reminders(appointment: Appointment | int) -> None:
    from smartcare.scheduling.tasks import enqueue_at, send_reminder

    if not isinstance(appointment, Appointment):
        found = Appointment.objects.select_related("slot").filter(pk=appointment).first()
        if found is None:
            return
        appointment = found
    appointment_id = appointment.pk
    now = clock.now()
    for kind, at in reminder_times(appointment).items():
        if kind == "booked":
            send_reminder.enqueue(appointment_id, kind)
        elif at > now:
            enqueue_at(send_reminder, at, appointment_id, kind)


def _text(appointment: Any, kind: str) -> tuple[str, str]:
    tz = ZoneInfo(settings.TIME_ZONE)
    local = appointment.slot.starts_at.astimezone(tz)
    doctor = appointment.session.practitioner
    where = appointment.department.location or ""
    subjects = {
        "booked": _("Booking confirmed"),
        "day_before": _("Reminder: your appointment tomorrow"),
        "soon": _("Reminder: your appointment is soon"),
    }
    body = _("%(dept)s, %(time)s%(doctor)s. %(where)s") % {
        "dept": appointment.department.name,
        "time": local.strftime("%Y-%m-%d %H:%M"),
        "doctor": f", {doctor.user}" if doctor else "",
        "where": where,
    }
    preparation = (
        appointment.preparation_en if translation.get_language() == "en" else appointment.preparation_zh
    )
    if preparation:
        body += "\n" + _("Preparation: %(text)s") % {"text": preparation}
    return str(subjects[kind]), body


def send_reminder(appointment_id: int, kind: str) -> str:
    appointment = (
        Appointment.objects.select_related(
            "slot", "session__practitioner__user", "department", "patient__user"
        )
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None or appointment.status != AppointmentStatus.BOOKED:
        return "skipped"
    recipient = appointment.patient.user
    if recipient is None:
        # No portal account (booked at the desk or by telephone): an SMS to the patient's phone,
        # in the hospital's language, recorded with its delivery status like any notification.
        if not appointment.patient.phone:
            return "no account"
        with translation.override(settings.LANGUAGE_CODE):
            subject, body = _text(appointment, kind)
        notify(
            None,
            category=f"reminder_{kind}",
            subject=subject,
            body=body,
            channels=(Channel.SMS,),
            phone=appointment.patient.phone,
        )
        return "sent by sms"
    language = recipient.preferred_language or settings.LANGUAGE_CODE
    with translation.override(language):
        subject, body = _text(appointment, kind)
    channels: tuple[str, ...] = (
        (Channel.IN_APP, Channel.SMS) if appointment.patient.phone else (Channel.IN_APP,)
    )
    if recipient.email:
        channels += (Channel.EMAIL,)
    notify(
        recipient,
        category=f"reminder_{kind}",
        subject=subject,
        body=body,
        link="/booking/mine/",
        channels=channels,
        email=recipient.email,
        phone=appointment.patient.phone,
    )
    return "sent"
