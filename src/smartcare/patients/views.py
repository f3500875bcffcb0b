from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.accounts.services import break_the_glass
from smartcare.core.errors import CodedError, InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.patients import selectors, services
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.forms import BreakGlassForm, PatientForm, ScanForm
from smartcare.patients.models import Patient
from smartcare.patients.qr import one_code_svg


@login_required
def me(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "patients.view_own")
    own = selectors.patient_for_user(request.user)
    patient = access_patient(request.user, own.pk if own else None, AccessAction.VIEW)
    return render(request, "patients/me.html", {"patient": patient, "qr_svg": one_code_svg(patient)})


@login_required
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    results = selectors.search_patients(request.user, query)
    template = "patients/_results.html" if getattr(request, "htmx", False) else "patients/search.html"
    return render(request, template, {"results": results, "query": query})


@login_required
def detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access_patient(request.user, patient_id, AccessAction.VIEW)
    relationships = patient.care_relationships.active().select_related("department__national_code")
    return render(
        request,
        "patients/detail.html",
        {
            "patient": patient,
            "qr_svg": one_code_svg(patient),
            "relationships": relationships,
        },
    )


@login_required
def card(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A printable card with the one code (credit-card size)."""
    patient = access_patient(request.user, patient_id, AccessAction.VIEW, reason="print card")
    return render(
        request, "patients/card.html", {"patient": patient, "qr_svg": one_code_svg(patient, scale=4)}
    )


@login_required
def register(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "patients.register")
    form = PatientForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                patient = services.register_patient(request.user, services.PatientData(**form.cleaned_data))
            except InvalidInput as exc:
                for field, texts in exc.errors.items():
                    for text in texts:
                        form.add_error(field if field in form.fields else None, f"{exc.code}: {text}")
                if not exc.errors:
                    form.add_error(
                        exc.field if exc.field in form.fields else None, f"{exc.code}: {exc.detail}"
                    )
                status = 400
            except CodedError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, f"{exc.code}: {exc.detail}")
                status = 409 if exc.status == 409 else 400
            else:
                messages.success(
                    request, _("Patient registered: %(mrn)s") % {"mrn": patient.medical_record_number}
                )
                return redirect("patients:detail", patient_id=patient.pk)
        else:
            status = 400
    return render(request, "patients/register.html", {"form": form}, status=status)


@login_required
def scan(request: HttpRequest) -> HttpResponse:
    """Scanning (or typing) a one code at any desk opens that patient for staff who may see them."""
    require_capability(request.user, "patients.search")
    form = ScanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip()
        if code.upper().startswith("MRN"):
            found = (
                Patient.objects.filter(medical_record_number=code.upper())
                .values_list("pk", flat=True)
                .first()
            )
            target: Any = found
        elif code.startswith("P") and not code[1:].isdigit():
            target = code
        else:
            target = None  # neither a one code nor a record number (raw ids are not accepted)
        try:
            patient = access_patient(request.user, target, AccessAction.VIEW, reason="one code scan")
        except NotFound as exc:
            return render(
                request, "patients/scan.html", {"form": form, "error": exc, "code": code}, status=404
            )
        return redirect("patients:detail", patient_id=patient.pk)
    return render(request, "patients/scan.html", {"form": form})


@login_required
def break_glass(request: HttpRequest) -> HttpResponse:
    """Emergency access: find the patient by one code or record number and state the reason."""
    require_capability(request.user, "patients.break_glass")
    code = (request.POST.get("code") or request.GET.get("code") or "").strip()
    form = BreakGlassForm(request.POST or None)
    status = 200
    if request.method == "POST":
        patient = (
            (
                Patient.objects.filter(medical_record_number=code.upper()).first()
                or Patient.objects.filter(one_code=code).first()
            )
            if code
            else None
        )
        if patient is None:
            return render(
                request,
                "patients/break_glass.html",
                {"form": form, "code": code, "error": NotFound()},
                status=404,
            )
        if form.is_valid():
            break_the_glass(request.user, patient, form.cleaned_data["reason"])
            messages.warning(request, _("Emergency access granted. It is recorded and will be reviewed."))
            return redirect("patients:detail", patient_id=patient.pk)
        status = 400
    return render(request, "patients/break_glass.html", {"form": form, "code": code}, status=status)


@login_required
@require_POST
def portal_account(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Front desk: create the patient's portal account and show the one-time password once."""
    try:
        user, password = services.create_portal_account(request.user, patient_id)
    except InvalidInput as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
        return redirect("patients:detail", patient_id=patient_id)
    patient = access_patient(request.user, patient_id, AccessAction.VIEW, reason="portal account created")
    return render(
        request,
        "patients/portal_account.html",
        {"patient": patient, "username": user.username, "password": password},
    )
