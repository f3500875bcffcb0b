"""Every sign-in, failure, lockout and sign-out goes into the audit trail."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
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


# Cached API tokens (accounts.services.authenticate_token) are dropped when the token or its user
# changes, so a revoked token or a deactivated identity is refused at once.
def _forget_token(sender: Any, instance: Any, **kwargs: Any) -> None:
    from smartcare.accounts.services import forget_cached_tokens

    forget_cached_tokens([instance.prefix])


def _forget_user_tokens(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    from smartcare.accounts.models import ApiToken
    from smartcare.accounts.services import forget_cached_tokens

    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a sign-in changes nothing a token depends on
    forget_cached_tokens(list(ApiToken.objects.filter(user_id=instance.pk).values_list("prefix", flat=True)))


def _connect_token_cache_receivers() -> None:
    from django.conf import settings

    from smartcare.accounts.models import ApiToken

    post_save.connect(_forget_token, sender=ApiToken, dispatch_uid="smartcare-forget-token")
    post_delete.connect(_forget_token, sender=ApiToken, dispatch_uid="smartcare-forget-token-deleted")
    post_save.connect(
        _forget_user_tokens, sender=settings.AUTH_USER_MODEL, dispatch_uid="smartcare-forget-user"
    )


_connect_token_cache_receivers()
