"""CDS Hooks 2.0 paths, mounted at the site root because the specification fixes them."""

from django.urls import path

from smartcare.cdss import views

app_name = "cds_hooks"

urlpatterns = [
    path("cds-services", views.discovery, name="discovery"),
    path("cds-services/<str:service_id>", views.call_service, name="service"),
    path("cds-services/<str:service_id>/feedback", views.feedback, name="feedback"),
]
