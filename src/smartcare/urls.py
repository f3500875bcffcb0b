from django.contrib import admin
from django.urls import include, path

from smartcare.api import api
from smartcare.web import views as web_views

urlpatterns = [
    path("", include("smartcare.web.urls")),
    path("accounts/", include("smartcare.accounts.urls")),
    path("patients/", include("smartcare.patients.urls")),
    path("audit/", include("smartcare.audit.urls")),
    path("notifications/", include("smartcare.notifications.urls")),
    path("booking/", include("smartcare.scheduling.urls")),
    path("visits/", include("smartcare.visits.urls")),
    path("knowledge/", include("smartcare.knowledge.urls")),
    path("triage/", include("smartcare.triage.urls")),
    path("emr/", include("smartcare.emr.urls")),
    path("cdss/", include("smartcare.cdss.urls")),
    path("", include("smartcare.cdss.hook_urls")),
    path("followup/", include("smartcare.followup.urls")),
    path("monitoring/", include("smartcare.monitoring.urls")),
    path("billing/", include("smartcare.billing.urls")),
    path("workforce/", include("smartcare.workforce.urls")),
    path("equipment/", include("smartcare.equipment.urls")),
    path("health/", include("smartcare.health.urls")),
    path("telemedicine/", include("smartcare.telemedicine.urls")),
    path("interop/", include("smartcare.interop.urls")),
    path("research/", include("smartcare.research.urls")),
    path("kpi/", include("smartcare.kpi.urls")),
    path("simulation/", include("smartcare.simulation.urls")),
    path("fhir/R4/", include("smartcare.interop.fhir.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", web_views.healthz, name="healthz"),
]
