"""Quality-control pages under /kpi/quality/: the measures of a period, the failed cases of one
measure with their reviews, one case (assign it for review), and the reviews assigned to me."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.accounts.choices import CLINICAL_ROLES
from smartcare.accounts.models import User
from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.core.permissions import require_capability
from smartcare.kpi import quality, quality_services
from smartcare.kpi.models import ReviewState
from smartcare.kpi.periods import Period, parse_period, period_containing
from smartcare.organization.models import Department


def default_period() -> Period:
    return period_containing("quarter", clock.today())


def _period(request: HttpRequest) -> Period:
    text = request.GET.get("period") or request.POST.get("period") or ""
    return parse_period(text) if text else default_period()


def _chart(rows: list[dict[str, Any]]) -> str:
    shown = [r for r in rows if not r["no_data"]]
    return json.dumps(
        {
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 8, "right": 16, "bottom": 8, "top": 24, "containLabel": True},
            "xAxis": {"type": "value", "max": 100},
            "yAxis": {"type": "category", "data": [r["code"] for r in shown], "inverse": True},
            "series": [
                {
                    "name": _("Adherence (percent)"),
                    "type": "bar",
                    "data": [round(100 * r["rate"], 1) for r in shown],
                },
                {
                    "name": _("Target (percent)"),
                    "type": "scatter",
                    "symbol": "diamond",
                    "data": [round(100 * r["target"], 1) for r in shown],
                },
            ],
        },
        ensure_ascii=False,
    )


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "kpi.quality")
    period = _period(request)
    scope = quality.department_scope(request.user)
    department = scope.code if scope is not None and scope.pk else request.GET.get("department", "")
    rows = quality.measures(period.start, period.end, department or None)
    departments = [scope] if scope is not None else list(Department.objects.filter(is_clinical=True))
    return render(
        request,
        "kpi/quality/overview.html",
        {
            "rows": rows,
            "period": period,
            "department": department,
            "departments": departments,
            "chart": _chart(rows),
        },
    )


def _reviewers(department_code: str) -> list[User]:
    users = User.objects.filter(is_active=True, role__in=CLINICAL_ROLES).select_related("practitioner")
    if department_code:
        users = users.filter(practitioner__department__national_code_id=department_code)
    return list(users.order_by("username")[:200])


@login_required
def cases(request: HttpRequest, code: str) -> HttpResponse:
    period = _period(request)
    listing = quality.failed_cases(
        request.user, code, period.start, period.end, request.GET.get("department") or None
    )
    department = (
        listing["department"].code if listing["department"] is not None and listing["department"].pk else ""
    )
    return render(
        request,
        "kpi/quality/cases.html",
        {
            **listing,
            "period": period,
            "department": department,
            "reviewers": _reviewers(department),
        },
    )


@login_required
def case(request: HttpRequest, code: str, key: str) -> HttpResponse:
    period = _period(request)
    detail = quality.case_detail(request.user, code, key, period.start, period.end)
    department = detail["case"]["department"]
    return render(
        request,
        "kpi/quality/case.html",
        {
            **detail,
            "period": period,
            "reviewers": _reviewers(department) or _reviewers(""),
            "states": ReviewState.choices,
        },
    )


@login_required
@require_POST
def assign(request: HttpRequest, code: str, key: str) -> HttpResponse:
    period = _period(request)
    try:
        quality_services.assign_case(
            request.user,
            code=code,
            key=key,
            start=period.start,
            end=period.end,
            reviewer=request.POST.get("reviewer"),
            comment=request.POST.get("comment", ""),
        )
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code} {exc.detail}")
    else:
        messages.success(request, _("The case was assigned for review."))
    url = reverse("kpi:quality_case", kwargs={"code": code, "key": key})
    return redirect(f"{url}?{urlencode({'period': period.label})}")


@login_required
def reviews(request: HttpRequest) -> HttpResponse:
    rows = list(quality_services.reviews_for(request.user)[:300])
    return render(request, "kpi/quality/reviews.html", {"reviews": rows, "states": ReviewState.choices})


@login_required
@require_POST
def update_review(request: HttpRequest, review_id: int) -> HttpResponse:
    try:
        quality_services.update_review(
            request.user,
            review_id,
            state=request.POST.get("state", ""),
            comment=request.POST.get("comment", ""),
        )
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code} {exc.detail}")
    else:
        messages.success(request, _("The review was saved."))
    return redirect("kpi:quality_reviews")
