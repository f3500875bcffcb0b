"""Permission rules for remote consultation: the pages under /telemedicine/ and the API under
/api/telemedicine/.

``setup`` writes two consultations directly (the callers differ in whom they may see, the world
must not): ``tm_requested``, the cardiologist ("doctor") asking the neurologist about the patient in
care, not accepted yet; ``tm_accepted``, the same pair about the patient with the portal account,
accepted, with the neurologist's time-limited care relationship for that patient.

Capabilities: ``telemedicine.request`` and ``telemedicine.consult`` (doctors and department heads),
``telemedicine.review`` (department heads: discordant cases), ``telemedicine.reports`` (heads and
operations managers: indicators). A consultation is seen by its requester, its expert and the heads
of both departments; only the expert accepts, declines and answers (others who see it get 403
TM-004); only the two participants get a room token (the head gets 403 TM-008). Asking about a
patient needs access to that patient: clinicians without care get 404 CORE-404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.accounts.choices import CareRelationshipKind
from smartcare.accounts.models import CareRelationship
from smartcare.core import clock
from smartcare.emr.icd10 import ensure_icd10
from smartcare.patients.models import Consent
from smartcare.telemedicine.models import Consultation, Opinion
from tests.test_permissions import (
    BREAK_GLASS,
    CARE,
    CLINICIANS,
    HEAD,
    MISSING_ID,
    NO_CARE,
    Rule,
    World,
)

WRITERS = frozenset({CARE, BREAK_GLASS, HEAD})
EXPERT = frozenset({NO_CARE, BREAK_GLASS})  # the neurologist, named expert
NOT_EXPERT = {CARE: 403, HEAD: 403}
HEADS = frozenset({HEAD})


def setup(world: World) -> None:
    ensure_icd10()
    h = world.h
    doctor, neurologist = h.user("doctor"), h.user("neurologist")
    now = clock.now()

    def consultation(patient: Any, **extra: Any) -> Consultation:
        consent = Consent.objects.create(
            patient=patient, kind="data_sharing", granted=True, recorded_by=doctor
        )
        return Consultation.objects.create(
            patient=patient,
            requester=doctor,
            requesting_department=h.cardiology,
            specialty=h.neurology,
            expert=neurologist,
            question="Stroke or TIA?",
            working_diagnosis_id="G45.9",
            consent=consent,
            requested_at=now,
            deadline_at=now + dt.timedelta(hours=24),
            **extra,
        )

    requested = consultation(h.patient_in_care)
    accepted = consultation(
        h.own_patient, status="accepted", accepted_at=now, access_until=now + dt.timedelta(days=7)
    )
    CareRelationship.objects.create(
        patient=h.own_patient,
        department=h.neurology,
        practitioner_user=neurologist,
        kind=CareRelationshipKind.CONSULTATION,
        source=f"telemedicine.consultation:{accepted.pk}",
        valid_from=now - dt.timedelta(minutes=1),
        valid_until=now + dt.timedelta(days=7),
    )
    world.extra.update(tm_requested=requested, tm_accepted=accepted)


def _id(name: str) -> Any:
    return lambda w, missing: {"consultation_id": MISSING_ID if missing else w.extra[name].pk}


_requested = _id("tm_requested")
_accepted = _id("tm_accepted")


def _request_form(world: World, missing: bool) -> dict[str, Any]:
    return {
        "specialty": str(world.h.neurology.pk),
        "question": "权限测试：卒中还是短暂性脑缺血发作？",
        "working_diagnosis": "G45.9",
        "urgency": "urgent",
        "consent": "on",
    }


def _request_json(world: World, missing: bool) -> dict[str, Any]:
    return {
        "patient_id": MISSING_ID if missing else world.target.pk,
        "specialty_id": world.h.neurology.pk,
        "question": "权限测试：卒中还是短暂性脑缺血发作？",
        "working_diagnosis": "G45.9",
        "consent_given": True,
    }


def _requested_by_caller(world: World, kind: str, response: Any) -> None:
    mine = Consultation.objects.filter(requester=world.user, patient=world.target).exclude(
        pk__in=[world.extra["tm_requested"].pk, world.extra["tm_accepted"].pk]
    )
    assert mine.count() == 1 and mine.get().consent.kind == "data_sharing"


def _status(name: str, status: str) -> Any:
    def check(world: World, kind: str, response: Any) -> None:
        assert Consultation.objects.get(pk=world.extra[name].pk).status == status

    return check


def _answered(world: World, kind: str, response: Any) -> None:
    opinion = Opinion.objects.get(consultation=world.extra["tm_accepted"])
    assert opinion.expert == world.user and opinion.concordance == "same_code"


RULES: list[Rule] = [
    # --- pages ---
    Rule("GET", "/telemedicine/", CLINICIANS),
    Rule("GET", "/telemedicine/patients/{patient_id}/new/", WRITERS, special={NO_CARE: 404}, record=True),
    Rule(
        "POST",
        "/telemedicine/patients/{patient_id}/new/",
        WRITERS,
        ok=302,
        special={NO_CARE: 404},
        record=True,
        payload=_request_form,
        effect=_requested_by_caller,
    ),
    Rule("GET", "/telemedicine/consultations/{consultation_id}/", CLINICIANS, params=_requested),
    Rule(
        "POST",
        "/telemedicine/consultations/{consultation_id}/",
        EXPERT,
        ok=302,
        special=NOT_EXPERT,
        params=_requested,
        payload=lambda w, m: {"action": "accept"},
        effect=_status("tm_requested", "accepted"),
    ),
    Rule(
        "GET",
        "/telemedicine/consultations/{consultation_id}/room/",
        EXPERT | {CARE},
        special={HEAD: 403},
        params=_accepted,
    ),
    Rule("GET", "/telemedicine/quality/", HEADS),
    Rule("GET", "/telemedicine/indicators/", HEADS),
    # --- API ---
    Rule("GET", "/api/telemedicine/consultations", CLINICIANS),
    Rule(
        "POST",
        "/api/telemedicine/consultations",
        WRITERS,
        ok=201,
        special={NO_CARE: 404},
        payload=_request_json,
        effect=_requested_by_caller,
    ),
    Rule("GET", "/api/telemedicine/consultations/{consultation_id}", CLINICIANS, params=_requested),
    Rule(
        "POST",
        "/api/telemedicine/consultations/{consultation_id}/accept",
        EXPERT,
        special=NOT_EXPERT,
        params=_requested,
        effect=_status("tm_requested", "accepted"),
    ),
    Rule(
        "POST",
        "/api/telemedicine/consultations/{consultation_id}/decline",
        EXPERT,
        special=NOT_EXPERT,
        params=_requested,
        payload=lambda w, m: {"reason": "请转卒中中心"},
        effect=_status("tm_requested", "declined"),
    ),
    Rule(
        "POST",
        "/api/telemedicine/consultations/{consultation_id}/opinion",
        EXPERT,
        special=NOT_EXPERT,
        params=_accepted,
        payload=lambda w, m: {"diagnosis": "G45.9", "recommendations": "阿司匹林"},
        effect=_answered,
    ),
    Rule(
        "POST",
        "/api/telemedicine/consultations/{consultation_id}/room-token",
        EXPERT | {CARE},
        special={HEAD: 403},
        params=_accepted,
    ),
    Rule("GET", "/api/telemedicine/indicators", HEADS),
]
