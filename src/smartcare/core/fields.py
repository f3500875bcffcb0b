"""Model fields for encrypted identifiers."""

from __future__ import annotations

from typing import Any

from django.db import models

from smartcare.core import crypto


class EncryptedTextField(models.TextField):
    """Stores AES-GCM ciphertext; Python code only ever sees plaintext.

    Not searchable: pair it with a ``blind index`` column (see ``crypto.blind_index``).
    """

    description = "Text encrypted at rest with AES-256-GCM"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))
