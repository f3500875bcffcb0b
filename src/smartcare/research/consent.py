"""Research consent: who may appear in cohorts and exports.

Consent decisions are ``patients.Consent`` rows of kind ``research``: one row per decision, never
updated, so the history is kept; each is audited. The latest decision counts. A patient without any
research decision is included (the hospital's notice covers de-identified research use), and one
whose latest decision is a withdrawal is excluded from every cohort count and every export.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import OuterRef, Subquery

from smartcare.patients.choices import ConsentKind
from smartcare.patients.models import Consent


def _latest_research_decisions() -> Any:
    latest = (
        Consent.objects.filter(patient_id=OuterRef("patient_id"), kind=ConsentKind.RESEARCH)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    return Consent.objects.filter(kind=ConsentKind.RESEARCH, id=Subquery(latest))


def withdrawn_patient_ids() -> set[int]:
    """Primary keys of the patients whose latest research consent decision is a withdrawal."""
    return set(_latest_research_decisions().filter(granted=False).values_list("patient_id", flat=True))


def research_consent_status(patient_id: int) -> bool | None:
    """The patient's current decision: True (granted), False (withdrawn), None (never decided)."""
    row = (
        Consent.objects.filter(patient_id=patient_id, kind=ConsentKind.RESEARCH)
        .order_by("-created_at", "-id")
        .values_list("granted", flat=True)
        .first()
    )
    return row


def research_consent_history(patient_id: int) -> list[Consent]:
    return list(
        Consent.objects.filter(patient_id=patient_id, kind=ConsentKind.RESEARCH)
        .select_related("recorded_by")
        .order_by("-created_at", "-id")
    )


@transaction.atomic
def record_research_consent(actor: Any, patient: Any, *, granted: bool, note: str = "") -> Consent:
    """Record a grant or a withdrawal by the patient (portal) or by staff for the patient.

    Goes through the registry's ``record_consent`` service: the actor must be able to open the
    patient for an update (a patient: their own record), and the decision is audited."""
    from smartcare.patients.services import record_consent
    from smartcare.research.errors import ConsentInvalid

    if not isinstance(granted, bool):
        raise ConsentInvalid(reason="granted", field="granted")
    if len(note or "") > 300:
        raise ConsentInvalid(reason="note", field="note")
    return record_consent(actor, patient, ConsentKind.RESEARCH, granted, note or "")
