"""Check-in (kiosk, desk, phone), the doctor's queue, waiting-room displays and the patient's live
place in the queue."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.core import clock
from smartcare.core.errors import CodedError, NotFound
from smartcare.core.permissions import require_capability
from smartcare.organization.models import Department
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.scheduling.models import Appointment, ClinicSession
from smartcare.visits import services
from smartcare.visits.displays import department_for_token, make_token, sessions_for_token
from smartcare.visits.models import QueueEntry


@login_required
@require_POST
def phone_check_in(request: HttpRequest, appointment_id: int) -> HttpResponse:
    try:
        services.check_in(request.user, appointment_id=appointment_id, channel="phone")
    except CodedError as exc:
        if exc.status == 404 and exc.code == "CORE-404":
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
        return redirect("scheduling:mine")
    return redirect("visits:my_queue", appointment_id=appointment_id)


@login_required
def my_queue(request: HttpRequest, appointment_id: int) -> HttpResponse:
    appointment = (
        Appointment.objects.select_related("department", "session__practitioner__user", "patient")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        raise NotFound()
    access_patient(request.user, appointment.patient_id, AccessAction.VIEW, obj=appointment, reason="queue")
    entry = QueueEntry.objects.filter(appointment=appointment).first()
    state = services.queue_state(appointment.session)
    position = next((w for w in state["waiting"] if w["appointment"] == appointment.pk), None)
    return render(
        request,
        "visits/my_queue.html",
        {
            "appointment": appointment,
            "entry": entry,
            "position": position,
            "state": state,
            "ws_path": f"/ws/queue/{appointment.pk}/",
        },
    )


def _kiosk_patient(request: HttpRequest) -> Any:
    patient_id = request.session.get("kiosk_patient")
    if not patient_id:
        return None
    try:
        return access_patient(request.user, patient_id, AccessAction.VIEW, reason="kiosk")
    except NotFound:
        request.session.pop("kiosk_patient", None)
        return None


@login_required
def kiosk(request: HttpRequest) -> HttpResponse:
    """Self-service kiosk: scan the one code, then check in or book. Large buttons, few steps."""
    require_capability(request.user, "visits.kiosk")
    error = None
    if request.method == "POST" and request.POST.get("action") == "identify":
        try:
            patient = services.present_code(request.user, request.POST.get("code", ""))
            request.session["kiosk_patient"] = patient.pk
        except NotFound as exc:
            error = exc
    elif request.method == "POST" and request.POST.get("action") == "done":
        request.session.pop("kiosk_patient", None)
        return redirect("visits:kiosk")
    patient = _kiosk_patient(request)
    appointments = services.todays_appointments(patient) if patient else []
    response = render(
        request,
        "visits/kiosk.html",
        {
            "patient": patient,
            "appointments": appointments,
            "error": error,
            "kiosk": True,
        },
        status=404 if error else 200,
    )
    return response


@login_required
@require_POST
def kiosk_check_in(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "visits.kiosk")
    patient = _kiosk_patient(request)
    if patient is None:
        return redirect("visits:kiosk")
    try:
        appointment_id = int(request.POST.get("appointment", "0")) or None
        entry = services.check_in(
            request.user, code=patient.one_code, appointment_id=appointment_id, channel="kiosk"
        )
    except (CodedError, ValueError) as exc:
        message = f"{exc.code}: {exc.detail}" if isinstance(exc, CodedError) else _("Choose a booking.")
        messages.error(request, message)
        return redirect("visits:kiosk")
    # The patient takes the ticket and leaves: the kiosk must not keep showing (and acting for) them.
    request.session.pop("kiosk_patient", None)
    return render(request, "visits/ticket.html", {"entry": entry, "kiosk": True})


@login_required
def desk_check_in(request: HttpRequest) -> HttpResponse:
    """Front desk or nurse station: scan or type the one code to check the patient in."""
    # The desk sets the queue priority: staff only (patients check in on the phone, devices at the kiosk).
    require_capability(request.user, "visits.check_in_desk")
    error = None
    if request.method == "POST":
        try:
            priority = request.POST.get("priority")
            entry = services.check_in(
                request.user,
                code=request.POST.get("code", ""),
                channel="desk",
                priority=int(priority) if priority not in (None, "") else None,
            )
            return render(request, "visits/ticket.html", {"entry": entry})
        except CodedError as exc:
            error = exc
    return render(
        request, "visits/desk_check_in.html", {"error": error}, status=error.status if error else 200
    )


@login_required
def doctor_queue(request: HttpRequest) -> HttpResponse:
    """The doctor's (or exam room's) queue today, with call next, recall, skip and finish."""
    user: Any = request.user
    require_capability(user, "visits.call")
    department_id = getattr(getattr(user, "practitioner", None), "department_id", None) or 0
    sessions = (
        ClinicSession.objects.filter(department_id=department_id, date=clock.local_now().date())
        .select_related("practitioner__user", "exam_type")
        .order_by("starts_at")
    )
    mine = [
        s for s in sessions if s.practitioner_id == getattr(getattr(user, "practitioner", None), "pk", None)
    ]
    chosen_id = request.GET.get("session") or request.POST.get("session")
    session = (
        next((s for s in sessions if str(s.pk) == str(chosen_id)), None)
        or (mine[0] if mine else None)
        or (sessions[0] if sessions else None)
    )
    error = None
    if request.method == "POST" and session is not None:
        action = request.POST.get("action")
        operations = {
            "next": services.call_next,
            "recall": services.recall_current,
            "skip": services.skip_current,
            "finish": services.finish_current,
            "exam": services.send_to_exam,
        }
        # A patient away from the queue comes back: after a missed call, or from an exam.
        returns = {"returned": False, "back_from_exam": True}
        try:
            if action in operations:
                operations[action](user, session.pk)
            elif action in returns:
                entry_id = _int_or_none(request.POST.get("entry"))
                if entry_id is None:
                    raise NotFound()
                services.return_to_queue(user, session.pk, entry_id, after_exam=returns[action])
        except CodedError as exc:
            if exc.status == 404:
                raise
            error = exc
    state = services.queue_state(session) if session else None
    pre_visit: list[Any] = []
    if state and state["called"]:
        # The patient being seen: show the pre-visit exams and their results (clinical read, audited).
        appointment = Appointment.objects.get(pk=state["called"]["appointment"])
        access_patient(
            user, appointment.patient_id, AccessAction.CLINICAL, obj=appointment, reason="visit started"
        )
        pre_visit = list(appointment.pre_visit_exams.select_related("exam_type"))
    template = "visits/_doctor_queue.html" if getattr(request, "htmx", False) else "visits/doctor_queue.html"
    context = {
        "sessions": sessions,
        "session": session,
        "state": state,
        "error": error,
        "pre_visit": pre_visit,
    }
    return render(request, template, context)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


@login_required
def displays(request: HttpRequest) -> HttpResponse:
    """Links for the waiting-room screens of each department (signed, no sign-in on the screen)."""
    require_capability(request.user, "visits.displays")
    rows = [
        {"department": d, "url": reverse("visits:display", args=[make_token(d.pk)])}
        for d in Department.objects.filter(is_active=True, is_clinical=True)
    ]
    return render(request, "visits/displays.html", {"rows": rows})


def display(request: HttpRequest, token: str) -> HttpResponse:
    """A waiting-room screen: who is called and who is next, names masked, live over websockets."""
    department_id = department_for_token(token)
    session_ids = sessions_for_token(token)
    if department_id is None or session_ids is None:
        raise NotFound()
    department = Department.objects.get(pk=department_id)
    sessions = ClinicSession.objects.filter(pk__in=session_ids).select_related(
        "practitioner__user", "exam_type", "room"
    )
    states = {s.pk: services.queue_state(s) for s in sessions}
    return render(
        request,
        "visits/display.html",
        {
            "department": department,
            "sessions": sessions,
            "states": states,
            "ws_path": f"/ws/display/{token}/",
        },
    )
