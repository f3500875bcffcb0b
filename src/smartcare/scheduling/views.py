"""Booking pages: the patient portal (phone first), the front desk and the kiosk share one flow:
department -> session -> slot -> confirmation with the preparation note."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.core import clock
from smartcare.core.errors import CodedError, NotFound
from smartcare.core.permissions import require_capability
from smartcare.organization.models import Department
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient
from smartcare.scheduling import selectors, services, steering
from smartcare.scheduling.api import channel_of
from smartcare.scheduling.choices import AppointmentStatus, SessionStatus, WaitlistStatus
from smartcare.scheduling.forms import CancelForm, ReplaceSessionForm, StopSessionForm
from smartcare.scheduling.models import Appointment, ClinicSession, WaitlistEntry
from smartcare.scheduling.policy import policy_for


def _patients_for(request: HttpRequest) -> list[Patient]:
    """Whom the user books for: a patient books for self and linked family; staff for the patient
    they opened (``?patient=``)."""
    user: Any = request.user
    if user.role == "patient":
        return list(Patient.objects.visible_to(user).order_by("pk"))
    patient_id = request.GET.get("patient") or request.POST.get("patient")
    if not patient_id:
        return []
    return [access_patient(user, patient_id, AccessAction.VIEW, reason="booking")]


def _carry(request: HttpRequest) -> str:
    patient_id = request.GET.get("patient") or request.POST.get("patient")
    return f"?patient={patient_id}" if patient_id and str(patient_id).isdigit() else ""


@login_required
def departments(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "scheduling.book")
    query = request.GET.get("q", "").strip()
    rows = selectors.bookable_departments().select_related("national_code")
    if query:
        rows = rows.filter(name_zh__icontains=query) | rows.filter(name_en__icontains=query)
    return render(
        request,
        "scheduling/departments.html",
        {
            "departments": rows,
            "query": query,
            "carry": _carry(request),
            "patients": _patients_for(request),
        },
    )


@login_required
def department(request: HttpRequest, code: str) -> HttpResponse:
    require_capability(request.user, "scheduling.book")
    dept = Department.objects.filter(national_code_id=code, is_active=True).first()
    if dept is None:
        raise NotFound()
    by_date: OrderedDict[dt.date, list[dict[str, Any]]] = OrderedDict()
    for session in selectors.open_sessions(dept.pk, days=8).prefetch_related("slots"):
        free = list(selectors.free_slots(session))
        by_date.setdefault(session.date, []).append(
            {"session": session, "remaining": sum(s.remaining for s in free)}
        )
    advice = steering.advise([item["session"] for items in by_date.values() for item in items])
    for date, items in by_date.items():
        by_date[date] = steering.order_by_advice(items, advice)
    upcoming = selectors.upcoming_sessions(dept.pk).first()
    return render(
        request,
        "scheduling/department.html",
        {
            "department": dept,
            "by_date": by_date,
            "next_release": upcoming.releases_at if upcoming else None,
            "carry": _carry(request),
            "policy": policy_for(dept.pk),
        },
    )


@login_required
def session(request: HttpRequest, session_id: int) -> HttpResponse:
    require_capability(request.user, "scheduling.book")
    found = (
        ClinicSession.objects.select_related("department", "practitioner__user", "exam_type")
        .filter(pk=session_id)
        .first()
    )
    if found is None:
        raise NotFound()
    patients = _patients_for(request)
    error: CodedError | None = None
    status = 200
    if request.method == "POST":
        try:
            slot_id = int(request.POST.get("slot", ""))
            patient_id = int(request.POST.get("patient", ""))
        except ValueError:
            slot_id, patient_id = 0, 0
        try:
            result = services.book_slot(
                request.user,
                patient_id=patient_id,
                slot_id=slot_id,
                channel=channel_of(request.user, request.POST.get("channel")),
                idempotency_key=request.POST.get("idempotency_key") or None,
            )
            return redirect("scheduling:confirmation", appointment_id=result.appointment.pk)
        except CodedError as exc:
            error, status = exc, exc.status
    slots = list(selectors.free_slots(found))
    return render(
        request,
        "scheduling/session.html",
        {
            "session": found,
            "slots": slots,
            "patients": patients,
            "error": error,
            "carry": _carry(request),
            "idempotency_key": clock.now().strftime("%Y%m%d%H%M%S%f"),
            "full": not slots,
            "is_open": found.is_open,
        },
        status=status,
    )


def _own_appointment(request: HttpRequest, appointment_id: int) -> Appointment:
    appointment = (
        Appointment.objects.select_related(
            "slot",
            "department",
            "session__practitioner__user",
            "session__room",
            "session__exam_type",
            "patient",
        )
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        raise NotFound()
    access_patient(request.user, appointment.patient_id, AccessAction.VIEW, obj=appointment)
    return appointment


@login_required
def confirmation(request: HttpRequest, appointment_id: int) -> HttpResponse:
    appointment = _own_appointment(request, appointment_id)
    return render(request, "scheduling/confirmation.html", {"appointment": appointment})


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """The patient's (and their family's) bookings, with preparation, cancel, check-in and offers."""
    user: Any = request.user
    require_capability(user, "scheduling.book")
    patients = _patients_for(request)
    for patient in patients:
        access_patient(user, patient, AccessAction.VIEW, reason="my bookings")
    appointments = (
        Appointment.objects.select_related("slot", "department", "session__practitioner__user", "patient")
        .filter(patient__in=patients)
        .order_by("-slot__starts_at")[:50]
    )
    offers = WaitlistEntry.objects.select_related("offered_slot__session__department", "department").filter(
        patient__in=patients, status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED]
    )
    now = clock.now()
    rows = []
    for a in appointments:
        policy = policy_for(a.department_id)
        rows.append(
            {
                "a": a,
                "can_cancel": a.status == AppointmentStatus.BOOKED
                and now <= a.slot.starts_at - dt.timedelta(hours=policy.cancellation_deadline_hours),
                "can_check_in": a.status == AppointmentStatus.BOOKED
                and a.slot.starts_at - dt.timedelta(minutes=policy.check_in_opens_minutes)
                <= now
                <= a.slot.ends_at,
                "in_queue": a.status in (AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_CONSULTATION),
            }
        )
    return render(request, "scheduling/mine.html", {"rows": rows, "offers": offers, "carry": _carry(request)})


@login_required
@require_POST
def cancel(request: HttpRequest, appointment_id: int) -> HttpResponse:
    form = CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.cancel_appointment(request.user, appointment_id, reason=reason)
        messages.success(request, _("The booking was cancelled."))
    except CodedError as exc:
        if exc.status == 404:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect(f"/booking/mine/{_carry(request)}")


@login_required
@require_POST
def join_waitlist(request: HttpRequest, session_id: int) -> HttpResponse:
    found = ClinicSession.objects.filter(pk=session_id).first()
    if found is None:
        raise NotFound()
    try:
        services.join_waitlist(
            request.user,
            patient_id=request.POST.get("patient"),
            department_id=found.department_id,
            date=found.date,
            channel=channel_of(request.user),
            practitioner_id=found.practitioner_id,
        )
        messages.success(request, _("You are on the waitlist. We will message you when a place is free."))
    except CodedError as exc:
        if exc.status == 404:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect(f"/booking/mine/{_carry(request)}")


@login_required
@require_POST
def accept_offer(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        appointment = services.accept_offer(request.user, entry_id, channel=channel_of(request.user))
    except CodedError as exc:
        if exc.status == 404:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
        return redirect("scheduling:mine")
    return redirect("scheduling:confirmation", appointment_id=appointment.pk)


@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """Sessions of a department for the front desk and the department head: stop or replace."""
    user: Any = request.user
    require_capability(user, "scheduling.manage")
    own = getattr(getattr(user, "practitioner", None), "department", None)
    code = request.GET.get("department") or (own.code if own else "")
    dept = Department.objects.filter(national_code_id=code).first() if code else None
    sessions = (
        ClinicSession.objects.select_related("practitioner__user", "exam_type")
        .filter(department=dept, date__gte=clock.today(), date__lt=clock.today() + dt.timedelta(days=8))
        .order_by("starts_at")
        if dept
        else ClinicSession.objects.none()
    )
    return render(
        request,
        "scheduling/manage.html",
        {
            "department": dept,
            "sessions": sessions,
            "departments": Department.objects.filter(is_active=True),
            "substitutes": dept.practitioners.select_related("user").filter(
                user__role__in=["doctor", "department_head"]
            )
            if dept
            else [],
            "stopped": SessionStatus.STOPPED,
        },
    )


@login_required
@require_POST
def stop(request: HttpRequest, session_id: int) -> HttpResponse:
    form = StopSessionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("SCHED-010: Give a reason for stopping the session."))
    else:
        told = services.stop_session(request.user, session_id, reason=form.cleaned_data["reason"])
        messages.success(request, _("Session stopped; %(n)s patients were told.") % {"n": told})
    found = ClinicSession.objects.filter(pk=session_id).select_related("department").first()
    return redirect(f"/booking/manage/?department={found.department.code if found else ''}")


@login_required
@require_POST
def replace(request: HttpRequest, session_id: int) -> HttpResponse:
    form = ReplaceSessionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("SCHED-010: Choose the substitute doctor."))
    else:
        services.replace_session(
            request.user,
            session_id,
            practitioner_id=form.cleaned_data["practitioner"],
            reason=form.cleaned_data["reason"],
        )
        messages.success(request, _("The session now has a new doctor; booked patients were told."))
    found = ClinicSession.objects.filter(pk=session_id).select_related("department").first()
    return redirect(f"/booking/manage/?department={found.department.code if found else ''}")
