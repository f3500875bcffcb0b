"""The sandbox payment gateway: the provider's side of a QR payment, standing in for WeChat Pay or
Alipay, which need merchant credentials that a test hospital does not have.

It behaves like them where it matters to the hospital's code:

* an order is created for an ``out_trade_no`` (idempotently) with an amount in fen, a
  description, an expiry and the merchant's ``notify_url``; it answers with a ``code_url`` that
  the QR code encodes (here: the sandbox wallet page ``/billing/sandbox/pay/<token>/``);
* the payer opens it in the "wallet" and confirms; the order becomes SUCCESS, unless it expired
  or was closed;
* the gateway then sends an asynchronous notification from a background task: a JSON event
  whose resource is encrypted with AES-256-GCM (like WeChat Pay API v3), POSTed to the
  ``notify_url`` with a timestamp, a nonce and an HMAC-SHA256 signature over
  ``timestamp\\nnonce\\nbody\\n``; every attempt is signed afresh, and an attempt that is not
  answered with 2xx is retried later (15 s, 15 s, 30 s, 3 min, 10 min, 20 min, 30 min, 1 h);
* status query, close, partial and full refunds (idempotent by ``out_refund_no``), and a daily
  statement as CSV.

The gateway keeps its own tables (``Sandbox*``) and is reached only through
``providers.sandbox.SandboxQrProvider`` and the wallet page, as a real provider would be reached
only through its API.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from smartcare.billing.errors import ProviderError, SandboxOrderClosed
from smartcare.billing.models import SandboxNotification, SandboxOrder, SandboxRefund
from smartcare.core import clock

logger = logging.getLogger("smartcare.billing.sandbox")

RETRY_SECONDS = (15, 15, 30, 180, 600, 1200, 1800, 3600)
HEADER_TIMESTAMP = "Sandbox-Timestamp"
HEADER_NONCE = "Sandbox-Nonce"
HEADER_SIGNATURE = "Sandbox-Signature"
HEADER_SERIAL = "Sandbox-Serial"

Post = Callable[[str, bytes, dict[str, str]], int]


def _secret() -> bytes:
    configured = getattr(settings, "SMARTCARE_SANDBOX_PAY_SECRET", "") or settings.SECRET_KEY
    return configured.encode()


def signing_key() -> bytes:
    """The merchant key shared by the gateway and the hospital (WeChat Pay: the API key)."""
    return hmac.new(_secret(), b"smartcare-sandbox-pay-signing", hashlib.sha256).digest()


def resource_key() -> bytes:
    """The 32-byte key that encrypts notification resources (WeChat Pay: the API v3 key)."""
    return hmac.new(_secret(), b"smartcare-sandbox-pay-resource", hashlib.sha256).digest()


def key_serial() -> str:
    return hashlib.sha256(signing_key()).hexdigest()[:16].upper()


def signature(timestamp: str, nonce: str, body: bytes, key: bytes | None = None) -> str:
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    digest = hmac.new(key or signing_key(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def encrypt_resource(plain: dict[str, Any], associated_data: str = "transaction") -> dict[str, str]:
    nonce = secrets.token_urlsafe(9)[:12]
    data = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    ciphertext = AESGCM(resource_key()).encrypt(nonce.encode(), data, associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "nonce": nonce,
        "associated_data": associated_data,
    }


def decrypt_resource(resource: dict[str, Any]) -> dict[str, Any]:
    ciphertext = base64.b64decode(str(resource["ciphertext"]))
    plain = AESGCM(resource_key()).decrypt(
        str(resource["nonce"]).encode(), ciphertext, str(resource.get("associated_data", "")).encode()
    )
    result: dict[str, Any] = json.loads(plain)
    return result


def _iso(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


def _order_state(order: SandboxOrder) -> dict[str, Any]:
    return {
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "trade_state": order.state,
        "amount": {"total": order.amount_fen, "refunded": order.refunded_fen, "currency": "CNY"},
        "success_time": _iso(order.paid_at),
    }


class SandboxGateway:
    """The gateway's API, called by the hospital's adapter (as WeChat Pay's HTTPS API would be)."""

    def create_order(
        self,
        *,
        out_trade_no: str,
        amount_fen: int,
        description: str,
        notify_url: str,
        expires_at: dt.datetime,
    ) -> dict[str, Any]:
        if amount_fen <= 0 or not out_trade_no or len(out_trade_no) > 32:
            raise ProviderError(reason="PARAM_ERROR")
        if urlsplit(notify_url).scheme not in ("http", "https"):
            raise ProviderError(reason="INVALID_NOTIFY_URL")
        with transaction.atomic():
            existing = SandboxOrder.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
            if existing is not None:
                if existing.amount_fen != amount_fen:
                    raise ProviderError(reason="ORDERNO_USED")
                order = existing
            else:
                order = SandboxOrder.objects.create(
                    out_trade_no=out_trade_no,
                    transaction_id="SBX"
                    + clock.local_now().strftime("%Y%m%d")
                    + secrets.token_hex(8).upper(),
                    pay_token=secrets.token_urlsafe(24),
                    description=description[:120],
                    amount_fen=amount_fen,
                    notify_url=notify_url,
                    expires_at=expires_at,
                )
        parts = urlsplit(notify_url)
        base = getattr(settings, "SMARTCARE_PUBLIC_URL", "") or f"{parts.scheme}://{parts.netloc}"
        return {
            "prepay_id": order.transaction_id,
            "code_url": f"{base.rstrip('/')}/billing/sandbox/pay/{order.pay_token}/",
        }

    def query(self, out_trade_no: str) -> dict[str, Any]:
        order = SandboxOrder.objects.filter(out_trade_no=out_trade_no).first()
        if order is None:
            raise ProviderError(reason="ORDER_NOT_EXIST")
        return _order_state(order)

    def close(self, out_trade_no: str) -> dict[str, Any]:
        with transaction.atomic():
            order = SandboxOrder.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
            if order is None:
                raise ProviderError(reason="ORDER_NOT_EXIST")
            if order.state == "NOTPAY":
                order.state = "CLOSED"
                order.save(update_fields=["state"])
            return _order_state(order)

    def order_for_token(self, pay_token: str) -> SandboxOrder | None:
        return SandboxOrder.objects.filter(pay_token=pay_token).first()

    def pay(self, pay_token: str) -> SandboxOrder:
        """The payer confirms in the wallet. The notification goes out after commit."""
        with transaction.atomic():
            order = SandboxOrder.objects.select_for_update().filter(pay_token=pay_token).first()
            if order is None:
                raise SandboxOrderClosed()
            now = clock.now()
            if order.state != "NOTPAY" or order.expires_at <= now:
                raise SandboxOrderClosed()
            order.state = "SUCCESS"
            order.paid_at = now
            order.save(update_fields=["state", "paid_at"])
            event = SandboxNotification.objects.create(
                order=order, event_id=secrets.token_hex(16), event_type="TRANSACTION.SUCCESS"
            )
            transaction.on_commit(lambda: enqueue_delivery(event.pk))
        return order

    def refund(self, *, out_trade_no: str, out_refund_no: str, amount_fen: int) -> dict[str, Any]:
        with transaction.atomic():
            order = SandboxOrder.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
            if order is None:
                raise ProviderError(reason="ORDER_NOT_EXIST")
            existing = SandboxRefund.objects.filter(out_refund_no=out_refund_no).first()
            if existing is not None:
                if existing.order_id != order.pk or existing.amount_fen != amount_fen:
                    raise ProviderError(reason="REFUNDNO_USED")
                refund = existing
            else:
                if order.state not in ("SUCCESS", "REFUND"):
                    raise ProviderError(reason="TRADE_NOT_PAID")
                if amount_fen <= 0 or amount_fen > order.amount_fen - order.refunded_fen:
                    raise ProviderError(reason="NOT_ENOUGH")
                refund = SandboxRefund.objects.create(
                    order=order,
                    out_refund_no=out_refund_no,
                    refund_id="SBXR" + secrets.token_hex(10).upper(),
                    amount_fen=amount_fen,
                )
                order.refunded_fen += amount_fen
                order.state = "REFUND"
                order.save(update_fields=["refunded_fen", "state"])
        return {"refund_id": refund.refund_id, "out_refund_no": out_refund_no, "status": "SUCCESS"}

    def statement(self, date: dt.date) -> bytes:
        """The day's statement (local date), like WeChat Pay's trade bill: payments and refunds."""
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(date, dt.time(0, 0), tzinfo=tz)
        end = start + dt.timedelta(days=1)
        lines = ["record_type,time,out_trade_no,transaction_id,out_refund_no,refund_id,amount,status"]
        for order in SandboxOrder.objects.filter(paid_at__gte=start, paid_at__lt=end).order_by("paid_at"):
            lines.append(
                f"PAYMENT,{timezone.localtime(order.paid_at):%Y-%m-%d %H:%M:%S},{order.out_trade_no},"
                f"{order.transaction_id},,,{order.amount_fen / 100:.2f},SUCCESS"
            )
        refunds = SandboxRefund.objects.filter(created_at__gte=start, created_at__lt=end).select_related(
            "order"
        )
        for refund in refunds.order_by("created_at"):
            lines.append(
                f"REFUND,{timezone.localtime(refund.created_at):%Y-%m-%d %H:%M:%S},{refund.order.out_trade_no},"
                f"{refund.order.transaction_id},{refund.out_refund_no},{refund.refund_id},"
                f"{refund.amount_fen / 100:.2f},SUCCESS"
            )
        return ("\n".join(lines) + "\n").encode()

    # --- the asynchronous notification ----------------------------------------------------------

    def notification_request(self, event: SandboxNotification) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one delivery attempt, signed now."""
        order = event.order
        body = json.dumps(
            {
                "id": event.event_id,
                "create_time": _iso(event.created_at),
                "event_type": event.event_type,
                "resource_type": "encrypt-resource",
                "summary": "支付成功",
                "resource": encrypt_resource(_order_state(order)),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(clock.now().timestamp()))
        nonce = secrets.token_hex(16)
        headers = {
            "Content-Type": "application/json",
            HEADER_TIMESTAMP: timestamp,
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: signature(timestamp, nonce, body),
            HEADER_SERIAL: key_serial(),
        }
        return body, headers

    def deliver(self, event_id: int, post: Post | None = None) -> bool:
        """One delivery attempt; schedules the next one when the merchant does not acknowledge."""
        event = SandboxNotification.objects.select_related("order").filter(pk=event_id).first()
        if event is None or event.delivered_at is not None:
            return True
        body, headers = self.notification_request(event)
        error = ""
        try:
            status = (post or http_post)(event.order.notify_url, body, headers)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (OSError, ValueError) as exc:
            error = str(exc)[:300] or exc.__class__.__name__
        event.attempts += 1
        if not error:
            event.delivered_at = clock.now()
            event.last_error = ""
        else:
            event.last_error = error
            logger.warning("sandbox notification %s not acknowledged: %s", event.event_id, error)
        event.save(update_fields=["attempts", "delivered_at", "last_error"])
        if error and event.attempts <= len(RETRY_SECONDS):
            schedule_retry(event.pk, clock.now() + dt.timedelta(seconds=RETRY_SECONDS[event.attempts - 1]))
        return not error


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST over HTTP(S) to the merchant's notify URL (our own server's callback)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("notify_url must be http or https")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked)
    timeout = float(os.environ.get("SMARTCARE_SANDBOX_NOTIFY_TIMEOUT", "10"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def enqueue_delivery(event_id: int) -> None:
    from smartcare.billing.tasks import deliver_sandbox_notification

    deliver_sandbox_notification.enqueue(event_id)


def schedule_retry(event_id: int, at: dt.datetime) -> bool:
    from smartcare.billing.tasks import deliver_sandbox_notification

    backend = deliver_sandbox_notification.get_backend()
    if not backend.supports_defer:
        logger.info("retry of sandbox notification %s left out: the task backend cannot defer", event_id)
        return False
    deliver_sandbox_notification.using(run_after=at).enqueue(event_id)
    return True
