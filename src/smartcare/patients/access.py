"""Patient-level access: the one place that decides whether a user may see a patient.

* ``visibility_filter(user)`` turns the rules into a query condition, used by
  ``Patient.objects.visible_to(user)`` for lists and searches.
* ``access_patient(user, patient, action)`` opens one patient for one action, writes the
  audit event, and raises ``NotFound`` both when the patient does not exist and when the user
  may not see them, so the two cannot be told apart.

Rules: patients see themselves and the family members linked to them; external channels see
the patients who signed in through them (channel bindings); doctors, nurses and
department heads see patients with an active care relationship with their department or with
them personally, or for whom they broke the glass with a written reason; front-desk staff see
demographics of every patient (registration, check-in) but never the clinical record; other
roles see no identified patient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import Q

from smartcare.accounts.choices import CLINICAL_ROLES, Role
from smartcare.accounts.models import BreakGlassGrant, CareRelationship
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import context
from smartcare.core.errors import NotFound
from smartcare.patients.choices import AccessAction

# Later modules add visibility (a patient's linked family members, a channel acting for a
# patient) by registering a function user -> Q | None.
_EXTRA_RULES: list[Callable[[Any], Q | None]] = []

_ALLOWED_ACTIONS: dict[str, set[str]] = {
    Role.PATIENT: {AccessAction.VIEW, AccessAction.UPDATE, AccessAction.CLINICAL, AccessAction.EXPORT},
    Role.DOCTOR: {AccessAction.VIEW, AccessAction.UPDATE, AccessAction.CLINICAL, AccessAction.EXPORT},
    Role.NURSE: {AccessAction.VIEW, AccessAction.UPDATE, AccessAction.CLINICAL},
    Role.DEPARTMENT_HEAD: {
        AccessAction.VIEW,
        AccessAction.UPDATE,
        AccessAction.CLINICAL,
        AccessAction.EXPORT,
    },
    Role.FRONT_DESK: {AccessAction.VIEW, AccessAction.UPDATE},
    # A channel acts for patients bound to it: it may see and book for them, not read records.
    Role.CHANNEL: {AccessAction.VIEW, AccessAction.UPDATE},
    # Devices (kiosks) act for a patient only while the patient is present (see visits.access).
    Role.DEVICE: {AccessAction.VIEW},
}

_AUDIT_ACTION = {
    AccessAction.VIEW: AuditAction.READ,
    AccessAction.CLINICAL: AuditAction.READ,
    AccessAction.UPDATE: AuditAction.UPDATE,
    AccessAction.EXPORT: AuditAction.EXPORT,
}


def register_visibility_rule(rule: Callable[[Any], Q | None]) -> None:
    if rule not in _EXTRA_RULES:
        _EXTRA_RULES.append(rule)


def _department_id(user: Any) -> int | None:
    practitioner = getattr(user, "practitioner", None)
    return getattr(practitioner, "department_id", None)


def visibility_filter(user: Any) -> Q | None:
    """A condition on Patient for what ``user`` may see; ``None`` means nothing."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    role = getattr(user, "role", "")
    condition: Q | None = None
    if role == Role.PATIENT:
        from smartcare.patients.models import FamilyLink

        condition = Q(user=user) | Q(
            pk__in=FamilyLink.objects.filter(user=user, ended_at=None).values("patient_id")
        )
    elif role == Role.CHANNEL:
        from smartcare.patients.models import ChannelBinding

        condition = Q(
            pk__in=ChannelBinding.objects.filter(channel_user=user, revoked_at=None).values("patient_id")
        )
    elif role in CLINICAL_ROLES:
        relationships = CareRelationship.objects.active()
        department_id = _department_id(user)
        mine = Q(practitioner_user=user)
        if department_id is not None:
            mine |= Q(department_id=department_id, practitioner_user__isnull=True)
        condition = Q(pk__in=relationships.filter(mine).values("patient_id")) | Q(
            pk__in=BreakGlassGrant.objects.active().filter(user=user).values("patient_id")
        )
    elif role == Role.FRONT_DESK:
        condition = Q()
    for rule in _EXTRA_RULES:
        extra = rule(user)
        if extra is not None:
            condition = extra if condition is None else condition | extra
    return condition


def may(user: Any, action: str) -> bool:
    return str(action) in _ALLOWED_ACTIONS.get(getattr(user, "role", ""), set())


def access_patient(
    user: Any,
    patient: Any,
    action: str | AccessAction = AccessAction.VIEW,
    *,
    reason: str = "",
    obj: Any = None,
    audit: bool = True,
) -> Any:
    """Open ``patient`` (a Patient, its primary key or its one code) for ``action``.

    Returns the Patient. Writes an audit event (unless the caller records its own write event
    with ``audit=False``); a refusal is audited too and raises ``NotFound``.
    """
    from smartcare.patients.models import Patient

    action = AccessAction(str(action))
    if isinstance(patient, Patient):
        patient_id: Any = patient.pk
    elif isinstance(patient, str) and patient.startswith("P") and not patient.isdigit():
        found = Patient.objects.filter(one_code=patient).values_list("pk", flat=True).first()
        patient_id = found
    else:
        try:
            patient_id = int(patient)
        except (TypeError, ValueError):
            patient_id = None
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    loaded: Any = None
    if patient_id is not None and authenticated and may(user, action):
        # One query answers both "may see" and "the row": a Patient given by the caller is
        # checked with exists(), an id is loaded through the visibility filter.
        visible = Patient.objects.visible_to(user).filter(pk=patient_id)
        given = isinstance(patient, Patient)
        loaded = (patient if visible.exists() else None) if given else visible.first()
    allowed = loaded is not None
    if not allowed:
        if authenticated and patient_id is not None:

            def audit_refusal() -> None:
                record(
                    user,
                    AuditAction.DENIED,
                    patient=patient_id,
                    obj=obj or ("patients.Patient", patient_id),
                    detail={"action": str(action)},
                )

            # Inside a service's transaction the refusal would roll back with it: record it after
            # the request instead (outside a request, there is no later: record it now).
            if not (connection.in_atomic_block and context.defer(audit_refusal)):
                audit_refusal()
        raise NotFound()
    if audit:
        record(
            user,
            _AUDIT_ACTION[action],
            patient=loaded,
            obj=obj or loaded,
            reason=reason,
            detail={"action": str(action)},
        )
    return loaded
