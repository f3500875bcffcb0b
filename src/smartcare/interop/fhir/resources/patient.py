"""Patient <-> ``patients.Patient``.

* Identifiers: the medical record number (``MRN_SYSTEM``) and the resident ID
  (``RESIDENT_ID_SYSTEM``). Patients imported without a Chinese resident ID keep their strongest
  identity document (social security, passport, driver's licence, then a record number) as
  ``national_id`` in the form ``system|value``: encrypted, unique and searchable like a resident ID.
* Identity documents and phone numbers are returned masked, as the pages show them; searching by
  the full value works (keyed hashes).
* Clinical users create patients through registration (a valid resident ID is required, as on
  the registration page) and update contact details through ``update_patient``. Importers may
  bring patients without a resident ID.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.db import models
from django.db.models import QuerySet, Value
from django.db.models.functions import Cast, Concat, LPad

from smartcare.core import clock, crypto
from smartcare.core.errors import InvalidInput
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    MRN_SYSTEM,
    RESIDENT_ID_SYSTEM,
    fhir_date,
    human_name,
    human_name_text,
    identifier,
    identifier_type,
    mask,
    parse_date,
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
from smartcare.interop.fhir.render import merge
from smartcare.interop.fhir.resources.common import COMMON_PARAMS, drop_empty, meta, standard_filters
from smartcare.interop.fhir.sourcemap import identifier_condition
from smartcare.patients.models import Patient
from smartcare.patients.resident_id import parse_resident_id

# Identity documents, strongest first (HL7 v2 table 0203 codes).
_DOCUMENT_TYPES = ("NNCHN", "NI", "SS", "SB", "PPN", "DL", "MR")
_SHOWN_TYPES = frozenset({"MR", ""})  # record numbers are shown; identity documents are masked
_PHONE_CLEAN = re.compile(r"[\s()]")


def _resident_id(value: str) -> str | None:
    try:
        return parse_resident_id(value, today=clock.today()).number
    except InvalidInput:
        return None


def national_id_of(resource: dict[str, Any], fallback_key: str = "") -> str:
    """The identity smartcare keeps for an imported patient (see the module docstring)."""
    items = [i for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    for item in items:
        if item.get("system") == RESIDENT_ID_SYSTEM or identifier_type(item) in ("NNCHN", "NI"):
            number = _resident_id(str(item["value"]))
            if number:
                return number
    ranked = sorted(
        (i for i in items if i.get("system")),
        key=lambda i: (
            _DOCUMENT_TYPES.index(identifier_type(i)) if identifier_type(i) in _DOCUMENT_TYPES else 99
        ),
    )
    if ranked:
        return f"{ranked[0]['system']}|{ranked[0]['value']}"
    return fallback_key


def _national_identifier(national_id: str) -> dict[str, Any]:
    if "|" in national_id:
        system, value = national_id.split("|", 1)
        return identifier(system, mask(value))
    return identifier(RESIDENT_ID_SYSTEM, mask(national_id), type_code="NNCHN", use="official")


def _phone(resource: dict[str, Any]) -> str:
    phones = [t for t in resource.get("telecom") or [] if isinstance(t, dict) and t.get("system") == "phone"]
    phones.sort(key=lambda t: 0 if t.get("use") == "mobile" else 1)
    return _PHONE_CLEAN.sub("", str(phones[0].get("value", "")))[:32] if phones else ""


def _address(resource: dict[str, Any]) -> str:
    for address in resource.get("address") or []:
        if not isinstance(address, dict):
            continue
        if address.get("text"):
            return str(address["text"])[:300]
        parts = [
            *(address.get("line") or []),
            address.get("city"),
            address.get("district"),
            address.get("state"),
        ]
        parts += [address.get("postalCode"), address.get("country")]
        return ", ".join(str(x) for x in parts if x)[:300]
    return ""


def _contact(resource: dict[str, Any]) -> tuple[str, str]:
    for contact in resource.get("contact") or []:
        if not isinstance(contact, dict):
            continue
        name = human_name_text([contact["name"]]) if isinstance(contact.get("name"), dict) else ""
        phone = _phone(contact)
        if name or phone:
            return name[:100], phone
    return "", ""


def to_fhir(patient: Patient) -> dict[str, Any]:
    identifiers = [identifier(MRN_SYSTEM, patient.medical_record_number, type_code="MR", use="usual")]
    if patient.national_id:
        identifiers.append(_national_identifier(patient.national_id))
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": meta(patient.updated_at),
        "identifier": identifiers,
        "active": True,
        "name": [human_name(patient.name)],
        "telecom": [{"system": "phone", "value": patient.masked_phone, "use": "mobile"}]
        if patient.phone
        else [],
        "gender": patient.sex if patient.sex in ("male", "female") else "unknown",
        "birthDate": fhir_date(patient.birth_date),
        "deceasedBoolean": True if patient.is_deceased else None,
        "address": [{"use": "home", "text": patient.address}] if patient.address else [],
    }
    if patient.emergency_contact_name or patient.emergency_contact_phone:
        contact: dict[str, Any] = {
            "relationship": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"}]}
            ]
        }
        if patient.emergency_contact_name:
            contact["name"] = {"text": patient.emergency_contact_name}
        if patient.emergency_contact_phone:
            value = patient.emergency_contact_phone
            contact["telecom"] = [
                {"system": "phone", "value": value[:3] + "****" + value[-4:] if len(value) >= 7 else ""}
            ]
        resource["contact"] = [contact]
    return drop_empty(resource)


def _identifier_filter(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    conditions = []
    for token in values:
        if not token.code:
            continue
        if token.system in (None, "", MRN_SYSTEM):
            conditions.append(models.Q(medical_record_number=token.code))
        if token.system in (None, "", RESIDENT_ID_SYSTEM):
            conditions.append(models.Q(national_id_hash__in=crypto.blind_indexes(token.code)))
        if token.system:
            conditions.append(
                models.Q(national_id_hash__in=crypto.blind_indexes(f"{token.system}|{token.code}"))
            )
            conditions.append(identifier_condition("Patient", "patients.Patient", token.system, token.code))
    return rows.filter(p.q_any(conditions))


def _gender_filter(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    wanted = [{"male": "male", "female": "female"}.get(t.code, "") for t in values]
    return rows.filter(sex__in=wanted)


SOURCE = Source(
    model=Patient,
    to_fhir=to_fhir,
    patient_field="pk",
    filters={
        "identifier": _identifier_filter,
        "name": p.by_text("name"),
        "birthdate": p.by_date("birth_date", is_date=True),
        "gender": _gender_filter,
    },
    sort={"name": "name", "birthdate": "birth_date"},
)
standard_filters(SOURCE, "Patient")


class PatientMapping(Mapping):
    resource_type = "Patient"
    access = Access.PATIENT_VIEW
    sources = [SOURCE]
    params = [
        *COMMON_PARAMS,
        ParamSpec("name", ParamKind.STRING, "part of the name"),
        ParamSpec("birthdate", ParamKind.DATE),
        ParamSpec("gender", ParamKind.TOKEN, "male | female | unknown"),
    ]
    rank = 0
    writable = True
    write_capability = "patients.register"
    store_fallback = False  # a patient outside the registry could not be cared for
    match_by_identifier = True  # the same identifier is the same person or place
    description = "patients.Patient"

    def find_existing(self, resource: dict[str, Any], ctx: WriteContext) -> Any:
        national_id = national_id_of(resource)
        if not national_id:
            return None
        return Patient.objects.by_national_id(national_id).first()

    def _fields(self, resource: dict[str, Any], fallback_key: str) -> dict[str, Any]:
        name = human_name_text(resource.get("name"))[:100]
        if not name:
            raise NotRepresentable(resource_type="Patient", reason="the patient has no name")
        birth = parse_date(resource.get("birthDate"))
        if birth is None:
            raise NotRepresentable(resource_type="Patient", reason="the patient has no birth date")
        national_id = national_id_of(resource, fallback_key)
        if not national_id:
            raise NotRepresentable(resource_type="Patient", reason="the patient has no identifier")
        phone = _phone(resource)
        contact_name, contact_phone = _contact(resource)
        deceased = bool(resource.get("deceasedBoolean")) or bool(resource.get("deceasedDateTime"))
        gender = resource.get("gender")
        return {
            "name": name,
            "sex": gender if gender in ("male", "female") else "",
            "birth_date": birth,
            "national_id": national_id,
            "national_id_hash": crypto.blind_index(national_id),
            "phone": phone,
            "phone_hash": crypto.blind_index(phone) if phone else "",
            "address": _address(resource),
            "emergency_contact_name": contact_name,
            "emergency_contact_phone": contact_phone,
            "is_deceased": deceased,
            "updated_at": clock.now(),
        }

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        fields = self._fields(resource, ctx.cache.get("fallback_key", ""))
        if existing is not None and existing.national_id_hash != fields["national_id_hash"]:
            # The identity document of a registered patient is fixed (as on the pages).
            for name in ("national_id", "national_id_hash"):
                fields.pop(name)
        return Plan(
            source=SOURCE,
            fields=fields,
            create_fields={"medical_record_number": "TMP" + secrets.token_hex(8), "created_at": clock.now()},
            unique_key=("national_id_hash", fields.get("national_id_hash")),
        )

    def created(self, rows: list[Any]) -> None:
        # Record numbers come from the row ids, as in registration.
        pks = [row.pk for row in rows]
        Patient.objects.filter(pk__in=pks).update(
            medical_record_number=Concat(Value("MRN"), LPad(Cast("pk", models.CharField()), 8, Value("0")))
        )
        for row in rows:
            row.medical_record_number = f"MRN{row.pk:08d}"

    def create_with_service(self, actor: Any, resource: dict[str, Any], ctx: WriteContext) -> Any:
        from smartcare.patients.services import PatientData, register_patient

        number = None
        for item in resource.get("identifier") or []:
            if isinstance(item, dict) and (
                item.get("system") == RESIDENT_ID_SYSTEM or identifier_type(item) in ("NNCHN", "NI")
            ):
                number = str(item.get("value", ""))
        if number is None:
            raise InvalidInput(
                errors={
                    "Patient.identifier": [f"a resident ID ({RESIDENT_ID_SYSTEM}) is required to register"]
                }
            )
        gender = resource.get("gender")
        contact_name, contact_phone = _contact(resource)
        data = PatientData(
            name=human_name_text(resource.get("name")),
            national_id=number,
            phone=_phone(resource),
            sex=gender if gender in ("male", "female") else "",
            birth_date=parse_date(resource.get("birthDate")),
            address=_address(resource),
            emergency_contact_name=contact_name,
            emergency_contact_phone=contact_phone,
        )
        return register_patient(actor, data)

    def update_with_service(self, actor: Any, row: Any, resource: dict[str, Any], ctx: WriteContext) -> Any:
        from smartcare.patients.services import update_patient

        contact_name, contact_phone = _contact(resource)
        changes = {
            "name": human_name_text(resource.get("name")) or row.name,
            "phone": _phone(resource),
            "address": _address(resource),
            "emergency_contact_name": contact_name,
            "emergency_contact_phone": contact_phone,
        }
        # A masked number sent back unchanged is not a change.
        if "*" in changes["phone"]:
            changes["phone"] = row.phone
        if "*" in changes["emergency_contact_phone"]:
            changes["emergency_contact_phone"] = row.emergency_contact_phone
        return update_patient(actor, row.pk, changes)

    def merge(self, received: dict[str, Any], mapped: dict[str, Any]) -> dict[str, Any]:
        shown = []
        for item in received.get("identifier") or []:
            if not isinstance(item, dict):
                continue
            if identifier_type(item) in _SHOWN_TYPES:
                shown.append(item)
            elif item.get("value"):
                shown.append({**item, "value": mask(str(item["value"]))})
        received = {**received, "identifier": shown}
        received.pop("telecom", None)
        received.pop("contact", None)
        if _address(received) == (mapped.get("address") or [{}])[0].get("text", ""):
            mapped = {k: v for k, v in mapped.items() if k != "address"}
        if received.get("name") and human_name_text(received["name"]) == human_name_text(mapped.get("name")):
            mapped = {k: v for k, v in mapped.items() if k != "name"}
        return merge(received, mapped, owned=("telecom", "contact", "deceasedBoolean", "deceasedDateTime"))


register(PatientMapping())
