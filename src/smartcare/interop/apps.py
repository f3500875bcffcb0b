from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InteropConfig(AppConfig):
    name = "smartcare.interop"
    label = "interop"
    verbose_name = _("Interoperability (FHIR, HL7, DICOM)")

    def ready(self) -> None:
        from smartcare.interop.dicom import roles as dicom_roles  # noqa: F401
        from smartcare.interop.fhir import roles as fhir_roles  # noqa: F401
        from smartcare.interop.hl7 import admin as hl7_admin  # noqa: F401
        from smartcare.interop.hl7 import roles as hl7_roles
        from smartcare.interop.reports import roles as report_roles  # noqa: F401
        from smartcare.patients.access import register_visibility_rule

        register_visibility_rule(hl7_roles.connected_system_visibility)
