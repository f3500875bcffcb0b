"""Imaging pages: study search, a patient's studies (and refresh from the PACS), upload, and the
viewer (series, slice scrolling, window centre and width) with the study's reports."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.core.errors import CodedError, NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.interop.dicom import dicomweb, selectors, services
from smartcare.interop.dicom.errors import PacsError, PacsNotConfigured, PacsUnavailable
from smartcare.interop.dicom.render import parse_window
from smartcare.interop.models import ImagingSeries, ReportKind, StudySource
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

# Common CT windows (centre, width) offered as buttons; "file" restores the image's own window.
PRESETS = [
    ("brain", 40, 80),
    ("soft_tissue", 40, 400),
    ("lung", -600, 1500),
    ("bone", 400, 1800),
]


@login_required
def search(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "interop.imaging.search")
    form = {k: request.GET.get(k, "").strip() for k in ("patient", "modality", "date_from", "date_to")}
    studies = None
    if any(form.values()):
        try:
            studies = selectors.search_studies(
                user,
                patient=form["patient"],
                modality=form["modality"],
                date_from=services.parse_date_filter(form["date_from"], "date_from"),
                date_to=services.parse_date_filter(form["date_to"], "date_to"),
            )
        except CodedError as exc:
            messages.error(request, f"{exc.code}: {exc.detail}")
    return render(
        request,
        "interop/dicom/search.html",
        {"form": form, "studies": studies, "modalities": selectors.MODALITIES},
    )


@login_required
def patient_imaging(request: HttpRequest, patient_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "interop.imaging.view")
    patient = access_patient(user, patient_id, AccessAction.CLINICAL)
    return render(
        request,
        "interop/dicom/patient.html",
        {
            "patient": patient,
            "studies": selectors.patient_studies(patient),
            "may_sync": dicomweb.configured() and has_capability(user, "interop.imaging.search"),
            "may_upload": has_capability(user, "interop.imaging.upload"),
        },
    )


@login_required
@require_POST
def sync(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        counts = services.sync_patient_studies(request.user, patient_id)
    except (PacsError, PacsNotConfigured, PacsUnavailable) as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        messages.success(
            request,
            _("From the PACS: %(studies)s new studies, %(instances)s new images.")
            % {"studies": counts["studies"], "instances": counts["instances"]},
        )
    return redirect("interop:patient_imaging", patient_id=patient_id)


def _find_patient(user: Any, code: str) -> Patient:
    code = code.strip()
    found = (
        Patient.objects.visible_to(user)
        .filter(Q(medical_record_number=code) | Q(one_code=code))
        .values_list("pk", flat=True)
        .first()
        if code
        else None
    )
    if found is None:
        raise NotFound(field="patient")
    return access_patient(user, found, AccessAction.UPDATE, audit=False)


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "interop.imaging.upload")
    initial = request.GET.get("patient", "")
    if initial.isdigit():
        known = Patient.objects.visible_to(user).filter(pk=int(initial)).first()
        initial = known.medical_record_number if known else ""
    context: dict[str, Any] = {"patient_code": initial, "error": None}
    if request.method == "POST":
        context["patient_code"] = request.POST.get("patient", "")
        files = [(f.name or "file", f.read()) for f in request.FILES.getlist("files")]
        try:
            patient = _find_patient(user, context["patient_code"])
            result = services.store_instances(
                user,
                files,
                patient_id=patient.pk,
                reconcile=request.POST.get("reconcile") == "1",
                source=StudySource.UPLOAD,
            )
        except CodedError as exc:
            if exc.status == 404:  # the patient: "not allowed" looks like "not found"
                raise
            context["error"] = exc
            return render(request, "interop/dicom/upload.html", context, status=exc.status)
        messages.success(
            request,
            _("%(stored)s image(s) stored, %(already)s already stored.")
            % {"stored": len(result.stored), "already": len(result.already_stored)},
        )
        return redirect("interop:study", study_id=result.studies[0].pk)
    return render(request, "interop/dicom/upload.html", context)


@login_required
def study(request: HttpRequest, study_id: int) -> HttpResponse:
    user: Any = request.user
    found = services.open_study(user, study_id)
    series_list = list(found.series.all())
    chosen: ImagingSeries | None = None
    wanted = request.GET.get("series", "")
    if wanted.isdigit():
        chosen = next((s for s in series_list if s.pk == int(wanted)), None)
    chosen = chosen or (series_list[0] if series_list else None)
    frames = selectors.series_frames(chosen) if chosen else []
    reports = [d.report for d in found.reports.select_related("report").order_by("-created_at")]
    if user.role == "patient":
        from smartcare.interop.reports.services import PUBLISHED_STATUSES

        reports = [r for r in reports if r.status in PUBLISHED_STATUSES]
    return render(
        request,
        "interop/dicom/study.html",
        {
            "study": found,
            "patient": found.patient,
            "series_list": series_list,
            "series": chosen,
            "frames": frames,
            "frame_count": len(frames),
            "presets": PRESETS,
            "reports": reports,
            "may_report": has_capability(user, "interop.reports.write"),
            "imaging_kind": ReportKind.IMAGING,
        },
    )


@login_required
def frame(request: HttpRequest, instance_id: int, frame: int) -> HttpResponse:
    window = parse_window(request.GET.get("wc", ""), request.GET.get("ww", ""))
    png, used = services.frame_png(request.user, instance_id, frame, window)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    if used is not None:
        response["X-Window"] = f"{used.center:g},{used.width:g}"
    return response
