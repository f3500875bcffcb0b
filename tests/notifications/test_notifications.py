"""Inbox items, e-mail over a real SMTP server, and who may read which message."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.header import decode_header, make_header
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from smartcare.notifications.choices import Channel, DeliveryStatus
from smartcare.notifications.models import Delivery, Notification
from smartcare.notifications.selectors import unread_count
from smartcare.notifications.services import attempt_delivery, notify
from tests.factories import UserFactory, as_user

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """aiosmtpd handler that keeps what it receives; can be told to refuse recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.Message]] = []
        self.refuse = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.content))
        )
        return "250 Message accepted for delivery"


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


def subject_of(message: email.message.Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def body_of(message: email.message.Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


# --- notify -----------------------------------------------------------------------------------------------


def test_notify_puts_a_message_in_the_inbox(db: Any) -> None:
    user = UserFactory(role="patient")
    note = notify(user, category="lab", subject="检验报告已出", body="请查看", link="/emr/results/1/")
    assert list(Notification.objects.filter(recipient=user)) == [note]
    assert (note.subject, note.body, note.link, note.read_at) == (
        "检验报告已出",
        "请查看",
        "/emr/results/1/",
        None,
    )
    delivery = note.deliveries.get()
    assert (delivery.channel, delivery.status, delivery.attempts) == (Channel.IN_APP, DeliveryStatus.SENT, 1)
    assert unread_count(user) == 1


def test_long_subject_is_cut_to_fit(db: Any) -> None:
    note = notify(UserFactory(), category="x", subject="长" * 300, body="b")
    assert len(note.subject) == 200


def test_channels_without_an_address_are_skipped(db: Any, settings: Any) -> None:
    settings.SMTP_URL = ""
    user = UserFactory()
    note = notify(
        user,
        category="x",
        subject="s",
        body="b",
        channels=(Channel.IN_APP, Channel.EMAIL, Channel.SMS),
        email="someone@example.com",  # no SMTP server configured
    )
    statuses = dict(note.deliveries.values_list("channel", "status"))
    assert statuses == {
        Channel.IN_APP: DeliveryStatus.SENT,
        Channel.EMAIL: DeliveryStatus.SKIPPED,
        Channel.SMS: DeliveryStatus.SKIPPED,
    }


def test_nothing_is_sent_when_the_transaction_rolls_back(db: Any, smtp_server: Mailbox) -> None:
    from django.db import transaction

    class Abandon(Exception):
        pass

    user = UserFactory()
    with pytest.raises(Abandon), transaction.atomic():
        notify(user, category="x", subject="s", body="b", channels=(Channel.EMAIL,), email="a@example.com")
        raise Abandon
    assert not Notification.objects.exists()
    assert smtp_server.messages == []


# --- e-mail over SMTP ------------------------------------------------------------------------------------


def test_email_arrives_at_the_smtp_server(
    db: Any, settings: Any, smtp_server: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DEFAULT_FROM_EMAIL = "hospital@smartcare.test"
    user = UserFactory(role="patient")
    with django_capture_on_commit_callbacks(execute=True):
        note = notify(
            user,
            category="appointment",
            subject="预约成功 Appointment booked",
            body="您已预约 5 月 6 日上午心内科门诊。",
            channels=(Channel.IN_APP, Channel.EMAIL),
            email="zhang.xiuying@example.com",
        )
    assert len(smtp_server.messages) == 1
    sender, recipients, message = smtp_server.messages[0]
    assert sender == "hospital@smartcare.test"
    assert recipients == ["zhang.xiuying@example.com"]
    assert subject_of(message) == "预约成功 Appointment booked"
    assert body_of(message).strip() == "您已预约 5 月 6 日上午心内科门诊。"
    delivery = note.deliveries.get(channel=Channel.EMAIL)
    assert (delivery.status, delivery.attempts, delivery.address) == (
        DeliveryStatus.SENT,
        1,
        "zhang.xiuying@example.com",
    )
    assert delivery.sent_at is not None


def test_refused_recipient_is_retried(db: Any, settings: Any, smtp_server: Mailbox) -> None:
    settings.TASKS = DB_TASKS
    smtp_server.refuse = True
    note = notify(
        UserFactory(), category="x", subject="s", body="b", channels=(Channel.EMAIL,), email="x@example.com"
    )
    delivery = note.deliveries.get()
    assert attempt_delivery(delivery.pk) == DeliveryStatus.RETRYING
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert "550" in delivery.last_error
    assert smtp_server.messages == []

    smtp_server.refuse = False
    assert attempt_delivery(delivery.pk) == DeliveryStatus.SENT
    assert len(smtp_server.messages) == 1


def test_unreachable_smtp_server_is_retried(db: Any, settings: Any) -> None:
    settings.TASKS = DB_TASKS
    settings.SMTP_URL = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    note = notify(
        UserFactory(), category="x", subject="s", body="b", channels=(Channel.EMAIL,), email="x@example.com"
    )
    delivery = note.deliveries.get()
    assert attempt_delivery(delivery.pk) == DeliveryStatus.RETRYING
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("ConnectionRefusedError")
    assert delivery.next_attempt_at is not None


# --- inbox page and API ---------------------------------------------------------------------------------


@pytest.fixture()
def two_inboxes(db: Any) -> tuple[Any, Any, Notification, Notification]:
    mine, theirs = UserFactory(role="patient"), UserFactory(role="nurse")
    own = notify(mine, category="x", subject="给我的消息", body="内容甲")
    other = notify(theirs, category="x", subject="别人的消息", body="内容乙")
    return mine, theirs, own, other


def test_inbox_page_lists_only_own_messages(client: Any, two_inboxes: Any) -> None:
    mine, _theirs, own, _other = two_inboxes
    response = as_user(client, mine).get("/notifications/")
    assert response.status_code == 200
    assert list(response.context["page"].object_list) == [own]
    content = response.content.decode()
    assert "给我的消息" in content
    assert "别人的消息" not in content


def test_inbox_api_lists_only_own_messages(client: Any, two_inboxes: Any) -> None:
    mine, _theirs, own, _other = two_inboxes
    body = as_user(client, mine).get("/api/notifications/inbox").json()
    assert [item["id"] for item in body] == [own.pk]
    assert body[0]["subject"] == "给我的消息"
    assert body[0]["read_at"] is None


def test_inbox_api_newest_first_and_limited(client: Any, db: Any) -> None:
    user = UserFactory()
    notes = [notify(user, category="x", subject=f"m{n}", body="b") for n in range(5)]
    body = as_user(client, user).get("/api/notifications/inbox", {"limit": 3}).json()
    assert [item["id"] for item in body] == [n.pk for n in reversed(notes)][:3]


def test_mark_read_through_the_api(client: Any, two_inboxes: Any) -> None:
    mine, _theirs, own, _other = two_inboxes
    response = as_user(client, mine).post(f"/api/notifications/inbox/{own.pk}/read")
    assert response.status_code == 204
    own.refresh_from_db()
    assert own.read_at is not None
    assert unread_count(mine) == 0
    first_read = own.read_at
    as_user(client, mine).post(f"/api/notifications/inbox/{own.pk}/read")
    own.refresh_from_db()
    assert own.read_at == first_read  # reading again keeps the first time


def test_mark_read_through_the_page(client: Any, two_inboxes: Any) -> None:
    mine, _theirs, own, _other = two_inboxes
    response = as_user(client, mine).post(f"/notifications/{own.pk}/read/")
    assert response.status_code == 302
    own.refresh_from_db()
    assert own.read_at is not None


def test_cannot_mark_someone_elses_message(client: Any, two_inboxes: Any) -> None:
    mine, theirs, _own, other = two_inboxes
    api = as_user(client, mine)
    api.post(f"/api/notifications/inbox/{other.pk}/read")
    api.post(f"/notifications/{other.pk}/read/")
    other.refresh_from_db()
    assert other.read_at is None
    assert unread_count(theirs) == 1


def test_inbox_needs_sign_in(client: Any, two_inboxes: Any) -> None:
    _mine, _theirs, own, _other = two_inboxes
    api = client.get("/api/notifications/inbox")
    assert (api.status_code, api.json()["code"]) == (401, "CORE-401")
    assert client.post(f"/api/notifications/inbox/{own.pk}/read").status_code == 401
    page = client.get("/notifications/")
    assert page.status_code == 302
    assert "/accounts/login/" in page["Location"]
    own.refresh_from_db()
    assert own.read_at is None


def test_machine_accounts_have_no_inbox(client: Any, db: Any) -> None:
    device = UserFactory(role="device")
    response = as_user(client, device).get("/api/notifications/inbox")
    assert (response.status_code, response.json()["code"]) == (403, "CORE-403")
    assert as_user(client, device).get("/notifications/").status_code == 403


def test_mark_read_page_needs_post(client: Any, two_inboxes: Any) -> None:
    mine, _theirs, own, _other = two_inboxes
    assert as_user(client, mine).get(f"/notifications/{own.pk}/read/").status_code == 405
    own.refresh_from_db()
    assert own.read_at is None


def test_deliveries_survive_only_with_their_notification(db: Any) -> None:
    user = UserFactory()
    notify(user, category="x", subject="s", body="b")
    user.delete()
    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()
