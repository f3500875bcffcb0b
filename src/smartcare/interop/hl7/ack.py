"""Acknowledgements (original mode): ACK with MSA and, for refusals, ERR; a batch is answered
with a batch of ACKs (BHS, one ACK per message, BTS)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings

from smartcare.core import clock
from smartcare.interop.hl7.errors import Hl7Error
from smartcare.interop.hl7.parsing import Header, escape

APPLICATION = "SMARTCARE"


def _facility() -> str:
    return str(getattr(settings, "SMARTCARE_HL7_FACILITY", "") or APPLICATION)


def _now() -> str:
    return clock.local_now().strftime("%Y%m%d%H%M%S%z")


def _control_id() -> str:
    return "SC" + clock.local_now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(4).upper()


@dataclass
class Answer:
    """How one message was answered."""

    ack_code: str
    control_id: str
    error: Hl7Error | None = None
    text: str = ""
    ack: str = ""


def _old_style(version: str) -> bool:
    try:
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) < (2, 5)
    except ValueError:
        return False


def _error_segment(error: Hl7Error, version: str) -> str:
    detail = escape(f"{error.code}: {error.detail}")
    code = f"{error.hl7_code}^{escape(error.hl7_text)}^HL70357"
    location = (error.location or "").split("^")
    if _old_style(version):
        # ERR-1 (ELD, up to v2.4): segment^sequence^field^code&text&table
        segment, sequence, position = ([*location, "", "", ""])[:3]
        return (
            f"ERR|{segment}^{sequence}^{position}^{error.hl7_code}&{escape(error.hl7_text)}&HL70357"
            f"~^^^{error.code}&{detail}&SMARTCARE"
        )
    return f"ERR||{error.location}|{code}|E|{escape(error.code)}^{detail}^SMARTCARE|||{detail}"


def build_ack(header: Header | None, ack_code: str, *, error: Hl7Error | None = None, text: str = "") -> str:
    """One ACK message (segments joined with CR, ending with CR)."""
    version = (header.version if header and header.version else "") or "2.5"
    trigger = header.trigger if header else ""
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            APPLICATION,
            escape(_facility()),
            escape(header.sending_application) if header else "",
            escape(header.sending_facility) if header else "",
            _now(),
            "",
            f"ACK^{escape(trigger)}^ACK" if trigger else "ACK",
            _control_id(),
            "P",
            escape(version),
        ]
    )
    message_text = text or (f"{error.code}: {error.detail}" if error else "")
    msa = f"MSA|{ack_code}|{escape(header.control_id) if header else ''}"
    if message_text:
        msa += f"|{escape(message_text)[:80]}"
    segments = [msh, msa]
    if error is not None:
        segments.append(_error_segment(error, version))
    return "\r".join(segments) + "\r"


def build_batch_ack(batch_header: str, acks: list[str]) -> str:
    """A batch answering a batch: BHS (BHS-12 references the received batch), the ACKs, BTS."""
    separator = batch_header[3] if len(batch_header) > 3 else "|"
    fields = batch_header.split(separator) if batch_header else []

    def field(number: int) -> str:  # BHS-n: BHS-1 is the separator itself
        return fields[number - 1] if len(fields) > number - 1 else ""

    bhs = "|".join(
        [
            "BHS",
            "^~\\&",
            APPLICATION,
            escape(_facility()),
            field(3),
            field(4),
            _now(),
            "",
            "",
            "",
            _control_id(),
            field(11),
        ]
    )
    body = "".join(acks)
    return f"{bhs}\r{body}BTS|{len(acks)}\r"
