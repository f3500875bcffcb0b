"""Pages of home monitoring: the doctors' board, a monitored patient (charts, alerts, devices,
thresholds, rehab), the patient's own page (portal, phone, elderly mode) and the duty roster."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, show_on_page
from smartcare.core.permissions import has_capability, require_capability
from smartcare.monitoring import selectors, services
from smartcare.monitoring.choices import (
    MANUAL_MEASUREMENTS,
    THRESHOLD_METRICS,
    Bounds,
    DeviceKind,
    GlucoseContext,
    MeasurementKind,
    RehabTargetKind,
)
from smartcare.monitoring.models import DutyAssignment


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next") or default
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return redirect(target)


def _may(user: Any) -> dict[str, bool]:
    return {
        name: has_capability(user, f"monitoring.{name}")
        for name in ("devices", "enroll", "thresholds", "acknowledge", "rehab", "duty")
    }


# --- Doctors --------------------------------------------------------------------------------------


@login_required
def board(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    scope = request.GET.get("scope", "mine")
    rows = selectors.board(user, scope)
    return render(
        request,
        "monitoring/board.html",
        {
            "rows": rows,
            "scope": "department" if scope == "department" else "mine",
            "kinds": [MeasurementKind(k).label for k in selectors.BOARD_KINDS],
            "may": _may(user),
            "open_alerts": sum(len(r.alerts) for r in rows),
        },
    )


def _patient_page(request: HttpRequest, patient_id: int, *, status: int = 200, **extra: Any) -> HttpResponse:
    user: Any = request.user
    context = selectors.patient_overview(user, patient_id, days=_days(request))
    department_id = getattr(getattr(user, "practitioner", None), "department_id", None)
    context.update(
        {
            "may": _may(user),
            "device_kinds": DeviceKind.choices,
            "target_kinds": RehabTargetKind.choices,
            "doctors": User.objects.filter(
                role__in=(Role.DOCTOR, Role.DEPARTMENT_HEAD),
                is_active=True,
                practitioner__department_id=department_id or 0,
            ).order_by("display_name"),
            "today": clock.today(),
            "mqtt_prefix": settings.SMARTCARE_MQTT_TOPIC_PREFIX,
            **extra,
        }
    )
    return render(request, "monitoring/patient.html", context, status=status)


def _days(request: HttpRequest) -> int:
    try:
        return max(1, min(90, int(request.GET.get("days", "30"))))
    except ValueError:
        return 30


@login_required
def patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _patient_page(request, patient_id)


@login_required
@require_POST
def enroll(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        services.enroll_patient(
            request.user,
            patient_id,
            responsible_id=request.POST.get("responsible"),
            reason=request.POST.get("reason", ""),
        )
        messages.success(request, _("Home monitoring started."))
    except CodedError as exc:
        show_on_page(request, exc)
    return redirect("monitoring:patient", patient_id=patient_id)


@login_required
@require_POST
def pair_device(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        device, credential = services.register_device(
            request.user,
            patient_id,
            kind=request.POST.get("kind", ""),
            serial_number=request.POST.get("serial_number", ""),
            manufacturer=request.POST.get("manufacturer", ""),
            model_name=request.POST.get("model_name", ""),
        )
    except CodedError as exc:
        show_on_page(request, exc)
        return redirect("monitoring:patient", patient_id=patient_id)
    # The credential is shown on this response only; it is never stored or shown again.
    return _patient_page(request, patient_id, new_credential={"device": device, "credential": credential})


@login_required
@require_POST
def unpair_device(request: HttpRequest, device_id: int) -> HttpResponse:
    try:
        device = services.unpair_device(request.user, device_id)
        messages.success(
            request, _("Device %(uid)s unpaired; its credential no longer works.") % {"uid": device.uid}
        )
    except CodedError as exc:
        show_on_page(request, exc)
    return _back(request, "/monitoring/")


@login_required
@require_POST
def rotate_credential(request: HttpRequest, device_id: int) -> HttpResponse:
    try:
        device, credential = services.rotate_device_credential(request.user, device_id)
    except CodedError as exc:
        show_on_page(request, exc)
        return _back(request, "/monitoring/")
    return _patient_page(
        request, device.patient_id or 0, new_credential={"device": device, "credential": credential}
    )


def _bound(raw: str, name: str, errors: dict[str, list[str]]) -> float | None:
    raw = (raw or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        errors.setdefault(name, []).append(_("Enter a number."))
        return None


@login_required
@require_POST
def thresholds(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        errors: dict[str, list[str]] = {}
        bounds = {}
        for kind, metric in THRESHOLD_METRICS:
            prefix = f"{kind}.{metric}."
            if not any(key.startswith(prefix) for key in request.POST):
                continue
            bounds[(kind, metric)] = Bounds(
                *(
                    _bound(request.POST.get(prefix + name, ""), prefix + name, errors)
                    for name in ("critical_low", "warning_low", "warning_high", "critical_high")
                )
            )
        if errors:
            raise InvalidInput(errors=errors)
        services.set_thresholds(request.user, patient_id, bounds, reason=request.POST.get("reason", ""))
        messages.success(request, _("Thresholds saved."))
    except CodedError as exc:
        show_on_page(request, exc)
    return redirect("monitoring:patient", patient_id=patient_id)


@login_required
@require_POST
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    try:
        alert = services.acknowledge_alert(request.user, alert_id, note=request.POST.get("note", ""))
        messages.success(request, _("Alert acknowledged: %(patient)s.") % {"patient": alert.patient.name})
    except CodedError as exc:
        show_on_page(request, exc)
    return _back(request, "/monitoring/")


@login_required
@require_POST
def create_rehab_plan(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        ends_on = _date(request.POST.get("ends_on", ""), "ends_on")
        services.create_rehab_plan(
            request.user,
            patient_id,
            targets={kind: request.POST.get(kind, "") for kind in RehabTargetKind.values},
            goal=request.POST.get("goal", ""),
            ends_on=ends_on,
        )
        messages.success(request, _("Rehab plan started."))
    except CodedError as exc:
        show_on_page(request, exc)
    return redirect("monitoring:patient", patient_id=patient_id)


@login_required
@require_POST
def decide_suggestion(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    try:
        suggestion = services.decide_suggestion(
            request.user,
            suggestion_id,
            decision=request.POST.get("decision", ""),
            target=request.POST.get("target"),
            note=request.POST.get("note", ""),
        )
        messages.success(request, _("Decision saved."))
        return redirect("monitoring:patient", patient_id=suggestion.plan.patient_id)
    except CodedError as exc:
        show_on_page(request, exc)
    return _back(request, "/monitoring/")


def _date(raw: str, name: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(errors={name: [_("Enter a date.")]}) from None


# --- Patients -------------------------------------------------------------------------------------


@login_required
def me(request: HttpRequest) -> HttpResponse:
    context = selectors.own_overview(request.user)
    context.update(
        {
            "manual_kinds": [(k, MeasurementKind(k).label) for k in MANUAL_MEASUREMENTS],
            "contexts": GlucoseContext.choices,
        }
    )
    return render(request, "monitoring/me.html", context)


@login_required
@require_POST
def record_reading(request: HttpRequest) -> HttpResponse:
    try:
        _reading, raised = services.record_own_reading(
            request.user,
            kind=request.POST.get("kind", ""),
            value=request.POST.get("value"),
            value2=request.POST.get("value2"),
            pulse=request.POST.get("pulse"),
            context=request.POST.get("context", ""),
        )
        if raised:
            for alert in raised:
                messages.warning(request, alert.advice)
        else:
            messages.success(request, _("Reading saved."))
    except CodedError as exc:
        show_on_page(request, exc)
    return redirect("monitoring:me")


# --- Duty -----------------------------------------------------------------------------------------


def _local_datetime(raw: str, name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(errors={name: [_("Enter a date and time.")]}) from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@login_required
def duty(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "monitoring.duty")
    department_id = getattr(getattr(user, "practitioner", None), "department_id", None)
    if request.method == "POST":
        try:
            services.assign_duty(
                user,
                doctor_id=request.POST.get("doctor"),
                starts_at=_local_datetime(request.POST.get("starts_at", ""), "starts_at"),
                ends_at=_local_datetime(request.POST.get("ends_at", ""), "ends_at"),
            )
            messages.success(request, _("Duty saved."))
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("monitoring:duty")
    now = clock.now()
    return render(
        request,
        "monitoring/duty.html",
        {
            "duties": DutyAssignment.objects.filter(department_id=department_id or 0, ends_at__gt=now)
            .select_related("doctor")
            .order_by("starts_at"),
            "doctors": User.objects.filter(
                role__in=(Role.DOCTOR, Role.DEPARTMENT_HEAD),
                is_active=True,
                practitioner__department_id=department_id or 0,
            ).order_by("display_name"),
            "now": now,
        },
    )
