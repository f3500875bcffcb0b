"""Reports to patients: when a lab or imaging report becomes final (from an HL7 ORU, a FHIR
DiagnosticReport or a clinician), the patient finds it in the portal inbox with the abnormal
results named and explained, and the doctor who ordered it is told of critical values at once.

* ``publish(delivery, actor)`` does both, idempotently: a report already sent in this status is
  not sent again; a corrected report is sent again as an update; the doctor is told again only
  when the critical results change. It runs inside the caller's transaction, so the messages
  exist exactly when the report does.
* ``report_finalized(actor, report, ...)`` is the entry point for other writers (the FHIR API):
  it records where the report came from and publishes it.
* ``write_report(actor, ...)``: a clinician finalizes a lab report from results in the record, or
  an imaging report for a study.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.emr.choices import ObservationFlag
from smartcare.emr.models import Observation, Order
from smartcare.interop.models import (
    DiagnosticReport,
    ImagingStudy,
    ReportDelivery,
    ReportKind,
    ReportSource,
    ReportStatus,
)
from smartcare.interop.reports.explanations import explain
from smartcare.notifications.choices import Channel
from smartcare.notifications.services import notify
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import FamilyLink

PUBLISHED_STATUSES = frozenset(
    {ReportStatus.FINAL, ReportStatus.AMENDED, ReportStatus.CORRECTED, ReportStatus.APPENDED}
)
CRITICAL_FLAGS = frozenset({ObservationFlag.CRITICAL_HIGH, ObservationFlag.CRITICAL_LOW})
MAX_CONCLUSION = 20000


def _value_text(observation: Observation) -> str:
    shown = f"{observation.value:g}" if observation.value is not None else observation.value_text
    return f"{shown} {observation.unit}".strip()


def _range_text(observation: Observation) -> str:
    low, high = observation.reference_low, observation.reference_high
    if low is not None and high is not None:
        return f"{low:g}–{high:g}"
    if high is not None:
        return f"< {high:g}"
    if low is not None:
        return f"> {low:g}"
    return ""


def critical_results(report: DiagnosticReport, extra_ids: list[int] | None = None) -> list[Observation]:
    """Results with a critical flag (HH, LL), plus those the sender marked critical otherwise
    (HL7 abnormal flag AA)."""
    extra = set(extra_ids or [])
    return [o for o in report.results.all() if o.flag in CRITICAL_FLAGS or o.pk in extra]


def _language(user: Any) -> str:
    return (getattr(user, "preferred_language", "") or settings.LANGUAGE_CODE).lower()


def _kind_label(delivery: ReportDelivery) -> str:
    return _("imaging report") if delivery.kind == ReportKind.IMAGING else _("lab report")


def _patient_body(delivery: ReportDelivery, abnormal: list[Observation]) -> str:
    report = delivery.report
    lines: list[str] = []
    if abnormal:
        lines.append(
            ngettext(
                "%(count)s result is outside the usual range:",
                "%(count)s results are outside the usual range:",
                len(abnormal),
            )
            % {"count": len(abnormal)}
        )
        for observation in abnormal:
            usual = _range_text(observation)
            line = f"⚠ {observation.name}: {_value_text(observation)} ({observation.get_flag_display()})"
            if usual:
                line += " · " + _("usual %(range)s") % {"range": usual}
            lines.append(line)
            lines.append("   " + explain(observation))
    elif report.results.exists():
        lines.append(_("All results are within the usual range."))
    if delivery.kind == ReportKind.IMAGING and report.conclusion:
        lines.append(_("Conclusion: %(text)s") % {"text": report.conclusion[:500]})
    lines.append(_("Open the report for the details; your doctor will discuss it with you."))
    return "\n".join(lines)


def _patient_recipients(patient: Any) -> list[Any]:
    recipients = []
    if patient.user_id and patient.user.is_active:
        recipients.append(patient.user)
    for link in FamilyLink.objects.filter(patient=patient, ended_at=None).select_related("user"):
        if link.user.is_active and link.user not in recipients:
            recipients.append(link.user)
    return recipients


def _critical_signature(critical: list[Observation]) -> str:
    text = "|".join(f"{o.pk}:{o.value}:{o.value_text}:{o.flag}" for o in sorted(critical, key=lambda o: o.pk))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _doctor(delivery: ReportDelivery) -> Any:
    if delivery.ordering_user is not None and delivery.ordering_user.is_active:
        return delivery.ordering_user
    encounter = delivery.report.encounter or (
        delivery.order.encounter if delivery.order is not None else None
    )
    attending = getattr(getattr(encounter, "attending", None), "user", None)
    return attending if attending is not None and attending.is_active else None


def _tell_doctor(delivery: ReportDelivery, critical: list[Observation], actor: Any) -> None:
    signature = _critical_signature(critical)
    if not critical or delivery.critical_signature == signature:
        return
    doctor = _doctor(delivery)
    delivery.critical_signature = signature
    if doctor is None:
        record(
            actor,
            AuditAction.SYSTEM,
            patient=delivery.report.patient_id,
            obj=delivery.report,
            detail={"event": "critical_result_without_doctor", "results": [o.pk for o in critical]},
        )
        return
    report = delivery.report
    with translation.override(_language(doctor)):
        lines = [
            ngettext(
                "Critical result for %(patient)s (%(mrn)s), %(report)s:",
                "Critical results for %(patient)s (%(mrn)s), %(report)s:",
                len(critical),
            )
            % {
                "patient": report.patient.name,
                "mrn": report.patient.medical_record_number,
                "report": report.name,
            }
        ]
        for observation in critical:
            usual = _range_text(observation)
            lines.append(
                f"{observation.name}: {_value_text(observation)} ({observation.get_flag_display()})"
                + (" · " + _("usual %(range)s") % {"range": usual} if usual else "")
            )
        note = notify(
            doctor,
            category="critical_result",
            subject=_("Critical value: %(patient)s") % {"patient": report.patient.name},
            body="\n".join(lines),
            link=reverse("interop:report", args=[report.pk]),
            channels=(Channel.IN_APP, Channel.EMAIL) if doctor.email else (Channel.IN_APP,),
            email=doctor.email,
        )
    delivery.critical_notified_at = clock.now()
    delivery.critical_notified_to = doctor
    record(
        actor,
        AuditAction.CREATE,
        patient=report.patient_id,
        obj=note,
        detail={"event": "critical_result_notice", "report": report.pk, "to": doctor.get_username()},
    )


def publish(delivery: ReportDelivery, actor: Any) -> None:
    """Send a final report to the patient's inbox and critical values to the ordering doctor."""
    report = delivery.report
    results = list(report.results.all())
    abnormal = [o for o in results if o.flag]
    critical = critical_results(report, delivery.marked_critical)
    delivery.abnormal_count = len(abnormal)
    delivery.critical_count = len(critical)
    if report.status in PUBLISHED_STATUSES:
        _tell_doctor(delivery, critical, actor)
        if delivery.published_status != report.status:
            first_time = not delivery.published_at
            for recipient in _patient_recipients(report.patient):
                with translation.override(_language(recipient)):
                    subject = (
                        _("Your %(kind)s is ready: %(name)s")
                        if first_time
                        else _("Your %(kind)s was updated: %(name)s")
                    ) % {"kind": _kind_label(delivery), "name": report.name}
                    note = notify(
                        recipient,
                        category="report",
                        subject=subject,
                        body=_patient_body(delivery, abnormal),
                        link=reverse("interop:report", args=[report.pk]),
                    )
                if recipient == report.patient.user:
                    delivery.patient_notification = note
            delivery.published_at = clock.now()
            delivery.published_status = report.status
            record(
                actor,
                AuditAction.SYSTEM,
                patient=report.patient_id,
                obj=report,
                detail={
                    "event": "report_sent_to_patient",
                    "status": report.status,
                    "abnormal": len(abnormal),
                },
            )
    delivery.save()


@transaction.atomic
def report_finalized(
    actor: Any,
    report: DiagnosticReport,
    *,
    source: str = ReportSource.FHIR,
    kind: str | None = None,
    order: Order | None = None,
    imaging_study: ImagingStudy | None = None,
) -> ReportDelivery:
    """For writers of DiagnosticReport outside this module (the FHIR API): remember the source
    and publish the report if it is final. Safe to call on every create or update."""
    delivery, _created = ReportDelivery.objects.get_or_create(
        report=report,
        defaults={
            "kind": kind
            or (ReportKind.IMAGING if report.category_code in IMAGING_CATEGORIES else ReportKind.LAB),
            "source": source,
            "order": order,
            "ordering_user": order.ordered_by if order is not None else None,
            "imaging_study": imaging_study,
        },
    )
    publish(delivery, actor)
    return delivery


IMAGING_CATEGORIES = frozenset(
    {"RAD", "CT", "MR", "US", "NMR", "NMS", "CUS", "RUS", "XRC", "VUS", "OUS", "imaging"}
)


def _clinician_results(patient: Any, observation_ids: list[Any]) -> list[Observation]:
    ids = []
    for item in observation_ids or []:
        try:
            ids.append(int(item))
        except (TypeError, ValueError):
            raise InvalidInput(_("Choose results from the list."), field="results") from None
    rows = list(Observation.objects.filter(patient=patient, pk__in=ids))
    if len(rows) != len(set(ids)):
        raise NotFound()
    return rows


@transaction.atomic
def write_report(
    actor: Any,
    patient_id: Any,
    *,
    kind: str,
    name: str,
    observation_ids: list[Any] | None = None,
    conclusion: str = "",
    imaging_study_id: Any = None,
    order_id: Any = None,
) -> DiagnosticReport:
    """A clinician finalizes a report: lab results already in the record, or the conclusion of an
    imaging study. The patient gets it at once; critical results go to the ordering doctor."""
    require_capability(actor, "interop.reports.write")
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    if kind not in ReportKind.values:
        raise InvalidInput(_("Choose a lab or an imaging report."), field="kind")
    name = (name or "").strip()[:200]
    conclusion = (conclusion or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Enter the name of the report.")]
    if len(conclusion) > MAX_CONCLUSION:
        errors["conclusion"] = [_("The text is too long.")]
    results = _clinician_results(patient, observation_ids or [])
    study = None
    if kind == ReportKind.IMAGING:
        study = ImagingStudy.objects.filter(pk=imaging_study_id or 0, patient=patient).first()
        if study is None:
            errors["study"] = [_("Choose the imaging study of this patient.")]
        if not conclusion:
            errors["conclusion"] = [_("An imaging report needs a conclusion.")]
    elif not results:
        errors["results"] = [_("Choose at least one result.")]
    if errors:
        raise InvalidInput(errors=errors)
    order = Order.objects.filter(pk=order_id, patient=patient).first() if order_id not in (None, "") else None
    if order_id not in (None, "") and order is None:
        raise NotFound()
    now = clock.now()
    report = DiagnosticReport.objects.create(
        patient=patient,
        encounter=order.encounter if order else None,
        status=ReportStatus.FINAL,
        category_system="http://terminology.hl7.org/CodeSystem/v2-0074",
        category_code="RAD" if kind == ReportKind.IMAGING else "LAB",
        name=name,
        effective_at=(study.started_at if study else None)
        or min((o.observed_at for o in results), default=now),
        issued_at=now,
        performer=str(actor)[:200],
        conclusion=conclusion,
        recorded_by=actor,
    )
    report.results.set(results)
    record(
        actor, AuditAction.CREATE, patient=patient, obj=report, detail={"kind": kind, "results": len(results)}
    )
    delivery = ReportDelivery.objects.create(
        report=report,
        kind=kind,
        source=ReportSource.CLINICIAN,
        order=order,
        ordering_user=order.ordered_by if order else actor,
        imaging_study=study,
    )
    publish(delivery, actor)
    return report
