"""Sending notifications. ``notify`` stores the inbox item and queues delivery after commit."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction

from smartcare.core import clock
from smartcare.notifications.choices import Channel, DeliveryStatus
from smartcare.notifications.models import Delivery, Notification

MAX_ATTEMPTS = 5


def notify(
    recipient: Any,
    *,
    category: str,
    subject: Any,
    body: Any,
    link: str = "",
    channels: tuple[str, ...] = (Channel.IN_APP,),
    email: str = "",
    phone: str = "",
) -> Notification:
    """Put a message in the recipient's inbox and queue delivery on the other ``channels``.

    The inbox item is visible as soon as the caller's transaction commits; e-mail and SMS are
    sent by a background task started after commit, with retries and backoff. Without a recipient
    (a patient with no portal account) there is no inbox: only the addressed channels are sent.
    """
    notification = Notification.objects.create(
        recipient=recipient, category=category, subject=str(subject)[:200], body=str(body), link=link
    )
    for channel in channels:
        if channel == Channel.IN_APP and recipient is None:
            continue
        if channel == Channel.IN_APP:
            Delivery.objects.create(
                notification=notification,
                channel=channel,
                status=DeliveryStatus.SENT,
                attempts=1,
                sent_at=clock.now(),
            )
            continue
        address = email if channel == Channel.EMAIL else phone
        if channel == Channel.EMAIL and not settings.SMTP_URL:
            address = ""
        delivery = Delivery.objects.create(
            notification=notification,
            channel=channel,
            address=address,
            status=DeliveryStatus.QUEUED if address else DeliveryStatus.SKIPPED,
        )
        if address:
            transaction.on_commit(partial(_enqueue, delivery.pk))
    return notification


def _enqueue(delivery_id: int, run_after: dt.datetime | None = None) -> None:
    from smartcare.notifications.tasks import deliver

    task = deliver.using(run_after=run_after) if run_after else deliver
    task.enqueue(delivery_id)


def attempt_delivery(delivery_id: int) -> str:
    """Try one delivery; on failure schedule the next attempt with exponential backoff."""
    from smartcare.notifications import providers

    delivery = Delivery.objects.select_related("notification").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (
        DeliveryStatus.SENT,
        DeliveryStatus.FAILED,
        DeliveryStatus.SKIPPED,
    ):
        return delivery.status if delivery else "missing"
    note = delivery.notification
    delivery.attempts += 1
    try:
        if delivery.channel == Channel.EMAIL:
            providers.send_email(delivery.address, note.subject, note.body)
        elif delivery.channel == Channel.SMS:
            providers.sms_provider().send(delivery.address, f"{note.subject}: {note.body}")
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = clock.now()
        delivery.last_error = ""
        delivery.next_attempt_at = None
    except Exception as exc:  # any provider failure is retried, then recorded
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = clock.now() + dt.timedelta(seconds=30 * 2 ** (delivery.attempts - 1))
    delivery.save()
    if delivery.status == DeliveryStatus.RETRYING:
        _enqueue(delivery.pk, run_after=delivery.next_attempt_at)
    return delivery.status


@transaction.atomic
def mark_read(user: Any, notification_id: int) -> None:
    Notification.objects.filter(pk=notification_id, recipient=user, read_at=None).update(read_at=clock.now())
