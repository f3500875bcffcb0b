from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import Field

from smartcare.accounts.errors import BreakGlassNotAllowed
from smartcare.accounts.services import break_the_glass
from smartcare.core.permissions import has_capability
from smartcare.patients import selectors, services
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient
from smartcare.patients.qr import one_code_svg

router = Router(tags=["patients"])


class PatientSummaryOut(Schema):
    id: int
    medical_record_number: str
    name: str
    sex: str
    birth_date: dt.date
    age: int


class PatientOut(PatientSummaryOut):
    national_id_masked: str
    phone_masked: str
    address: str
    emergency_contact_name: str
    insurance_type: str
    one_code: str


def _summary(p: Patient) -> dict[str, Any]:
    return {
        "id": p.pk,
        "medical_record_number": p.medical_record_number,
        "name": p.name,
        "sex": p.sex,
        "birth_date": p.birth_date,
        "age": p.age,
    }


def _detail(p: Patient) -> dict[str, Any]:
    return {
        **_summary(p),
        "national_id_masked": p.masked_national_id,
        "phone_masked": p.masked_phone,
        "address": p.address,
        "emergency_contact_name": p.emergency_contact_name,
        "insurance_type": p.insurance_type,
        "one_code": p.one_code,
    }


@router.get("/", response=list[PatientSummaryOut], summary="Search the patients you may see")
def search(request: HttpRequest, q: str = "", limit: int = 50) -> list[dict[str, Any]]:
    return [_summary(p) for p in selectors.search_patients(request.user, q, limit=max(1, min(limit, 200)))]


class PatientIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    national_id: str = Field(min_length=1, max_length=32)
    phone: str = Field(default="", max_length=32)
    sex: str = ""
    birth_date: dt.date | None = None
    address: str = Field(default="", max_length=300)
    emergency_contact_name: str = Field(default="", max_length=100)
    emergency_contact_phone: str = Field(default="", max_length=32)
    insurance_type: str = "self_pay"
    insurance_number: str = Field(default="", max_length=64)


@router.post("/", response={201: PatientOut}, summary="Register a patient")
def register(request: HttpRequest, payload: PatientIn) -> tuple[int, dict[str, Any]]:
    patient = services.register_patient(request.user, services.PatientData(**payload.dict()))
    return 201, _detail(patient)


@router.get("/me", response=PatientOut, summary="The signed-in patient's own record")
def me(request: HttpRequest) -> dict[str, Any]:
    own = selectors.patient_for_user(request.user)
    return _detail(access_patient(request.user, own.pk if own else None, AccessAction.VIEW))


@router.get("/by-code/{code}", response=PatientOut, summary="Open a patient by their one code (scan)")
def by_code(request: HttpRequest, code: str) -> dict[str, Any]:
    return _detail(access_patient(request.user, code if code.startswith("P") else None, AccessAction.VIEW))


# int: so that one-segment routes declared further down (/channel-bindings) are not taken for an id.
@router.get("/{int:patient_id}", response=PatientOut, summary="One patient")
def detail(request: HttpRequest, patient_id: int) -> dict[str, Any]:
    return _detail(access_patient(request.user, patient_id, AccessAction.VIEW))


class PatientUpdateIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)
    emergency_contact_name: str | None = Field(default=None, max_length=100)
    emergency_contact_phone: str | None = Field(default=None, max_length=32)
    insurance_type: str | None = None
    insurance_number: str | None = Field(default=None, max_length=64)


@router.patch("/{int:patient_id}", response=PatientOut, summary="Update contact and insurance details")
def update(request: HttpRequest, patient_id: int, payload: PatientUpdateIn) -> dict[str, Any]:
    changes = payload.dict(exclude_none=True)
    return _detail(services.update_patient(request.user, patient_id, changes))


class BreakGlassIn(Schema):
    reason: str = Field(max_length=2000)


class BreakGlassOut(Schema):
    id: int
    expires_at: dt.datetime


@router.post(
    "/{patient_id}/break-glass",
    response={201: BreakGlassOut},
    summary="Emergency access without a care relationship (audited, reviewed)",
)
def break_glass(request: HttpRequest, patient_id: int, payload: BreakGlassIn) -> tuple[int, dict[str, Any]]:
    # Refuse roles without break-the-glass before looking the patient up, so that the answer
    # does not tell them whether the patient exists.
    if not has_capability(request.user, "patients.break_glass"):
        raise BreakGlassNotAllowed()
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        from smartcare.core.errors import NotFound

        raise NotFound()
    grant = break_the_glass(request.user, patient, payload.reason)
    return 201, {"id": grant.pk, "expires_at": grant.expires_at}


@router.get("/{patient_id}/one-code.svg", summary="The patient's one code as an SVG QR code")
def one_code(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access_patient(request.user, patient_id, AccessAction.VIEW)
    return HttpResponse(one_code_svg(patient), content_type="image/svg+xml")


class ChannelBindingIn(Schema):
    national_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=1, max_length=32)
    external_id: str = Field(default="", max_length=100)


class ChannelBindingOut(Schema):
    id: int
    patient_id: int
    one_code: str


@router.post(
    "/channel-bindings",
    response={201: ChannelBindingOut},
    summary="An external channel binds itself to a patient it has verified (channel identities)",
)
def bind_channel(request: HttpRequest, payload: ChannelBindingIn) -> tuple[int, dict[str, Any]]:
    binding = services.bind_channel(
        request.user,
        national_id=payload.national_id,
        name=payload.name,
        phone=payload.phone,
        external_id=payload.external_id,
    )
    return 201, {"id": binding.pk, "patient_id": binding.patient_id, "one_code": binding.patient.one_code}


@router.post(
    "/channel-bindings/{binding_id}/revoke", response={204: None}, summary="Revoke a channel binding"
)
def revoke_binding(request: HttpRequest, binding_id: int) -> tuple[int, None]:
    services.revoke_channel_binding(request.user, binding_id)
    return 204, None


class FamilyLinkIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    relationship: str = Field(min_length=1, max_length=40)


class FamilyLinkOut(Schema):
    id: int
    patient_id: int
    username: str
    relationship: str


@router.post(
    "/{patient_id}/family-links",
    response={201: FamilyLinkOut},
    summary="Let a portal user book for this patient (front desk, after checking papers)",
)
def family_link(request: HttpRequest, patient_id: int, payload: FamilyLinkIn) -> tuple[int, dict[str, Any]]:
    link = services.link_family_member(
        request.user, patient_id, username=payload.username, relationship=payload.relationship
    )
    return 201, {
        "id": link.pk,
        "patient_id": link.patient_id,
        "username": link.user.username,
        "relationship": link.relationship,
    }
