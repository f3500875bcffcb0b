"""Interoperability (FHIR, HL7, DICOM) API."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["interop"])

# HL7 v2 over HTTP and DICOM (STOW-RS, search, rendered frames).
from smartcare.interop.dicom.api import router as dicom_router  # noqa: E402
from smartcare.interop.hl7.api import router as hl7_router  # noqa: E402

router.add_router("/hl7", hl7_router)
router.add_router("/", dicom_router)
