"""Interop models, one module per area: FHIR (``fhir.py``), HL7 v2 (``hl7.py``), DICOM (``dicom.py``).

Each area adds its own import line below.
"""

from smartcare.interop.models.dicom import *  # noqa: F403
from smartcare.interop.models.fhir import *  # noqa: F403
from smartcare.interop.models.hl7 import *  # noqa: F403
from smartcare.interop.models.reports import *  # noqa: F403
