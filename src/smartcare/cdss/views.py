"""CDS Hooks endpoints (/cds-services) and the rule review pages (/cdss/rules/).

The CDS Hooks views are plain Django views rather than Ninja operations because the
specification fixes the paths and the JSON shapes; errors are still problem+json with codes.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from smartcare.accounts.choices import MACHINE_ROLES
from smartcare.accounts.errors import InvalidToken
from smartcare.accounts.services import authenticate_token
from smartcare.cdss import hooks, selectors, services
from smartcare.cdss.choices import Indicator, OverrideReason, RuleKind
from smartcare.cdss.errors import InvalidHookRequest, InvalidRule
from smartcare.cdss.fhir_context import facts_from_request
from smartcare.core.errors import CodedError, NotAuthenticated, PermissionDenied
from smartcare.core.middleware import problem_response
from smartcare.core.permissions import has_capability, require_capability
from smartcare.emr.facts import ClinicalFacts
from smartcare.organization.models import Department, NationalDepartmentCode
from smartcare.patients.choices import AccessAction

# --- CDS Hooks -------------------------------------------------------------------------------------


def _caller(request: HttpRequest) -> Any:
    """The token's user (integrations) or the session user (the workstation, CSRF-checked)."""
    header = request.headers.get("Authorization", "")
    secret = (
        header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    )
    if secret:
        try:
            return authenticate_token(secret)
        except InvalidToken as exc:
            raise NotAuthenticated() from exc
    user = request.user
    if not user.is_authenticated:
        raise NotAuthenticated()
    if request.method == "POST":
        refused = CsrfViewMiddleware(_no_response).process_view(request, _no_response, (), {})
        if refused is not None:
            raise PermissionDenied(_("The request was refused: %(reason)s") % {"reason": "CSRF"})
    return user


def _no_response(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def _problem(request: HttpRequest, error: CodedError) -> HttpResponse:
    return problem_response(error, request)


@require_GET
def discovery(request: HttpRequest) -> HttpResponse:
    """GET /cds-services: public, as CDS clients read it to configure themselves."""
    return JsonResponse({"services": [s.discovery() for s in hooks.SERVICES.values()]})


def _department_code(user: Any) -> str:
    practitioner = getattr(user, "practitioner", None)
    department = getattr(practitioner, "department", None)
    return str(getattr(department, "national_code_id", "") or "")


def _emr_facts(user: Any, patient: Any) -> ClinicalFacts | None:
    """The EMR's facts for one of our patients, when the EMR app provides them."""
    try:
        module = importlib.import_module("smartcare.emr.selectors")
    except ImportError:
        return None
    clinical_facts = getattr(module, "clinical_facts", None)
    if clinical_facts is None:
        return None
    facts: ClinicalFacts = clinical_facts(patient)
    return facts


def _merge(base: ClinicalFacts, sent: ClinicalFacts) -> None:
    """Add what a request sent to the facts from the record, without duplicates."""

    def add(target: list[Any], extra: list[Any], key: Any) -> None:
        seen = {key(item) for item in target}
        target.extend(item for item in extra if key(item) not in seen)

    add(base.draft_medications, sent.draft_medications, lambda m: (m.drug or m.name, m.dose, m.route))
    add(base.medications, sent.medications, lambda m: m.drug or m.name)
    add(base.allergies, sent.allergies, lambda a: a.substance or a.name)
    add(base.conditions, sent.conditions, lambda c: c.icd10 or c.name)
    add(base.observations, sent.observations, lambda o: (o.code, o.when, o.value))
    add(base.exam_orders, sent.exam_orders, lambda e: (e.exam, e.when, e.status))
    base.pregnant = base.pregnant or sent.pregnant
    base.weight_kg = base.weight_kg or sent.weight_kg


@csrf_exempt  # tokens need no CSRF; session callers are checked in _caller
@require_POST
def call_service(request: HttpRequest, service_id: str) -> HttpResponse:
    from smartcare.patients.access import access_patient

    try:
        user = _caller(request)
        require_capability(user, "cdss.hooks")
        svc = hooks.service(service_id)
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidHookRequest(reason=_("the body is not JSON")) from exc
        hooks.validate_request(svc, body)
        context = body["context"]
        patient = None
        if getattr(user, "role", "") in MACHINE_ROLES:
            # An external EMR: its patient ids are its own; advice comes from the data it sent.
            patient_ref = services.pseudonym(context["patientId"], issuer=user.get_username())
        else:
            patient = access_patient(user, context["patientId"], AccessAction.CLINICAL)
            patient_ref = ""
        sent = facts_from_request(body)
        facts = _emr_facts(user, patient) if patient is not None else None
        if facts is None:
            facts = sent
        else:
            # Our own patient: the record is the base (its allergies, conditions, results are
            # never dropped because a caller sent a prefetch); what the caller sent is added.
            _merge(facts, sent)
        cards = services.evaluate(
            user,
            facts,
            svc.hook,
            department_code=_department_code(user),
            patient=patient,
            hook_instance=body["hookInstance"],
            encounter_ref=str(context.get("encounterId", "")),
            patient_ref=patient_ref,
        )
    except CodedError as error:
        return _problem(request, error)
    return JsonResponse(
        {"cards": [card.to_json() for card in cards]}, json_dumps_params={"ensure_ascii": False}
    )


@csrf_exempt
@require_POST
def feedback(request: HttpRequest, service_id: str) -> HttpResponse:
    try:
        user = _caller(request)
        require_capability(user, "cdss.hooks")
        hooks.service(service_id)
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidHookRequest(reason=_("the body is not JSON")) from exc
        services.record_feedback(user, body)
    except CodedError as error:
        return _problem(request, error)
    return HttpResponse(status=200)


# --- Rule review -----------------------------------------------------------------------------------


def _scope_department(scope: selectors.Scope) -> Any:
    if not scope:
        return None
    return (
        Department.objects.filter(national_code_id=scope).first()
        or NationalDepartmentCode.objects.filter(pk=scope).first()
    )


@login_required
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "cdss.review")
    kind = request.GET.get("kind", "")
    if kind not in RuleKind.values:
        kind = ""
    query = request.GET.get("q", "").strip()[:100]
    scope = selectors.review_scope(request.user)
    stats = selectors.rule_statistics(kind=kind, query=query, scope=scope)
    return render(
        request,
        "cdss/rules.html",
        {
            "stats": stats,
            "kinds": RuleKind.choices,
            "kind": kind,
            "query": query,
            "scope": scope,
            "scope_department": _scope_department(scope),
        },
    )


def _form_changes(request: HttpRequest) -> dict[str, Any]:
    post = request.POST
    try:
        parameters = json.loads(post.get("parameters", "{}") or "{}")
    except ValueError as exc:
        raise InvalidRule(reason=_("parameters are not valid JSON")) from exc
    departments = [code.strip() for code in post.get("departments", "").split(",") if code.strip()]
    return {
        "indicator": post.get("indicator", ""),
        "enabled": post.get("enabled") == "on",
        "departments": departments,
        "parameters": parameters,
        "condition": post.get("condition", "").strip(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def rule_detail(request: HttpRequest, key: str) -> HttpResponse:
    require_capability(request.user, "cdss.review")
    scope = selectors.review_scope(request.user)
    versions = list(selectors.rule_versions(key, scope=scope))  # NotFound outside the scope
    error: CodedError | None = None
    form: dict[str, Any] = {}
    if request.method == "POST":
        try:
            form = _form_changes(request)
            services.new_rule_version(request.user, key, form, note=request.POST.get("note", ""))
        except CodedError as exc:
            if exc.status != 400:
                raise
            error = exc
        else:
            return redirect("cdss:rule", key=key)
    active = next((v for v in versions if v.is_active), versions[0])
    context = {
        "rule": active,
        "versions": versions,
        "scope": scope,
        "scope_department": _scope_department(scope),
        "reasons": [
            {"code": r["override_reason"], "label": _reason_label(r["override_reason"]), "n": r["n"]}
            for r in selectors.override_reasons(key, scope=scope)
        ],
        "comments": selectors.recent_comments(key, scope=scope),
        "indicators": Indicator.choices,
        "error": error,
        "parameters_text": json.dumps(
            form.get("parameters", active.parameters), ensure_ascii=False, indent=1
        ),
        "can_edit": has_capability(request.user, "cdss.review"),
    }
    return render(request, "cdss/rule.html", context, status=400 if error else 200)


def _reason_label(code: str) -> str:
    if not code:
        return _("No reason given")
    try:
        return str(OverrideReason(code).label)
    except ValueError:
        return code
