"""Reading HL7 v2: character sets, batches (BHS/BTS, FHS/FTS), the MSH header and data types.

Parsing itself is python-hl7's (``hl7.parse``); this module checks what python-hl7 leaves to the
application: that the text is HL7 at all, that a batch is complete (its BTS count matches), that
the header has what an acknowledgement needs, and that timestamps, numbers and ranges are valid.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import hl7
from django.conf import settings

from smartcare.interop.hl7.errors import (
    BadCharacterSet,
    BatchIncomplete,
    Hl7Error,
    InvalidValue,
    MalformedMessage,
    MessageTooLarge,
    NotHl7,
    RequiredFieldMissing,
    UnsupportedEvent,
    UnsupportedMessageType,
    UnsupportedProcessingId,
    UnsupportedVersion,
)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
# MSH-18 character sets (HL7 table 0211) we read; no MSH-18 means UTF-8 (the v2.8 default).
CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "latin-1",
    "GB 18030-2000": "gb18030",
    "GB 18030": "gb18030",
    "GB18030": "gb18030",
}
SUPPORTED: dict[str, frozenset[str]] = {
    "ADT": frozenset({"A01", "A02", "A03", "A04", "A08"}),
    "ORU": frozenset({"R01"}),
}
PROCESSING_IDS = frozenset({"P", "D"})


def _msh_fields(data: bytes) -> list[bytes]:
    start = data.find(b"MSH")
    if start < 0 or len(data) < start + 4:
        return []
    separator = data[start + 3 : start + 4]
    end = len(data)
    for stop in (b"\r", b"\n"):
        found = data.find(stop, start)
        if found >= 0:
            end = min(end, found)
    return [b"MSH", separator, *data[start + 4 : end].split(separator)]


def charset_of(data: bytes) -> str:
    """The Python codec for the first MSH's MSH-18."""
    fields = _msh_fields(data)
    name = fields[18].decode("ascii", "replace").split("^")[0].strip().upper() if len(fields) > 18 else ""
    if name not in CHARSETS:
        raise BadCharacterSet(charset=name or "-", location="MSH^1^18")
    return CHARSETS[name]


def decode(data: bytes) -> str:
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(limit=MAX_MESSAGE_BYTES)
    codec = charset_of(data)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise BadCharacterSet(charset=codec) from None


def normalise(text: str) -> str:
    """Segments separated by CR only (files and HTTP clients often use LF or CRLF)."""
    text = text.replace("\x0b", "").replace("\x1c", "")
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return "\r".join(line for line in text.split("\r") if line.strip())


@dataclass
class Envelope:
    """What arrived: one message, or a batch of messages with its header."""

    messages: list[str]
    batch_header: str = ""
    batch_id: str = ""
    is_batch: bool = False


def _batch_count(trailer: str) -> int | None:
    parts = trailer.split(trailer[3] if len(trailer) > 3 else "|")
    if len(parts) > 1 and parts[1].strip():
        try:
            return int(parts[1].strip())
        except ValueError:
            raise BatchIncomplete(reason=f"BTS-1 is not a number ({parts[1][:20]})") from None
    return None


def split_envelope(text: str) -> Envelope:
    """Split the text into messages. A batch must be complete: a BHS needs its BTS, and BTS-1 (the
    message count) must match, so that a transmission cut short is refused as a whole."""
    text = normalise(text)
    if not text:
        raise NotHl7()
    segments = text.split("\r")
    head = segments[0][:3]
    if head not in ("MSH", "BHS", "FHS"):
        raise NotHl7()
    for number, segment in enumerate(segments, start=1):
        if not SEGMENT_ID.match(segment[:3]) or (len(segment) > 3 and segment[3] != segments[0][3]):
            raise MalformedMessage(reason=f"segment {number} ({segment[:3]!r}) is not a valid segment")
    if head == "MSH":
        if sum(1 for s in segments if s.startswith("MSH")) > 1:
            raise MalformedMessage(reason="several messages in one block: wrap them in BHS/BTS")
        return Envelope(messages=[text])
    messages: list[list[str]] = []
    header = ""
    in_batch = False
    trailers: list[tuple[str, int]] = []
    for segment in segments:
        kind = segment[:3]
        if kind in ("FHS", "FTS"):
            continue
        if kind == "BHS":
            if in_batch:
                raise BatchIncomplete(reason="a BHS arrived before the previous batch's BTS")
            in_batch = True
            header = header or segment
            trailers.append(("", len(messages)))
        elif kind == "BTS":
            if not in_batch:
                raise MalformedMessage(reason="BTS without BHS")
            in_batch = False
            trailers[-1] = (segment, trailers[-1][1])
        elif kind == "MSH":
            messages.append([segment])
        else:
            if not messages:
                raise MalformedMessage(reason=f"segment {kind} before the first MSH")
            messages[-1].append(segment)
    if in_batch:
        raise BatchIncomplete(reason="the batch has no BTS trailer")
    bounds = [start for _t, start in trailers] + [len(messages)]
    for index, (trailer, start) in enumerate(trailers):
        expected = _batch_count(trailer)
        received = bounds[index + 1] - start
        if expected is not None and expected != received:
            raise BatchIncomplete(reason=f"BTS-1 says {expected} messages, {received} arrived")
    separator = header[3] if len(header) > 3 else "|"
    header_fields = header.split(separator)
    return Envelope(
        messages=["\r".join(m) for m in messages],
        batch_header=header,
        batch_id=header_fields[10] if len(header_fields) > 10 else "",  # BHS-11
        is_batch=True,
    )


# --- Fields ----------------------------------------------------------------------------------------


def value(segment: Any, number: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
    """A leaf value (unescaped), or "" when absent."""
    if segment is None:
        return ""
    try:
        return str(segment.extract_field(1, number, rep, comp, sub) or "").strip()
    except (IndexError, KeyError, TypeError):
        return ""


def repetitions(segment: Any, number: int) -> int:
    if segment is None or number >= len(segment):
        return 0
    found = segment(number)
    if isinstance(found, hl7.Field) and any(isinstance(r, hl7.Repetition) for r in found):
        return len(found)
    return 1 if str(found).strip() else 0


def first(message: hl7.Message, segment_id: str) -> Any:
    try:
        return message.segment(segment_id)
    except KeyError:
        return None


def all_segments(message: hl7.Message, segment_id: str) -> list[Any]:
    try:
        return list(message.segments(segment_id))
    except KeyError:
        return []


@dataclass
class Header:
    message: hl7.Message
    text: str
    message_type: str
    trigger: str
    control_id: str
    version: str
    processing_id: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    structure: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def read_header(text: str) -> Header:
    """Parse one message with python-hl7 and read MSH. Raises the HL7 error that says how to answer."""
    try:
        message = hl7.parse(text)
    except (hl7.ParseException, ValueError, IndexError) as exc:
        raise MalformedMessage(reason=str(exc)[:200]) from None
    msh = first(message, "MSH")
    if msh is None:
        raise NotHl7()
    encoding = str(msh(2)) if len(msh) > 2 else ""
    if len(encoding) < 4:
        raise MalformedMessage(
            reason=f"MSH-2 encoding characters are incomplete ({encoding})", location="MSH^1^2"
        )
    header = Header(
        message=message,
        text=text,
        message_type=value(msh, 9, 1, 1).upper(),
        trigger=value(msh, 9, 1, 2).upper(),
        structure=value(msh, 9, 1, 3).upper(),
        control_id=value(msh, 10),
        version=value(msh, 12, 1, 1),
        processing_id=value(msh, 11, 1, 1).upper(),
        sending_application=value(msh, 3, 1, 1),
        sending_facility=value(msh, 4, 1, 1),
        receiving_application=value(msh, 5, 1, 1),
        receiving_facility=value(msh, 6, 1, 1),
    )
    return header


def check_header(header: Header) -> None:
    """What every accepted message must have (after the sender is known)."""
    if not header.control_id:
        raise RequiredFieldMissing(element="MSH-10", location="MSH^1^10")
    if not header.message_type:
        raise RequiredFieldMissing(element="MSH-9", location="MSH^1^9")
    if not header.version:
        raise RequiredFieldMissing(element="MSH-12", location="MSH^1^12")
    if not re.match(r"^2\.[1-9](\.\d+)?$", header.version):
        raise UnsupportedVersion(value=header.version, location="MSH^1^12")
    if header.processing_id not in PROCESSING_IDS:
        raise UnsupportedProcessingId(value=header.processing_id or "-", location="MSH^1^11")
    events = SUPPORTED.get(header.message_type)
    if events is None:
        raise UnsupportedMessageType(type=f"{header.message_type}^{header.trigger}", location="MSH^1^9")
    if header.trigger not in events:
        raise UnsupportedEvent(type=f"{header.message_type}^{header.trigger}", location="MSH^1^9")


# --- Data types ----------------------------------------------------------------------------------


@contextmanager
def at(location: str) -> Iterator[None]:
    """Errors raised inside name this location (ERR-2) unless they name their own."""
    try:
        yield
    except Hl7Error as error:
        if not error.location:
            error.location = location
        raise


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def parse_timestamp(text: str, field_name: str) -> dt.datetime | None:
    """TS/DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]); without an offset, the hospital's time."""
    text = (text or "").strip()
    if not text:
        return None
    if not re.match(r"^\d{4}(\d{2}){0,5}(\.\d{1,4})?([+-]\d{4})?$", text):
        raise InvalidValue(element=field_name, value=text[:40])
    try:
        moment = hl7.parse_datetime(text)
    except (ValueError, TypeError):
        raise InvalidValue(element=field_name, value=text[:40]) from None
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_zone())
    return moment.astimezone(dt.UTC)


def parse_date(text: str, field_name: str) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    moment = parse_timestamp(text[:8] if len(text) >= 8 else text, field_name)
    if moment is None or len(text) < 8:
        raise InvalidValue(element=field_name, value=text[:40])
    return moment.date()


def parse_number(text: str, field_name: str) -> float:
    try:
        number = float(text.strip())
    except (ValueError, AttributeError):
        raise InvalidValue(element=field_name, value=(text or "")[:40]) from None
    if not math.isfinite(number):
        raise InvalidValue(element=field_name, value=text[:40])
    return number


def parse_range(text: str, field_name: str) -> tuple[float | None, float | None]:
    """OBX-7: "3.5-5.1", "70_105" (seen in the wild), "<5", ">=60", "3.5 - 5.1"; anything else is
    kept as no range (some labs send text such as "negative")."""
    text = (text or "").strip().replace(" ", "")
    if not text:
        return None, None
    match = re.match(r"^(-?\d+(?:\.\d+)?)[-_~](-?\d+(?:\.\d+)?)$", text)
    if match:
        low, high = float(match.group(1)), float(match.group(2))
        if low > high:
            raise InvalidValue(element=field_name, value=text[:40])
        return low, high
    match = re.match(r"^(<=?|>=?)(-?\d+(?:\.\d+)?)$", text)
    if match:
        bound = float(match.group(2))
        return (None, bound) if match.group(1).startswith("<") else (bound, None)
    return None, None


def escape(text: str) -> str:
    """Escape the delimiters of the default encoding characters (HL7 v2 section 2.7.4)."""
    out = str(text).replace("\\", "\\E\\")
    for char, sequence in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        out = out.replace(char, sequence)
    return out.replace("\r", " ").replace("\n", " ")
