"""The clinician workstation: today's encounters, opening a visit, the encounter page (drafted
note editor, diagnoses, orders with decision support at signing, allergies, vitals, problems,
note history, summaries) and a patient's record."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.emr import hooks, selectors, services
from smartcare.emr.choices import (
    NOTE_SECTIONS,
    SUMMARY_KINDS,
    AllergySeverity,
    DiagnosisStatus,
    EncounterKind,
    NoteKind,
    NoteStatus,
    OrderKind,
    OrderStatus,
    Route,
    VitalKind,
)
from smartcare.emr.errors import CardNotShown, CommentRequired, SuggestionNotSupported
from smartcare.emr.models import Encounter, Note, Order, VitalSign
from smartcare.organization.choices import BedStatus, RoomKind
from smartcare.organization.models import Bed
from smartcare.patients.models import Patient
from smartcare.scheduling.choices import AppointmentStatus
from smartcare.scheduling.models import Appointment

# Decision support's codes, repeated here because emr may not import cdss (the layers point down).
KNOWLEDGE_SYSTEM = "https://smartcare.example/knowledge"
LOINC_SYSTEM = "http://loinc.org"
OVERRIDE_REASON_SYSTEM = "https://smartcare.example/fhir/CodeSystem/cdss-override-reason"
NOT_APPLICABLE = "not-applicable"


@login_required
def workstation(request: HttpRequest) -> HttpResponse:
    """My encounters today, and the checked-in patients of my department to open a visit for."""
    user: Any = request.user
    require_capability(user, "emr.view")
    department_id = getattr(getattr(user, "practitioner", None), "department_id", None)
    waiting = (
        Appointment.objects.filter(
            department_id=department_id or 0,
            date=clock.local_now().date(),
            status__in=[AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_CONSULTATION],
            patient__in=Patient.objects.visible_to(user),
        )
        .exclude(encounters__status__in=["in_progress", "finished"])
        .select_related("patient", "slot")
        .order_by("slot__starts_at")
    )
    return render(
        request,
        "emr/workstation.html",
        {
            "encounters": selectors.workstation_encounters(user),
            "waiting": waiting,
            "may_document": has_capability(user, "emr.document"),
        },
    )


@login_required
@require_POST
def open_visit(request: HttpRequest) -> HttpResponse:
    """Open the visit for a checked-in appointment, or a walk-in by one code or record number."""
    user: Any = request.user
    require_capability(user, "emr.document")
    try:
        appointment = request.POST.get("appointment", "").strip()
        code = request.POST.get("code", "").strip()
        if appointment:
            if not appointment.isdigit():
                raise NotFound()
            encounter = services.open_encounter(user, appointment_id=int(appointment))
        elif code:
            found = Patient.objects.filter(Q(one_code=code) | Q(medical_record_number=code)).first()
            if found is None:
                raise NotFound()
            encounter = services.open_encounter(
                user, patient_id=found.pk, kind=request.POST.get("kind") or "outpatient"
            )
        else:
            raise InvalidInput(_("Choose an appointment or a patient."), field="patient")
    except CodedError as exc:
        if exc.status == 404:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
        return redirect("emr:workstation")
    return redirect("emr:encounter", encounter_id=encounter.pk)


def _sections(post: Any) -> dict[str, str]:
    return {key: post.get(key, "") for key, _label in NOTE_SECTIONS if key in post}


def _advice(
    user: Any, encounter: Any, hook: str, draft_orders: list[Order] | None = None
) -> list[dict[str, Any]]:
    """DECISION SUPPORT HOOK: cards for ``hook`` (patient-view, order-select, order-sign).

    The cards come from ``smartcare.cdss.services.evaluate``, registered by decision support through
    ``smartcare.emr.hooks.register_advisor`` (emr may not import cdss); none when nothing is registered.
    """
    facts = selectors.clinical_facts(encounter.patient, encounter=encounter, draft_orders=draft_orders or [])
    return hooks.advise(
        user,
        facts,
        hook,
        patient=encounter.patient,
        department_code=encounter.department.code,
        encounter_ref=str(encounter.pk),
    )


def _draft_order(request: HttpRequest, encounter: Any) -> Order:
    order = Order.objects.filter(pk=request.POST.get("order") or 0, encounter=encounter).first()
    if order is None:
        raise NotFound()
    return order


def _override_reason(post: Any, suffix: str = "") -> tuple[str, str, str]:
    """The coded override reason chosen from a card (``system|code``) and the comment; ``suffix``
    is ``_<card id>`` for one card's own reason, empty for the reason given for all cards."""
    system, _sep, code = post.get(f"override_code{suffix}", "").rpartition("|")
    return code.strip(), system.strip(), post.get(f"override_reason{suffix}", "").strip()[:2000]


def _sign_order_with_advice(request: HttpRequest, encounter: Any) -> list[dict[str, Any]]:
    """Sign a draft order after decision support (order-sign) has seen it.

    A warning or critical card stops the signing and is shown. Signing anyway needs a reason for
    every card shown: its own (a coded reason offered by the card and/or a comment) or the one
    given for all cards; each card is then reported as "overridden" with its reason. Declining the
    order instead reports them as "accepted" (``decline_order``).
    """
    user: Any = request.user
    order = _draft_order(request, encounter)
    if order.status != OrderStatus.DRAFT:
        services.sign_order(user, order.pk)  # refused with EMR-006
        return []
    require_capability(user, "emr.document")
    shown = [c for c in request.POST.getlist("card") if c]
    general = _override_reason(request.POST)
    reasons = {}
    for card in shown:
        own = _override_reason(request.POST, f"_{card}")
        reasons[card] = own if (own[0] or own[2]) else general
    if shown and all(code or comment for code, _system, comment in reasons.values()):
        with transaction.atomic():
            services.sign_order(user, order.pk)
            for card, (code, system, comment) in reasons.items():
                hooks.send_feedback(
                    user,
                    [card],
                    outcome="overridden",
                    reason_code=code,
                    reason_system=system,
                    comment=comment,
                )
        return []
    # Asked again (no reason yet): the same cards come back with the same ids, counted once.
    cards = _advice(user, encounter, "order-sign", [order])
    if any(c.get("indicator") in ("warning", "critical") for c in cards):
        return cards
    services.sign_order(user, order.pk)
    return []


def _shown_card(request: HttpRequest, encounter: Any) -> dict[str, Any]:
    """The card the doctor answers: shown in this encounter and not answered yet (EMR-012)."""
    card = hooks.shown_card(request.user, request.POST.get("card", "").strip())
    if (
        card is None
        or card.get("encounter_ref") != str(encounter.pk)
        or card.get("patient_id") not in (None, encounter.patient_id)
        or card.get("outcome")
    ):
        raise CardNotShown(field="card")
    return card


def _exam_item(coding: list[Any]) -> tuple[str, str]:
    """(knowledge key of the exam, its LOINC code) named by a suggested ServiceRequest's codings."""
    from smartcare.knowledge.models import Node

    codes = {str(c.get("system", "")): str(c.get("code", "")) for c in coding if isinstance(c, dict)}
    key = codes.get(KNOWLEDGE_SYSTEM, "")
    if key and Node.objects.filter(key=key, type="exam", is_active=True).exists():
        return key, codes.get(LOINC_SYSTEM, "")
    loinc = codes.get(LOINC_SYSTEM, "")
    if loinc:
        node = Node.objects.filter(loinc=loinc, type="exam", is_active=True).order_by("key").first()
        if node is not None:
            return node.key, loinc
    return "", loinc


def _carry_out(user: Any, encounter: Any, suggestion: dict[str, Any]) -> list[str]:
    """Do what an accepted suggestion says, through the record's services: create → a draft lab
    order (signed later, after order-sign); delete → cancel a draft order of this encounter.
    Returns what was done, for the message."""
    done: list[str] = []
    for action in suggestion.get("actions") or []:
        kind = action.get("type")
        resource = action.get("resource") or {}
        if kind == "create" and resource.get("resourceType") == "ServiceRequest":
            code = resource.get("code") or {}
            item, _loinc = _exam_item(code.get("coding") or [])
            name = "" if item else str(code.get("text") or "")
            placed = services.place_order(
                user, encounter.pk, services.OrderData(kind=OrderKind.LAB, item=item, name=name)
            )
            done.append(placed.name)
        elif kind == "delete":
            for reference in action.get("resourceId") or []:
                resource_type, _sep, pk = str(reference).partition("/")
                order = encounter.orders.filter(pk=int(pk) if pk.isdigit() else 0).first()
                if resource_type not in ("MedicationRequest", "ServiceRequest") or order is None:
                    raise SuggestionNotSupported(reason=str(reference), field="suggestion")
                services.cancel_order(user, order.pk, _("Removed after decision support"))
                done.append(order.name)
        else:
            raise SuggestionNotSupported(reason=str(kind), field="suggestion")
    return done


def _accept_card(request: HttpRequest, encounter: Any) -> None:
    """The doctor follows a card: its chosen suggestion is carried out (when it has one) and the
    card is reported "accepted" with that suggestion, all or nothing."""
    user: Any = request.user
    require_capability(user, "emr.document")
    require_capability(user, "cdss.hooks")
    card = _shown_card(request, encounter)
    chosen_id = request.POST.get("suggestion", "").strip()
    chosen = None
    if chosen_id:
        chosen = next((s for s in card.get("suggestions") or [] if s.get("uuid") == chosen_id), None)
        if chosen is None:
            raise CardNotShown(field="suggestion")
    with transaction.atomic():
        done = _carry_out(user, encounter, chosen) if chosen else []
        hooks.send_feedback(
            user,
            [card["uuid"]],
            outcome="accepted",
            accepted_suggestions=[chosen["uuid"]] if chosen else [],
            strict=True,
        )
    if done:
        messages.success(
            request, _("Advice followed: %(done)s (draft, sign it below).") % {"done": ", ".join(done)}
        )
    else:
        messages.success(request, _("Advice accepted."))


def _card_not_applicable(request: HttpRequest, encounter: Any) -> None:
    """The doctor marks a card "not applicable here" with a comment (overridden, coded reason)."""
    user: Any = request.user
    require_capability(user, "emr.document")
    require_capability(user, "cdss.hooks")
    card = _shown_card(request, encounter)
    comment = request.POST.get("comment", "").strip()[:2000]
    if not comment:
        raise CommentRequired(field="comment")
    hooks.send_feedback(
        user,
        [card["uuid"]],
        outcome="overridden",
        reason_code=NOT_APPLICABLE,
        reason_system=OVERRIDE_REASON_SYSTEM,
        comment=comment,
        strict=True,
    )
    messages.success(request, _("Marked not applicable here."))


def _handle(request: HttpRequest, encounter: Any) -> tuple[HttpResponse | None, list[dict[str, Any]]]:
    """One action of the encounter page. Returns a response to send instead of the page (htmx
    autosave) and the decision-support cards to show."""
    user: Any = request.user
    post = request.POST
    action = post.get("action", "")
    pid = encounter.patient_id
    if action == "save_note":
        note = services.save_draft(user, post.get("note"), _sections(post))
        if getattr(request, "htmx", False):
            return HttpResponse(
                _("Draft saved at %(time)s") % {"time": f"{timezone.localtime(note.updated_at):%H:%M:%S}"}
            ), []
        messages.success(request, _("Draft saved."))
    elif action == "sign_note":
        note = services.sign_note(user, post.get("note"), _sections(post))
        minutes, seconds = divmod(note.writing_seconds or 0, 60)
        messages.success(
            request, _("Note signed. Writing time %(m)d min %(s)d s.") % {"m": minutes, "s": seconds}
        )
    elif action == "amend_note":
        services.amend_note(user, post.get("note"), _sections(post), post.get("reason", ""))
        messages.success(request, _("Amendment signed; the earlier version is kept."))
    elif action == "draft_note":
        services.draft_note(user, encounter.pk, kind=post.get("kind") or NoteKind.PROGRESS)
    elif action == "summary":
        services.generate_summary(
            user, encounter.pk, kind=post.get("kind", ""), language=post.get("language") or None
        )
        messages.success(request, _("Summary drafted: check it, edit it and sign it."))
    elif action == "add_diagnosis":
        code = post.get("code", "").split(" ")[0]
        services.add_diagnosis(
            user,
            encounter.pk,
            code=code,
            is_primary=bool(post.get("is_primary")),
            status=post.get("status") or DiagnosisStatus.CONFIRMED,
        )
    elif action == "remove_diagnosis":
        if not encounter.diagnoses.filter(pk=post.get("diagnosis") or 0).exists():
            raise NotFound()
        services.remove_diagnosis(user, post.get("diagnosis"))
    elif action == "place_order":
        item = post.get("item", "").split(" ")[0]
        placed = services.place_order(
            user,
            encounter.pk,
            services.OrderData(
                kind=post.get("kind", ""),
                item=item,
                name=post.get("name", ""),
                dose=post.get("dose") or None,
                dose_unit=post.get("dose_unit", ""),
                route=post.get("route", ""),
                frequency_per_day=post.get("frequency_per_day") or None,
                duration_days=post.get("duration_days") or None,
                instructions=post.get("instructions", ""),
            ),
        )
        cards = _advice(user, encounter, "order-select", [placed])
        if cards:
            return None, [{**c, "hook": "order-select"} for c in cards]
    elif action == "sign_order":
        cards = _sign_order_with_advice(request, encounter)
        if cards:
            return None, cards
        messages.success(request, _("Order signed."))
    elif action == "card_accept":
        _accept_card(request, encounter)
    elif action == "card_not_applicable":
        _card_not_applicable(request, encounter)
    elif action == "decline_order":
        # The doctor followed the advice shown at signing: the draft is cancelled.
        order = _draft_order(request, encounter)
        services.cancel_order(user, order.pk, _("Not signed after decision support"))
        hooks.send_feedback(user, post.getlist("card"), outcome="accepted")
        messages.success(request, _("Order not signed."))
    elif action in ("cancel_order", "discontinue_order", "complete_order"):
        order = encounter.orders.filter(pk=post.get("order") or 0).first()
        if order is None:
            raise NotFound()
        reason = post.get("reason", "")
        if action == "cancel_order":
            services.cancel_order(user, order.pk, reason)
        elif action == "discontinue_order":
            services.discontinue_order(user, order.pk, reason)
        else:
            services.complete_order(user, order.pk)
    elif action == "allergy":
        services.record_allergy(
            user,
            pid,
            substance=post.get("substance", "").split(" ")[0],
            name=post.get("name", ""),
            reaction=post.get("reaction", ""),
            severity=post.get("severity", ""),
        )
    elif action == "vital":
        services.record_vital(
            user,
            pid,
            kind=post.get("kind", ""),
            value=post.get("value"),
            value2=post.get("value2") or None,
            encounter_id=encounter.pk,
        )
    elif action == "problem":
        services.record_problem(
            user, pid, code=post.get("code", "").split(" ")[0], comment=post.get("comment", "")
        )
    elif action == "resolve_problem":
        if not encounter.patient.problems.filter(pk=post.get("problem") or 0).exists():
            raise NotFound()
        services.resolve_problem(user, post.get("problem"))
    elif action == "finish":
        services.finish_encounter(user, encounter.pk)
        messages.success(request, _("Visit finished."))
    elif action == "admit":
        stay = services.admit(
            user,
            patient_id=pid,
            department_id=encounter.department_id,
            bed_id=post.get("bed"),
            reason=post.get("reason", ""),
        )
        messages.success(request, _("Patient admitted."))
        return redirect("emr:encounter", encounter_id=stay.pk), []
    elif action == "transfer":
        bed = Bed.objects.select_related("room").filter(pk=post.get("bed") or 0).first()
        services.transfer(
            user,
            encounter.pk,
            bed_id=bed.pk if bed else None,
            department_id=bed.room.department_id if bed and bed.room.department_id else None,
            reason=post.get("reason", ""),
        )
        messages.success(request, _("Patient transferred."))
    elif action == "discharge":
        services.discharge(user, encounter.pk, reason=post.get("reason", ""))
        messages.success(request, _("Patient discharged."))
    else:
        raise InvalidInput(_("Unknown action."), field="action")
    return redirect("emr:encounter", encounter_id=encounter.pk), []


FEEDBACK_LABELS = {
    "accepted": _lazy("Accepted"),
    "overridden": _lazy("Overridden"),
    NOT_APPLICABLE: _lazy("Not applicable here"),
}


def _with_feedback(card: dict[str, Any]) -> dict[str, Any]:
    """The answer already given on a card shown again in this visit, for the template."""
    answer = (card.get("extension") or {}).get("org.smartcare.feedback")
    if not answer:
        return card
    label = FEEDBACK_LABELS.get(answer.get("reason") or answer.get("outcome"), "")
    return {**card, "answered": {**answer, "label": label}}


def _free_beds(encounter: Any) -> list[Bed]:
    """Free ward beds: of the encounter's department to admit, of any department to transfer."""
    beds = Bed.objects.filter(status=BedStatus.FREE, room__kind=RoomKind.WARD).select_related(
        "room__department"
    )
    if encounter.kind != EncounterKind.INPATIENT:
        beds = beds.filter(room__department=encounter.department)
    return list(beds.order_by("room__department_id", "room__code", "code")[:200])


@login_required
def encounter(request: HttpRequest, encounter_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "emr.view")
    found = selectors.encounter_for(user, encounter_id, reason="workstation")
    cards: list[dict[str, Any]] = []
    error: CodedError | None = None
    if request.method == "POST":
        try:
            response, cards = _handle(request, found)
            if response is not None:
                return response
        except CodedError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
        found = selectors.encounter_for(user, encounter_id, reason="workstation")
    if found.is_open and not cards and (request.method == "GET" or error is not None):
        # Every load shows the current care gaps; decision support counts a card once per visit.
        cards = [{**c, "hook": "patient-view"} for c in _advice(user, found, "patient-view")]
    cards = [_with_feedback(c) for c in cards]
    rec = selectors.encounter_record(found)
    language = selectors.display_language()
    prompts: dict[int, dict[str, str]] = {}
    for note in rec.notes:
        template = (
            services.template_for(found.department, note.kind) if note.status == NoteStatus.DRAFT else None
        )
        prompts[note.pk] = template.prompts(language) if template is not None else {}
    notes = [
        {
            "note": note,
            "sections": [
                {
                    "key": key,
                    "label": label,
                    "text": getattr(note, key),
                    "prompt": prompts[note.pk].get(key, ""),
                }
                for key, label in NOTE_SECTIONS
            ],
            "versions": list(note.versions.order_by("number").select_related("signed_by")),
        }
        for note in rec.notes
    ]
    return render(
        request,
        "emr/encounter.html",
        {
            "encounter": found,
            "rec": rec,
            "notes": notes,
            "cards": cards,
            "card_order": request.POST.get("order", "")
            if cards and request.POST.get("action") == "sign_order"
            else "",
            "error": error,
            "may_document": has_capability(user, "emr.document"),
            "may_record": has_capability(user, "emr.record"),
            "may_answer": has_capability(user, "emr.document") and has_capability(user, "cdss.hooks"),
            "order_kinds": OrderKind.choices,
            "routes": Route.choices,
            "vital_kinds": VitalKind.choices,
            "severities": AllergySeverity.choices,
            "diagnosis_statuses": DiagnosisStatus.choices,
            "summary_kinds": [(k.value, k.label) for k in SUMMARY_KINDS],
            "draft_orders": [o for o in rec.orders if o.status == OrderStatus.DRAFT],
            "override_reasons": next(
                (c.get("overrideReasons") for c in cards if c.get("overrideReasons")), []
            ),
            "free_beds": _free_beds(found) if has_capability(user, "emr.record") and found.is_open else [],
        },
        status=error.status if error else 200,
    )


@login_required
def patient_record(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A patient's record at a glance: for the care team, and for patients their own (signed notes)."""
    user: Any = request.user
    patient = selectors.patient_for(user, patient_id, reason="record")
    is_patient = getattr(user, "role", "") == "patient"
    encounters = list(
        Encounter.objects.filter(patient=patient)
        .select_related("department", "attending__user")
        .prefetch_related("diagnoses__icd10")
    )
    notes = Note.objects.filter(encounter__patient=patient).select_related("encounter").order_by("-opened_at")
    if is_patient:
        notes = notes.exclude(status=NoteStatus.DRAFT)
    return render(
        request,
        "emr/patient.html",
        {
            "patient": patient,
            "encounters": encounters,
            "notes": list(notes[:50]),
            "allergies": selectors.active_allergies(patient),
            "problems": selectors.active_problems(patient),
            "medications": selectors.current_medications(patient),
            "vitals": list(VitalSign.objects.filter(patient=patient).order_by("-measured_at", "-pk")[:20]),
            "results": selectors.recent_results(patient, limit=30),
        },
    )
