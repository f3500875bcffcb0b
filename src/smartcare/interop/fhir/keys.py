"""The names a received resource is known by.

* Its identity: ``url:<fullUrl>`` (absolute URLs and ``urn:uuid:``), or ``id:<source>|<Type>/<id>``
  for resources without a fullUrl (bulk NDJSON). Stored as SHA-256 in ``SourceRecord.key``:
  these are not secrets, and a plain hash survives a field key rotation.
* Its identifiers ``identifier:<system>|<value>``: may be social security or passport numbers, so
  stored as an HMAC under the field key's index key (``SourceKey``), like the patients' blind
  indexes; lookups try the retired keys too, and ``rotate-field-key`` recomputes them.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from smartcare.core import crypto
from smartcare.interop.fhir.datatypes import identifiers


def identity_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_hash(key: str) -> str:
    _primary, _ring, index_key = crypto.keyring()
    return hmac.new(index_key, key.encode("utf-8"), hashlib.sha256).hexdigest()


def key_hashes(key: str) -> list[str]:
    """The identifier key under the current and every retired field key (lookups during a key
    rotation)."""
    current, ring, _index = crypto.keyring()
    found = [key_hash(key)]
    for field_key in ring.values():
        if field_key.key_id != current.key_id:
            index_key = crypto._index_key(field_key.key)
            found.append(hmac.new(index_key, key.encode("utf-8"), hashlib.sha256).hexdigest())
    return found


def url_key(full_url: str) -> str:
    return f"url:{full_url}"


def id_key(source: str, resource_type: str, resource_id: str) -> str:
    return f"id:{source}|{resource_type}/{resource_id}"


def identifier_key(system: str, value: str) -> str:
    return f"identifier:{system}|{value}"


def is_global_url(full_url: str) -> bool:
    return full_url.startswith(("urn:uuid:", "urn:oid:", "http://", "https://"))


def identity_key(resource: dict[str, Any], *, full_url: str = "", source: str | None = None) -> str:
    """The resource's identity in its source ("" when it has none: an API create)."""
    if full_url and is_global_url(full_url):
        return url_key(full_url)
    if source is not None and resource.get("id"):
        return id_key(source, str(resource.get("resourceType", "")), str(resource["id"]))
    return ""


def identifier_keys(resource: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(identifier_key(system, value) for system, value in identifiers(resource)))
