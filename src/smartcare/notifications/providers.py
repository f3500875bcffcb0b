"""Delivery channels beyond the inbox: e-mail over SMTP and an SMS provider interface."""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.module_loading import import_string

logger = logging.getLogger("smartcare.notifications")


class SmsProvider(Protocol):
    def send(self, phone: str, text: str) -> str:
        """Send one SMS; return the provider's message id. Raise on failure."""


class LogSmsProvider:
    """Default provider: writes the message to the log. Replace with a carrier's gateway."""

    def send(self, phone: str, text: str) -> str:
        masked = phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"
        logger.info("SMS to %s: %s", masked, text)
        return "log"


def sms_provider() -> SmsProvider:
    path = getattr(settings, "SMARTCARE_SMS_PROVIDER", "smartcare.notifications.providers.LogSmsProvider")
    return import_string(path)()


def smtp_connection(url: str):  # type: ignore[no-untyped-def]
    """A Django mail connection for ``smtp://user:pass@host:port`` (``smtps://`` for TLS,
    ``?starttls=1`` for STARTTLS)."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host=parsed.hostname or "localhost",
        port=parsed.port or (465 if parsed.scheme == "smtps" else 25),
        username=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
        use_ssl=parsed.scheme == "smtps",
        use_tls=query.get("starttls", ["0"])[0] in {"1", "true"},
        timeout=10,
    )


def send_email(address: str, subject: str, body: str) -> None:
    url = settings.SMTP_URL
    if not url:
        raise RuntimeError("SMTP_URL is not set")
    message = EmailMessage(
        subject, body, settings.DEFAULT_FROM_EMAIL, [address], connection=smtp_connection(url)
    )
    message.send(fail_silently=False)
