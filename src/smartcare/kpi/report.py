"""The quarterly evaluation report: every indicator against its target, the off-target ones with
their main contributing factors, and management actions with owners and due dates, including
what became of the actions listed in the previous report. Rendered as HTML and, with WeasyPrint,
as PDF; both are stored with the figures so that a report stays as it was."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.kpi import facts, selectors
from smartcare.kpi.errors import NotAQuarter, QuarterNotOver
from smartcare.kpi.indicators import Indicator
from smartcare.kpi.models import ManagementAction, QuarterlyReport
from smartcare.kpi.periods import Period, parse_period
from smartcare.kpi.templatetags.kpi import format_value
from smartcare.organization.models import Department

FACTOR_ROWS = 3


def _worst_departments(indicator: Indicator, period: Period) -> list[str]:
    if not indicator.by_department:
        return []
    if facts.covered(period.start, period.end):
        sums = facts.department_sums(period.start, period.end, indicator.code)
    else:
        sums = {}
        for pk in Department.objects.filter(is_active=True).values_list("pk", flat=True):
            got = indicator.measure(period.start, period.end, pk)
            if got:
                sums[pk] = got
    names = {d.pk: d.name for d in Department.objects.filter(pk__in=list(sums))}
    values = [(pk, indicator.value_of(*s)) for pk, s in sums.items() if s[1]]
    ranked = sorted(
        ((pk, v) for pk, v in values if v is not None),
        key=lambda x: -x[1] if indicator.direction == "lower" else x[1],
    )
    return [f"{names.get(pk, pk)}: {format_value(v, indicator.unit)}" for pk, v in ranked[:FACTOR_ROWS]]


def contributing_factors(indicator: Indicator, period: Period) -> list[dict[str, Any]]:
    """The main contributing factors of an indicator in a period: the weakest departments, and
    for waits the worst hours, for appointments the channels with most no-shows, for decision
    support the doctors who use it least."""
    factors = []
    worst = _worst_departments(indicator, period)
    if worst:
        factors.append({"title": _("Weakest departments"), "items": worst})
    if "hour" in indicator.drilldowns:
        hours = selectors.drill_down(None, indicator, "hour", period, None)
        top = sorted(hours.rows, key=lambda r: -r[1])[:FACTOR_ROWS]
        factors.append(
            {
                "title": _("Longest waits by hour of arrival"),
                "items": [
                    _("%(hour)s: %(minutes)s min over %(visits)s visits")
                    % {"hour": r[0], "minutes": r[1], "visits": r[2]}
                    for r in top
                ],
            }
        )
    if "channel" in indicator.drilldowns:
        channels = selectors.drill_down(None, indicator, "channel", period, None)
        factors.append(
            {
                "title": _("No-shows by booking channel"),
                "items": [
                    _("%(channel)s: %(no_shows)s no-shows of %(total)s (%(share)s)")
                    % {"channel": r[0], "no_shows": r[2], "total": r[1], "share": r[3]}
                    for r in channels.rows[:FACTOR_ROWS]
                ],
            }
        )
    if indicator.code == "cdss_usage":
        doctors = selectors.drill_down(None, indicator, "doctor", period, None)
        factors.append(
            {
                "title": _("Doctors using decision support least"),
                "items": [f"{r[0]}: {r[1]} ({r[2]})" for r in doctors.rows[:FACTOR_ROWS]],
            }
        )
    return factors


def _action_row(action: ManagementAction) -> dict[str, Any]:
    return {
        "title": action.title,
        "code": action.code,
        "owner": str(action.owner),
        "due_on": action.due_on.isoformat(),
        "status": action.status,
        "status_label": str(action.get_status_display()),
        "outcome": action.outcome,
        "department": action.department.name if action.department else "",
        "overdue": action.status == "open" and action.due_on < clock.today(),
    }


def report_data(period: Period) -> dict[str, Any]:
    evaluation = selectors.evaluate(period)
    rows = []
    off = []
    for r in evaluation.results:
        from smartcare.kpi.templatetags.kpi import target_text

        row = {
            "code": r.code,
            "name": str(r.indicator.name),
            "group": r.indicator.group,
            "value": format_value(r.value, r.indicator.unit),
            "target": target_text(r),
            "status": r.status,
            "status_label": r.status_label,
        }
        rows.append(row)
        if r.status == selectors.OFF_TARGET:
            off.append(
                {
                    **row,
                    "definition": str(r.indicator.definition),
                    "factors": contributing_factors(r.indicator, period),
                }
            )
    previous = QuarterlyReport.objects.filter(start__lt=period.start).order_by("-start").first()
    earlier_actions = []
    if previous is not None:
        earlier_actions = [
            _action_row(a)
            for a in ManagementAction.objects.filter(report=previous).select_related("owner", "department")
        ]
    from django.db.models import Q

    from smartcare.kpi.indicators import day_bounds

    _since, until = day_bounds(period.start, period.end)
    this_report = QuarterlyReport.objects.filter(period=period.label).first()
    new_actions = ManagementAction.objects.filter(created_at__lt=until).filter(
        Q(report__isnull=True) | Q(report=this_report) if this_report else Q(report__isnull=True)
    )
    return {
        "period": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "source": evaluation.source,
        "score": evaluation.score.as_dict(),
        "score_components": [
            {"name": c.name, "weight": c.weight, "normalized": c.normalized}
            for c in evaluation.score.components
        ],
        "indicators": rows,
        "off_target": off,
        "previous_period": previous.period if previous else "",
        "previous_actions": earlier_actions,
        "actions": [_action_row(a) for a in new_actions.select_related("owner", "department")],
        "action_ids": list(new_actions.values_list("pk", flat=True)),
    }


def render_html(data: dict[str, Any]) -> str:
    return render_to_string("kpi/report.html", {"data": data, "generated_at": clock.local_now()})


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html).write_pdf()


def generate_report(user: Any, quarter: str) -> QuarterlyReport:
    """Generate (or regenerate) the report of a past quarter; actions still open without a report
    are attached to it, so the next report shows what happened to them."""
    if user is not None:
        require_capability(user, "kpi.configure")
    period = parse_period(quarter)
    if period.kind != "quarter":
        raise NotAQuarter(period=period.label)
    if period.end >= clock.today():
        raise QuarterNotOver(period=period.label, day=(period.end + dt.timedelta(days=1)).isoformat())
    data = report_data(period)
    html = render_html(data)
    pdf = render_pdf(html)
    with transaction.atomic():
        report, _created = QuarterlyReport.objects.update_or_create(
            period=period.label,
            defaults={
                "start": period.start,
                "end": period.end,
                "data": data,
                "html": html,
                "pdf": pdf,
                "generated_at": clock.now(),
                "generated_by": user if getattr(user, "is_authenticated", False) else None,
            },
        )
        ManagementAction.objects.filter(pk__in=data["action_ids"], report__isnull=True).update(report=report)
        record(
            user,
            AuditAction.CREATE,
            obj=report,
            actor_username="kpi-report" if user is None else "",
            detail={"event": "quarterly report", "period": period.label},
        )
    return report
