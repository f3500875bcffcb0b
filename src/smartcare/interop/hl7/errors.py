"""Coded errors of the HL7 v2 interface.

Each error knows how it is acknowledged: ``AR`` (application reject: the message cannot be taken
at all: not HL7, unsupported type or version, unknown sender) or ``AE`` (application error: the
content is wrong: unknown patient, invalid value), and the HL7 error code of table 0357 that goes
into ERR-3. Nothing of a refused message is written.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError


class Hl7Error(CodedError):
    code = "HL7-000"
    status = 400
    ack_code: ClassVar[str] = "AE"
    hl7_code: ClassVar[str] = "207"  # application internal error
    hl7_text: ClassVar[str] = "Application internal error"
    title = _("HL7 message refused")

    def __init__(self, message: Any = None, *, location: str = "", **params: Any):
        self.location = location
        super().__init__(message, **params)


class NotHl7(Hl7Error):
    code = "HL7-001"
    ack_code = "AR"
    hl7_code = "100"
    hl7_text = "Segment sequence error"
    message = _("This is not an HL7 v2 message: it must start with an MSH, BHS or FHS segment.")


class BadCharacterSet(Hl7Error):
    code = "HL7-002"
    ack_code = "AR"
    hl7_code = "103"
    hl7_text = "Table value not found"
    message = _("The message cannot be read in its character set (%(charset)s).")


class MalformedMessage(Hl7Error):
    code = "HL7-003"
    ack_code = "AR"
    hl7_code = "100"
    hl7_text = "Segment sequence error"
    message = _("The message is malformed: %(reason)s")


class RequiredFieldMissing(Hl7Error):
    code = "HL7-004"
    ack_code = "AE"
    hl7_code = "101"
    hl7_text = "Required field missing"
    message = _("The required field %(element)s is missing.")


class UnsupportedMessageType(Hl7Error):
    code = "HL7-005"
    ack_code = "AR"
    hl7_code = "200"
    hl7_text = "Unsupported message type"
    message = _(
        "Message type %(type)s is not supported (accepted: ADT^A01, ADT^A02, ADT^A03, ADT^A04, ADT^A08, ORU^R01)."
    )


class UnsupportedEvent(Hl7Error):
    code = "HL7-006"
    ack_code = "AR"
    hl7_code = "201"
    hl7_text = "Unsupported event code"
    message = _(
        "Trigger event %(type)s is not supported (accepted: ADT^A01, ADT^A02, ADT^A03, ADT^A04, ADT^A08, ORU^R01)."
    )


class UnsupportedProcessingId(Hl7Error):
    code = "HL7-007"
    ack_code = "AR"
    hl7_code = "202"
    hl7_text = "Unsupported processing id"
    message = _("Processing id %(value)s is not accepted (P for production, D for debugging).")


class UnsupportedVersion(Hl7Error):
    code = "HL7-008"
    ack_code = "AR"
    hl7_code = "203"
    hl7_text = "Unsupported version id"
    message = _("HL7 version %(value)s is not supported (2.1 to 2.9).")


class UnknownSender(Hl7Error):
    code = "HL7-009"
    status = 403
    ack_code = "AR"
    hl7_code = "204"
    hl7_text = "Unknown key identifier"
    message = _(
        "No active connected system is registered for sending application %(application)s and "
        "facility %(facility)s."
    )


class SenderNotAllowed(Hl7Error):
    code = "HL7-010"
    status = 403
    ack_code = "AR"
    hl7_code = "204"
    hl7_text = "Unknown key identifier"
    message = _("The connected system %(system)s may not send from here (%(reason)s).")


class UnknownPatient(Hl7Error):
    code = "HL7-011"
    ack_code = "AE"
    hl7_code = "204"
    hl7_text = "Unknown key identifier"
    message = _("No patient matches the identifiers in PID-3.")


class PatientMismatch(Hl7Error):
    code = "HL7-012"
    ack_code = "AE"
    hl7_code = "204"
    hl7_text = "Unknown key identifier"
    message = _("The identifiers in PID-3 point to a patient whose %(what)s differs from the message.")


class InvalidValue(Hl7Error):
    code = "HL7-013"
    ack_code = "AE"
    hl7_code = "102"
    hl7_text = "Data type error"
    message = _("Field %(element)s has an invalid value: %(value)s")


class UnknownOrder(Hl7Error):
    code = "HL7-014"
    ack_code = "AE"
    hl7_code = "204"
    hl7_text = "Unknown key identifier"
    message = _("Placer order number %(number)s is not an order of this patient.")


class BatchIncomplete(Hl7Error):
    code = "HL7-015"
    ack_code = "AR"
    hl7_code = "100"
    hl7_text = "Segment sequence error"
    message = _("The batch is incomplete: %(reason)s. Nothing in it was processed; send it again.")


class MessageTooLarge(Hl7Error):
    code = "HL7-016"
    status = 413
    ack_code = "AR"
    hl7_code = "100"
    hl7_text = "Segment sequence error"
    message = _("The message is larger than %(limit)s bytes.")


class InternalError(Hl7Error):
    code = "HL7-017"
    ack_code = "AE"
    hl7_code = "207"
    hl7_text = "Application internal error"
    message = _("The message could not be processed because of an internal error; nothing was written.")


class InvalidPatient(Hl7Error):
    code = "HL7-018"
    ack_code = "AE"
    hl7_code = "102"
    hl7_text = "Data type error"
    message = _("The patient in PID cannot be registered: %(reason)s")


class NotAConnectedSystem(Hl7Error):
    code = "HL7-019"
    status = 403
    ack_code = "AR"
    hl7_code = "204"
    hl7_text = "Unknown key identifier"
    message = _("This account is not registered as a connected system; the IT administrator registers it.")


class PatientDeceased(Hl7Error):
    code = "HL7-020"
    ack_code = "AE"
    hl7_code = "207"
    hl7_text = "Application internal error"
    message = _("The patient is recorded as deceased; an admission or registration is refused.")


class UnknownLocation(Hl7Error):
    code = "HL7-024"
    ack_code = "AE"
    hl7_code = "103"
    hl7_text = "Table value not found"
    message = _("The assigned patient location in PV1-3 (%(place)s) is not a bed of smartcare: %(reason)s")


class StayRefused(Hl7Error):
    code = "HL7-025"
    ack_code = "AE"
    hl7_code = "207"
    hl7_text = "Application internal error"
    message = _("The admission, transfer or discharge cannot be recorded: %(reason)s")


class UnsupportedValueType(Hl7Error):
    code = "HL7-026"
    ack_code = "AE"
    hl7_code = "102"
    hl7_text = "Data type error"
    message = _(
        "OBX %(index)s: %(type)s is not an observation value type (HL7 table 0125), so the result "
        "cannot be read; nothing of the message was kept."
    )


class UnknownStay(Hl7Error):
    code = "HL7-027"
    ack_code = "AE"
    hl7_code = "204"
    hl7_text = "Unknown key identifier"
    message = _(
        "The patient has no inpatient stay in smartcare for visit %(visit)s to transfer or discharge."
    )
