from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from smartcare.core.permissions import require_capability
from smartcare.notifications import selectors, services


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "notifications.inbox")
    page = Paginator(selectors.inbox(request.user), 20).get_page(request.GET.get("page"))
    return render(request, "notifications/inbox.html", {"page": page})


@login_required
@require_POST
def mark_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    require_capability(request.user, "notifications.inbox")
    services.mark_read(request.user, notification_id)
    return redirect("notifications:inbox")
