"""research API: the cohort part (``cohort_api``) and the projects part mount their routers here."""

from __future__ import annotations

from ninja import Router

from smartcare.research.cohort_api import router as cohort_router

router = Router(tags=["research"])

# --- lake: cohorts and the lake's status ---
router.add_router("", cohort_router)

# --- steward: projects, consent, exports, privacy ---
from smartcare.research.project_api import router as project_router  # noqa: E402

router.add_router("", project_router)
