"""Research project pages: my projects and registration (researchers), the review queue (data
stewards), a project with its exports and downloads, private exploration (DP means and
histograms), and research consent (a patient's own page, and staff recording it for a patient)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from smartcare.core import clock
from smartcare.core.errors import CodedError, NotFound, show_on_page
from smartcare.core.permissions import has_capability, require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.research import consent, explore, exports, privacy
from smartcare.research import projects as services
from smartcare.research.errors import ProjectInvalid
from smartcare.research.models import ExportFormat, ProjectStatus, ResearchProject


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def _int(value: Any, field: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise ProjectInvalid(reason=field, field=field) from None


def _float(value: Any, field: str, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        return float(str(value))
    except ValueError:
        raise ProjectInvalid(reason=field, field=field) from None


# The de-identification report's words (stored in English in the report file), for the page.
GENERALIZATION_LABELS = {
    "years": gettext_lazy("single years of age"),
    "5-year bands": gettext_lazy("5-year age bands"),
    "10-year bands": gettext_lazy("10-year age bands"),
    "20-year bands": gettext_lazy("20-year age bands"),
    "county (6 digits)": gettext_lazy("county level"),
    "city (4 digits)": gettext_lazy("city level"),
    "province (2 digits)": gettext_lazy("province level"),
    "removed": gettext_lazy("not released"),
    "month": gettext_lazy("month of the visit"),
    "year": gettext_lazy("year of the visit"),
}


def export_summary(export: Any) -> dict[str, Any]:
    """The k-anonymity part of an export's report, in the reader's language."""
    report = (export.report or {}).get("k_anonymity", {})
    general = report.get("generalized", {})

    def label(key: str) -> Any:
        value = general.get(key, "")
        return GENERALIZATION_LABELS.get(value, value)

    return {
        "k": report.get("k", export.k_anonymity),
        "age": label("age"),
        "region": label("region"),
        "visit": label("first_visit"),
        "released": report.get("released", 0),
    }


def project_input(post: Any) -> services.ProjectInput:
    names = str(post.get("investigators", "")).replace("，", ",").replace(";", ",").split(",")
    return services.ProjectInput(
        title=post.get("title", ""),
        aims=post.get("aims", ""),
        ethics_number=post.get("ethics_number", ""),
        ethics_valid_from=_date(post.get("ethics_valid_from", "")),
        ethics_valid_until=_date(post.get("ethics_valid_until", "")),
        investigators=names,
        k_anonymity=_int(post.get("k_anonymity"), "k_anonymity", 5),
        epsilon_budget=_float(post.get("epsilon_budget"), "epsilon_budget", 3.0),
    )


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "research.projects")
    today = clock.today()
    rows = list(services.projects_for(user).prefetch_related("investigators"))
    return render(
        request,
        "research/project_list.html",
        {"projects": rows, "today": today, "may_review": has_capability(user, "research.review")},
    )


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "research.projects")
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = request.POST.dict()
        try:
            project = services.register_project(user, project_input(request.POST))
            messages.success(request, _("Project registered: a data steward will review it."))
            return redirect("research:project_detail", project_id=project.pk)
        except CodedError as exc:
            show_on_page(request, exc)
    return render(request, "research/project_new.html", {"form": form})


def _export_choices(project: ResearchProject) -> list[Any]:
    """Saved cohort versions whose cohort belongs to an investigator of the project."""
    from smartcare.research.models import CohortVersion

    members = [project.principal_investigator_id, *project.investigators.values_list("pk", flat=True)]
    return list(
        CohortVersion.objects.filter(cohort__owner_id__in=members, cohort__is_archived=False)
        .select_related("cohort")
        .order_by("cohort__name", "-number")[:100]
    )


@login_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    user: Any = request.user
    project = services.get_project(user, project_id)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "close":
                services.close_project(user, project)
                messages.success(request, _("Project closed."))
            elif action == "export":
                request_data = exports.ExportRequest(
                    file_format=request.POST.get("file_format", ""),
                    cohort_version_id=_int(request.POST.get("cohort_version"), "cohort_version", 0) or None,
                    tables=tuple(request.POST.getlist("tables")),
                    k=_int(request.POST.get("k"), "k", project.k_anonymity),
                )
                export = exports.create_export(user, project, request_data)
                messages.success(
                    request,
                    _("Export ready: %(rows)s rows, %(suppressed)s people suppressed for k-anonymity.")
                    % {"rows": export.rows, "suppressed": export.suppressed},
                )
            else:
                raise NotFound()
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("research:project_detail", project_id=project.pk)
    member = project.is_member(user)
    budget = privacy.budget_of(user, project)
    return render(
        request,
        "research/project_detail.html",
        {
            "project": project,
            "today": clock.today(),
            "investigators": list(project.investigators.all()),
            "exports": [(e, export_summary(e)) for e in project.exports.select_related("requested_by")[:50]],
            "is_member": member,
            "is_open": project.is_open_on(clock.today()),
            "may_review": has_capability(user, "research.review") and not member,
            "may_close": project.status == ProjectStatus.APPROVED
            and (project.principal_investigator_id == user.pk or has_capability(user, "research.review")),
            "cohort_versions": _export_choices(project) if member else [],
            "tables": exports.EVENT_TABLES,
            "default_tables": exports.DEFAULT_TABLES,
            "formats": ExportFormat.choices,
            "budget": budget,
        },
    )


@login_required
@require_GET
def export_download(request: HttpRequest, export_id: int) -> FileResponse:
    user: Any = request.user
    export = exports.get_export(user, export_id)
    path = exports.open_download(user, export)
    name = f"research-project-{export.project_id}-export-{export.pk}-{export.file_format}.zip"
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="application/zip")


@login_required
def review(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "research.review")
    if request.method == "POST":
        try:
            project = services.get_project(user, request.POST.get("project_id"))
            decision = request.POST.get("decision", "")
            reason = request.POST.get("reason", "")
            if decision == "approve":
                services.approve_project(user, project, reason=reason)
                messages.success(request, _("Project approved."))
            elif decision == "reject":
                services.reject_project(user, project, reason=reason)
                messages.success(request, _("Project rejected."))
            else:
                raise ProjectInvalid(reason="decision", field="decision")
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("research:review")
    decided = (
        ResearchProject.objects.exclude(status=ProjectStatus.SUBMITTED)
        .select_related("principal_investigator", "decided_by")
        .order_by("-decided_at", "-pk")[:30]
    )
    return render(
        request,
        "research/review.html",
        {
            "queue": list(services.review_queue().prefetch_related("investigators")),
            "decided": list(decided),
            "today": clock.today(),
        },
    )


@login_required
def explore_page(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "research.cohorts")
    result = None
    form: dict[str, Any] = {
        "kind": "age",
        "statistic": "histogram",
        "lower": "0",
        "upper": "100",
        "bins": "10",
    }
    projects = list(services.projects_for(user))
    if request.method == "POST":
        form = request.POST.dict()
        try:
            project = None
            if form.get("project"):
                project = services.get_project(user, form["project"])
            measure = explore.parse_measure(form.get("kind"), form.get("code"))
            result = explore.explore(
                user,
                measure=measure,
                statistic=form.get("statistic", ""),
                lower=form.get("lower"),
                upper=form.get("upper"),
                bins=form.get("bins") or 10,
                purpose=form.get("purpose", ""),
                project=project,
            )
        except CodedError as exc:
            show_on_page(request, exc)
    chart = None
    if result is not None and result.kind == "histogram":
        chart = json.dumps(
            {
                "grid": {"left": 40, "right": 10, "top": 10, "bottom": 50},
                "tooltip": {},
                "xAxis": {
                    "type": "category",
                    "data": [f"{b['from']:g}–{b['to']:g}" for b in result.value],
                    "axisLabel": {"rotate": 30},
                },
                "yAxis": {"type": "value"},
                "series": [{"type": "bar", "data": [b["count"] for b in result.value]}],
            }
        )
    budgets = list(user.privacy_budgets.select_related("project").order_by("project__title"))
    return render(
        request,
        "research/explore.html",
        {
            "form": form,
            "result": result,
            "chart": chart,
            "projects": projects,
            "measures": explore.MEASURES,
            "statistics": explore.STATISTICS,
            "vital_kinds": explore.VITAL_KINDS,
            "budgets": budgets,
            "epsilon": privacy.AGGREGATE_EPSILON,
        },
    )


def _consent_page(
    request: HttpRequest, patient: Any, template: str, back: str, **kwargs: Any
) -> HttpResponse:
    user: Any = request.user
    if request.method == "POST":
        choice = request.POST.get("decision", "")
        try:
            if choice not in ("grant", "withdraw"):
                from smartcare.research.errors import ConsentInvalid

                raise ConsentInvalid(reason="decision", field="decision")
            consent.record_research_consent(
                user, patient, granted=choice == "grant", note=request.POST.get("note", "")
            )
            messages.success(
                request,
                _("Research consent granted.") if choice == "grant" else _("Research consent withdrawn."),
            )
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect(back, **kwargs)
    return render(
        request,
        template,
        {
            "patient": patient,
            "status": consent.research_consent_status(patient.pk),
            "history": consent.research_consent_history(patient.pk),
        },
    )


@login_required
def my_consent(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "research.consent_own")
    patient = getattr(user, "patient_record", None)
    if patient is None:
        raise NotFound()
    patient = access_patient(user, patient, AccessAction.VIEW, reason="research consent")
    return _consent_page(request, patient, "research/my_consent.html", "research:my_consent")


@login_required
def patient_consent(request: HttpRequest, patient_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "research.consent_record")
    action = AccessAction.UPDATE if request.method == "POST" else AccessAction.VIEW
    patient = access_patient(
        user, patient_id, action, reason="research consent", audit=request.method != "POST"
    )
    return _consent_page(
        request, patient, "research/patient_consent.html", "research:patient_consent", patient_id=patient.pk
    )
