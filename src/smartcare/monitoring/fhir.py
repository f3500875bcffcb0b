"""FHIR R4 Observations in and out.

In: a device posts one Observation, or a Bundle (batch, transaction or collection) of them. Each is
validated with the ``fhir.resources.R4B`` models, then mapped by its LOINC code (blood pressure
panel 85354-9 with systolic 8480-6 and diastolic 8462-4 components, glucose, SpO2 59408-5, weight,
heart rate, steps, exercise duration). The message id used for deduplication is the first
``identifier.value``, else the resource ``id``.

Out: readings as Observations (vital-signs profile shape: category, LOINC code, subject, device,
effectiveDateTime, valueQuantity with UCUM units or components for blood pressure).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from pydantic import ValidationError

from smartcare.monitoring.choices import (
    LOCAL_CODES,
    LOCAL_SYSTEM,
    LOINC,
    LOINC_DIASTOLIC,
    LOINC_HEART_RATE,
    LOINC_INPUT,
    LOINC_SYSTEM,
    LOINC_SYSTOLIC,
    UCUM,
    MeasurementKind,
)
from smartcare.monitoring.errors import InvalidReading
from smartcare.monitoring.ingest import MG_PER_DL_PER_MMOL, ReadingInput, check_reading, parse_time
from smartcare.monitoring.models import Reading

ACCEPTED_STATUS = {"final", "amended", "corrected", "preliminary"}
UCUM_SYSTEM = "http://unitsofmeasure.org"
MAX_ENTRIES = 1000
_GLUCOSE_MG = {"mg/dL", "mg/dl"}
_POUND = {"[lb_av]", "lb", "lbs"}


def _validate(resource: dict[str, Any], where: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) and exc.errors() else None
        detail = (
            f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first else str(exc).splitlines()[0]
        )
        raise InvalidReading(reason=f"{where}: {detail}"[:300]) from exc


def observations_in(body: Any) -> list[dict[str, Any]]:
    """The Observations of a posted resource (an Observation or a Bundle of them), validated."""
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise InvalidReading(reason=_("the body is not a FHIR resource (resourceType missing)"))
    if body["resourceType"] == "Observation":
        _validate(body, "Observation")
        return [body]
    if body["resourceType"] != "Bundle":
        raise InvalidReading(reason=_("only Observation and Bundle are accepted"))
    entries = body.get("entry") or []
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise InvalidReading(reason=_("Bundle.entry must be a list of at most 1000 entries"))
    found = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
            raise InvalidReading(reason=f"Bundle.entry[{index}]: " + _("not an Observation"))
        _validate(resource, f"Bundle.entry[{index}]")
        found.append(resource)
    return found


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def _code_of(concept: Any) -> tuple[str, float] | None:
    for coding in _codings(concept):
        system, code = coding.get("system"), coding.get("code")
        if system == LOINC_SYSTEM and code in LOINC_INPUT:
            return LOINC_INPUT[code]
        if system == LOCAL_SYSTEM and code in LOCAL_CODES:
            return LOCAL_CODES[code], 1.0
    return None


def _has_code(concept: Any, code: str) -> bool:
    return any(c.get("system") == LOINC_SYSTEM and c.get("code") == code for c in _codings(concept))


def _quantity(holder: dict[str, Any], where: str) -> tuple[float, str]:
    quantity = holder.get("valueQuantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), (int, float)):
        raise InvalidReading(reason=f"{where}: " + _("valueQuantity.value is missing"))
    return float(quantity["value"]), str(quantity.get("code") or quantity.get("unit") or "")


def _when(observation: dict[str, Any]) -> dt.datetime:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if observation.get(key):
            return parse_time(observation[key], key)
    period = observation.get("effectivePeriod")
    if isinstance(period, dict) and (period.get("end") or period.get("start")):
        return parse_time(period.get("end") or period.get("start"), "effectivePeriod")
    raise InvalidReading(reason=_("effectiveDateTime is missing"), field="effectiveDateTime")


def _message_id(observation: dict[str, Any]) -> str:
    for identifier in observation.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("value"):
            return str(identifier["value"]).strip()
    return str(observation.get("id") or "").strip()


def reading_from_observation(observation: dict[str, Any], *, now: dt.datetime | None = None) -> ReadingInput:
    status = observation.get("status")
    if status not in ACCEPTED_STATUS:
        raise InvalidReading(reason=_("status %(status)s is not a result to store") % {"status": status})
    mapped = _code_of(observation.get("code"))
    if mapped is None:
        raise InvalidReading(reason=_("code is not a supported LOINC code"), field="code")
    kind, factor = mapped
    when = _when(observation)
    message_id = _message_id(observation)
    if kind == MeasurementKind.BLOOD_PRESSURE:
        values: dict[str, float] = {}
        for component in observation.get("component") or []:
            for name, code in (
                ("systolic", LOINC_SYSTOLIC),
                ("diastolic", LOINC_DIASTOLIC),
                ("pulse", LOINC_HEART_RATE),
            ):
                if _has_code(component.get("code"), code):
                    values[name] = _quantity(component, name)[0]
        if "systolic" not in values or "diastolic" not in values:
            raise InvalidReading(
                reason=_("blood pressure needs systolic and diastolic components"), field="component"
            )
        reading = ReadingInput(
            kind=kind,
            value=values["systolic"],
            value2=values["diastolic"],
            pulse=values.get("pulse"),
            measured_at=when,
            message_id=message_id,
        )
    else:
        value, unit = _quantity(observation, "valueQuantity")
        if kind == MeasurementKind.GLUCOSE:
            # The unit decides; the code's own unit only when none is given.
            if unit in _GLUCOSE_MG:
                factor = 1 / MG_PER_DL_PER_MMOL
            elif unit in ("mmol/L", "mmol/l"):
                factor = 1.0
        elif kind == MeasurementKind.WEIGHT:
            if unit in _POUND:
                factor = 0.45359237
            elif unit == "g":
                factor = 0.001
        reading = ReadingInput(
            kind=kind, value=round(value * factor, 2), measured_at=when, message_id=message_id
        )
    return check_reading(reading, now=now)


def _quantity_out(value: float, kind: str) -> dict[str, Any]:
    return {"value": round(value, 2), "unit": UCUM[kind], "system": UCUM_SYSTEM, "code": UCUM[kind]}


def _loinc(code: str, display: str = "") -> dict[str, Any]:
    coding: dict[str, Any] = {"system": LOINC_SYSTEM, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def observation_of(reading: Reading) -> dict[str, Any]:
    """A stored reading as an R4 Observation."""
    kind = reading.kind
    code = (
        _loinc(LOINC[kind], str(MeasurementKind(kind).label))
        if kind in LOINC
        else {
            "coding": [{"system": LOCAL_SYSTEM, "code": "rom-sessions"}],
            "text": str(MeasurementKind(kind).label),
        }
    )
    category = (
        "activity"
        if kind in (MeasurementKind.STEPS, MeasurementKind.EXERCISE_MINUTES, MeasurementKind.ROM_SESSIONS)
        else "vital-signs"
    )
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(reading.pk),
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}
                ]
            }
        ],
        "code": code,
        "subject": {"reference": f"Patient/{reading.patient_id}"},
        "effectiveDateTime": reading.measured_at.isoformat(),
        "issued": reading.received_at.isoformat(),
    }
    if reading.message_id:
        resource["identifier"] = [{"system": f"{LOCAL_SYSTEM}/device-message", "value": reading.message_id}]
    if reading.device_id:
        resource["device"] = {"reference": f"Device/{reading.device_id}"}
    if kind == MeasurementKind.BLOOD_PRESSURE:
        resource["component"] = [
            {
                "code": _loinc(LOINC_SYSTOLIC, "Systolic blood pressure"),
                "valueQuantity": _quantity_out(reading.value, kind),
            },
            {
                "code": _loinc(LOINC_DIASTOLIC, "Diastolic blood pressure"),
                "valueQuantity": _quantity_out(reading.value2 or 0, kind),
            },
        ]
    else:
        resource["valueQuantity"] = _quantity_out(reading.value, kind)
    if reading.pulse is not None:
        resource.setdefault("component", []).append(
            {
                "code": _loinc(LOINC_HEART_RATE, "Heart rate"),
                "valueQuantity": _quantity_out(reading.pulse, MeasurementKind.HEART_RATE),
            }
        )
    if reading.flag:
        resource["interpretation"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "AA" if reading.flag == "C" else "A",
                    }
                ]
            }
        ]
    return resource


def searchset(readings: list[Reading]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(readings),
        "entry": [{"resource": observation_of(r), "search": {"mode": "match"}} for r in readings],
    }
