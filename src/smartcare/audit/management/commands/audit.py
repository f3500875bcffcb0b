"""``smartcare audit verify``: check the hash chain of the audit trail."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from smartcare.audit.services import chain_pending, verify_chain


class Command(BaseCommand):
    help = "Audit trail operations. `verify` reports the first changed, inserted or deleted event."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        verify = sub.add_parser("verify", help="Verify the hash chain")
        verify.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        # Committed events still waiting for their link are linked first, as any append would.
        linked = chain_pending()
        result = verify_chain()
        if options.get("json"):
            self.stdout.write(json.dumps(result.as_dict()))
        elif result.ok:
            self.stdout.write(self.style.SUCCESS(f"audit chain intact: {result.checked} events"))
            if linked:
                self.stdout.write(f"linked {linked} pending events into the chain first")
        if not result.ok:
            raise CommandError(
                f"AUD-001 audit chain broken at event {result.first_bad_sequence}: {result.problem}"
            )
