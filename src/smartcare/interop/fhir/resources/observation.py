"""Observation <-> ``emr.VitalSign`` (``vs-<id>``) and ``emr.Observation`` (results, ``<id>``).

* Vital signs with their LOINC codes (blood pressure panel 85354-9 with systolic 8480-6 and
  diastolic 8462-4, heart rate 8867-4, body temperature 8310-5, SpO2 59408-5/2708-6, weight 29463-7,
  height 8302-2, respiratory rate 9279-1) in a unit smartcare can convert and within the plausible
  range become ``VitalSign`` rows, shown in the EMR's vitals.
* Other observations with a value become results (``emr.Observation``): the code is kept as the
  LOINC code, ``exam:<slug>`` for smartcare's exams, or ``system|code`` for other systems; numbers
  with their unit, reference range and flag, anything else as text.
* smartcare's results are final: observations that are not (preliminary, cancelled...), that
  have no value or no time are kept as FHIR.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from smartcare.emr.choices import VITAL_RANGES, ObservationSource, VitalKind
from smartcare.emr.models import Observation, VitalSign
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    EXAM_SYSTEM,
    INTERPRETATION,
    LOINC,
    OBSERVATION_CATEGORY,
    choice_datetime,
    codings,
    concept,
    concept_text,
    fhir_datetime,
    float_or_none,
    parse_datetime,
    quantity,
)
from smartcare.interop.fhir.errors import NotRepresentable
from smartcare.interop.fhir.registry import (
    Access,
    Mapping,
    ParamKind,
    ParamSpec,
    Plan,
    Source,
    WriteContext,
    register,
)
from smartcare.interop.fhir.resources.common import (
    COMMON_PARAMS,
    PATIENT_PARAMS,
    drop_empty,
    patient_filter,
    reference,
    require_patient,
    standard_filters,
    target_pk,
)
from smartcare.interop.fhir.store import store_source

# kind -> (LOINC code, display, UCUM unit)
VITAL_CODES = {
    VitalKind.BLOOD_PRESSURE: ("85354-9", "Blood pressure panel", "mm[Hg]"),
    VitalKind.HEART_RATE: ("8867-4", "Heart rate", "/min"),
    VitalKind.TEMPERATURE: ("8310-5", "Body temperature", "Cel"),
    VitalKind.SPO2: ("59408-5", "Oxygen saturation by pulse oximetry", "%"),
    VitalKind.WEIGHT: ("29463-7", "Body weight", "kg"),
    VitalKind.HEIGHT: ("8302-2", "Body height", "cm"),
    VitalKind.RESPIRATORY_RATE: ("9279-1", "Respiratory rate", "/min"),
}
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
_VITAL_BY_CODE = {code: kind for kind, (code, _d, _u) in VITAL_CODES.items()}
_VITAL_BY_CODE["2708-6"] = VitalKind.SPO2
_VITAL_BY_CODE["8331-1"] = VitalKind.TEMPERATURE  # oral temperature
_VITAL_BY_CODE["3141-9"] = VitalKind.WEIGHT  # body weight measured
_VITAL_BY_CODE["8480-6"] = VitalKind.BLOOD_PRESSURE
_VITAL_BY_CODE["8462-4"] = VitalKind.BLOOD_PRESSURE

# unit as sent -> (unit smartcare stores, factor, offset) for each kind's canonical unit
_UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "mmHg": {"mm[Hg]": (1, 0), "mmHg": (1, 0)},
    "/min": dict.fromkeys(
        ("/min", "{beats}/min", "beats/minute", "1/min", "{breaths}/min", "breaths/minute", "bpm"), (1, 0)
    ),
    "°C": {
        "Cel": (1, 0),
        "°C": (1, 0),
        "C": (1, 0),
        "[degF]": (5 / 9, -32 * 5 / 9),
        "°F": (5 / 9, -32 * 5 / 9),
    },
    "%": {"%": (1, 0)},
    "kg": {"kg": (1, 0), "g": (0.001, 0), "[lb_av]": (0.45359237, 0), "lb": (0.45359237, 0)},
    "cm": {"cm": (1, 0), "m": (100, 0), "[in_i]": (2.54, 0), "in": (2.54, 0)},
}
_STORED_UNIT = {
    VitalKind.BLOOD_PRESSURE: "mmHg",
    VitalKind.HEART_RATE: "/min",
    VitalKind.TEMPERATURE: "°C",
    VitalKind.SPO2: "%",
    VitalKind.WEIGHT: "kg",
    VitalKind.HEIGHT: "cm",
    VitalKind.RESPIRATORY_RATE: "/min",
}
_FLAG_BACK = {
    "H": "H",
    "L": "L",
    "HH": "HH",
    "LL": "LL",
    "A": "A",
    "AA": "A",
    "HU": "HH",
    "LU": "LL",
    "N": "",
}


# --- to FHIR -----------------------------------------------------------------------------------------


def result_code(code: str) -> tuple[str, str]:
    """(system, code) of an ``emr.Observation`` code."""
    if code.startswith("exam:"):
        return EXAM_SYSTEM, code[5:]
    if "|" in code:
        system, value = code.split("|", 1)
        return system, value
    return LOINC, code


def stored_code(system: str | None, code: str) -> str:
    if system == LOINC:
        return code
    if system == EXAM_SYSTEM:
        return f"exam:{code}"
    return f"{system or ''}|{code}"


def result_to_fhir(row: Observation) -> dict[str, Any]:
    system, code = result_code(row.code)
    category = {
        ObservationSource.LAB: "laboratory",
        ObservationSource.HL7: "laboratory",
        ObservationSource.PRE_VISIT: "exam",
        ObservationSource.MANUAL: "exam",
    }.get(
        ObservationSource(row.source) if row.source in ObservationSource.values else ObservationSource.MANUAL
    )
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(row.pk),
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, category)] if category else [],
        "code": concept(system, code, row.name, text=row.name),
        "subject": reference("Patient", row.patient_id),
        "encounter": reference("Encounter", row.encounter_id) if row.encounter_id else None,
        "effectiveDateTime": fhir_datetime(row.observed_at),
    }
    if row.value is not None:
        resource["valueQuantity"] = quantity(row.value, row.unit)
    else:
        resource["valueString"] = row.value_text
    if row.flag:
        resource["interpretation"] = [concept(INTERPRETATION, row.flag, str(row.get_flag_display()))]
    if row.reference_low is not None or row.reference_high is not None:
        resource["referenceRange"] = [
            drop_empty(
                {
                    "low": quantity(row.reference_low, row.unit) if row.reference_low is not None else None,
                    "high": quantity(row.reference_high, row.unit)
                    if row.reference_high is not None
                    else None,
                }
            )
        ]
    return drop_empty(resource)


def vital_to_fhir(row: VitalSign) -> dict[str, Any]:
    code, display, unit = VITAL_CODES[VitalKind(row.kind)]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"vs-{row.pk}",
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
        "code": concept(LOINC, code, display, text=display),
        "subject": reference("Patient", row.patient_id),
        "encounter": reference("Encounter", row.encounter_id) if row.encounter_id else None,
        "effectiveDateTime": fhir_datetime(row.measured_at),
    }
    if row.kind == VitalKind.BLOOD_PRESSURE:
        resource["component"] = [
            {
                "code": concept(LOINC, SYSTOLIC, "Systolic blood pressure"),
                "valueQuantity": quantity(row.value, unit),
            }
        ]
        if row.value2 is not None:
            resource["component"].append(
                {
                    "code": concept(LOINC, DIASTOLIC, "Diastolic blood pressure"),
                    "valueQuantity": quantity(row.value2, unit),
                }
            )
    else:
        resource["valueQuantity"] = quantity(row.value, row.unit, code=unit)
    return drop_empty(resource)


# --- search ------------------------------------------------------------------------------------------


def _result_code(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    conditions = []
    for token in values:
        if not token.code:
            if token.system == LOINC:
                conditions.append(~Q(code__contains="|") & ~Q(code__startswith="exam:"))
            elif token.system == EXAM_SYSTEM:
                conditions.append(Q(code__startswith="exam:"))
            elif token.system:
                conditions.append(Q(code__startswith=f"{token.system}|"))
            continue
        if token.system is None:
            conditions.append(
                Q(code=token.code) | Q(code=f"exam:{token.code}") | Q(code__endswith=f"|{token.code}")
            )
        else:
            conditions.append(Q(code=stored_code(token.system, token.code)))
    return rows.filter(p.q_any(conditions))


def _vital_code(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    kinds = [_VITAL_BY_CODE[t.code] for t in values if t.system in (None, LOINC) and t.code in _VITAL_BY_CODE]
    if any(t.system == LOINC and not t.code for t in values):
        return rows
    return rows.filter(kind__in=kinds)


def _encounter(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    return rows.filter(encounter_id__in=[int(v.id) for v in values if v.id.isdigit()])


RESULT = Source(
    model=Observation,
    to_fhir=result_to_fhir,
    last_updated=None,
    filters={
        "patient": patient_filter(),
        "subject": patient_filter(),
        "code": _result_code,
        "date": p.by_date("observed_at"),
        "status": p.constant("final"),
        "encounter": _encounter,
    },
    sort={"date": "observed_at"},
)
VITAL = Source(
    model=VitalSign,
    to_fhir=vital_to_fhir,
    prefix="vs-",
    last_updated=None,
    filters={
        "patient": patient_filter(),
        "subject": patient_filter(),
        "code": _vital_code,
        "date": p.by_date("measured_at"),
        "status": p.constant("final"),
        "encounter": _encounter,
    },
    sort={"date": "measured_at"},
)
for _source in (RESULT, VITAL):
    standard_filters(_source, "Observation")
    _source.filters["_lastUpdated"] = p.by_date(_source.sort["date"])
    _source.sort["_lastUpdated"] = _source.sort["date"]
STORE = store_source("Observation")
STORE.filters["encounter"] = lambda rows, values: rows.none()


# --- from FHIR ---------------------------------------------------------------------------------------


def _converted(kind: str, value: Any, unit: str) -> float | None:
    number = float_or_none(value)
    if number is None:
        return None
    conversion = _UNITS[_STORED_UNIT[VitalKind(kind)]].get(unit)
    if conversion is None:
        return None
    factor, offset = conversion
    converted = round(number * factor + offset, 3)
    low, high = VITAL_RANGES[VitalKind(kind)]
    return converted if low <= converted <= high else None


def _loinc_codes(resource: dict[str, Any]) -> list[str]:
    return [str(c.get("code")) for c in codings(resource.get("code")) if c.get("system") == LOINC]


def vital_fields(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The vital sign an observation is, or None when it is not one smartcare can hold."""
    codes = _loinc_codes(resource)
    kind = next((_VITAL_BY_CODE[c] for c in codes if c in _VITAL_BY_CODE), None)
    if kind is None:
        return None
    if kind == VitalKind.BLOOD_PRESSURE:
        values: dict[str, float | None] = {}
        components = [c for c in resource.get("component") or [] if isinstance(c, dict)]
        if not components and "valueQuantity" in resource:
            components = [resource]
        for component in components:
            component_codes = {
                str(c.get("code")) for c in codings(component.get("code")) if c.get("system") == LOINC
            }
            found = component.get("valueQuantity") or {}
            unit = str(found.get("code") or found.get("unit") or "")
            for wanted in (SYSTOLIC, DIASTOLIC):
                if wanted in component_codes:
                    values[wanted] = _converted(kind, found.get("value"), unit)
        systolic = values.get(SYSTOLIC)
        if systolic is None or (DIASTOLIC in values and values[DIASTOLIC] is None):
            return None
        return {"kind": kind, "value": systolic, "value2": values.get(DIASTOLIC), "unit": _STORED_UNIT[kind]}
    found = resource.get("valueQuantity")
    if not isinstance(found, dict):
        return None
    value = _converted(kind, found.get("value"), str(found.get("code") or found.get("unit") or ""))
    if value is None:
        return None
    return {"kind": kind, "value": value, "value2": None, "unit": _STORED_UNIT[kind]}


def _components_text(resource: dict[str, Any]) -> str:
    parts = []
    for component in resource.get("component") or []:
        if not isinstance(component, dict):
            continue
        name = concept_text(component.get("code"))
        _number, text, unit = _value(component)
        if _number is not None:
            text = f"{_number:g} {unit}".strip()
        if text:
            parts.append(f"{name}: {text}")
    return "; ".join(parts)


def _value(resource: dict[str, Any]) -> tuple[float | None, str, str]:
    """(number, text, unit) of an observation's value[x]."""
    found = resource.get("valueQuantity")
    if isinstance(found, dict) and found.get("value") is not None:
        return float_or_none(found.get("value")), "", str(found.get("unit") or found.get("code") or "")
    if "valueInteger" in resource:
        return float_or_none(resource["valueInteger"]), "", ""
    if "valueBoolean" in resource:
        return None, "true" if resource["valueBoolean"] else "false", ""
    if resource.get("valueString"):
        return None, str(resource["valueString"]), ""
    if "valueCodeableConcept" in resource:
        return None, concept_text(resource["valueCodeableConcept"]), ""
    for name in ("valueDateTime", "valueTime"):
        if resource.get(name):
            return None, str(resource[name]), ""
    if isinstance(resource.get("valuePeriod"), dict):
        period = resource["valuePeriod"]
        return None, f"{period.get('start', '')} - {period.get('end', '')}", ""
    return None, "", ""


class ObservationMapping(Mapping):
    resource_type = "Observation"
    access = Access.PATIENT_CLINICAL
    sources = [RESULT, VITAL, STORE]
    params = [
        *COMMON_PARAMS,
        *PATIENT_PARAMS,
        ParamSpec("code", ParamKind.TOKEN, "LOINC (http://loinc.org) or system|code"),
        ParamSpec("date", ParamKind.DATE, "effective time"),
        ParamSpec("status", ParamKind.TOKEN),
        ParamSpec("encounter", ParamKind.REFERENCE),
    ]
    includes = {
        "Observation:patient": ("subject",),
        "Observation:subject": ("subject",),
        "Observation:encounter": ("encounter",),
    }
    rank = 6
    writable = True
    write_capability = "emr.record"
    owned = ("encounter", "interpretation", "referenceRange", "component")
    description = "emr.VitalSign (vs-) and emr.Observation (results); others kept as FHIR"

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        status = resource.get("status")
        if status not in ("final", "amended", "corrected"):
            raise NotRepresentable(
                resource_type="Observation", reason=f"status {status}: smartcare's results are final"
            )
        patient_id = require_patient(ctx, resource, "subject", "Observation")
        when = choice_datetime(resource, "effective") or parse_datetime(resource.get("issued"))
        if when is None:
            raise NotRepresentable(resource_type="Observation", reason="it has no effective time")
        encounter_id = target_pk(ctx.resolve(resource.get("encounter"), "encounter"), "emr.Encounter")
        vital = vital_fields(resource)
        if vital is not None and not isinstance(existing, Observation):
            return Plan(
                source=VITAL,
                fields={**vital, "patient_id": patient_id, "encounter_id": encounter_id, "measured_at": when},
                create_fields={"recorded_by_id": ctx.actor.pk},
                patient_id=patient_id,
            )
        if isinstance(existing, VitalSign):
            raise NotRepresentable(resource_type="Observation", reason="a vital sign stays a vital sign")
        coding = next((c for c in codings(resource.get("code")) if c.get("code")), None)
        if coding is None:
            raise NotRepresentable(resource_type="Observation", reason="the code has no coding")
        code = stored_code(coding.get("system"), str(coding["code"]))
        if len(code) > 120:
            raise NotRepresentable(
                resource_type="Observation", reason="the code is longer than smartcare keeps"
            )
        number, text, unit = _value(resource)
        if number is None and not text:
            text = _components_text(resource)
        if number is None and not text:
            raise NotRepresentable(resource_type="Observation", reason="it has no value")
        if len(unit) > 20:
            raise NotRepresentable(
                resource_type="Observation", reason=f"the unit {unit[:30]} is longer than smartcare keeps"
            )
        low = high = None
        ranges = [r for r in resource.get("referenceRange") or [] if isinstance(r, dict)]
        if ranges:
            low = float_or_none((ranges[0].get("low") or {}).get("value"))
            high = float_or_none((ranges[0].get("high") or {}).get("value"))
        flag = ""
        for item in resource.get("interpretation") or []:
            for found in codings(item):
                flag = _FLAG_BACK.get(str(found.get("code")), flag)
        return Plan(
            source=RESULT,
            fields={
                "patient_id": patient_id,
                "encounter_id": encounter_id,
                "code": code,
                "name": (concept_text(resource.get("code")) or str(coding["code"]))[:200],
                "value": number,
                "value_text": text[:500] if number is None else "",
                "unit": unit,
                "reference_low": low,
                "reference_high": high,
                "flag": flag,
                "observed_at": when,
                "source": ObservationSource.FHIR,
            },
            create_fields={"recorded_by_id": ctx.actor.pk},
            patient_id=patient_id,
        )


register(ObservationMapping())
