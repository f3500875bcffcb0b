"""``smartcare create-user USERNAME --role ROLE``: create a staff, patient or machine account."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from smartcare.accounts.choices import MACHINE_ROLES, Role
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import context


class Command(BaseCommand):
    help = "Create a user with a role. Machine identities (device, channel) get no password, only API tokens."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--display-name", default="")
        parser.add_argument("--password", help="Read from the terminal when omitted")
        parser.add_argument(
            "--superuser", action="store_true", help="Django admin superuser (IT administrators)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(username=options["username"]).exists():
            raise CommandError(f"ACCT-022 user exists: {options['username']}")
        user = User(username=options["username"], role=options["role"], display_name=options["display_name"])
        if options["role"] in MACHINE_ROLES:
            user.set_unusable_password()
        else:
            password = options["password"] or getpass.getpass("Password: ")
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError("ACCT-023 " + " ".join(exc.messages)) from exc
            user.set_password(password)
        # IT administrators run the master-data admin: that needs Django's staff and superuser flags
        # (patient data is not in the admin, see accounts/admin.py).
        if options["superuser"] or options["role"] == Role.IT_ADMIN:
            user.is_staff = user.is_superuser = True
        with context.acting(context.RequestContext(channel="cli")):
            user.save()
            record(None, AuditAction.CREATE, obj=user, actor_username="cli", detail={"role": user.role})
        self.stdout.write(self.style.SUCCESS(f"created {user.username} ({user.role})"))
