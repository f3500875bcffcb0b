"""FHIR capabilities. Reading and writing patient data through FHIR follows the pages' capabilities
and ``patients.access``; only bulk import needs its own."""

from __future__ import annotations

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

# Bundles and resources written as an import: any patient, no per-patient check, one audit event
# per import with the counts (the command line, `smartcare import-fhir`, imports as the system).
grant("interop.fhir_import", Role.DATA_STEWARD)
