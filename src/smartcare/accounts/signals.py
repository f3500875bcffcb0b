"""Every sign-in, failure, lockout and sign-out goes into the audit trail."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record(user, AuditAction.LOGIN, obj=user)


@receiver(user_logged_out)
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record(user, AuditAction.LOGOUT, obj=user)


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    record(None, AuditAction.LOGIN_FAILED, actor_username=str(credentials.get("username", ""))[:150])


@receiver(user_locked_out)
def audit_lockout(sender: Any, request: Any = None, username: str | None = None, **kwargs: Any) -> None:
    record(None, AuditAction.LOCKOUT, actor_username=(username or "")[:150])


@receiver(post_save, sender=LogEntry)
def audit_admin_change(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Changes made in the admin (roles, accounts, tokens, master data) go into the audit chain too."""
    if not created:
        return
    action = {ADDITION: AuditAction.CREATE, CHANGE: AuditAction.UPDATE, DELETION: AuditAction.DELETE}.get(
        instance.action_flag, AuditAction.UPDATE
    )
    content_type = instance.content_type
    record(
        instance.user,
        action,
        obj=(
            f"{content_type.app_label}.{content_type.model}" if content_type else "admin",
            instance.object_id or "",
        ),
        detail={
            "admin": True,
            "object": instance.object_repr[:200],
            "change": instance.get_change_message()[:500],
        },
    )
