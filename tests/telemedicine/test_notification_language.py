"""Telemedicine notifications are written in each recipient's preferred language, not the sender's
(nor the default language of the periodic job): one request, accept and escalation with a zh-Hans
and an English recipient."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import translation

from smartcare.notifications.models import Notification
from smartcare.telemedicine import services
from tests.factories import TestHospital
from tests.telemedicine.conftest import MONDAY_9, ask


def subjects(user: Any) -> list[str]:
    return list(
        Notification.objects.filter(recipient=user, category="telemedicine")
        .order_by("pk")
        .values_list("subject", flat=True)
    )


def speaks(h: TestHospital, name: str, language: str) -> Any:
    user = h.user(name)
    user.preferred_language = language
    user.save(update_fields=["preferred_language"])
    return user


def test_each_recipient_reads_the_notification_in_their_language(
    h: TestHospital, frozen: Any, settings: Any
) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    doctor = speaks(h, "doctor", "zh-hans")
    neurologist = speaks(h, "neurologist", "en")
    head = speaks(h, "head", "")  # no preference: the hospital's default language (zh-Hans)

    with translation.override("zh-hans"):  # the requester works in Chinese
        c = ask(h)
    assert subjects(neurologist) == ["New remote consultation request (Routine)"]
    (body,) = Notification.objects.filter(recipient=neurologist).values_list("body", flat=True)
    # The requesting department under its English name, the urgency in English.
    assert body == f"{h.cardiology.name_en} asks for your opinion; answer due by 2030-03-05 09:00."

    with translation.override("en"):  # the expert works in English
        services.accept(neurologist, c.pk)
    assert subjects(doctor) == [f"会诊 {c.number} 已接受"]

    # The periodic job runs in the default language; each recipient still reads their own.
    with translation.override("zh-hans"):
        services.escalate_deadlines(now=MONDAY_9 + dt.timedelta(hours=25))
    assert subjects(neurologist)[-1] == f"Consultation {c.number} is due soon"
    assert subjects(doctor)[-1] == f"会诊 {c.number} 已超出应答时限"
    assert subjects(head) == [f"会诊 {c.number} 已超出应答时限"]

    with translation.override("en"):
        services.ask_for_information(neurologist, c.pk, "MRI?")
    assert subjects(doctor)[-1] == f"会诊 {c.number}：专家要求补充资料"
