"""``/fhir/R4/``: the FHIR R4 REST API (mounted by ``smartcare/urls.py``)."""

from django.urls import path, register_converter

from smartcare.interop.fhir import views


class ResourceTypeConverter:
    regex = "[A-Z][A-Za-z]{1,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class FhirIdConverter:
    """https://hl7.org/fhir/R4/datatypes.html#id"""

    regex = r"[A-Za-z0-9\-\.]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ResourceTypeConverter, "fhirtype")
register_converter(FhirIdConverter, "fhirid")

app_name = "fhir"

urlpatterns = [
    path("", views.system, name="system"),
    path("metadata", views.metadata, name="metadata"),
    path("<fhirtype:resource_type>", views.type_level, name="type"),
    path("<fhirtype:resource_type>/_search", views.type_search, name="search"),
    path("<fhirtype:resource_type>/<fhirid:resource_id>", views.instance, name="instance"),
    path(
        "<fhirtype:resource_type>/<fhirid:resource_id>/_history/<fhirid:version_id>",
        views.version,
        name="version",
    ),
]
