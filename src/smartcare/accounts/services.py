"""Writes about accounts: API tokens, care relationships, break-the-glass.

Every service is atomic and writes its audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from smartcare.accounts.choices import BreakGlassStatus, CareRelationshipKind, Role
from smartcare.accounts.errors import (
    AlreadyReviewed,
    BreakGlassNotAllowed,
    BreakGlassReasonRequired,
    InvalidToken,
    ReviewNotAllowed,
    TokenOwnerNotAllowed,
)
from smartcare.accounts.models import ApiToken, BreakGlassGrant, CareRelationship, User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import has_capability, require_capability
from smartcare.notifications.services import notify

BREAK_GLASS_MIN_REASON = 15


@transaction.atomic
def create_api_token(actor: Any, *, user: User, name: str, expires_at: dt.datetime | None = None) -> str:
    """Create a token for ``user`` (an integration identity). Returns the secret, shown once."""
    require_capability(actor, "accounts.api_tokens")
    if not user.is_machine or not user.is_active:
        # A token skips two-factor sign-in, so people never get one: integrations use a machine
        # identity (device or channel) of their own.
        raise TokenOwnerNotAllowed()
    prefix, secret = ApiToken.new_secret()
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, token_hash=ApiToken.hash(secret), expires_at=expires_at
    )
    record(actor, AuditAction.TOKEN, obj=token, detail={"event": "created", "for_user": user.username})
    return secret


@transaction.atomic
def revoke_api_token(actor: Any, token: ApiToken) -> None:
    require_capability(actor, "accounts.api_tokens")
    token.revoked_at = clock.now()
    token.save(update_fields=["revoked_at", "updated_at"])
    record(actor, AuditAction.TOKEN, obj=token, detail={"event": "revoked"})


# How long a token's row (with its user) is kept in the cache. Revoking a token, changing it, or
# saving its user (deactivation, role) drops the cached copy at once (signals); with the
# embedded local-memory cache that reaches only the process that made the change, so another
# web worker may accept a revoked token for at most this long.
TOKEN_CACHE_SECONDS = 60


def _token_cache_key(prefix: str) -> str:
    return f"smartcare:apitoken:{prefix}"


def forget_cached_tokens(prefixes: list[str]) -> None:
    from django.core.cache import cache

    if prefixes:
        cache.delete_many([_token_cache_key(p) for p in prefixes])


def authenticate_token(raw: str) -> User:
    """The user behind a bearer token, or ``InvalidToken``. Constant work for unknown prefixes.

    Every request of an integration presents its token: the row and its user come from the
    cache (one look-up instead of a query), for at most TOKEN_CACHE_SECONDS."""
    from django.core.cache import cache

    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "sc":
        raise InvalidToken()
    key = _token_cache_key(parts[1][:16])
    token: ApiToken | None = cache.get(key)
    if token is None:
        token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
        if token is not None:
            cache.set(key, token, TOKEN_CACHE_SECONDS)
    expected = token.token_hash if token else "0" * 64
    if not hmac.compare_digest(expected, ApiToken.hash(raw)) or token is None or not token.is_usable:
        raise InvalidToken()
    if not token.user.is_active:
        raise InvalidToken()
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
        cache.set(key, token, TOKEN_CACHE_SECONDS)
    return token.user


def register_care_relationship(
    *,
    patient: Any,
    department: Any,
    kind: str | CareRelationshipKind,
    source: str = "",
    practitioner_user: User | None = None,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    new_source: bool = False,
) -> CareRelationship:
    """The one way modules say "this department (or this clinician) now cares for this patient".

    Idempotent per (patient, department, kind, source): registering the same source again
    updates its validity instead of creating a second relationship. ``new_source=True`` says the
    source was created in this transaction (a new booking), so there is nothing to update: one
    INSERT instead of a locked look-up and a savepoint (the unique constraint still holds).
    """
    if new_source:
        return CareRelationship.objects.create(
            patient=patient,
            department=department,
            kind=str(kind),
            source=source,
            practitioner_user=practitioner_user,
            valid_from=valid_from or clock.now(),
            valid_until=valid_until,
        )
    relationship, _created = CareRelationship.objects.update_or_create(
        patient=patient,
        department=department,
        kind=str(kind),
        source=source,
        defaults={
            "practitioner_user": practitioner_user,
            "valid_from": valid_from or clock.now(),
            "valid_until": valid_until,
            "ended_at": None,
        },
    )
    return relationship


def end_care_relationship(*, source: str) -> int:
    return CareRelationship.objects.filter(source=source, ended_at=None).update(ended_at=clock.now())


@transaction.atomic
def break_the_glass(user: Any, patient: Any, reason: str) -> BreakGlassGrant:
    """Grant ``user`` emergency access to ``patient`` for SMARTCARE_BREAK_GLASS_HOURS.

    The reason is mandatory, the grant is audited, and department heads of the user's department
    are told so that they review it.
    """
    if not has_capability(user, "patients.break_glass"):
        raise BreakGlassNotAllowed()
    reason = (reason or "").strip()
    if len(reason) < BREAK_GLASS_MIN_REASON:
        raise BreakGlassReasonRequired(field="reason", min=BREAK_GLASS_MIN_REASON)
    department_id = getattr(getattr(user, "practitioner", None), "department_id", None)
    grant = BreakGlassGrant.objects.create(
        user=user,
        patient=patient,
        department_id=department_id,
        reason=reason,
        expires_at=clock.now() + dt.timedelta(hours=settings.SMARTCARE_BREAK_GLASS_HOURS),
    )
    record(user, AuditAction.BREAK_GLASS, patient=patient, obj=grant, reason=reason)
    heads = (
        # A head who broke the glass cannot review their own access (auditors do), so is not asked to.
        User.objects.filter(
            role=Role.DEPARTMENT_HEAD, is_active=True, practitioner__department_id=department_id
        ).exclude(pk=user.pk)
        if department_id is not None
        else User.objects.none()
    )
    for head in heads:
        notify(
            head,
            category="break_glass",
            subject=_("Break-the-glass access to review"),
            body=_("%(user)s opened a patient record without a care relationship. Reason: %(reason)s")
            % {"user": str(user), "reason": reason},
            link="/accounts/break-glass/reviews/",
        )
    return grant


def break_glass_reviewable(user: Any) -> Any:
    """Grants this user may review: all for auditors, their department's for department heads."""
    if not has_capability(user, "audit.break_glass_review"):
        return BreakGlassGrant.objects.none()
    grants = BreakGlassGrant.objects.select_related("user", "patient", "department")
    if user.role == Role.AUDITOR:
        return grants
    department_id = getattr(getattr(user, "practitioner", None), "department_id", None)
    if department_id is None:
        return grants.none()
    return grants.filter(department_id=department_id).exclude(user=user)


@transaction.atomic
def review_break_glass(
    reviewer: Any, grant_id: int, *, justified: bool, comment: str = ""
) -> BreakGlassGrant:
    # Lock only the grant: PostgreSQL refuses FOR UPDATE on the outer-joined (nullable) department.
    grant = break_glass_reviewable(reviewer).select_for_update(of=("self",)).filter(pk=grant_id).first()
    if grant is None:
        raise ReviewNotAllowed()
    if grant.status != BreakGlassStatus.PENDING_REVIEW:
        raise AlreadyReviewed()
    grant.status = BreakGlassStatus.JUSTIFIED if justified else BreakGlassStatus.UNJUSTIFIED
    grant.reviewed_by = reviewer
    grant.reviewed_at = clock.now()
    grant.review_comment = comment.strip()
    grant.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_comment", "updated_at"])
    record(
        reviewer,
        AuditAction.UPDATE,
        patient=grant.patient_id,
        obj=grant,
        detail={"review": grant.status},
        reason=grant.review_comment,
    )
    return grant
