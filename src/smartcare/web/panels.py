"""The foundation's home panels for each role."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count
from django.http import HttpRequest
from django.utils.translation import gettext as _

from smartcare.accounts.choices import CLINICAL_ROLES, BreakGlassStatus, Role
from smartcare.accounts.services import break_glass_reviewable
from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent
from smartcare.audit.selectors import search_events
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.notifications.selectors import inbox
from smartcare.organization.models import Department, Practitioner
from smartcare.patients.choices import InsuranceType
from smartcare.patients.models import Patient
from smartcare.patients.selectors import patient_for_user
from smartcare.web.home import Panel, register_panel

STAFF = frozenset(r.value for r in Role if r not in (Role.PATIENT, Role.DEVICE, Role.CHANNEL))


def _patient_card(request: HttpRequest) -> dict[str, Any]:
    patient = patient_for_user(request.user)
    return {"patient": patient}


def _inbox(request: HttpRequest) -> dict[str, Any]:
    return {"messages_list": list(inbox(request.user)[:5])}


def _my_patients(request: HttpRequest) -> dict[str, Any]:
    visible = Patient.objects.visible_to(request.user)
    recent = list(visible.order_by("-updated_at")[:10])
    record(
        request.user,
        AuditAction.SEARCH,
        obj=("patients.Patient", "home panel"),
        detail={"listed": [p.pk for p in recent]},
    )
    return {"patient_count": visible.count(), "recent_patients": recent}


def _break_glass_pending(request: HttpRequest) -> dict[str, Any]:
    pending = break_glass_reviewable(request.user).filter(status=BreakGlassStatus.PENDING_REVIEW)
    return {"pending_break_glass": pending.count()}


def _hospital_overview(request: HttpRequest) -> dict[str, Any]:
    """Aggregates only: no identified patient data on management pages."""
    today = clock.today()
    by_department = list(
        Department.objects.filter(is_clinical=True)
        .annotate(staff=Count("practitioners"))
        .order_by("national_code_id")
        .values("national_code_id", "name_zh", "name_en", "staff")
    )
    bands = [(0, 14), (15, 34), (35, 59), (60, 79), (80, 130)]
    age_counts = []
    for low, high in bands:
        youngest = dt.date(today.year - low, today.month, min(today.day, 28))
        oldest = dt.date(today.year - high - 1, today.month, min(today.day, 28))
        age_counts.append(
            {
                "band": f"{low}-{high}" if high < 130 else f"{low}+",
                "count": Patient.objects.filter(birth_date__lte=youngest, birth_date__gt=oldest).count(),
            }
        )
    insurance = [
        {"label": InsuranceType(row["insurance_type"]).label, "n": row["n"]}
        for row in Patient.objects.values("insurance_type").annotate(n=Count("id")).order_by("insurance_type")
    ]
    return {
        "department_staff": by_department,
        "age_counts": age_counts,
        "insurance_counts": insurance,
        "totals": {
            "patients": Patient.objects.count(),
            "practitioners": Practitioner.objects.count(),
            "departments": Department.objects.count(),
        },
    }


def _audit_recent(request: HttpRequest) -> dict[str, Any]:
    events = search_events(request.user)[:15]
    last_day = AuditEvent.objects.filter(occurred_at__gte=clock.now() - dt.timedelta(days=1))
    return {
        "recent_events": list(events),
        "events_today": last_day.count(),
        "denied_today": last_day.filter(action="denied").count(),
    }


def _system_status(request: HttpRequest) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection

    return {
        "system": [
            (_("Database"), connection.vendor),
            (_("Task queue"), str(settings.TASKS["default"]["BACKEND"]).rsplit(".", 1)[-1]),
            (_("Cache"), str(settings.CACHES["default"]["BACKEND"]).rsplit(".", 1)[-1]),
            (_("Channel layer"), str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).rsplit(".", 1)[-1]),
            (_("Audit events"), AuditEvent.objects.count()),
        ]
    }


register_panel(Panel("web/panels/patient_card.html", frozenset({Role.PATIENT}), _patient_card, 10))
register_panel(Panel("triage/panel.html", frozenset({Role.PATIENT}), order=12))
register_panel(Panel("web/panels/inbox.html", frozenset({Role.PATIENT} | STAFF), _inbox, 90))
register_panel(Panel("web/panels/my_patients.html", frozenset(CLINICAL_ROLES), _my_patients, 20))
register_panel(Panel("web/panels/front_desk.html", frozenset({Role.FRONT_DESK}), order=10))
register_panel(
    Panel(
        "web/panels/break_glass_pending.html",
        frozenset({Role.DEPARTMENT_HEAD, Role.AUDITOR}),
        _break_glass_pending,
        15,
    )
)
register_panel(
    Panel(
        "web/panels/hospital_overview.html",
        frozenset({Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD, Role.RESEARCHER, Role.DATA_STEWARD}),
        _hospital_overview,
        30,
    )
)
register_panel(Panel("web/panels/audit_recent.html", frozenset({Role.AUDITOR}), _audit_recent, 20))
register_panel(Panel("web/panels/system_status.html", frozenset({Role.IT_ADMIN}), _system_status, 20))


# --- operations cockpit (kpi) ---
def _cockpit_score(request: HttpRequest) -> dict[str, Any]:
    """The performance score of the current quarter and the indicators off target (the hospital
    for operations managers, their department for heads)."""
    from smartcare.core.errors import CodedError
    from smartcare.kpi import selectors as cockpit

    try:
        department = cockpit.scope_for(request.user, None)
    except CodedError:
        return {}
    evaluation = cockpit.evaluate(cockpit.default_period(), department)
    off = [r for r in evaluation.results if r.status == cockpit.OFF_TARGET][:5]
    return {"evaluation": evaluation, "off": off}


register_panel(
    Panel(
        "web/panels/cockpit_score.html",
        frozenset({Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD}),
        _cockpit_score,
        25,
    )
)
# --- end operations cockpit ---
