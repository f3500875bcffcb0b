"""Encryption of identifiers at rest (AES-256-GCM) and keyed hashes to find them.

Ciphertext format: ``v1$<key id>$<base64(nonce || ciphertext+tag)>``. The key id is the first
12 hex digits of SHA-256 of the key, so a value encrypted under a retired key is still readable
while ``SMARTCARE_FIELD_KEYS_RETIRED`` lists that key, and ``smartcare rotate-field-key``
re-encrypts everything under the current one.

The lookup hash is HMAC-SHA256 with a key derived (HKDF) from the current field key, over the
normalised value. Rotation recomputes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "v1"


class DecryptionError(Exception):
    pass


@dataclass(frozen=True)
class FieldKey:
    key_id: str
    key: bytes

    @classmethod
    def from_text(cls, text: str) -> FieldKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError as exc:
            raise ImproperlyConfigured("SMARTCARE_FIELD_KEY must be 32 bytes in base64") from exc
        if len(raw) != 32:
            raise ImproperlyConfigured("SMARTCARE_FIELD_KEY must be 32 bytes in base64")
        return cls(key_id=hashlib.sha256(raw).hexdigest()[:12], key=raw)


@lru_cache(maxsize=8)
def _keyring(current: str, retired: tuple[str, ...]) -> tuple[FieldKey, dict[str, FieldKey], bytes]:
    primary = FieldKey.from_text(current)
    ring = {primary.key_id: primary}
    for text in retired:
        key = FieldKey.from_text(text)
        ring[key.key_id] = key
    index_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"smartcare-blind-index").derive(
        primary.key
    )
    return primary, ring, index_key


def keyring() -> tuple[FieldKey, dict[str, FieldKey], bytes]:
    return _keyring(settings.SMARTCARE_FIELD_KEY, tuple(settings.SMARTCARE_FIELD_KEYS_RETIRED))


def encrypt(plaintext: str, *, associated: bytes = b"smartcare") -> str:
    primary, _ring, _index = keyring()
    nonce = os.urandom(12)
    sealed = AESGCM(primary.key).encrypt(nonce, plaintext.encode("utf-8"), associated)
    return f"{PREFIX}${primary.key_id}${base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, associated: bytes = b"smartcare") -> str:
    _primary, ring, _index = keyring()
    try:
        prefix, key_id, body = token.split("$", 2)
    except ValueError as exc:
        raise DecryptionError("not an encrypted value") from exc
    if prefix != PREFIX or key_id not in ring:
        raise DecryptionError(f"unknown key {key_id}")
    try:
        raw = base64.b64decode(body)
        return AESGCM(ring[key_id].key).decrypt(raw[:12], raw[12:], associated).decode("utf-8")
    except Exception as exc:  # bad base64, InvalidTag: wrong key or changed ciphertext
        raise DecryptionError("ciphertext does not authenticate") from exc


def key_id_of(token: str) -> str:
    parts = token.split("$", 2)
    return parts[1] if len(parts) == 3 else ""


def blind_index(value: str) -> str:
    """Keyed hash of a normalised value, for equality lookups on encrypted columns."""
    _primary, _ring, index_key = keyring()
    normalised = "".join(value.split()).upper()
    return hmac.new(index_key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def blind_indexes(value: str) -> list[str]:
    """The value's keyed hash under the current key and every retired key, so that lookups keep
    finding rows that a key rotation has not re-encrypted yet."""
    current, ring, _index = keyring()
    normalised = "".join(value.split()).upper().encode("utf-8")
    hashes_ = []
    for key in [current, *[k for k in ring.values() if k.key_id != current.key_id]]:
        index_key = _index_key(key.key)
        hashes_.append(hmac.new(index_key, normalised, hashlib.sha256).hexdigest())
    return hashes_


@lru_cache(maxsize=16)
def _index_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"smartcare-blind-index").derive(key)


def generate_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()
