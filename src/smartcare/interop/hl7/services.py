"""Receiving HL7 v2: the one path for MLLP, HTTP and internal callers.

``receive(data, transport=..., user=None, remote_address="")`` takes what arrived (one message,
or a BHS/BTS batch), answers each message with an ACK (a batch with a batch of ACKs) and logs
each in ``Hl7Message``. Guarantees:

* A message is written whole or not at all: its handler runs in a savepoint that is rolled back
  on any error, and the refusal (AE/AR with the coded reason) is logged instead.
* A message accepted before (same system and MSH-10) is acknowledged again and not written twice.
* The sender must be a registered, active connected system: over HTTP the authenticated machine
  identity's system, whose MSH-3/MSH-4 the message must carry; over MLLP the system named by
  MSH-3/MSH-4 (MSH-4 alone when MSH-3 is empty), from an allowed network. Its machine identity
  is the actor of every write.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import translation

from smartcare.core.errors import CodedError, InvalidInput, NotFound, PermissionDenied
from smartcare.core.permissions import has_capability
from smartcare.interop.hl7.ack import Answer, build_ack, build_batch_ack
from smartcare.interop.hl7.adt import handle_adt
from smartcare.interop.hl7.errors import (
    Hl7Error,
    InternalError,
    InvalidPatient,
    NotAConnectedSystem,
    SenderNotAllowed,
    UnknownPatient,
    UnknownSender,
)
from smartcare.interop.hl7.inbound import Inbound
from smartcare.interop.hl7.oru import handle_oru
from smartcare.interop.hl7.parsing import Header, check_header, decode, read_header, split_envelope
from smartcare.interop.models import ConnectedSystem, Hl7Message, MessageStatus, Transport

logger = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[Inbound], None]] = {"ADT": handle_adt, "ORU": handle_oru}
RAW_LIMIT = 256 * 1024  # characters of the message kept in the (encrypted) log


@dataclass
class Reply:
    """The acknowledgement text and how each message was answered."""

    text: str
    answers: list[Answer] = field(default_factory=list)

    @property
    def ack_codes(self) -> list[str]:
        return [a.ack_code for a in self.answers]


def system_for_user(user: Any) -> ConnectedSystem:
    """The connected system an authenticated machine identity speaks for (HTTP)."""
    if not has_capability(user, "interop.hl7.send"):
        raise PermissionDenied()
    system = ConnectedSystem.objects.filter(user=user, is_active=True).first()
    if system is None:
        raise NotAConnectedSystem()
    return system


def _sender_matches(system: ConnectedSystem, header: Header) -> bool:
    facility_matches = header.sending_facility.upper() == system.sending_facility.upper()
    if not header.sending_application:  # MSH-3 is optional: then MSH-4 names the sender
        return bool(system.sending_facility) and facility_matches
    if header.sending_application.upper() != system.sending_application.upper():
        return False
    return not system.sending_facility or facility_matches


def identify(header: Header, *, user: Any = None, remote_address: str = "") -> ConnectedSystem:
    if user is not None:
        system = system_for_user(user)
        if not _sender_matches(system, header):
            raise SenderNotAllowed(
                system=system.name, reason="MSH-3/MSH-4 name another sender", location="MSH^1^3"
            )
        return system
    active = ConnectedSystem.objects.select_related("user").filter(is_active=True)
    if header.sending_application:
        candidates = active.filter(
            Q(sending_facility__iexact=header.sending_facility) | Q(sending_facility=""),
            sending_application__iexact=header.sending_application,
        )
    elif header.sending_facility:
        # MSH-3 is optional (some senders, e.g. the VINAH profile, name only their facility):
        # the one system registered for that facility.
        candidates = active.filter(sending_facility__iexact=header.sending_facility)
    else:
        candidates = active.none()
    found = sorted(candidates, key=lambda s: s.sending_facility == "")
    if not found or (not header.sending_application and len(found) > 1):
        raise UnknownSender(
            application=header.sending_application or "-",
            facility=header.sending_facility or "-",
            location="MSH^1^3",
        )
    system = found[0]
    if not system.allows_address(remote_address):
        raise SenderNotAllowed(system=system.name, reason=f"address {remote_address or '-'}")
    if not has_capability(system.user, "interop.hl7.send"):
        raise SenderNotAllowed(system=system.name, reason="its machine identity is disabled")
    return system


def _as_hl7_error(exc: Exception) -> Hl7Error:
    if isinstance(exc, Hl7Error):
        return exc
    if isinstance(exc, NotFound):
        return UnknownPatient()
    if isinstance(exc, InvalidInput):
        reasons = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()) or exc.detail
        return InvalidPatient(reason=f"{exc.code} {reasons}")
    if isinstance(exc, CodedError):
        return InvalidPatient(reason=f"{exc.code} {exc.detail}")
    return InternalError()


def _log(
    *,
    header: Header | None,
    system: ConnectedSystem | None,
    transport: str,
    remote_address: str,
    batch_id: str,
    status: str,
    answer: Answer,
    inbound: Inbound | None = None,
    raw: str = "",
) -> Hl7Message:
    error = answer.error
    summary: dict[str, Any] = dict(inbound.summary) if inbound else {}
    if inbound and inbound.warnings:
        summary["warnings"] = inbound.warnings
    return Hl7Message.objects.create(
        system=system,
        control_id=(header.control_id if header else "")[:199],
        message_type=(header.message_type if header else "")[:10],
        trigger=(header.trigger if header else "")[:10],
        version=(header.version if header else "")[:10],
        batch_id=batch_id[:199],
        transport=transport,
        remote_address=remote_address[:64],
        status=status,
        ack_code=answer.ack_code,
        error_code=error.code if error else "",
        hl7_error_code=error.hl7_code if error else "",
        error_detail=(error.detail if error else "")[:500],
        error_location=(error.location if error else "")[:40],
        patient=inbound.patient if inbound and status == MessageStatus.ACCEPTED else None,
        summary=summary,
        raw=raw[:RAW_LIMIT] if system is not None else "",
    )


def _refuse(header: Header | None, error: Hl7Error) -> Answer:
    ack = build_ack(header, error.ack_code, error=error)
    return Answer(
        ack_code=error.ack_code, control_id=header.control_id if header else "", error=error, ack=ack
    )


def _process(text: str, *, transport: str, user: Any, remote_address: str, batch_id: str) -> Answer:
    header: Header | None = None
    system: ConnectedSystem | None = None
    try:
        header = read_header(text)
        system = identify(header, user=user, remote_address=remote_address)
    except Hl7Error as error:
        answer = _refuse(header, error)
        _log(
            header=header,
            system=None,
            transport=transport,
            remote_address=remote_address,
            batch_id=batch_id,
            status=MessageStatus.REJECTED,
            answer=answer,
        )
        return answer
    with translation.override(system.language or "en"):
        return _process_known(
            text, header, system, transport=transport, remote_address=remote_address, batch_id=batch_id
        )


def _process_known(
    text: str, header: Header, system: ConnectedSystem, *, transport: str, remote_address: str, batch_id: str
) -> Answer:
    log = functools.partial(
        _log,
        header=header,
        system=system,
        transport=transport,
        remote_address=remote_address,
        batch_id=batch_id,
        raw=text,
    )
    try:
        check_header(header)
    except Hl7Error as error:
        answer = _refuse(header, error)
        log(status=MessageStatus.REJECTED if error.ack_code == "AR" else MessageStatus.ERROR, answer=answer)
        return answer
    if Hl7Message.objects.filter(
        system=system, control_id=header.control_id, status=MessageStatus.ACCEPTED
    ).exists():
        answer = Answer("AA", header.control_id, text="duplicate: already processed")
        answer.ack = build_ack(header, "AA", text=answer.text)
        log(status=MessageStatus.DUPLICATE, answer=answer)
        return answer
    inbound = Inbound(header=header, system=system, actor=system.user)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():  # the message's data: all or nothing
                    HANDLERS[header.message_type](inbound)
            except Exception as exc:  # every failure answers AE/AR; nothing of the message stays
                refusal = _as_hl7_error(exc)
                if isinstance(refusal, InternalError):
                    logger.exception("HL7 message %s from %s failed", header.control_id, system)
                inbound.patient = None
                answer = _refuse(header, refusal)
                status = MessageStatus.REJECTED if refusal.ack_code == "AR" else MessageStatus.ERROR
                log(status=status, answer=answer, inbound=inbound)
                return answer
            text_note = "; ".join(inbound.warnings)[:200]
            answer = Answer("AA", header.control_id, text=text_note)
            answer.ack = build_ack(header, "AA", text=text_note)
            with transaction.atomic():
                log(status=MessageStatus.ACCEPTED, answer=answer, inbound=inbound)
            return answer
    except IntegrityError:
        # The same message was accepted on another connection a moment ago: its data stands.
        answer = Answer("AA", header.control_id, text="duplicate: already processed")
        answer.ack = build_ack(header, "AA", text=answer.text)
        return answer
    except DatabaseError:
        logger.exception("HL7 message %s from %s: database error", header.control_id, system)
        answer = _refuse(header, InternalError())
        return answer


def _context_header(data: bytes | str) -> Header | None:
    """The first MSH of something that could not be split, so the ACK can name the message."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    start = text.find("MSH")
    if start < 0:
        return None
    segments: list[str] = []
    for segment in text[start:].split("\r"):
        if segments and segment[:3] in ("MSH", "BTS", "BHS", "FTS"):
            break
        segments.append(segment)
    try:
        return read_header("\r".join(segments))
    except Hl7Error:
        return None


def receive(
    data: bytes | str, *, transport: str = Transport.INTERNAL, user: Any = None, remote_address: str = ""
) -> Reply:
    """Process one message or one batch; return the acknowledgement (see the module docstring)."""
    with translation.override("en"):
        try:
            text = decode(data) if isinstance(data, bytes) else data
            envelope = split_envelope(text)
        except Hl7Error as error:
            header = _context_header(data)
            answer = _refuse(header, error)
            _log(
                header=header,
                system=None,
                transport=transport,
                remote_address=remote_address,
                batch_id="",
                status=MessageStatus.REJECTED,
                answer=answer,
            )
            return Reply(text=answer.ack, answers=[answer])
        answers = [
            _process(
                message,
                transport=transport,
                user=user,
                remote_address=remote_address,
                batch_id=envelope.batch_id,
            )
            for message in envelope.messages
        ]
    if envelope.is_batch:
        return Reply(text=build_batch_ack(envelope.batch_header, [a.ack for a in answers]), answers=answers)
    return Reply(text=answers[0].ack, answers=answers)
