"""Permission rules for decision support: CDS Hooks under /cds-services and the review pages.

* Discovery is public (CDS clients read it to configure themselves; it holds no patient data).
* Calling a service and sending feedback need ``cdss.hooks`` (clinicians; device identities
  standing for external EMRs). Clinicians also need access to the patient (``access_patient``):
  without it, 404 CORE-404 as for a patient that does not exist. A device's patient ids are the
  external system's own, so its requests never touch our patients' records.
* Feedback on a card: the user it was shown to, or whoever may open its patient.
* The review pages need ``cdss.review`` (department heads, the IT administrator).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from smartcare.cdss.models import Consultation, Rule, RuleFiring
from tests.test_permissions import (
    ADMIN,
    BREAK_GLASS,
    CARE,
    DEVICE,
    EVERYONE,
    HEAD,
    MISSING_ID,
    NO_CARE,
    World,
)
from tests.test_permissions import (
    Rule as PermissionRule,
)

HOOK_CALLERS = frozenset({CARE, BREAK_GLASS, HEAD, DEVICE})
REVIEWERS = frozenset({HEAD, ADMIN})
SERVICE = {"service_id": "smartcare-order-sign"}


def setup(world: World) -> None:
    """A card shown to the cardiology doctor about the caller's target patient."""
    rule = Rule.objects.get(key="ddi.clarithromycin.simvastatin", is_active=True)
    doctor = world.h.user("doctor")
    consultation = Consultation.objects.create(
        hook="order-sign",
        hook_instance=str(uuid.uuid4()),
        user=doctor,
        patient=world.target,
        patient_ref=f"sc-{world.target.pk}",
    )
    firing = RuleFiring.objects.create(
        card_uuid=uuid.uuid4(),
        consultation=consultation,
        rule=rule,
        hook="order-sign",
        indicator=rule.indicator,
        summary="interaction",
        user=doctor,
        patient=world.target,
        patient_ref=consultation.patient_ref,
    )
    world.extra["card"] = str(firing.card_uuid)


def _order_sign(world: World, missing: bool) -> dict[str, Any]:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/1"},
        "medicationCodeableConcept": {
            "coding": [{"system": "https://smartcare.example/knowledge", "code": "drug:amlodipine"}]
        },
    }
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/1",
            "patientId": str(MISSING_ID if missing else world.target.pk),
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]},
        },
        "prefetch": {"patient": {"resourceType": "Patient", "gender": "male", "birthDate": "1970-01-01"}},
    }


def _feedback(world: World, missing: bool) -> dict[str, Any]:
    card = str(uuid.uuid4()) if missing else world.extra["card"]
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "not-applicable"}, "userComment": "permission test"},
            }
        ]
    }


def _overridden(world: World, kind: str, response: Any) -> None:
    firing = RuleFiring.objects.get(card_uuid=world.extra["card"])
    assert firing.outcome == "overridden"
    assert firing.feedback_by == world.user


def _new_version(world: World, kind: str, response: Any) -> None:
    assert Rule.objects.get(key="duplicate.ppis", is_active=True).version == 2


def _version_form(world: World, missing: bool) -> dict[str, Any]:
    return {
        "indicator": "info",
        "enabled": "on",
        "departments": "",
        "parameters": json.dumps({"classes": ["drug_class:ppis"]}),
        "condition": "",
        "note": "permission test",
    }


RULES = [
    PermissionRule("GET", "/cds-services", EVERYONE),
    PermissionRule("GET", "/cds-services/{service_id}", EVERYONE, ok=405, params=lambda w, m: SERVICE),
    PermissionRule(
        "POST",
        "/cds-services/{service_id}",
        HOOK_CALLERS,
        anon=401,
        special={NO_CARE: 404},
        record=True,
        params=lambda w, m: SERVICE,
        payload=_order_sign,
    ),
    PermissionRule(
        "GET", "/cds-services/{service_id}/feedback", EVERYONE, ok=405, params=lambda w, m: SERVICE
    ),
    PermissionRule(
        "POST",
        "/cds-services/{service_id}/feedback",
        HOOK_CALLERS - {DEVICE},
        anon=401,
        special={NO_CARE: 404, DEVICE: 404},
        record=True,
        params=lambda w, m: SERVICE,
        payload=_feedback,
        effect=_overridden,
    ),
    PermissionRule("GET", "/cdss/rules/", REVIEWERS),
    PermissionRule("GET", "/cdss/rules/{key}/", REVIEWERS, params=lambda w, m: {"key": "duplicate.ppis"}),
    PermissionRule(
        "POST",
        "/cdss/rules/{key}/",
        REVIEWERS,
        ok=302,
        params=lambda w, m: {"key": "duplicate.ppis"},
        payload=_version_form,
        effect=_new_version,
    ),
]
