"""Mounts every app's router on one API under /api/."""

from smartcare.accounts.api import router as accounts_router
from smartcare.accounts.auth import API_AUTH
from smartcare.audit.api import router as audit_router
from smartcare.billing.api import router as billing_router
from smartcare.core.api import build_api
from smartcare.emr.api import router as emr_router
from smartcare.equipment.api import router as equipment_router
from smartcare.followup.api import router as followup_router
from smartcare.health.api import router as health_router
from smartcare.interop.api import router as interop_router
from smartcare.knowledge.api import router as knowledge_router
from smartcare.kpi.api import router as kpi_router
from smartcare.monitoring.api import router as monitoring_router
from smartcare.notifications.api import router as notifications_router
from smartcare.organization.api import router as organization_router
from smartcare.patients.api import router as patients_router
from smartcare.research.api import router as research_router
from smartcare.scheduling.api import router as scheduling_router
from smartcare.simulation.api import router as simulation_router
from smartcare.telemedicine.api import router as telemedicine_router
from smartcare.triage.api import router as triage_router
from smartcare.workforce.api import router as workforce_router

api = build_api(API_AUTH)
api.add_router("/accounts/", accounts_router)
api.add_router("/audit/", audit_router)
api.add_router("/notifications/", notifications_router)
api.add_router("/organization/", organization_router)
api.add_router("/patients/", patients_router)
api.add_router("/booking/", scheduling_router)
api.add_router("/knowledge/", knowledge_router)
api.add_router("/triage/", triage_router)
api.add_router("/emr/", emr_router)
api.add_router("/followup/", followup_router)
api.add_router("/monitoring/", monitoring_router)
api.add_router("/billing/", billing_router)
api.add_router("/interop/", interop_router)
api.add_router("/workforce/", workforce_router)
api.add_router("/equipment/", equipment_router)
api.add_router("/health/", health_router)
api.add_router("/telemedicine/", telemedicine_router)
api.add_router("/research/", research_router)
api.add_router("/kpi/", kpi_router)
api.add_router("/simulation/", simulation_router)
