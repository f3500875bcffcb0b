"""Report pages: the patient's reports (abnormal results highlighted and explained), one report,
and the clinician's form to finalize a lab report from results in the record."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from smartcare.accounts.choices import Role
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core.errors import CodedError, NotFound
from smartcare.core.permissions import require_capability
from smartcare.emr.models import Observation
from smartcare.interop.models import DiagnosticReport, ReportKind
from smartcare.interop.reports import services
from smartcare.interop.reports.explanations import explain
from smartcare.interop.reports.services import CRITICAL_FLAGS, PUBLISHED_STATUSES
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient


def _for_patients(user: Any) -> bool:
    return getattr(user, "role", "") == Role.PATIENT


@login_required
def reports(request: HttpRequest) -> HttpResponse:
    """Patients: their own reports (and those of family members they act for) that were sent to
    them. Clinicians: the reports of one patient (``?patient=``), or the latest of their patients."""
    user: Any = request.user
    require_capability(user, "interop.reports.view")
    rows = DiagnosticReport.objects.select_related("patient", "delivery").order_by("-issued_at", "-pk")
    patient = None
    wanted = request.GET.get("patient", "")
    if wanted:
        patient = access_patient(user, wanted, AccessAction.CLINICAL)
        rows = rows.filter(patient=patient)
    else:
        rows = rows.filter(patient__in=Patient.objects.visible_to(user))
        record(user, AuditAction.SEARCH, obj=("interop.DiagnosticReport", ""), detail={"list": "reports"})
    if _for_patients(user):
        rows = rows.filter(status__in=PUBLISHED_STATUSES, delivery__published_at__isnull=False)
    return render(request, "interop/reports/list.html", {"reports": list(rows[:100]), "patient": patient})


def _open(user: Any, report_id: int) -> DiagnosticReport:
    require_capability(user, "interop.reports.view")
    report = DiagnosticReport.objects.select_related("patient").filter(pk=report_id).first()
    if report is None or (_for_patients(user) and report.status not in PUBLISHED_STATUSES):
        raise NotFound()
    access_patient(user, report.patient_id, AccessAction.CLINICAL, obj=report)
    return report


@login_required
def report(request: HttpRequest, report_id: int) -> HttpResponse:
    user: Any = request.user
    found = _open(user, report_id)
    delivery = getattr(found, "delivery", None)
    marked = set(delivery.marked_critical or []) if delivery else set()
    rows = []
    for observation in found.results.order_by("observed_at", "pk"):
        critical = observation.flag in CRITICAL_FLAGS or observation.pk in marked
        rows.append(
            {
                "observation": observation,
                "abnormal": bool(observation.flag),
                "critical": critical,
                "explanation": explain(observation),
            }
        )
    return render(
        request,
        "interop/reports/report.html",
        {
            "report": found,
            "delivery": delivery,
            "rows": rows,
            "abnormal_count": sum(1 for r in rows if r["abnormal"]),
            "study": delivery.imaging_study if delivery else None,
            "for_patient": _for_patients(user),
        },
    )


@login_required
def new_report(request: HttpRequest, patient_id: int) -> HttpResponse:
    """GET: results of the patient not yet in a report, to finalize as a lab report. POST: create
    the report (lab, or imaging with ``study`` and a conclusion, as posted from the viewer)."""
    user: Any = request.user
    require_capability(user, "interop.reports.write")
    patient = access_patient(user, patient_id, AccessAction.CLINICAL)
    error = None
    if request.method == "POST":
        kind = request.POST.get("kind", ReportKind.LAB)
        try:
            created = services.write_report(
                user,
                patient.pk,
                kind=kind,
                name=request.POST.get("name", ""),
                observation_ids=request.POST.getlist("results"),
                conclusion=request.POST.get("conclusion", ""),
                imaging_study_id=request.POST.get("study") or None,
                order_id=request.POST.get("order") or None,
            )
        except CodedError as exc:
            if exc.status == 404:
                raise
            if kind == ReportKind.IMAGING and request.POST.get("study", "").isdigit():
                messages.error(request, f"{exc.code}: {exc.detail} {_format_errors(exc)}")
                return redirect("interop:study", study_id=int(request.POST["study"]))
            error = exc
        else:
            messages.success(request, _("The report is final and was sent to the patient."))
            return redirect("interop:report", report_id=created.pk)
    pending = Observation.objects.filter(patient=patient, diagnostic_reports__isnull=True).order_by(
        "-observed_at", "-pk"
    )[:100]
    return render(
        request,
        "interop/reports/new.html",
        {"patient": patient, "pending": pending, "error": error, "post": request.POST},
        status=error.status if error else 200,
    )


def _format_errors(exc: CodedError) -> str:
    errors = getattr(exc, "errors", {}) or {}
    return " ".join(" ".join(texts) for texts in errors.values())
