"""The two reference messages of ``../shared/data/hl7v2/`` (from python-hl7's test data), sent over
a real MLLP socket, with the exact outcome of each.

* ``oru_r01_glucose.hl7`` (HL7 v2.4 normative example): its PID-7 ``196203520`` is not a date
  (nine digits, day 52), which smartcare ignores with a warning for a patient it knows by PID-3;
  its second OBX has value type ``FN``, which is the family-name data type, not an observation
  value type of HL7 table 0125, so the message is refused (HL7-026 at OBX-2) and nothing is kept.
  Without that OBX the same message is accepted: 182 mg/dl, range 70-105, flagged high.
* ``adt_a04_batch.hl7`` (a VINAH batch): MSH-3 is empty, so the facility (MSH-4) names the sender;
  PID-3 is a number of assigning authority ``100`` (no resident ID), and PID-7 ``10131113`` is the
  year 1013, which is refused (HL7-013 at PID-7). With a plausible birth date the patient is
  registered with that number as identity.

The files are reference data outside the repository: without them the test is skipped, as the
Synthea import test is.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from smartcare.emr.choices import ObservationFlag
from smartcare.emr.models import Observation
from smartcare.interop.hl7 import mllp
from smartcare.interop.models import (
    DiagnosticReport,
    ExternalIdentifier,
    Hl7Message,
    MessageStatus,
    ReportStatus,
    SystemKind,
)
from smartcare.organization.choices import Sex
from smartcare.patients.models import Patient
from tests.factories import PatientFactory
from tests.interop.hl7.conftest import connected, send

SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "data" / "hl7v2"


@pytest.fixture()
def samples() -> Path:
    if not SAMPLES.is_dir():
        # Reference data beside the checkout, not part of it (like the Synthea sample): a clone
        # elsewhere has no such folder, in CI too, so the test is skipped with its reason.
        pytest.skip(f"the shared HL7 v2 samples are not beside this checkout: {SAMPLES}")
    return SAMPLES


def _read(path: Path) -> str:
    return path.read_bytes().decode("ascii")


def _without_segment(text: str, start: str) -> str:
    return "\r".join(s for s in text.split("\r") if not s.startswith(start))


def test_the_shared_sample_messages_over_mllp(
    listener: mllp.MllpServer, lis: Any, hospital: Any, samples: Path
) -> None:
    """One listener for every conversation (each transactional test costs a database flush)."""
    oru = _read(samples / "oru_r01_glucose.hl7")
    before = Patient.objects.count()

    # The LIS reports for a patient smartcare does not know: refused, nothing written.
    ack = send(listener, oru)
    assert "MSA|AE|CNTRL-3456|HL7-011" in ack
    assert "ERR|PID^1^3^204&Unknown key identifier&HL70357" in ack  # v2.4: ERR-1 location
    assert not DiagnosticReport.objects.exists() and not Observation.objects.exists()

    # Eve Everywoman is known to the LIS by her number 555-44-4444 (PID-3 without authority: the
    # LIS's own, "LIS"). The invalid birth date is ignored, but OBX 2 (type FN) cannot be read.
    eve = PatientFactory(name="EVE EVERYWOMAN", sex=Sex.FEMALE, birth_date=dt.date(1962, 3, 20))
    ExternalIdentifier(patient=eve, authority="LIS", value="555-44-4444", id_type="", system=lis).save()
    ack = send(listener, oru.replace("CNTRL-3456", "CNTRL-3457"))
    assert "MSA|AE|CNTRL-3457|HL7-026" in ack
    assert "ERR|OBX^2^2^102&Data type error&HL70357" in ack
    assert "FN is not an observation value type" in ack
    assert not DiagnosticReport.objects.exists() and not Observation.objects.exists()
    refused = Hl7Message.objects.get(control_id="CNTRL-3457")
    assert refused.status == MessageStatus.ERROR and refused.error_location == "OBX^2^2"

    # Without OBX 2 the sample is accepted; the birth date is a warning in the ACK and the log.
    ack = send(listener, _without_segment(oru, "OBX|2|").replace("CNTRL-3456", "CNTRL-3458"))
    assert "MSA|AA|CNTRL-3458|PID-7 196203520: not a valid birth date, ignored" in ack
    report = DiagnosticReport.objects.get(patient=eve)
    assert (report.status, report.code, report.code_system) == (
        ReportStatus.FINAL,
        "1554-5",
        "http://loinc.org",
    )
    result = Observation.objects.get(patient=eve)
    assert (result.code, result.value, result.unit) == ("1554-5", 182.0, "mg/dl")
    assert (result.reference_low, result.reference_high, result.flag) == (70.0, 105.0, ObservationFlag.HIGH)
    assert result.external_id == "1045813:1"  # filler order number OBR-3 : OBX-1
    accepted = Hl7Message.objects.get(control_id="CNTRL-3458")
    assert accepted.summary["warnings"] == ["PID-7 196203520: not a valid birth date, ignored"]
    eve.refresh_from_db()
    assert eve.birth_date == dt.date(1962, 3, 20)

    # The ADT batch: MSH-3 is empty, MSH-4 (ABCHS) names the registered HIS.
    his = connected("ABCHS", SystemKind.HIS, "ABCHS-PAS", "ABCHS", "ABCHS")
    batch = _read(samples / "adt_a04_batch.hl7")
    ack = send(listener, batch)
    assert ack.startswith("BHS|^~\\&|SMARTCARE|") and ack.endswith("BTS|1\r")
    assert "|abchs20070101123401-1\r" in ack.split("\r")[0] + "\r"  # BHS-12: the batch answered
    assert "MSA|AE|12334456778890|HL7-013" in ack and "ERR||PID^1^7|102^Data type error^HL70357" in ack
    assert Patient.objects.count() == before + 1  # Eve only
    assert Hl7Message.objects.get(control_id="12334456778890").system == his

    # With a birth date of this millennium the VINAH patient is registered by its number.
    ack = send(
        listener, batch.replace("|10131113|", "|19620320|").replace("12334456778890", "12334456778891")
    )
    assert "MSA|AA|12334456778891" in ack, ack
    patient = Patient.objects.by_national_id("urn:smartcare:hl7v2:100:A|0000112234").get()
    assert (patient.name, patient.birth_date, patient.sex) == ("XXXXXXXXXX", dt.date(1962, 3, 20), "")
    assert ExternalIdentifier.lookup("100", "0000112234").get().patient == patient
