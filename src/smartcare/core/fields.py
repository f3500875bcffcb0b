"""Model fields for encrypted identifiers."""

from __future__ import annotations

import json
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


class EncryptedJSONField(EncryptedTextField):
    """A JSON value (object, list...) stored as AES-GCM ciphertext of its JSON text. A subclass
    of ``EncryptedTextField`` so that key rotation finds it."""

    description = "JSON encrypted at rest with AES-256-GCM"
    # For django-stubs: the Python value is any JSON value, not a string.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return None
        return json.loads(crypto.decrypt(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value:
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return crypto.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def value_to_string(self, obj: Any) -> str:
        return json.dumps(self.value_from_object(obj), ensure_ascii=False)
