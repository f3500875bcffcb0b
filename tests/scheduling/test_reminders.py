"""Booking reminders: scheduled at booking, written in the patient's language, never sent for a
cancelled booking, delivered by e-mail over a real SMTP server and by SMS, and run by a real
worker on the Redis queue."""

from __future__ import annotations

import email
import logging
import socket
import subprocess
from collections.abc import Iterator
from email.header import decode_header, make_header
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from smartcare.notifications.choices import Channel as Delivered
from smartcare.notifications.choices import DeliveryStatus
from smartcare.notifications.models import Delivery, Notification
from smartcare.scheduling import reminders
from smartcare.scheduling.choices import Channel
from smartcare.scheduling.models import Appointment
from smartcare.scheduling.services import book_slot, cancel_appointment
from tests.factories import child_env, smartcare_executable
from tests.scheduling.builders import PREPARATION_EN, PREPARATION_ZH, Clinic, at, inbox

REDIS_TEST_URL = "redis://127.0.0.1:6379/6"
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def book(clinic: Clinic, day: int = 1, hour: int = 9, minute: int = 0) -> Appointment:
    return book_slot(
        clinic.user("patient"),
        patient_id=clinic.own_patient.pk,
        slot_id=clinic.slot(day, hour, minute).pk,
        channel=Channel.PORTAL,
    ).appointment


def speaks(clinic: Clinic, language: str, email_address: str = "") -> None:
    user = clinic.user("patient")
    user.preferred_language = language
    user.email = email_address
    user.save(update_fields=["preferred_language", "email"])


# --- Scheduling and texts -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_booking_confirmation_reaches_the_inbox_with_the_preparation_note(
    clinic: Clinic, django_capture_on_commit_callbacks: Any
) -> None:
    speaks(clinic, "en")
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(clinic)
    [confirmation] = inbox(clinic.user("patient"), "reminder_booked")
    assert confirmation.subject == "Booking confirmed"
    assert "Cardiology, 2027-03-02 09:00" in confirmation.body
    assert str(clinic.user("doctor")) in confirmation.body
    assert f"Preparation: {PREPARATION_EN}" in confirmation.body
    assert confirmation.link == "/booking/mine/"
    # In the inbox at once, and by SMS to the patient's phone (the log provider here).
    deliveries = {d.channel: d for d in confirmation.deliveries.all()}
    assert set(deliveries) == {Delivered.IN_APP, Delivered.SMS}
    assert deliveries[Delivered.SMS].status == DeliveryStatus.SENT
    assert deliveries[Delivered.SMS].address == appointment.patient.phone
    # The later reminders are not sent at booking.
    assert inbox(clinic.user("patient"), "reminder_day_before") == []


@pytest.mark.django_db
def test_booking_schedules_the_day_before_and_soon_reminders(
    clinic: Clinic, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DB_TASKS
    with django_capture_on_commit_callbacks(execute=True):
        wednesday = book(clinic, day=2)
        today = book(clinic, day=0, hour=10)
    jobs = {
        tuple(job.args_kwargs["args"]): job.run_after
        for job in DBTaskResult.objects.filter(task_path="smartcare.scheduling.tasks.send_reminder")
    }
    assert jobs[(wednesday.pk, "day_before")] == at(1, 18)  # 18:00 the evening before
    assert jobs[(wednesday.pk, "soon")] == at(2, 7)  # two hours before 09:00
    assert (wednesday.pk, "booked") in jobs
    # Booked at 07:00 for 10:00 today: no "day before" in the past, "soon" at 08:00.
    assert (today.pk, "day_before") not in jobs
    assert jobs[(today.pk, "soon")] == at(0, 8)
    assert set(jobs) == {
        (wednesday.pk, "booked"),
        (wednesday.pk, "day_before"),
        (wednesday.pk, "soon"),
        (today.pk, "booked"),
        (today.pk, "soon"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "kind", "subject", "where", "preparation"),
    [
        (
            "",
            "day_before",
            "就诊提醒：您明天有预约",
            "心血管内科专业，2027-03-02 09:00",
            f"就诊准备：{PREPARATION_ZH}",
        ),
        (
            "zh-hans",
            "soon",
            "就诊提醒：您的预约即将开始",
            "心血管内科专业，2027-03-02 09:00",
            f"就诊准备：{PREPARATION_ZH}",
        ),
        (
            "en",
            "day_before",
            "Reminder: your appointment tomorrow",
            "Cardiology, 2027-03-02 09:00",
            f"Preparation: {PREPARATION_EN}",
        ),
        (
            "en",
            "soon",
            "Reminder: your appointment is soon",
            "Cardiology, 2027-03-02 09:00",
            f"Preparation: {PREPARATION_EN}",
        ),
    ],
)
def test_reminders_speak_the_patients_language(
    clinic: Clinic, language: str, kind: str, subject: str, where: str, preparation: str
) -> None:
    clinic.cardiology.location = "门诊楼3层 / Outpatient building, floor 3"
    clinic.cardiology.save()
    speaks(clinic, language)
    appointment = book(clinic)
    assert reminders.send_reminder(appointment.pk, kind) == "sent"
    [reminder] = inbox(clinic.user("patient"), f"reminder_{kind}")
    assert reminder.subject == subject
    assert where in reminder.body
    assert preparation in reminder.body
    assert "Outpatient building, floor 3" in reminder.body


@pytest.mark.django_db
def test_a_cancelled_booking_is_not_reminded(clinic: Clinic) -> None:
    appointment = book(clinic)
    cancel_appointment(clinic.user("patient"), appointment.pk, reason="plans changed")
    notifications = Notification.objects.count()
    for kind in reminders.KINDS:
        assert reminders.send_reminder(appointment.pk, kind) == "skipped"
    assert reminders.send_reminder(999_999, "soon") == "skipped"
    assert Notification.objects.count() == notifications
    # A patient without a portal account has no inbox: the reminder goes to their phone by SMS.
    from smartcare.notifications.models import Delivery
    from smartcare.patients.models import Patient

    walk_in = book_slot(
        clinic.user("frontdesk"),
        patient_id=clinic.patient_in_care.pk,
        slot_id=clinic.slot(1).pk,
        channel=Channel.FRONT_DESK,
    ).appointment
    assert reminders.send_reminder(walk_in.pk, "soon") == "sent by sms"
    sms = Delivery.objects.get(notification__category="reminder_soon", notification__recipient=None)
    assert sms.channel == "sms" and sms.address == clinic.patient_in_care.phone
    assert not sms.notification.deliveries.filter(channel="in_app").exists()
    # Without a phone number either, there is nobody to remind.
    Patient.objects.filter(pk=clinic.patient_in_care.pk).update(phone="")
    assert reminders.send_reminder(walk_in.pk, "soon") == "no account"


# --- Delivery by e-mail and SMS ------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def smtp_server(settings: Any) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.SMTP_URL = f"smtp://127.0.0.1:{port}"
    try:
        yield mailbox
    finally:
        controller.stop()


def text_of(message: email.message.Message) -> tuple[str, str]:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    subject = str(make_header(decode_header(message["Subject"])))
    return subject, payload.decode(message.get_content_charset() or "utf-8")


@pytest.mark.django_db
def test_a_reminder_is_e_mailed_through_a_real_smtp_server(
    clinic: Clinic, smtp_server: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    speaks(clinic, "zh-hans", "patient@example.org")
    appointment = book(clinic)
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_reminder(appointment.pk, "day_before") == "sent"
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["patient@example.org"]
    subject, body = text_of(message)
    assert subject == "就诊提醒：您明天有预约"
    assert "2027-03-02 09:00" in body
    assert PREPARATION_ZH in body
    delivery = Delivery.objects.get(notification__category="reminder_day_before", channel=Delivered.EMAIL)
    assert (delivery.status, delivery.address, delivery.attempts) == (
        DeliveryStatus.SENT,
        "patient@example.org",
        1,
    )


@pytest.mark.django_db
def test_without_an_e_mail_address_no_mail_is_sent(
    clinic: Clinic, smtp_server: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    appointment = book(clinic)
    with django_capture_on_commit_callbacks(execute=True):
        reminders.send_reminder(appointment.pk, "soon")
    assert smtp_server.messages == []
    assert not Delivery.objects.filter(channel=Delivered.EMAIL).exists()


@pytest.mark.django_db
def test_a_reminder_is_sent_by_sms_through_the_log_provider(
    clinic: Clinic, caplog: Any, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.INFO, logger="smartcare.notifications")
    speaks(clinic, "en")
    appointment = book(clinic)
    phone = clinic.own_patient.phone
    with django_capture_on_commit_callbacks(execute=True):
        reminders.send_reminder(appointment.pk, "soon")
    sms = Delivery.objects.get(notification__category="reminder_soon", channel=Delivered.SMS)
    assert (sms.status, sms.address) == (DeliveryStatus.SENT, phone)
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("SMS to")]
    assert line.startswith(
        f"SMS to {phone[:3]}****{phone[-4:]}: Reminder: your appointment is soon: Cardiology"
    )
    assert phone not in line  # the log shows a masked number


# --- A real worker on the Redis queue --------------------------------------------------------------------


@pytest.fixture()
def redis_queue(settings: Any) -> Iterator[Any]:
    import redis

    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": REDIS_TEST_URL, "DEFAULT_TIMEOUT": 600}}
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    connection.flushdb()
    try:
        yield connection
    finally:
        connection.flushdb()
        connection.close()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_booking_confirmation_from_redis(clinic: Clinic, redis_queue: Any) -> None:
    speaks(clinic, "en")
    appointment = book(clinic)  # committed: the reminders are on the Redis queue now
    assert inbox(clinic.user("patient"), "reminder_booked") == []
    worker = subprocess.run(
        [smartcare_executable(), "worker", "--burst"],
        env=child_env(REDIS_URL=REDIS_TEST_URL),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert "RQ on Redis" in worker.stdout
    [confirmation] = inbox(clinic.user("patient"), "reminder_booked")
    assert confirmation.subject == "Booking confirmed"
    assert f"Preparation: {PREPARATION_EN}" in confirmation.body
    assert (
        str(appointment.slot.starts_at.astimezone(at(0, 0).tzinfo).strftime("%Y-%m-%d %H:%M"))
        in confirmation.body
    )
    # The SMS delivery queued by the reminder ran in the same worker.
    sms = Delivery.objects.get(notification=confirmation, channel=Delivered.SMS)
    assert sms.status == DeliveryStatus.SENT
