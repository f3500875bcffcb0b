"""A DICOMweb client (QIDO-RS search, WADO-RS retrieve) over plain HTTP with httpx, for reading
studies from a PACS such as Orthanc (its DICOMweb plugin) instead of smartcare's own store.

Configured by ``SMARTCARE_DICOMWEB_URL`` (e.g. ``http://pacs:8042/dicom-web``) and optionally
``SMARTCARE_DICOMWEB_TOKEN`` (bearer) or ``SMARTCARE_DICOMWEB_USER`` / ``_PASSWORD`` (basic).
"""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings

from smartcare.interop.dicom.errors import PacsError, PacsNotConfigured, PacsUnavailable
from smartcare.interop.dicom.multipart import build_related, content_type_parameters, parse_related

DICOM_JSON = "application/dicom+json"


def attribute(item: dict[str, Any], tag: str, default: Any = None) -> Any:
    """The first value of a tag in DICOM JSON (PS3.18 F.2); person names as their alphabetic form."""
    element = item.get(tag) or {}
    values = element.get("Value") or []
    if not values:
        return default
    found = values[0]
    if isinstance(found, dict) and "Alphabetic" in found:
        return found["Alphabetic"]
    return found


def attributes(item: dict[str, Any], tag: str) -> list[Any]:
    return list((item.get(tag) or {}).get("Value") or [])


class DicomWebClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        username: str = "",
        password: str = "",
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = httpx.BasicAuth(username, password) if username else None
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, auth=auth, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DicomWebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(
        self, path: str, *, params: dict[str, Any] | None = None, accept: str = DICOM_JSON
    ) -> httpx.Response:
        try:
            response = self._client.get(path, params=params, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise PacsUnavailable(reason=f"{type(exc).__name__}: {exc}"[:200]) from None
        if response.status_code >= 400:
            raise PacsError(status=response.status_code, what=f"GET {path}")
        return response

    def _json(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        response = self._get(path, params=params)
        if response.status_code == 204 or not response.content:
            return []
        try:
            found = response.json()
        except ValueError:
            raise PacsError(status=response.status_code, what=f"GET {path} (not DICOM JSON)") from None
        if not isinstance(found, list):
            raise PacsError(status=response.status_code, what=f"GET {path} (not a list)")
        return found

    # QIDO-RS
    def search_studies(self, **query: Any) -> list[dict[str, Any]]:
        return self._json("/studies", {k: v for k, v in query.items() if v not in (None, "")})

    def search_series(self, study_uid: str, **query: Any) -> list[dict[str, Any]]:
        return self._json(f"/studies/{study_uid}/series", query or None)

    def search_instances(self, study_uid: str, series_uid: str, **query: Any) -> list[dict[str, Any]]:
        return self._json(f"/studies/{study_uid}/series/{series_uid}/instances", query or None)

    # WADO-RS
    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        response = self._get(
            f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}",
            accept='multipart/related; type="application/dicom"; transfer-syntax=*',
        )
        content_type = response.headers.get("Content-Type", "")
        main, _params = content_type_parameters(content_type)
        if main == "application/dicom":
            return response.content
        parts = parse_related(response.content, content_type)
        return parts[0][1]

    # STOW-RS (used to seed a PACS, e.g. from the demo)
    def store(self, files: list[bytes]) -> dict[str, Any]:
        body, content_type = build_related(files)
        try:
            response = self._client.post(
                "/studies", content=body, headers={"Content-Type": content_type, "Accept": DICOM_JSON}
            )
        except httpx.HTTPError as exc:
            raise PacsUnavailable(reason=f"{type(exc).__name__}: {exc}"[:200]) from None
        if response.status_code >= 400:
            raise PacsError(status=response.status_code, what="POST /studies")
        return response.json() if response.content else {}


def configured() -> bool:
    return bool(getattr(settings, "SMARTCARE_DICOMWEB_URL", ""))


def client() -> DicomWebClient:
    url = getattr(settings, "SMARTCARE_DICOMWEB_URL", "")
    if not url:
        raise PacsNotConfigured()
    return DicomWebClient(
        url,
        token=getattr(settings, "SMARTCARE_DICOMWEB_TOKEN", ""),
        username=getattr(settings, "SMARTCARE_DICOMWEB_USER", ""),
        password=getattr(settings, "SMARTCARE_DICOMWEB_PASSWORD", ""),
        timeout=float(getattr(settings, "SMARTCARE_DICOMWEB_TIMEOUT", 15)),
    )
