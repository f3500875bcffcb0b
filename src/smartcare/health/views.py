"""Health management pages.

Care team: who follows their advice (``/health/``), a patient's risks with their drivers, advice,
programmes and manual inputs (``/health/patients/<id>/``). Management: the effect of programmes
(``/health/effect/``) and trained models (``/health/models/``). Patients (phone first, elderly
mode): their risk in plain words with an icon array, their advice and adherence reports
(``/health/me/``), and the lifestyle questions (``/health/me/lifestyle/``).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core.errors import CodedError, InvalidInput, NotFound, show_on_page
from smartcare.core.permissions import has_capability, require_capability
from smartcare.health import equations, selectors, services
from smartcare.health.choices import Adherence, Algorithm, FamilyHistory, ModelStatus, Outcome
from smartcare.health.models import LifestyleAnswers, Programme, TrainedModel
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

CV_FIELDS = (
    "age",
    "sex",
    "race",
    "total_cholesterol",
    "hdl",
    "systolic_bp",
    "bp_treated",
    "smoker",
    "diabetes",
)
MEASURE_LABELS = {
    "systolic_bp": gettext_lazy("Systolic blood pressure (mmHg)"),
    "ldl": gettext_lazy("LDL cholesterol (mg/dL)"),
    "hba1c": gettext_lazy("HbA1c (%)"),
    "weight": gettext_lazy("Weight (kg)"),
}


# --- Care team ----------------------------------------------------------------------------------


@login_required
def followers(request: HttpRequest) -> HttpResponse:
    """Enrolled patients of the doctor's care, and whether they follow their advice."""
    user: Any = request.user
    require_capability(user, "health.enrol")
    rows = selectors.followers(user)
    record(
        user,
        AuditAction.SEARCH,
        obj=("health.Enrolment", "followers"),
        detail={"listed": sorted({f.enrolment.patient_id for f in rows})},
    )
    counts = {
        status: sum(1 for f in rows if f.status == status)
        for status in ("following", "not_following", "no_reports")
    }
    return render(request, "health/followers.html", {"rows": rows, "counts": counts})


def _manual_inputs(post: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in CV_FIELDS:
        value = post.get(name, "")
        if name in ("bp_treated", "smoker", "diabetes"):
            raw[name] = value == "on"
        elif value != "":
            raw[name] = value
    raw["total_cholesterol_unit"] = post.get("cholesterol_unit", "mmol/L")
    raw["hdl_unit"] = post.get("cholesterol_unit", "mmol/L")
    return raw


@login_required
def patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A patient's risks with drivers, the advice, programmes and the inputs still missing."""
    user: Any = request.user
    require_capability(user, "health.assess")
    found = access_patient(user, patient_id, AccessAction.CLINICAL, reason="health risk")
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "refresh":
                created = services.refresh_for(user, found.pk)
                messages.success(request, _("%(n)s new risk assessments.") % {"n": len(created)})
            elif action == "enrol":
                services.enrol(user, request.POST.get("programme"), found.pk)
                messages.success(request, _("Patient enrolled."))
            elif action == "end_enrolment":
                services.end_enrolment(
                    user, request.POST.get("enrolment"), completed=request.POST.get("completed") == "1"
                )
                messages.success(request, _("Enrolment ended."))
            elif action == "assess":
                services.assess_manually(
                    user, found.pk, request.POST.get("model", ""), _manual_inputs(request.POST)
                )
                messages.success(request, _("Risk computed and stored."))
            else:
                raise InvalidInput(_("Unknown action."), field="action")
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("health:patient", patient_id=found.pk)
    advice = selectors.current_advice(found)
    enrolments = list(selectors.enrolments_of(found))
    active_keys = {e.programme_id for e in enrolments if e.status == "active"}
    return render(
        request,
        "health/patient.html",
        {
            "patient": found,
            "risks": selectors.risk_views(found),
            "missing": selectors.missing_inputs(found),
            "patient_advice": [a for a in advice if not a.for_doctor],
            "doctor_advice": [a for a in advice if a.for_doctor],
            "enrolments": enrolments,
            "programmes": [p for p in Programme.objects.filter(is_active=True) if p.pk not in active_keys],
            "history": selectors.history(found),
            "may_enrol": has_capability(user, "health.enrol"),
            "models": equations.MODELS,
        },
    )


@login_required
def effect(request: HttpRequest) -> HttpResponse:
    """Effect of each programme, overall and per department, against matched comparison patients."""
    require_capability(request.user, "health.effect")
    rows = selectors.effect_table()
    return render(
        request,
        "health/effect.html",
        {"rows": rows, "measure_labels": MEASURE_LABELS},
    )


@login_required
def models(request: HttpRequest) -> HttpResponse:
    """Trained models: train a candidate on the records, read its evaluation, promote it."""
    user: Any = request.user
    require_capability(user, "health.models")
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "train":
                outcome = request.POST.get("outcome", "")
                from smartcare.health import training  # scikit-learn loads on first use

                rows = training.examples_from_records(outcome) if outcome in Outcome.values else []
                model = training.train_model(user, outcome, request.POST.get("algorithm", ""), rows)
                messages.success(
                    request,
                    _("Version %(v)s trained; AUC %(auc)s.")
                    % {"v": model.version, "auc": model.metrics["auc"]},
                )
            elif action == "promote":
                services.promote_model(user, request.POST.get("model"))
                messages.success(request, _("Model promoted."))
            elif action == "retire":
                services.retire_model(user, request.POST.get("model"))
                messages.success(request, _("Model retired."))
            else:
                raise InvalidInput(_("Unknown action."), field="action")
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("health:models")
    versions = list(TrainedModel.objects.order_by("outcome", "-version"))
    return render(
        request,
        "health/models.html",
        {
            "models": [(m, _calibration_chart(m)) for m in versions],
            "outcomes": Outcome.choices,
            "algorithms": Algorithm.choices,
            "candidate": ModelStatus.CANDIDATE,
        },
    )


def _calibration_chart(model: TrainedModel) -> str:
    """ECharts options: observed against predicted risk per bin, with the diagonal of perfect
    calibration."""
    points = [[b["predicted"], b["observed"]] for b in model.metrics.get("calibration", [])]
    top = max([1e-3] + [v for p in points for v in p])
    return json.dumps(
        {
            "tooltip": {"trigger": "item"},
            "grid": {"left": 44, "right": 16, "top": 16, "bottom": 36},
            "xAxis": {"type": "value", "min": 0, "max": round(top, 3), "name": str(_("Predicted"))},
            "yAxis": {"type": "value", "min": 0, "max": round(top, 3), "name": str(_("Observed"))},
            "series": [
                {
                    "type": "line",
                    "data": [[0, 0], [round(top, 3), round(top, 3)]],
                    "symbol": "none",
                    "lineStyle": {"type": "dashed"},
                },
                {"type": "line", "data": points, "name": model.label},
            ],
        },
        ensure_ascii=False,
    )


# --- The patient ------------------------------------------------------------------------------------


def _own(request: HttpRequest) -> list[Patient]:
    user: Any = request.user
    require_capability(user, "health.portal")
    return list(Patient.objects.visible_to(user).order_by("pk"))


@login_required
def my_health(request: HttpRequest) -> HttpResponse:
    """The patient's risks in plain words with a picture, their advice, and today's report."""
    user: Any = request.user
    people = _own(request)
    if request.method == "POST":
        try:
            services.report_adherence(
                user, request.POST.get("advice"), request.POST.get("level"), note=request.POST.get("note", "")
            )
            messages.success(request, _("Thank you, your report is saved."))
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("health:me")
    rows = []
    for person in people:
        access_patient(user, person, AccessAction.VIEW, reason="my health")
        advice = selectors.current_advice(person, for_doctor=False)
        today = selectors.reported_today(advice)
        rows.append(
            {
                "patient": person,
                "risks": selectors.risk_views(person, for_patient=True),
                "advice": [(a, today.get(a.pk, "")) for a in advice],
                "answered": LifestyleAnswers.objects.filter(patient=person).exists(),
                "enrolments": [
                    (e, selectors.latest_of(person, e.programme.risk_model))
                    for e in selectors.enrolments_of(person)
                    if e.status == "active"
                ],
            }
        )
    return render(request, "health/me.html", {"people": rows, "levels": Adherence.choices})


@login_required
def my_lifestyle(request: HttpRequest) -> HttpResponse:
    """The lifestyle questions (FINDRISC and smoking), answered by the patient."""
    user: Any = request.user
    people = _own(request)
    own = next((p for p in people if p.user_id == user.pk), people[0] if people else None)
    if own is None:
        raise NotFound()
    if request.method == "POST":
        try:
            services.save_lifestyle(user, own.pk, request.POST.dict())
            messages.success(request, _("Thank you. Your risk has been updated."))
            return redirect("health:me")
        except CodedError as exc:
            show_on_page(request, exc)
    last = LifestyleAnswers.objects.filter(patient=own).first()
    return render(
        request,
        "health/lifestyle.html",
        {
            "patient": own,
            "last": last,
            "family_choices": FamilyHistory.choices,
            "questions": [
                ("smoker", _("Do you smoke?")),
                (
                    "physically_active",
                    _("Are you active for at least 30 minutes on most days (work or leisure)?"),
                ),
                ("daily_vegetables", _("Do you eat vegetables, fruit or berries every day?")),
                (
                    "high_glucose_history",
                    _("Has a doctor ever found high blood glucose (for example in pregnancy or a check-up)?"),
                ),
            ],
        },
    )
