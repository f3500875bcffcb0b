"""ORU^R01: results from the laboratory (or the radiology system) for a known patient.

Each OBR with its OBX segments becomes a ``DiagnosticReport`` whose results are EMR
``Observation`` rows (source HL7) keeping the code, units, reference range and abnormal flag.
The report is linked to the smartcare order named in the placer order number (``<id>^SMARTCARE``)
and remembered by the sender's filler order number, so a corrected result (OBR-25 = C) updates
the same report and observations instead of adding new ones. Final reports go to the patient and
critical values to the ordering doctor (``reports.services.publish``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.emr.choices import ObservationFlag, ObservationSource
from smartcare.emr.models import Observation, Order
from smartcare.emr.services import flag_for
from smartcare.interop.hl7 import identity
from smartcare.interop.hl7.ack import APPLICATION
from smartcare.interop.hl7.errors import (
    InvalidValue,
    MalformedMessage,
    PatientMismatch,
    RequiredFieldMissing,
    UnknownOrder,
    UnknownPatient,
    UnsupportedValueType,
)
from smartcare.interop.hl7.inbound import Inbound
from smartcare.interop.hl7.parsing import (
    at,
    first,
    parse_number,
    parse_range,
    parse_timestamp,
    repetitions,
    value,
)
from smartcare.interop.models import (
    DiagnosticReport,
    ImagingStudy,
    ReportDelivery,
    ReportKind,
    ReportSource,
    ReportStatus,
)
from smartcare.interop.reports.services import IMAGING_CATEGORIES, publish
from smartcare.organization.models import Practitioner
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction

LOINC_SYSTEMS = frozenset({"LN", "LOINC", "HTTP://LOINC.ORG"})
LOINC_CODE = re.compile(r"^\d{1,7}-\d$")
CODING_SYSTEM = re.compile(r"^([A-Za-z0-9_.+-]{1,20}|(https?|urn):\S+)$")
# OBR-25 result status (HL7 table 0123) -> DiagnosticReport status.
REPORT_STATUS = {
    "F": ReportStatus.FINAL,
    "C": ReportStatus.CORRECTED,
    "A": ReportStatus.PARTIAL,
    "P": ReportStatus.PRELIMINARY,
    "R": ReportStatus.PRELIMINARY,
    "S": ReportStatus.PARTIAL,
    "I": ReportStatus.REGISTERED,
    "O": ReportStatus.REGISTERED,
    "X": ReportStatus.CANCELLED,
}
# OBX-8 abnormal flags (HL7 table 0078) -> EMR result flag; AA ("very abnormal") is critical.
FLAGS = {
    "N": ObservationFlag.NORMAL,
    "H": ObservationFlag.HIGH,
    "L": ObservationFlag.LOW,
    "HH": ObservationFlag.CRITICAL_HIGH,
    "LL": ObservationFlag.CRITICAL_LOW,
    "HU": ObservationFlag.CRITICAL_HIGH,
    "LU": ObservationFlag.CRITICAL_LOW,
    ">": ObservationFlag.HIGH,
    "<": ObservationFlag.LOW,
    "A": ObservationFlag.ABNORMAL,
    "AA": ObservationFlag.ABNORMAL,
    "POS": ObservationFlag.ABNORMAL,
    "NEG": ObservationFlag.NORMAL,
}
TEXT_TYPES = frozenset({"ST", "TX", "FT"})
CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF", "IS", "ID"})
TIME_TYPES = frozenset({"DT", "DTM", "TS", "TM"})
# The other value types of HL7 table 0125 (addresses, names, money, ...): kept as their text.
OTHER_TYPES = frozenset(
    {
        "AD",
        "CK",
        "CN",
        "CP",
        "CQ",
        "CX",
        "DR",
        "MA",
        "MO",
        "NA",
        "PN",
        "TN",
        "XAD",
        "XCN",
        "XON",
        "XPN",
        "XTN",
    }
)
SKIPPED_STATUSES = frozenset({"X", "D", "I", "W"})  # no result, deleted, pending, wrong


@dataclass
class Group:
    obr: Any
    orc: Any = None
    obx: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _groups(message: Any) -> list[Group]:
    groups: list[Group] = []
    orc = None
    for segment in message:
        kind = str(segment[0][0])
        if kind == "ORC":
            orc = segment
        elif kind == "OBR":
            groups.append(Group(obr=segment, orc=orc))
            orc = None
        elif kind == "OBX":
            if not groups:
                raise MalformedMessage(reason="OBX before any OBR", location="OBX")
            groups[-1].obx.append(segment)
        elif kind == "NTE" and groups:
            text = value(segment, 3)
            if text:
                groups[-1].notes.append(text)
    if not groups:
        raise RequiredFieldMissing(element="OBR", location="OBR")
    return groups


def _code(code: str, system: str) -> tuple[str, str]:
    """(code as stored on the observation, FHIR system uri of the report code).

    CE.3/CWE.3 is the name of a coding system (HL7 table 0396: ``LN``, ``SCT``, ``99zzz``, or a
    URI). Some senders put a long name there (the HL7 sample: ``POST 12H CFST:MCNC:PT:SER/PLAS:QN``
    after ``1554-5^GLUCOSE``); that is no coding system, so the code stands alone."""
    if not CODING_SYSTEM.match(system):
        system = ""
    upper = system.upper()
    if upper in LOINC_SYSTEMS or (not system and LOINC_CODE.match(code)):
        return code, "http://loinc.org"
    if system:
        return f"{system.lower()}:{code}", system
    return code, ""


@dataclass
class Result:
    set_id: str
    code: str
    name: str
    value: float | None
    value_text: str
    unit: str
    low: float | None
    high: float | None
    flag: str
    critical: bool
    observed_at: Any
    conclusion_text: str = ""


def _value(obx: Any, index: int, value_type: str) -> tuple[float | None, str]:
    if value_type == "NM":
        raw = value(obx, 5)
        return parse_number(raw, f"OBX-5 ({index})") if raw else None, ""
    if value_type == "SN":
        comparator, first_number = value(obx, 5, 1, 1), value(obx, 5, 1, 2)
        separator, second_number = value(obx, 5, 1, 3), value(obx, 5, 1, 4)
        if not first_number:
            return None, ""
        number = parse_number(first_number, f"OBX-5 ({index})")
        if second_number:
            parse_number(second_number, f"OBX-5 ({index})")
        if comparator in ("", "=") and not separator:
            return number, ""
        return None, f"{comparator}{first_number}{separator}{second_number}".strip()
    if value_type in TEXT_TYPES:
        lines = [value(obx, 5, rep) for rep in range(1, repetitions(obx, 5) + 1)]
        return None, "\n".join(line for line in lines if line)
    if value_type in CODED_TYPES:
        return None, value(obx, 5, 1, 2) or value(obx, 5, 1, 1)
    if value_type in TIME_TYPES:
        raw = value(obx, 5)
        if raw:
            parse_timestamp(raw, f"OBX-5 ({index})")
        return None, raw
    if value_type in OTHER_TYPES:
        parts = [value(obx, 5, 1, comp) for comp in range(1, 13)]
        return None, " ".join(part for part in parts if part)
    # Not a value type at all (e.g. FN, the family name type): what the number means is unknown,
    # so the message is refused rather than a result guessed or silently dropped.
    raise UnsupportedValueType(index=index, type=value_type or "-", location=f"OBX^{index}^2")


def _results(inbound: Inbound, group: Group, default_time: Any) -> list[Result]:
    results: list[Result] = []
    for index, obx in enumerate(group.obx, start=1):
        status = value(obx, 11).upper()
        value_type = value(obx, 2).upper()
        code, system = value(obx, 3, 1, 1), value(obx, 3, 1, 3)
        if not code:
            raise RequiredFieldMissing(element=f"OBX-3 ({index})", location=f"OBX^{index}^3")
        if status in SKIPPED_STATUSES:
            inbound.warnings.append(f"OBX {index} ({code}) status {status}: not kept")
            continue
        if value_type in ("ED", "RP"):
            inbound.warnings.append(f"OBX {index} ({code}): {value_type} attachments are not kept")
            continue
        if not value(obx, 5) and not value(obx, 5, 1, 2):
            continue
        if not value_type:
            raise RequiredFieldMissing(element=f"OBX-2 ({index})", location=f"OBX^{index}^2")
        with at(f"OBX^{index}^5"):
            number, text = _value(obx, index, value_type)
        if number is None and not text:
            continue
        with at(f"OBX^{index}^7"):
            low, high = parse_range(value(obx, 7), f"OBX-7 ({index})")
        flags = [value(obx, 8, rep).upper() for rep in range(1, repetitions(obx, 8) + 1)]
        known = [f for f in flags if f in FLAGS]
        unknown = [f for f in flags if f and f not in FLAGS]
        if unknown:
            raise InvalidValue(
                element=f"OBX-8 ({index})", value=",".join(unknown)[:40], location=f"OBX^{index}^8"
            )
        flag = str(FLAGS[known[0]]) if known else flag_for(number, low, high)
        stored_code, _system = _code(code, system)
        results.append(
            Result(
                set_id=value(obx, 1) or str(index),
                code=stored_code[:120],
                name=(value(obx, 3, 1, 2) or code)[:200],
                value=number,
                value_text=text[:500],
                unit=value(obx, 6, 1, 1)[:20],
                low=low,
                high=high,
                flag=flag,
                critical="AA" in known,
                observed_at=_observed_at(obx, index) or default_time,
            )
        )
    return results


def _observed_at(obx: Any, index: int) -> Any:
    with at(f"OBX^{index}^14"):
        return parse_timestamp(value(obx, 14), f"OBX-14 ({index})")


def _order(patient: Any, group: Group) -> Order | None:
    number = value(group.obr, 2, 1, 1) or value(group.orc, 2, 1, 1)
    namespace = (value(group.obr, 2, 1, 2) or value(group.orc, 2, 1, 2)).upper()
    if not number or namespace not in ("", APPLICATION):
        return None
    order = Order.objects.filter(pk=int(number), patient=patient).first() if number.isdigit() else None
    if order is None and namespace == APPLICATION:
        raise UnknownOrder(number=number, location="OBR^1^2")
    return order


def _ordering_user(order: Order | None, group: Group) -> Any:
    if order is not None:
        return order.ordered_by
    licence = value(group.obr, 16, 1, 1) or value(group.orc, 12, 1, 1)
    if not licence:
        return None
    practitioner = Practitioner.objects.filter(licence_number=licence).select_related("user").first()
    return practitioner.user if practitioner else None


def _write_observation(
    inbound: Inbound, report: DiagnosticReport | None, result: Result, context: dict[str, Any]
) -> Observation:
    external_id = f"{context['filler']}:{result.set_id}"[:120] if context["filler"] else ""
    existing = None
    if report is not None and external_id:
        existing = report.results.filter(external_id=external_id).first()
    fields = {
        "code": result.code,
        "name": result.name,
        "value": result.value,
        "value_text": result.value_text,
        "unit": result.unit,
        "reference_low": result.low,
        "reference_high": result.high,
        "flag": result.flag,
        "observed_at": result.observed_at,
    }
    if existing is not None:
        previous = {name: getattr(existing, name) for name in ("value", "value_text", "unit", "flag")}
        for name, new in fields.items():
            setattr(existing, name, new)
        existing.save()
        record(
            inbound.actor,
            AuditAction.UPDATE,
            patient=existing.patient_id,
            obj=existing,
            detail={"via": "hl7", "correction": True, "previous": previous},
        )
        return existing
    observation = Observation.objects.create(
        patient=inbound.patient,
        encounter=context["encounter"],
        order=context["order"],
        source=ObservationSource.HL7,
        external_id=external_id,
        recorded_by=inbound.actor,
        **fields,
    )
    record(
        inbound.actor,
        AuditAction.CREATE,
        patient=observation.patient_id,
        obj=observation,
        detail={"code": observation.code, "via": "hl7"},
    )
    return observation


def _report(inbound: Inbound, group: Group) -> dict[str, Any]:
    obr = group.obr
    patient = inbound.patient
    filler = (value(obr, 3, 1, 1) or value(group.orc, 3, 1, 1))[:199]
    status_code = value(obr, 25).upper()
    service_code, service_system = value(obr, 4, 1, 1), value(obr, 4, 1, 3)
    if not service_code:
        raise RequiredFieldMissing(element="OBR-4", location="OBR^1^4")
    if status_code and status_code not in REPORT_STATUS:
        raise InvalidValue(element="OBR-25", value=status_code, location="OBR^1^25")
    status = REPORT_STATUS.get(status_code or "F", ReportStatus.FINAL)
    with at("OBR^1^7"):
        observed_at = parse_timestamp(value(obr, 7), "OBR-7") or clock.now()
    with at("OBR^1^22"):
        issued_at = parse_timestamp(value(obr, 22), "OBR-22") or clock.now()
    section = value(obr, 24).upper()
    kind = ReportKind.IMAGING if section in IMAGING_CATEGORIES else ReportKind.LAB
    order = _order(patient, group)
    results = _results(inbound, group, observed_at)
    delivery = None
    if filler:
        delivery = (
            ReportDelivery.objects.select_related("report")
            .filter(system=inbound.system, filler_number=filler)
            .first()
        )
        if delivery is not None and delivery.report.patient_id != patient.pk:
            raise PatientMismatch(
                what="identity (this filler order number belongs to another patient)", location="OBR^1^3"
            )
    report = delivery.report if delivery else None
    # Radiology text (findings, impression) is the report's conclusion, not a result value.
    conclusion_lines = list(group.notes)
    if kind == ReportKind.IMAGING:
        conclusion_lines += [r.value_text for r in results if r.value is None and r.value_text]
        results = [r for r in results if r.value is not None]
    code, code_system = _code(service_code, service_system)
    fields = {
        "status": status,
        "category_system": "http://terminology.hl7.org/CodeSystem/v2-0074",
        "category_code": section or "LAB",
        "code_system": code_system,
        "code": code[:64],
        "name": (value(obr, 4, 1, 2) or service_code)[:200],
        "effective_at": observed_at,
        "issued_at": issued_at,
        "performer": (inbound.system.name or inbound.header.sending_facility)[:200],
        "conclusion": "\n".join(conclusion_lines)[:20000],
        "encounter": order.encounter if order else (report.encounter if report else None),
    }
    if report is None:
        report = DiagnosticReport.objects.create(patient=patient, recorded_by=inbound.actor, **fields)
        action = AuditAction.CREATE
    else:
        for name, new in fields.items():
            setattr(report, name, new)
        report.updated_at = clock.now()
        report.save()
        action = AuditAction.UPDATE
    record(inbound.actor, action, patient=patient, obj=report, detail={"via": "hl7", "status": status})
    context = {"filler": filler, "order": order, "encounter": fields["encounter"]}
    observations = [_write_observation(inbound, report, result, context) for result in results]
    report.results.add(*observations)
    study = None
    if kind == ReportKind.IMAGING and filler:
        study = ImagingStudy.objects.filter(patient=patient, accession_number=filler).first()
    if delivery is None:
        delivery = ReportDelivery(
            report=report, source=ReportSource.HL7, system=inbound.system, filler_number=filler
        )
    delivery.kind = kind
    delivery.order = order or delivery.order
    delivery.ordering_user = _ordering_user(order, group) or delivery.ordering_user
    delivery.imaging_study = study or delivery.imaging_study
    marked = {o.pk for o, r in zip(observations, results, strict=True) if r.critical}
    delivery.marked_critical = sorted(set(delivery.marked_critical or []) | marked)
    delivery.save()
    publish(delivery, inbound.actor)
    return {"report": report.pk, "status": status, "results": len(observations), "filler": filler}


def handle_oru(inbound: Inbound) -> None:
    message = inbound.header.message
    pid = first(message, "PID")
    if pid is None:
        raise RequiredFieldMissing(element="PID", location="PID")
    found = identity.identifiers(pid)
    if not found:
        raise RequiredFieldMissing(element="PID-3", location="PID^1^3")
    # Results are for a known patient: a birth date that is not a date is ignored with a warning.
    person = identity.demographics(pid, found, warnings=inbound.warnings)
    patient = identity.find_patient(inbound.actor, found, inbound.system)
    if patient is None:
        raise UnknownPatient(location="PID^1^3")
    identity.check_identity(patient, person)
    inbound.patient = access_patient(inbound.actor, patient, AccessAction.UPDATE, audit=False)
    groups = _groups(message)
    reports = [_report(inbound, group) for group in groups]
    inbound.summary.update({"patient": patient.pk, "reports": reports})
