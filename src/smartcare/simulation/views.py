"""What-if pages: pick a department, edit a scenario (YAML or JSON), run it against the current
setup and read the comparison; validate the model on a past month."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from smartcare.core.errors import CodedError
from smartcare.core.permissions import require_capability
from smartcare.simulation import selectors, services
from smartcare.simulation.choices import RunStatus
from smartcare.simulation.whatif import compare
from smartcare.simulation.whatif.scenario import parse

METRIC_LABELS = {
    "wait_mean": gettext_lazy("Mean wait, check-in to call (min)"),
    "wait_p90": gettext_lazy("90th percentile wait (min)"),
    "waited_over_30_share": gettext_lazy("Share waiting over 30 min"),
    "check_in_wait_mean": gettext_lazy("Mean queue at kiosk or desk (min)"),
    "overtime_mean": gettext_lazy("Mean overtime per session (min)"),
    "sessions_with_overtime_share": gettext_lazy("Share of sessions running over"),
    "staff_load": gettext_lazy("Doctor load (percent of session time)"),
    "patients_seen_per_week": gettext_lazy("Patients seen per week"),
    "booked_per_week": gettext_lazy("Bookings per week"),
    "turned_away_per_week": gettext_lazy("Bookings over capacity per week"),
}
CHARTED = ("wait_mean", "wait_p90", "check_in_wait_mean", "overtime_mean", "staff_load")
EXAMPLE = Path(settings.PROJECT_DIR) / "docs" / "whatif" / "extra-monday-doctor.yaml"
DEFAULT_TEXT = "name: My scenario\nextra_sessions:\n  - {weekday: monday, period: morning, doctors: 1}\n"


def _example() -> str:
    try:
        return EXAMPLE.read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_TEXT


def _page(
    request: HttpRequest, *, error: CodedError | None = None, form: dict[str, Any] | None = None
) -> HttpResponse:
    saved = list(selectors.scenarios(request.user)[:50])
    text = (form or {}).get("scenario")
    if text is None:
        text = _example()
    context = {
        "departments": selectors.clinic_departments(),
        "runs": selectors.runs_for(request.user)[:20],
        "saved": [{"scenario": s, "text": json.dumps(s.body, ensure_ascii=False, indent=1)} for s in saved],
        "form": {"department": "", "runs": 10, "weeks": 4, "seed": 1, **(form or {}), "scenario": text},
        "error": error,
    }
    return render(request, "simulation/whatif.html", context, status=error.status if error else 200)


@login_required
def whatif(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "simulation.run")
    if request.method == "POST":
        form = {
            k: request.POST.get(k, "") for k in ("department", "runs", "weeks", "seed", "scenario", "name")
        }
        try:
            scenario = parse(form["scenario"])
            if request.POST.get("save"):
                services.save_scenario(
                    request.user, name=form["name"], scenario=scenario, department_code=form["department"]
                )
                return redirect("simulation:whatif")
            run = services.start_run(
                request.user,
                department_code=form["department"],
                scenario=scenario,
                runs=form["runs"] or 10,
                weeks=form["weeks"] or 4,
                seed=form["seed"] or 1,
            )
        except CodedError as exc:
            return _page(request, error=exc, form=form)
        return redirect("simulation:run", run_id=run.pk)
    return _page(request)


def _chart(result: dict[str, Any]) -> str:
    metrics = result["metrics"]
    names = [str(METRIC_LABELS[m]) for m in CHARTED]

    def series(which: str, label: str) -> list[dict[str, Any]]:
        return [{"name": label, "type": "bar", "data": [metrics[m][which]["mean"] for m in CHARTED]}]

    spec = {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 32, "containLabel": True},
        "xAxis": {"type": "value"},
        "yAxis": {"type": "category", "data": names, "inverse": True},
        "series": [*series("current", _("Current setup")), *series("scenario", _("Scenario"))],
    }
    return json.dumps(spec, ensure_ascii=False)


def _rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": METRIC_LABELS[name], "key": name, **values} for name, values in result["metrics"].items()
    ]


@login_required
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run(request.user, run_id)
    context: dict[str, Any] = {
        "run": run,
        "scenario_text": json.dumps(run.scenario, ensure_ascii=False, indent=1),
    }
    if run.status == RunStatus.DONE and run.result:
        context.update(
            chart=_chart(run.result), rows=_rows(run.result), calibration=run.result["calibration"]
        )
    template = "simulation/_run.html" if request.headers.get("HX-Request") else "simulation/run.html"
    return render(request, template, context)


@login_required
def validation(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "simulation.run")
    form = {
        "department": request.GET.get("department", ""),
        "month": request.GET.get("month") or compare.last_full_month(),
    }
    result = error = None
    if form["department"]:
        try:
            result = services.validate_model(form["department"], form["month"])
        except CodedError as exc:
            error = exc
    return render(
        request,
        "simulation/validation.html",
        {"departments": selectors.clinic_departments(), "form": form, "result": result, "error": error},
        status=error.status if error else 200,
    )


@login_required
@require_POST
def delete_scenario(request: HttpRequest, scenario_id: int) -> HttpResponse:
    services.delete_scenario(request.user, scenario_id)
    return redirect("simulation:whatif")
