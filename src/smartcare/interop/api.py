"""Interoperability (FHIR, HL7, DICOM) API."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["interop"])
