"""Reading and writing FHIR data types (dates, codes, identifiers, quantities) as plain JSON.

Mappings work on validated resources as dicts: faster than model objects, and the resource can be
kept as received.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

# Identifier and code systems smartcare writes.
BASE = "https://smartcare.example/fhir"
MRN_SYSTEM = f"{BASE}/sid/mrn"
RESIDENT_ID_SYSTEM = f"{BASE}/sid/resident-id"
LICENCE_SYSTEM = f"{BASE}/sid/practitioner-licence"
HOSPITAL_SYSTEM = f"{BASE}/sid/hospital"
DEPARTMENT_SYSTEM = f"{BASE}/sid/department"  # the national department code
ROOM_SYSTEM = f"{BASE}/sid/room"
BED_SYSTEM = f"{BASE}/sid/bed"
APPOINTMENT_SYSTEM = f"{BASE}/sid/appointment"
EXAM_SYSTEM = f"{BASE}/CodeSystem/exam"
KNOWLEDGE_SYSTEM = "https://smartcare.example/knowledge"
TITLE_SYSTEM = f"{BASE}/CodeSystem/practitioner-title"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_SYSTEMS = frozenset(
    {
        ICD10,
        "http://hl7.org/fhir/sid/icd-10-cn",
        "urn:oid:2.16.840.1.113883.6.3",
        "http://hl7.org/fhir/sid/icd-10-cm",
    }
)
ATC_SYSTEMS = frozenset({ATC, "urn:oid:2.16.840.1.113883.6.73"})
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


# --- dates ------------------------------------------------------------------------------------------


def parse_datetime(value: Any) -> dt.datetime | None:
    """A FHIR date, dateTime or instant as an aware datetime (a date is its local midnight)."""
    if not isinstance(value, str) or not value:
        return None
    match = _DATE_RE.match(value)
    if match:
        year, month, day = match.groups()
        try:
            naive = dt.datetime(int(year), int(month or 1), int(day or 1))  # noqa: DTZ001
        except ValueError:
            return None
        return timezone.make_aware(naive)
    text = value.replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or not value:
        return None
    if len(value) >= 10 and _DATE_RE.match(value[:10]):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    moment = parse_datetime(value)
    return timezone.localtime(moment).date() if moment else None


def fhir_datetime(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return timezone.localtime(value).isoformat(timespec="seconds")


def fhir_instant(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fhir_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def choice_datetime(resource: dict[str, Any], stem: str) -> dt.datetime | None:
    """The start of a ``stem[x]`` element given as dateTime, instant, Period or date."""
    for suffix in ("DateTime", "Instant", "Date"):
        found = parse_datetime(resource.get(stem + suffix))
        if found is not None:
            return found
    period = resource.get(stem + "Period")
    if isinstance(period, dict):
        return parse_datetime(period.get("start")) or parse_datetime(period.get("end"))
    return None


def period(resource: dict[str, Any], name: str = "period") -> tuple[dt.datetime | None, dt.datetime | None]:
    value = resource.get(name)
    if not isinstance(value, dict):
        return None, None
    return parse_datetime(value.get("start")), parse_datetime(value.get("end"))


# --- codes ------------------------------------------------------------------------------------------


def codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def coding_in(concept: Any, systems: frozenset[str] | set[str] | str) -> dict[str, Any] | None:
    wanted = {systems} if isinstance(systems, str) else systems
    for coding in codings(concept):
        if coding.get("system") in wanted and coding.get("code"):
            return coding
    return None


def first_coding(concept: Any) -> dict[str, Any] | None:
    for coding in codings(concept):
        if coding.get("code"):
            return coding
    return None


def concept_text(concept: Any) -> str:
    """What a person would read: the concept's text, else the first display, else the first code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in codings(concept):
        if coding.get("display"):
            return str(coding["display"])
    for coding in codings(concept):
        if coding.get("code"):
            return str(coding["code"])
    return ""


def code_of(concept: Any, system: str) -> str:
    found = coding_in(concept, system)
    return str(found["code"]) if found else ""


def concept(system: str, code: str, display: str = "", text: str = "") -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    result: dict[str, Any] = {"coding": [coding]}
    if text:
        result["text"] = text
    return result


def code_tokens(*concepts: Any) -> list[str]:
    """``system|code`` of every coding of the concepts (for token search)."""
    tokens = []
    for item in concepts:
        for concept_value in item if isinstance(item, list) else [item]:
            for coding in codings(concept_value):
                if coding.get("code"):
                    tokens.append(f"{coding.get('system') or ''}|{coding['code']}")
    return tokens


# --- identifiers ------------------------------------------------------------------------------------


def identifiers(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """``(system, value)`` of the resource's identifiers that have both."""
    found = []
    for item in resource.get("identifier") or []:
        if isinstance(item, dict) and item.get("system") and item.get("value"):
            found.append((str(item["system"]), str(item["value"])))
    return found


def identifier_type(item: dict[str, Any]) -> str:
    coding = coding_in(item.get("type"), V2_0203)
    return str(coding["code"]) if coding else ""


def identifier(system: str, value: str, *, type_code: str = "", use: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {}
    if use:
        result["use"] = use
    if type_code:
        result["type"] = concept(V2_0203, type_code)
    result["system"] = system
    result["value"] = value
    return result


def mask(value: str) -> str:
    """An identifier as pages show it: the first and last four characters."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


# --- quantities and numbers ----------------------------------------------------------------------


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def float_or_none(value: Any) -> float | None:
    number = decimal_or_none(value)
    return float(number) if number is not None else None


def number_json(value: Any) -> Any:
    """A number for JSON: ints stay ints, Decimals and floats lose trailing noise."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = value.normalize()
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def quantity(value: Any, unit: str, *, code: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"value": number_json(value)}
    if unit:
        result["unit"] = unit
        result["system"] = UCUM
        result["code"] = code or unit
    return result


def human_name_text(names: Any) -> str:
    """A display name from FHIR HumanNames: the official one first; Chinese names without spaces."""
    if not isinstance(names, list) or not names:
        return ""
    chosen = next((n for n in names if isinstance(n, dict) and n.get("use") == "official"), None)
    chosen = chosen or next((n for n in names if isinstance(n, dict)), None)
    if not chosen:
        return ""
    if chosen.get("text"):
        return str(chosen["text"]).strip()
    family = str(chosen.get("family") or "").strip()
    given = [str(g).strip() for g in chosen.get("given") or [] if g]
    if family and all(_is_cjk(c) for c in family + "".join(given)):
        return family + "".join(given)
    return " ".join([*given, family]).strip()


def _is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def human_name(text: str) -> dict[str, Any]:
    """A HumanName from smartcare's one-field name (Chinese names: first character is the family)."""
    text = text.strip()
    if text and all(_is_cjk(c) for c in text) and len(text) >= 2:
        return {"use": "official", "text": text, "family": text[0], "given": [text[1:]]}
    parts = text.split()
    if len(parts) >= 2:
        return {"use": "official", "text": text, "family": parts[-1], "given": parts[:-1]}
    return {"use": "official", "text": text}
