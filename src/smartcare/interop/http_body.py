"""Reading large request bodies (HL7 batches, DICOM series) for the HL7 and DICOM endpoints."""

from __future__ import annotations

from django.http import HttpRequest


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The request body up to ``limit`` + 1 bytes, read from the stream (``request.body`` stops at
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE, far below a CT series)."""
    if hasattr(request, "_body"):
        return request.body
    return request.read(limit + 1)
