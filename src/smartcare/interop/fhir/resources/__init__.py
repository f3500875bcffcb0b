"""One module per resource type; importing this package registers every mapping."""

from smartcare.interop.fhir.registry import register
from smartcare.interop.fhir.resources import (  # noqa: F401
    allergy_intolerance,
    audit_event,
    care_plan,
    condition,
    diagnostic_report,
    directory,
    encounter,
    imaging_study,
    immunization,
    medication_request,
    observation,
    patient,
    procedure,
    scheduling,
)
from smartcare.interop.fhir.store import STORED_TYPES, StoredMapping

for _resource_type in STORED_TYPES:
    register(StoredMapping(_resource_type))
