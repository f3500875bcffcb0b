"""Knowledge pages for staff: search, a node with its neighbours, the path finder, releases and
(for curators) the upload of a knowledge file."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from smartcare.core.errors import CodedError, InvalidInput
from smartcare.core.permissions import has_capability, require_capability
from smartcare.knowledge import selectors, services
from smartcare.knowledge.choices import NodeType
from smartcare.knowledge.forms import ImportForm
from smartcare.knowledge.selectors import PATH_MAX_DEPTH

# Report entries the release page shows in their own sections.
REPORT_SECTIONS = {
    "unmapped_departments",
    "mapped_departments",
    "diseases_without_department",
    "diseases_without_department_count",
    "complications_skipped",
    "complications_skipped_count",
}


@login_required
def search(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "knowledge.view")
    query = request.GET.get("q", "").strip()[:100]
    node_type = request.GET.get("type", "")
    if node_type not in NodeType.values:
        node_type = ""
    searched = bool(query or node_type)
    results = selectors.search_nodes(query, node_type or None, limit=50) if searched else []
    return render(
        request,
        "knowledge/search.html",
        {
            "query": query,
            "node_type": node_type,
            "types": NodeType.choices,
            "results": results,
            "searched": searched,
        },
    )


@login_required
def node(request: HttpRequest, key: str) -> HttpResponse:
    require_capability(request.user, "knowledge.view")
    detail = selectors.node_detail(key)  # KNOW-404 page for an unknown id
    return render(
        request,
        "knowledge/node.html",
        {"node": detail.node, "groups": detail.groups, "red_flags": detail.red_flags},
    )


@login_required
def path_finder(request: HttpRequest) -> HttpResponse:
    """Source and target may be ids or names (the best search hit is taken)."""
    require_capability(request.user, "knowledge.view")
    source_text = request.GET.get("source", "").strip()[:120]
    target_text = request.GET.get("target", "").strip()[:120]
    result, error, status = None, None, 200
    try:
        depth = int(request.GET.get("max_depth") or 4)
    except ValueError:
        depth = 4
    if source_text and target_text:
        try:
            source = selectors.resolve_node(source_text)
            target = selectors.resolve_node(target_text)
            result = selectors.find_path(source.key, target.key, max_depth=depth)
        except CodedError as exc:
            error, status = exc, exc.status
    return render(
        request,
        "knowledge/path.html",
        {
            "source": source_text,
            "target": target_text,
            "max_depth": depth,
            "depths": range(1, PATH_MAX_DEPTH + 1),
            "result": result,
            "error": error,
        },
        status=status,
    )


@login_required
def releases(request: HttpRequest) -> HttpResponse:
    """Every import; curators upload a file here. A bad file is listed problem by problem and
    nothing is written."""
    user: Any = request.user
    require_capability(user, "knowledge.view")
    form = ImportForm()
    error: CodedError | None = None
    status = 200
    if request.method == "POST":
        require_capability(user, "knowledge.curate")
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                services.check_upload_size(upload.size)
                release, changed = services.import_knowledge_file(
                    user,
                    upload.read(),
                    file_name=upload.name or "",
                    format=form.cleaned_data["format"],
                    origin=form.cleaned_data["origin"],
                    version=form.cleaned_data["version"],
                    force=form.cleaned_data["force"],
                )
            except CodedError as exc:
                if exc.status in (401, 403):
                    raise
                error, status = exc, exc.status
            else:
                if changed:
                    messages.success(request, _("The file was imported as a new release."))
                else:
                    messages.info(request, _("This file is already the latest release of the dataset."))
                return redirect("knowledge:release", release_id=release.pk)
        else:
            errors = {name: [str(m) for m in texts] for name, texts in form.errors.items()}
            error, status = InvalidInput(errors=errors), 400
    return render(
        request,
        "knowledge/releases.html",
        {
            "releases": selectors.releases()[:50],
            "form": form,
            "can_curate": has_capability(user, "knowledge.curate"),
            "error": error,
        },
        status=status,
    )


@login_required
def release(request: HttpRequest, release_id: int) -> HttpResponse:
    require_capability(request.user, "knowledge.view")
    found = selectors.release(release_id)
    report = found.report or {}
    return render(
        request,
        "knowledge/release.html",
        {
            "release": found,
            "report": report,
            "report_other": {k: v for k, v in sorted(report.items()) if k not in REPORT_SECTIONS},
        },
    )
