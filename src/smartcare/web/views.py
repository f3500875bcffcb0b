from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from smartcare.core.permissions import require_capability
from smartcare.organization.models import Department
from smartcare.web import panels  # noqa: F401  (registers the foundation's panels)
from smartcare.web.home import panels_for

HOME_TEMPLATES = {
    "patient": "web/home_patient.html",
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    template = HOME_TEMPLATES.get(user.role, "web/home_staff.html")
    return render(request, template, {"panels": panels_for(request)})


@login_required
def departments(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "organization.view")
    rows = (
        Department.objects.filter(is_active=True)
        .select_related("national_code", "campus")
        .prefetch_related("practitioners")
        .order_by("national_code_id")
    )
    return render(request, "web/departments.html", {"departments": rows})


@require_POST
def toggle_elderly_mode(request: HttpRequest) -> HttpResponse:
    """Switch elderly mode (large text, high contrast). Stored on the account when signed in,
    in a cookie otherwise (kiosks)."""
    enabled = request.POST.get("enabled") == "1"
    user: Any = request.user
    if user.is_authenticated:
        user.elderly_mode = enabled
        user.save(update_fields=["elderly_mode"])
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = redirect(target)
    response.set_cookie("elderly", "1" if enabled else "0", max_age=365 * 24 * 3600, samesite="Lax")
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
