"""Cockpit pages: the indicators with score and trends, one indicator with its drill-downs,
targets and weights, management actions, quarterly reports."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.accounts.choices import Role
from smartcare.core.errors import CodedError, NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.kpi import selectors, services
from smartcare.kpi.indicators import GROUPS, UNITS, all_indicators, get
from smartcare.kpi.models import ActionStatus, QuarterlyReport
from smartcare.kpi.periods import KINDS, Period, parse_period, period_containing
from smartcare.kpi.templatetags.kpi import format_value


def _kind_labels() -> list[tuple[str, str]]:
    return [
        ("day", _("Today")),
        ("week", _("This week")),
        ("month", _("This month")),
        ("quarter", _("This quarter")),
        ("year", _("This year")),
    ]


STATUS_COLORS = {
    selectors.ON_TARGET: "#198754",
    selectors.AT_RISK: "#fd7e14",
    selectors.OFF_TARGET: "#dc3545",
    selectors.NO_DATA: "#6c757d",
    selectors.NO_TARGET: "#6c757d",
}
STATUS_BADGES = {
    selectors.ON_TARGET: "text-bg-success",
    selectors.AT_RISK: "text-bg-warning",
    selectors.OFF_TARGET: "text-bg-danger",
    selectors.NO_DATA: "text-bg-secondary",
    selectors.NO_TARGET: "text-bg-secondary",
}


def _period_from(request: HttpRequest) -> Period:
    text = request.GET.get("period", "").strip()
    if text:
        return parse_period(text)
    kind = request.GET.get("kind", "")
    if kind in KINDS:
        from smartcare.core import clock

        return period_containing(kind, clock.today())
    return selectors.default_period()


def _sparkline(points: list[tuple[str, float | None]], color: str) -> str:
    return json.dumps(
        {
            "grid": {"left": 2, "right": 2, "top": 4, "bottom": 2},
            "xAxis": {"type": "category", "show": False, "data": [p[0] for p in points]},
            "yAxis": {"type": "value", "show": False, "scale": True},
            "tooltip": {"trigger": "axis"},
            "series": [
                {
                    "type": "line",
                    "data": [round(p[1], 4) if p[1] is not None else None for p in points],
                    "showSymbol": False,
                    "connectNulls": False,
                    "lineStyle": {"color": color, "width": 2},
                    "areaStyle": {"color": color, "opacity": 0.08},
                }
            ],
        },
        ensure_ascii=False,
    )


def _score_gauge(value: float | None) -> str:
    return json.dumps(
        {
            "series": [
                {
                    "type": "gauge",
                    "min": 0,
                    "max": 100,
                    "progress": {"show": True, "width": 12},
                    "axisLine": {"lineStyle": {"width": 12}},
                    "axisLabel": {"show": False},
                    "splitLine": {"show": False},
                    "axisTick": {"show": False},
                    "pointer": {"show": False},
                    "detail": {
                        "valueAnimation": False,
                        "fontSize": 28,
                        "offsetCenter": [0, "10%"],
                        "formatter": "{value}",
                    },
                    "data": [{"value": round(value, 1) if value is not None else 0}],
                }
            ]
        }
    )


@login_required
def cockpit(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    department = selectors.scope_for(user, request.GET.get("department"))
    period = _period_from(request)
    evaluation = selectors.evaluate(period, department, with_trend=True)
    groups: dict[str, list[dict[str, Any]]] = {key: [] for key in GROUPS}
    for r in evaluation.results:
        groups[r.indicator.group].append(
            {
                "result": r,
                "value": format_value(r.value, r.indicator.unit),
                "badge": STATUS_BADGES[r.status],
                "spark": _sparkline(r.trend, STATUS_COLORS[r.status])
                if any(v is not None for _l, v in r.trend)
                else "",
            }
        )
    context = {
        "evaluation": evaluation,
        "period": period,
        "department": department,
        "departments": selectors.visible_departments(user),
        "sees_hospital": selectors.sees_hospital(user),
        "groups": [(GROUPS[key], tiles) for key, tiles in groups.items()],
        "gauge": _score_gauge(evaluation.score.value),
        "kind_labels": _kind_labels(),
        "previous": period.previous(),
        "may_configure": has_capability(user, "kpi.configure"),
    }
    return render(request, "kpi/cockpit.html", context)


@login_required
def indicator(request: HttpRequest, code: str) -> HttpResponse:
    user: Any = request.user
    department = selectors.scope_for(user, request.GET.get("department"))
    item = get(code)
    period = _period_from(request)
    evaluation = selectors.evaluate(period, department, with_trend=True, codes=[item.code])
    result = evaluation.results[0]
    by = request.GET.get("by") or (item.drilldowns[0] if item.drilldowns else "")
    breakdown = None
    if by:
        if department is not None and by == "department":
            by = next((d for d in item.drilldowns if d != "department"), "")
        if by:
            breakdown = selectors.drill_down(user, item, by, period, department)
    chart = ""
    if breakdown is not None and breakdown.chart and breakdown.chart["labels"]:
        horizontal = breakdown.by == "department"
        category = {"type": "category", "data": breakdown.chart["labels"], "axisLabel": {"fontSize": 10}}
        value_axis = {"type": "value"}
        chart = json.dumps(
            {
                "grid": {"left": 110 if horizontal else 40, "right": 16, "top": 16, "bottom": 40},
                "tooltip": {"trigger": "axis"},
                "xAxis": value_axis if horizontal else category,
                "yAxis": category if horizontal else value_axis,
                "series": [
                    {"type": "bar", "data": breakdown.chart["values"], "itemStyle": {"color": "#0b6e4f"}}
                ],
            },
            ensure_ascii=False,
        )
    trend = ""
    if any(v is not None for _l, v in result.trend):
        trend = json.dumps(
            {
                "grid": {"left": 50, "right": 16, "top": 16, "bottom": 30},
                "tooltip": {"trigger": "axis"},
                "xAxis": {"type": "category", "data": [p[0] for p in result.trend]},
                "yAxis": {"type": "value", "scale": True},
                "series": [
                    {
                        "type": "line",
                        "data": [round(p[1], 4) if p[1] is not None else None for p in result.trend],
                        "markLine": {"data": [{"yAxis": result.target}]} if result.target is not None else {},
                    }
                ],
            },
            ensure_ascii=False,
        )
    context = {
        "item": item,
        "result": result,
        "value": format_value(result.value, item.unit),
        "badge": STATUS_BADGES[result.status],
        "unit": UNITS.get(item.unit, item.unit),
        "period": period,
        "department": department,
        "departments": selectors.visible_departments(user),
        "sees_hospital": selectors.sees_hospital(user),
        "by": by,
        "kind_labels": _kind_labels(),
        "breakdown": breakdown,
        "chart": chart,
        "trend": trend,
        "drill_labels": {
            "department": _("Departments"),
            "hour": _("Hours of the day"),
            "doctor": _("Doctors"),
            "channel": _("Booking channels"),
            "cases": _("Cases"),
        },
        "actions": selectors.open_actions(item.code),
        "source": evaluation.source,
    }
    return render(request, "kpi/indicator.html", context)


@login_required
def targets(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "management.cockpit")
    may_configure = has_capability(user, "kpi.configure")
    error = None
    if request.method == "POST":
        require_capability(user, "kpi.configure")
        code = request.POST.get("code", "")
        changes = {f: request.POST.get(f, "") for f in services.SETTING_FIELDS if f in request.POST}
        try:
            services.update_setting(user, code, changes, request.POST.get("reason", ""))
        except CodedError as exc:
            error = exc
        else:
            messages.success(request, _("The setting was saved."))
            return redirect("kpi:targets")
    settings_ = selectors.effective_settings()
    rows = []
    for item in all_indicators():
        s = settings_[item.code]
        rows.append({"item": item, "setting": s, "unit": UNITS.get(item.unit, item.unit)})
    return render(
        request,
        "kpi/targets.html",
        {
            "rows": rows,
            "history": selectors.setting_history(limit=50),
            "may_configure": may_configure,
            "error": error,
            "weight_total": sum(s.weight for s in settings_.values()),
        },
        status=error.status if error else 200,
    )


@login_required
def actions(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "management.cockpit")
    error = None
    if request.method == "POST":
        try:
            services.create_action(
                user,
                code=request.POST.get("code", ""),
                title=request.POST.get("title", ""),
                owner_id=request.POST.get("owner", ""),
                due_on=request.POST.get("due_on", ""),
                department_id=request.POST.get("department", ""),
            )
        except CodedError as exc:
            error = exc
        else:
            messages.success(request, _("The action was recorded."))
            return redirect("kpi:actions")
    owners = (
        get_user_model()
        .objects.filter(is_active=True, role__in=(Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD))
        .order_by("role", "username")
    )
    return render(
        request,
        "kpi/actions.html",
        {
            "actions": selectors.actions_for(user),
            "indicators": all_indicators(),
            "owners": owners,
            "departments": selectors.visible_departments(user),
            "sees_hospital": selectors.sees_hospital(user),
            "error": error,
            "preset": request.GET.get("code", ""),
            "statuses": ActionStatus,
        },
        status=error.status if error else 200,
    )


@login_required
@require_POST
def close_action(request: HttpRequest, action_id: int) -> HttpResponse:
    services.close_action(
        request.user, action_id, request.POST.get("status", ""), request.POST.get("outcome", "")
    )
    messages.success(request, _("The action was closed."))
    return redirect("kpi:actions")


@login_required
def reports(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "kpi.configure")
    error = None
    if request.method == "POST":
        from smartcare.kpi.report import generate_report

        try:
            report = generate_report(user, request.POST.get("quarter", ""))
        except CodedError as exc:
            error = exc
        else:
            messages.success(request, _("The report was generated."))
            return redirect("kpi:report", report_id=report.pk)
    from smartcare.core import clock

    today = clock.today()
    last_quarter = period_containing("quarter", today).previous()
    return render(
        request,
        "kpi/reports.html",
        {
            "reports": selectors.reports(),
            "may_configure": has_capability(user, "kpi.configure"),
            "error": error,
            "suggested": last_quarter.label,
        },
        status=error.status if error else 200,
    )


def _report_for(user: Any, report_id: int) -> QuarterlyReport:
    # Reports cover the whole hospital: operations managers only.
    require_capability(user, "kpi.configure")
    report = QuarterlyReport.objects.filter(pk=report_id).first()
    if report is None:
        raise NotFound()
    return report


@login_required
def report(request: HttpRequest, report_id: int) -> HttpResponse:
    item = _report_for(request.user, report_id)
    return HttpResponse(item.html, content_type="text/html; charset=utf-8")


@login_required
def report_pdf(request: HttpRequest, report_id: int) -> HttpResponse:
    item = _report_for(request.user, report_id)
    if not item.pdf:
        raise NotFound()
    response = HttpResponse(bytes(item.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="evaluation-{item.period}.pdf"'
    return response
