from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.audit.choices import AuditAction
from smartcare.audit.selectors import search_events
from smartcare.audit.services import verify_chain
from smartcare.core.errors import InvalidInput
from smartcare.core.permissions import require_capability


def _date(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("Enter dates as YYYY-MM-DD."), field=field) from None


@login_required
def search(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "audit.view")
    params = request.GET
    error = None
    try:
        patient_id = int(params["patient"]) if params.get("patient") else None
    except ValueError:
        patient_id, error = None, InvalidInput(_("The patient number must be a number."), field="patient")
    try:
        date_from = _date(params.get("date_from", ""), "date_from")
        date_to = _date(params.get("date_to", ""), "date_to")
    except InvalidInput as exc:
        date_from = date_to = None
        error = exc
    events = search_events(
        request.user,
        patient_id=patient_id,
        username=params.get("user", "").strip(),
        action=params.get("action", ""),
        date_from=date_from,
        date_to=date_to,
    )
    page = Paginator(events, 50).get_page(params.get("page"))
    return render(
        request,
        "audit/search.html",
        {
            "page": page,
            "actions": AuditAction.choices,
            "params": params,
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def verify(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "audit.view")
    result = verify_chain()
    if result.ok:
        messages.success(
            request, _("The audit chain is intact (%(n)s events checked).") % {"n": result.checked}
        )
    else:
        messages.error(
            request,
            _("AUD-001: The audit chain is broken at event %(seq)s: %(problem)s")
            % {"seq": result.first_bad_sequence, "problem": result.problem},
        )
    return redirect("audit:search")
