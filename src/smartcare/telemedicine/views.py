"""Remote consultation pages.

Doctors: the worklist (``/telemedicine/``: my expert queue ordered by urgency and deadline, my
requests), a new request for a patient (``/telemedicine/patients/<id>/new/``), one consultation
with its actions and the opinion form (``/telemedicine/consultations/<id>/``) and its video room
(``.../room/``). Department heads: the quality review of discordant cases
(``/telemedicine/quality/``). Management: indicators, concordance per requester, department and
hospital, and the video terminals (``/telemedicine/indicators/``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, show_on_page
from smartcare.core.permissions import has_capability, require_capability
from smartcare.emr.models import Diagnosis, Encounter, Note, Observation
from smartcare.interop.models import ImagingStudy
from smartcare.organization.models import Department
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.telemedicine import selectors, services
from smartcare.telemedicine.choices import EventKind, Urgency
from smartcare.telemedicine.models import Consultation


@login_required
def worklist(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not (has_capability(user, "telemedicine.consult") or has_capability(user, "telemedicine.request")):
        require_capability(user, "telemedicine.consult")
    queue = selectors.expert_queue(user) if has_capability(user, "telemedicine.consult") else []
    mine = selectors.my_requests(user, limit=50) if has_capability(user, "telemedicine.request") else []
    record(
        user,
        AuditAction.SEARCH,
        obj=("telemedicine.Consultation", "worklist"),
        detail={"listed": sorted({c.patient_id for c in [*queue, *mine]})},
    )
    return render(
        request,
        "telemedicine/worklist.html",
        {"queue": queue, "mine": mine, "now": clock.now()},
    )


def _experts_by_department() -> dict[int, list[dict[str, Any]]]:
    experts: dict[int, list[dict[str, Any]]] = {}
    rows = User.objects.filter(
        role__in=(Role.DOCTOR, Role.DEPARTMENT_HEAD), is_active=True, practitioner__isnull=False
    ).select_related("practitioner")
    for user in rows.order_by("display_name", "username"):
        experts.setdefault(user.practitioner.department_id, []).append({"id": user.pk, "name": str(user)})
    return experts


@login_required
def new_request(request: HttpRequest, patient_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "telemedicine.request")
    patient = access_patient(user, patient_id, AccessAction.CLINICAL, reason="remote consultation request")
    if request.method == "POST":
        post = request.POST
        try:
            consultation = services.request_consultation(
                user,
                patient_id=patient.pk,
                specialty_id=post.get("specialty", ""),
                question=post.get("question", ""),
                working_diagnosis=post.get("working_diagnosis", ""),
                urgency=post.get("urgency", Urgency.ROUTINE),
                expert_id=post.get("expert") or None,
                note_ids=post.getlist("notes"),
                study_ids=post.getlist("studies"),
                result_ids=post.getlist("results"),
                diagnosis_ids=post.getlist("diagnoses"),
                encounter_id=post.get("encounter") or None,
                consent_given=post.get("consent") == "on",
                consent_note=post.get("consent_note", ""),
                external_hospital=post.get("external_hospital", ""),
            )
        except CodedError as exc:
            show_on_page(request, exc)
        else:
            messages.success(request, _("Request %(number)s sent.") % {"number": consultation.number})
            return redirect("telemedicine:consultation", consultation.pk)
    notes = (
        Note.objects.filter(encounter__patient=patient)
        .select_related("encounter")
        .order_by("-created_at")[:30]
    )
    studies = ImagingStudy.objects.filter(patient=patient).order_by("-started_at")[:30]
    results = Observation.objects.filter(patient=patient).order_by("-observed_at", "-pk")[:50]
    diagnoses = (
        Diagnosis.objects.filter(encounter__patient=patient)
        .select_related("icd10", "encounter")
        .order_by("-encounter__started_at", "-pk")[:30]
    )
    encounters = Encounter.objects.filter(patient=patient).order_by("-started_at")[:10]
    return render(
        request,
        "telemedicine/new.html",
        {
            "patient": patient,
            "notes": notes,
            "studies": studies,
            "results": results,
            "diagnoses": diagnoses,
            "chosen": {
                name: set(request.POST.getlist(name)) if request.method == "POST" else set()
                for name in ("notes", "studies", "results", "diagnoses")
            },
            "encounters": encounters,
            "departments": Department.objects.filter(is_active=True, is_clinical=True).order_by(
                "national_code_id"
            ),
            "experts": _experts_by_department(),
            "urgencies": Urgency.choices,
            "form": request.POST if request.method == "POST" else {},
        },
    )


def _act(request: HttpRequest, consultation: Consultation) -> None:
    user: Any = request.user
    post = request.POST
    action = post.get("action", "")
    if action == "accept":
        services.accept(user, consultation.pk)
        messages.success(request, _("Accepted: you may now open the patient's record."))
    elif action == "ask":
        services.ask_for_information(user, consultation.pk, post.get("text", ""))
        messages.success(request, _("Your question was sent to the requester."))
    elif action == "provide":
        services.provide_information(
            user,
            consultation.pk,
            post.get("text", ""),
            note_ids=post.getlist("notes"),
            study_ids=post.getlist("studies"),
            result_ids=post.getlist("results"),
            diagnosis_ids=post.getlist("diagnoses"),
        )
        messages.success(request, _("The information was sent to the expert."))
    elif action == "decline":
        services.decline(user, consultation.pk, post.get("reason", ""))
        messages.success(request, _("The request was declined."))
    elif action == "cancel":
        services.cancel(user, consultation.pk, post.get("reason", ""))
        messages.success(request, _("The request was cancelled."))
    elif action == "opinion":
        try:
            annotations = json.loads(post.get("annotations") or "[]")
        except ValueError:
            annotations = None
            raise InvalidInput(field="annotations") from None
        services.submit_opinion(
            user,
            consultation.pk,
            diagnosis=post.get("diagnosis", ""),
            recommendations=post.get("recommendations", ""),
            findings=post.get("findings", ""),
            annotations=annotations,
        )
        messages.success(request, _("The opinion is saved and entered into the record."))
    elif action == "review":
        services.review_discordance(
            user,
            consultation.pk,
            feedback=post.get("feedback", ""),
            training_note=post.get("training_note", ""),
        )
        messages.success(request, _("The review was saved and the requester informed."))
    else:
        raise InvalidInput(_("Unknown action."), field="action")


@login_required
def consultation(request: HttpRequest, consultation_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "telemedicine.consult")
    found = selectors.consultation_for(user, consultation_id)
    if request.method == "POST":
        try:
            _act(request, found)
        except CodedError as exc:
            show_on_page(request, exc)
        else:
            return redirect("telemedicine:consultation", found.pk)
        found = selectors.consultation_for(user, consultation_id)
    # The record behind the request: open to the requester and, once accepted, to the expert (through
    # the care relationship); the pool sees only the question until someone accepts.
    record_open = False
    if user.pk in (found.requester_id, found.expert_id) or services._is_head_of(user, found):
        try:
            access_patient(
                user, found.patient_id, AccessAction.CLINICAL, obj=found, reason="remote consultation"
            )
            record_open = True
        except CodedError:
            record_open = False
    else:
        record(user, AuditAction.READ, obj=found, detail={"event": "consultation_request_viewed"})
    opinion = getattr(found, "opinion", None) if found.status == "answered" else None
    return render(
        request,
        "telemedicine/consultation.html",
        {
            "c": found,
            "record_open": record_open,
            "notes": found.notes.select_related("encounter").all() if record_open else [],
            "studies": found.studies.all() if record_open else [],
            "results": found.results.order_by("observed_at", "pk") if record_open else [],
            "diagnoses": found.diagnoses.select_related("icd10", "encounter") if record_open else [],
            "events": found.events.select_related("actor").all(),
            "opinion": opinion,
            "review": getattr(found, "review", None) if opinion else None,
            "is_expert_side": services.is_expert_side(user, found),
            "is_requester": found.requester_id == user.pk,
            "is_expert": found.expert_id == user.pk,
            "may_review": has_capability(user, "telemedicine.review") and services._is_head_of(user, found),
            "room_open": services.room_is_open(found) and services.is_participant(user, found),
            "info_question": found.events.filter(kind=EventKind.INFO_REQUESTED).order_by("-at").first(),
            "now": clock.now(),
        },
    )


@login_required
def room(request: HttpRequest, consultation_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "telemedicine.consult")
    found = selectors.consultation_for(user, consultation_id)
    token, expires = services.issue_room_token(user, found.pk)
    access_patient(user, found.patient_id, AccessAction.CLINICAL, obj=found, reason="consultation room")
    from smartcare.interop.dicom.selectors import series_frames

    series = []
    for study in found.studies.prefetch_related("series").all():
        for s in study.series.all():
            series.append(
                {
                    "study": study.pk,
                    "series": s.pk,
                    "label": f"{s.modality} · {study.description or ''} {s.description or ''}".strip(),
                    "frames": series_frames(s),
                }
            )
    config = {
        "consultation": found.pk,
        "token": token,
        "expires": expires.isoformat(),
        "websocket": f"/ws/telemedicine/rooms/{found.pk}/",
        "iceServers": list(getattr(settings, "TELEMEDICINE_ICE_SERVERS", [])),
        "series": series,
        "frameUrl": reverse("interop:frame", args=[999999999, 1]),
        "mayAnnotate": found.expert_id == user.pk,
        "me": user.pk,
    }
    return render(request, "telemedicine/room.html", {"c": found, "config": config, "expires": expires})


@login_required
def quality(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "telemedicine.review")
    pending = list(selectors.discordant_cases(user, reviewed=False)[:100])
    done = list(selectors.discordant_cases(user, reviewed=True)[:50])
    record(
        user,
        AuditAction.SEARCH,
        obj=("telemedicine.Consultation", "discordant"),
        detail={"listed": sorted({c.patient_id for c in [*pending, *done]})},
    )
    return render(request, "telemedicine/quality.html", {"pending": pending, "done": done})


@login_required
def indicators(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "telemedicine.reports")
    end = clock.today()
    try:
        days = max(7, min(int(request.GET.get("days", "365")), 3 * 366))
    except ValueError:
        days = 365
    start = end - dt.timedelta(days=days - 1)
    by = request.GET.get("by", "department")
    if by not in ("department", "requester", "hospital"):
        by = "department"
    data = selectors.indicators(start, end)
    chart = {
        "months": list(data["per_month"].keys()),
        "counts": list(data["per_month"].values()),
        "buckets": list(data["response_hours"].keys()),
        "bucket_counts": list(data["response_hours"].values()),
    }
    return render(
        request,
        "telemedicine/indicators.html",
        {
            "data": data,
            "chart": chart,
            "report": selectors.concordance_report(start, end, by=by),
            "by": by,
            "days": days,
            "terminals": selectors.terminals(),
            "target": 0.9,
            "target_percent": 90,
        },
    )
