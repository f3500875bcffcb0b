"""Reading HL7 v2 without a database: envelopes and batches, character sets, data types, ACKs."""

from __future__ import annotations

import datetime as dt

import pytest

from smartcare.interop.hl7 import parsing
from smartcare.interop.hl7.ack import build_ack, build_batch_ack
from smartcare.interop.hl7.errors import (
    BadCharacterSet,
    BatchIncomplete,
    InvalidValue,
    MalformedMessage,
    MessageTooLarge,
    NotHl7,
    RequiredFieldMissing,
)
from tests.interop.hl7 import messages as m

SENDER = ("GHH LAB", "ELAB-3")


def one(control: str = "1") -> str:
    return m.oru(
        control,
        identifiers="1^^^SMARTCARE^MR",
        groups=[(m.obr(), [m.obx(1, "NM", "1^x^LN", "1")])],
        sender=SENDER,
    )


def test_a_single_message_with_lf_separators_is_read() -> None:
    envelope = parsing.split_envelope(one().replace("\r", "\n"))
    assert not envelope.is_batch and len(envelope.messages) == 1
    header = parsing.read_header(envelope.messages[0])
    assert (header.message_type, header.trigger, header.control_id, header.version) == (
        "ORU",
        "R01",
        "1",
        "2.5",
    )
    assert (header.sending_application, header.sending_facility) == SENDER


def test_a_batch_keeps_its_header_and_messages() -> None:
    envelope = parsing.split_envelope(m.batch([one("a"), one("b")]))
    assert envelope.is_batch and envelope.batch_id == "B-1"
    assert [parsing.read_header(t).control_id for t in envelope.messages] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", NotHl7),
        ("hello world", NotHl7),
        ("PID|1||x\r", NotHl7),
        (m.batch([one()], count=2), BatchIncomplete),
        (m.batch([one()], trailer=False), BatchIncomplete),
        (one("a") + one("b"), MalformedMessage),  # two messages without a batch header
        (one() + "pid|lowercase\r", MalformedMessage),
        ("BHS|^~\\&\rPID|1\rBTS|0\r", MalformedMessage),
    ],
)
def test_what_is_not_a_complete_hl7_message_is_refused(text: str, error: type) -> None:
    with pytest.raises(error):
        parsing.split_envelope(text)


def test_character_sets_from_msh_18() -> None:
    chinese = m.adt("A04", "1", identifiers="1^^^HIS^PI", name="王^小明").replace(
        "|NE|NE|CHN", "|NE|NE|CHN|GB 18030"
    )
    assert "GB 18030" in chinese
    decoded = parsing.decode(chinese.encode("gb18030"))
    assert "王^小明" in decoded
    with pytest.raises(BadCharacterSet):
        parsing.decode(one().replace("|CHN\r", "|CHN|KLINGON\r", 1).encode())
    with pytest.raises(BadCharacterSet):
        parsing.decode("MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5\rPID|1||\xff\xfe".encode("latin-1"))
    with pytest.raises(MessageTooLarge):
        parsing.decode(b"MSH" + b"x" * (parsing.MAX_MESSAGE_BYTES + 1))


def test_timestamps_dates_numbers_and_ranges() -> None:
    moment = parsing.parse_timestamp("20260110083000", "OBR-7")
    assert moment is not None and moment.utcoffset() == dt.timedelta(hours=8)
    assert parsing.parse_timestamp("202601100830+0000", "OBR-7") == dt.datetime(
        2026, 1, 10, 8, 30, tzinfo=dt.UTC
    )
    assert parsing.parse_timestamp("", "OBR-7") is None
    for bad in ("2026-01-10", "20261310", "yesterday"):
        with pytest.raises(InvalidValue):
            parsing.parse_timestamp(bad, "OBR-7")
    assert parsing.parse_date("19800517", "PID-7") == dt.date(1980, 5, 17)
    with pytest.raises(InvalidValue):
        parsing.parse_date("196203520", "PID-7")  # the sample ORU's birth date
    assert parsing.parse_range("70_105", "OBX-7") == (70.0, 105.0)
    assert parsing.parse_range("3.5 - 5.1", "OBX-7") == (3.5, 5.1)
    assert parsing.parse_range("<5", "OBX-7") == (None, 5.0)
    assert parsing.parse_range(">=60", "OBX-7") == (60.0, None)
    assert parsing.parse_range("negative", "OBX-7") == (None, None)
    with pytest.raises(InvalidValue):
        parsing.parse_range("9-3", "OBX-7")
    with pytest.raises(InvalidValue):
        parsing.parse_number("nan", "OBX-5")


def test_header_checks() -> None:
    header = parsing.read_header(one().replace("|1|P|2.5", "||P|2.5", 1))
    with pytest.raises(RequiredFieldMissing):
        parsing.check_header(header)


def test_acks_carry_the_reason_in_msa_and_err() -> None:
    header = parsing.read_header(one("CTRL|9".replace("|", "")))
    accepted = build_ack(header, "AA")
    assert accepted.startswith("MSH|^~\\&|SMARTCARE|") and "|ACK^R01^ACK|" in accepted
    assert "\rMSA|AA|CTRL9\r" in accepted and "ERR" not in accepted
    refused = build_ack(header, "AE", error=RequiredFieldMissing(element="PID-3", location="PID^1^3"))
    assert "MSA|AE|CTRL9|HL7-004: The required field PID-3 is missing." in refused
    assert "ERR||PID^1^3|101^Required field missing^HL70357|E|" in refused
    old = parsing.read_header(one().replace("|2.5", "|2.3", 1))
    assert "ERR|PID^1^3^101&Required field missing&HL70357" in build_ack(
        old, "AE", error=RequiredFieldMissing(element="PID-3", location="PID^1^3")
    )
    # Delimiters in the reason are escaped.
    escaped = build_ack(header, "AE", error=InvalidValue(element="OBX-5", value="a|b^c"))
    assert "a\\F\\b\\S\\c" in escaped
    batch = build_batch_ack("BHS|^~\\&|HIS|MAIN|X|Y|1||||B-7", [accepted, refused])
    assert batch.startswith("BHS|^~\\&|SMARTCARE|") and "|B-7\r" in batch and batch.endswith("BTS|2\r")
    assert build_ack(None, "AR", error=NotHl7()).count("\r") == 3
