"""``smartcare rotate-field-key``: re-encrypt identifiers under the current field key.

Procedure (see the operator guide): generate a key with ``--generate``, move the old key to
SMARTCARE_FIELD_KEYS_RETIRED, set the new one as SMARTCARE_FIELD_KEY, run this command, and
remove the retired key once it reports nothing left under it.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import context, crypto
from smartcare.core.fields import EncryptedTextField


def encrypted_models() -> list[tuple[Any, list[str]]]:
    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field under the current SMARTCARE_FIELD_KEY and rebuild lookup hashes."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--generate", action="store_true", help="Print a new random key and exit")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate"]:
            self.stdout.write(crypto.generate_key())
            return
        current, _ring, _index = crypto.keyring()
        total = 0
        for model, names in encrypted_models():
            pks = list(model.objects.order_by("pk").values_list("pk", flat=True))
            for start in range(0, len(pks), options["batch_size"]):
                with transaction.atomic():
                    for row in model.objects.filter(pk__in=pks[start : start + options["batch_size"]]):
                        # Loading decrypts with whichever key wrote the value; saving encrypts
                        # with the current key and recomputes the blind indexes.
                        # Rows that are never saved again (signed note versions) re-encrypt
                        # themselves without going through save().
                        reencrypt = getattr(row, "reencrypt", None)
                        if reencrypt is not None:
                            reencrypt(names)
                        else:
                            row.save(update_fields=names)
                        total += 1
            self.stdout.write(f"{model._meta.label}: {len(pks)} rows re-encrypted ({', '.join(names)})")
        with context.acting(context.RequestContext(channel="cli")):
            record(
                None,
                AuditAction.SYSTEM,
                actor_username="cli:rotate-field-key",
                obj=("field_key", current.key_id),
                detail={"rows": total},
            )
        left = 0
        with connection.cursor() as cursor:
            for model, names in encrypted_models():
                table = connection.ops.quote_name(model._meta.db_table)
                for name in names:
                    column = connection.ops.quote_name(model._meta.get_field(name).column)
                    # Raw SQL on purpose: ORM lookups on an encrypted field would encrypt the pattern.
                    cursor.execute(
                        f"SELECT COUNT(*) FROM {table} WHERE {column} <> '' AND {column} NOT LIKE %s",  # noqa: S608
                        [f"{crypto.PREFIX}${current.key_id}$%"],
                    )
                    left += int(cursor.fetchone()[0])
        self.stdout.write(self.style.SUCCESS(f"done: {total} rows now under key {current.key_id}"))
        self.stdout.write(f"values still under a retired key: {left}")
