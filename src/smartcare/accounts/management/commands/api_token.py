"""``smartcare api-token create USER NAME`` / ``revoke PREFIX`` / ``list``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from smartcare.accounts.models import ApiToken, User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock, context


class Command(BaseCommand):
    help = "Manage API tokens for integrations (the secret is printed once)."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        create = sub.add_parser("create")
        create.add_argument("username")
        create.add_argument("name")
        create.add_argument("--expires-days", type=int, default=None, help="Days until the token expires")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")
        sub.add_parser("list")

    def handle(self, *args: Any, **options: Any) -> None:
        with context.acting(context.RequestContext(channel="cli")):
            operation = options["operation"]
            if operation == "list":
                for token in ApiToken.objects.select_related("user").order_by("created_at"):
                    state = "revoked" if token.revoked_at else "active"
                    self.stdout.write(f"{token.prefix}\t{token.user.username}\t{token.name}\t{state}")
                return
            if operation == "create":
                user = User.objects.filter(username=options["username"]).first()
                if user is None or not user.is_active:
                    raise CommandError(f"ACCT-020 no such active user: {options['username']}")
                if not user.is_machine:
                    raise CommandError(
                        "ACCT-007 API tokens are only issued to machine identities (device, channel): "
                        "a token skips two-factor sign-in"
                    )
                prefix, secret = ApiToken.new_secret()
                expires = (
                    clock.now() + dt.timedelta(days=options["expires_days"])
                    if options["expires_days"]
                    else None
                )
                token = ApiToken.objects.create(
                    user=user,
                    name=options["name"],
                    prefix=prefix,
                    token_hash=ApiToken.hash(secret),
                    expires_at=expires,
                )
                record(
                    None,
                    AuditAction.TOKEN,
                    obj=token,
                    actor_username="cli",
                    detail={"event": "created", "for_user": user.username},
                )
                self.stdout.write(secret)
                return
            existing = ApiToken.objects.filter(prefix=options["prefix"]).first()
            if existing is None:
                raise CommandError(f"ACCT-021 no such token: {options['prefix']}")
            existing.revoked_at = clock.now()
            existing.save(update_fields=["revoked_at"])
            record(None, AuditAction.TOKEN, obj=existing, actor_username="cli", detail={"event": "revoked"})
            self.stdout.write(f"revoked {existing.prefix}")
