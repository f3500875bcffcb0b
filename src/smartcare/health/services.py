"""Every write of health management. Each service is atomic, checks the capability and the access
to the patient, writes its audit event and tells the patient after commit (``notify``)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.core.permissions import require_capability
from smartcare.health import equations
from smartcare.health.advice import advise
from smartcare.health.choices import (
    Adherence,
    AssessmentSource,
    EnrolmentStatus,
    FamilyHistory,
    ModelStatus,
)
from smartcare.health.errors import (
    AdherenceInvalid,
    AlreadyEnrolled,
    AnswersInvalid,
    EnrolmentNotActive,
    ModelTransitionRefused,
    NotEnoughData,
    TrainingRefused,
)
from smartcare.health.models import (
    AdherenceReport,
    Advice,
    Enrolment,
    LifestyleAnswers,
    Programme,
    RiskAssessment,
    TrainedModel,
)
from smartcare.health.record import fingerprint, gather
from smartcare.notifications.services import notify
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

EQUATION_MODELS = ("pce", "framingham", "findrisc")
logger = logging.getLogger("smartcare.health")


def _pk(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise NotFound() from None


def _notify_patient(patient: Any, *, subject: Any, body: Any, link: str) -> None:
    """Tell the patient, in their language, when they have a portal account."""
    user = getattr(patient, "user", None)
    if user is None or not user.is_active:
        return
    language = getattr(user, "preferred_language", "") or settings.LANGUAGE_CODE
    with translation.override(language):
        notify(user, category="health_advice", subject=str(subject), body=str(body), link=link)


# --- Risk assessments --------------------------------------------------------------------------


def _store(
    patient: Patient,
    result: equations.RiskResult,
    *,
    source: str,
    actor: Any = None,
    measures: dict[str, Any] | None = None,
    computed_at: dt.datetime | None = None,
) -> RiskAssessment:
    return RiskAssessment.objects.create(
        patient=patient,
        model=result.model,
        model_version=result.version,
        risk=result.risk,
        score=result.score,
        band=result.band,
        optimal_risk=result.optimal_risk,
        inputs=result.inputs,
        drivers=result.as_dict()["drivers"],
        measures=measures or {},
        fingerprint=fingerprint(result.model, result.version, result.inputs),
        source=source,
        computed_by=actor if getattr(actor, "is_authenticated", False) else None,
        computed_at=computed_at or clock.now(),
    )


@transaction.atomic
def assess_manually(actor: Any, patient_id: Any, model: str, raw: Any) -> RiskAssessment:
    """A clinician enters the inputs by hand; stored with source "manual" and audited. Bad input
    raises its coded error and stores nothing."""
    require_capability(actor, "health.assess")
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    result = equations.compute(model, raw)
    assessment = _store(patient, result, source=AssessmentSource.MANUAL, actor=actor)
    record(
        actor,
        AuditAction.CREATE,
        patient=patient,
        obj=assessment,
        detail={"event": "risk_assessed", "model": result.model},
    )
    update_advice(patient, actor=actor)
    return assessment


def _profile(patient: Patient) -> dict[str, Any]:
    """What the advice rules read: the latest assessment of each model and the current measures."""
    latest = latest_assessments(patient)
    cv = latest.get("pce") or latest.get("framingham")
    profile: dict[str, Any] = {}
    if cv is not None:
        profile.update(cv.inputs)
        profile["cv_risk"] = cv.risk
    findrisc = latest.get("findrisc")
    if findrisc is not None:
        profile.update({k: v for k, v in findrisc.inputs.items() if k not in profile})
        profile["findrisc_score"] = findrisc.score
    for assessment in latest.values():
        for key, value in (assessment.measures or {}).items():
            if value is not None and key not in ("systolic_bp",):
                profile.setdefault(key, value)
    return profile


def latest_assessments(patient: Any) -> dict[str, RiskAssessment]:
    latest: dict[str, RiskAssessment] = {}
    for row in RiskAssessment.objects.filter(patient=patient).order_by("-computed_at", "-pk")[:50]:
        latest.setdefault(row.model, row)
    return latest


def update_advice(patient: Patient, *, actor: Any = None, notify_patient: bool = True) -> list[Advice]:
    """Run the advice rules on the patient's latest risks; retire advice that no longer applies
    and create the new pieces (one current piece per rule). Returns the new pieces."""
    profile = _profile(patient)
    latest = latest_assessments(patient)
    wanted = {rule.key: rule for rule in advise(profile)}
    current = {a.rule: a for a in Advice.objects.filter(patient=patient, is_current=True)}
    for key, advice in current.items():
        if key not in wanted:
            advice.is_current = False
            advice.save(update_fields=["is_current"])
    enrolment = Enrolment.objects.filter(patient=patient, status=EnrolmentStatus.ACTIVE).first()
    created: list[Advice] = []
    for key, rule in wanted.items():
        if key in current:
            continue
        source = latest.get("findrisc") if key in ("diabetes-prevention-diet", "glucose-check") else None
        source = source or latest.get("pce") or latest.get("framingham") or next(iter(latest.values()))
        created.append(
            Advice.objects.create(
                patient=patient,
                assessment=source,
                enrolment=enrolment,
                rule=key,
                category=rule.category,
                for_doctor=rule.for_doctor,
                education_key=rule.education_key,
            )
        )
    if created and any(not a.for_doctor for a in created) and notify_patient:
        _notify_patient(
            patient,
            subject=gettext_lazy("New advice for your health"),
            body=gettext_lazy("Your risk was updated; see your personal advice."),
            link="/health/me/",
        )
    if created:
        record(
            actor,
            AuditAction.CREATE,
            patient=patient,
            obj=("health.Advice", ",".join(str(a.pk) for a in created)),
            detail={"event": "advice_made", "rules": sorted(a.rule for a in created)},
            actor_username="" if actor else "system",
        )
    return created


def refresh_from_record(
    patient: Any,
    *,
    actor: Any = None,
    as_of: dt.datetime | None = None,
    source: str = AssessmentSource.RECORD,
) -> list[RiskAssessment]:
    """Compute every model whose inputs the record now holds, when they changed since the last
    assessment. Models whose inputs are incomplete or outside the validated range are skipped (the
    doctor's page says why). Returns the new assessments."""
    patient = patient if isinstance(patient, Patient) else Patient.objects.get(pk=patient)
    found = gather(patient, as_of=as_of)
    latest = latest_assessments(patient)
    created: list[RiskAssessment] = []
    for model in EQUATION_MODELS:
        raw = found.findrisc if model == "findrisc" else found.cv
        if found.missing.get(model):
            continue
        if model == "findrisc" and found.cv.get("diabetes"):
            continue  # FINDRISC screens for diabetes not yet known
        try:
            result = equations.compute(model, raw)
        except equations.RiskInputInvalid:
            continue
        except equations.OutsideValidatedRange:
            continue
        previous = latest.get(model)
        if previous is not None and previous.fingerprint == fingerprint(
            result.model, result.version, result.inputs
        ):
            continue
        created.append(_store(patient, result, source=source, measures=found.measures, computed_at=as_of))
    created.extend(_trained_risks(patient, found, latest, source=source, as_of=as_of))
    if created:
        record(
            actor,
            AuditAction.CREATE,
            patient=patient,
            obj=("health.RiskAssessment", ",".join(str(a.pk) for a in created)),
            detail={"event": "risk_from_record", "models": [a.model for a in created]},
            actor_username="" if actor else "system",
        )
        update_advice(patient, actor=actor)
    return created


def _trained_risks(
    patient: Patient, found: Any, latest: dict[str, RiskAssessment], *, source: str, as_of: dt.datetime | None
) -> list[RiskAssessment]:
    """The promoted hospital model of each outcome, when the record holds all its features. Only a
    promoted version is ever used for patients; candidates are for evaluation."""
    from smartcare.health import training

    created: list[RiskAssessment] = []
    cv, measures = found.cv, found.measures
    features = {
        "age": cv.get("age"),
        "male": 1.0 if cv.get("sex") == "male" else 0.0,
        "bmi": measures.get("bmi"),
        "systolic_bp": cv.get("systolic_bp"),
        "total_cholesterol": cv.get("total_cholesterol"),
        "hdl": cv.get("hdl"),
        "hba1c": measures.get("hba1c"),
        "smoker": 1.0 if cv.get("smoker") else 0.0,
        "bp_treated": 1.0 if cv.get("bp_treated") else 0.0,
    }
    for model in TrainedModel.objects.filter(status=ModelStatus.PROMOTED):
        if model.outcome == "new_diabetes" and cv.get("diabetes"):
            continue
        values = {f: features.get(f) for f in model.features}
        if any(not isinstance(v, int | float) for v in values.values()):
            continue
        version = f"{model.outcome}-v{model.version}"
        stamp = fingerprint("trained", version, values)
        previous = latest.get("trained")
        if previous is not None and previous.fingerprint == stamp:
            continue
        try:
            risk = training.predict(model, {k: float(v) for k, v in values.items() if v is not None})
        except TrainingRefused:
            continue
        created.append(
            RiskAssessment.objects.create(
                patient=patient,
                model="trained",
                model_version=version,
                trained_model=model,
                risk=risk,
                inputs=values,
                drivers=[],
                measures=measures,
                fingerprint=stamp,
                source=source,
                computed_at=as_of or clock.now(),
            )
        )
    return created


@transaction.atomic
def refresh_for(actor: Any, patient_id: Any) -> list[RiskAssessment]:
    """A clinician asks for the risks to be computed again from the record now."""
    require_capability(actor, "health.assess")
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    found = gather(patient)
    if all(found.missing.get(m) for m in EQUATION_MODELS):
        missing = sorted({k for m in EQUATION_MODELS for k in found.missing[m]})
        raise NotEnoughData(missing=", ".join(missing))
    return refresh_from_record(patient, actor=actor)


# --- The patient's lifestyle answers ------------------------------------------------------------------


def _bool(value: Any, name: str, errors: dict[str, list[str]]) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in ("yes", "true", "1", "on"):
        return True
    if text in ("no", "false", "0"):
        return False
    errors.setdefault(name, []).append(_("Please answer yes or no."))
    return None


@transaction.atomic
def save_lifestyle(actor: Any, patient_id: Any, data: dict[str, Any]) -> LifestyleAnswers:
    """The patient (or their clinician) answers the lifestyle questions; risks are recomputed."""
    if getattr(actor, "role", "") == "patient":
        require_capability(actor, "health.portal")
    else:
        require_capability(actor, "health.assess")
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    errors: dict[str, list[str]] = {}
    values = {
        name: _bool(data.get(name), name, errors)
        for name in ("smoker", "physically_active", "daily_vegetables", "high_glucose_history")
    }
    family = str(data.get("family_history") or "")
    if family not in FamilyHistory.values:
        errors.setdefault("family_history", []).append(_("Choose one answer."))
    waist: float | None = None
    if data.get("waist_cm") not in (None, ""):
        try:
            waist = float(str(data["waist_cm"]))
        except ValueError:
            waist = -1.0
        if not 40 <= waist <= 200:
            errors.setdefault("waist_cm", []).append(_("Enter your waist in centimetres (40-200)."))
    if errors:
        raise AnswersInvalid(errors=errors)
    answers = LifestyleAnswers.objects.create(
        patient=patient, family_history=family, waist_cm=waist, answered_by=actor, **values
    )
    record(actor, AuditAction.CREATE, patient=patient, obj=answers, detail={"event": "lifestyle_answered"})
    refresh_from_record(patient, actor=actor)
    return answers


# --- Programmes, enrolment, adherence -----------------------------------------------------------------


def _push_education(actor: Any, patient: Patient, advice: list[Advice]) -> int:
    """Send the follow-up education item of each piece of advice that has one (once)."""
    from smartcare.followup.models import EducationDelivery, EducationItem
    from smartcare.followup.services import send_education

    sent = 0
    keys = {a.education_key for a in advice if a.education_key and not a.for_doctor}
    for key in sorted(keys):
        item = EducationItem.objects.filter(key=key, is_published=True).first()
        if item is None or EducationDelivery.objects.filter(patient=patient, item=item).exists():
            continue
        send_education(actor, patient.pk, item.pk, note=_("Part of your health programme."))
        sent += 1
    return sent


@transaction.atomic
def enrol(actor: Any, programme_id: Any, patient_id: Any) -> Enrolment:
    """Enrol the patient in a programme. Needs a current assessment of the programme's model (the
    baseline); current advice joins the enrolment and its education items are sent."""
    require_capability(actor, "health.enrol")
    patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
    programme = Programme.objects.filter(pk=_pk(programme_id), is_active=True).first()
    if programme is None:
        raise NotFound()
    baseline = latest_assessments(patient).get(programme.risk_model)
    if baseline is None:
        raise NotEnoughData(missing=str(programme.get_risk_model_display()))
    if Enrolment.objects.filter(programme=programme, patient=patient, status=EnrolmentStatus.ACTIVE).exists():
        raise AlreadyEnrolled()
    try:
        with transaction.atomic():
            enrolment = Enrolment.objects.create(
                programme=programme,
                patient=patient,
                department=getattr(getattr(actor, "practitioner", None), "department", None),
                enrolled_on=clock.today(),
                enrolled_by=actor,
                baseline=baseline,
            )
    except IntegrityError:
        raise AlreadyEnrolled() from None
    advice = list(Advice.objects.filter(patient=patient, is_current=True))
    Advice.objects.filter(pk__in=[a.pk for a in advice]).update(enrolment=enrolment)
    record(
        actor,
        AuditAction.CREATE,
        patient=patient,
        obj=enrolment,
        detail={"event": "enrolled", "programme": programme.key},
    )
    _push_education(actor, patient, advice)
    _notify_patient(
        patient,
        subject=gettext_lazy("You joined a health programme"),
        body=gettext_lazy(
            "Your doctor enrolled you; your advice and how to report your progress are on your health page."
        ),
        link="/health/me/",
    )
    return enrolment


@transaction.atomic
def end_enrolment(actor: Any, enrolment_id: Any, *, completed: bool = False) -> Enrolment:
    require_capability(actor, "health.enrol")
    enrolment = Enrolment.objects.select_for_update().filter(pk=_pk(enrolment_id)).first()
    if enrolment is None:
        raise NotFound()
    patient = access_patient(actor, enrolment.patient_id, AccessAction.UPDATE, audit=False)
    if enrolment.status != EnrolmentStatus.ACTIVE:
        raise EnrolmentNotActive()
    enrolment.status = EnrolmentStatus.COMPLETED if completed else EnrolmentStatus.WITHDRAWN
    enrolment.ended_on = clock.today()
    enrolment.save(update_fields=["status", "ended_on", "updated_at"])
    record(actor, AuditAction.UPDATE, patient=patient, obj=enrolment, detail={"event": enrolment.status})
    return enrolment


@transaction.atomic
def report_adherence(actor: Any, advice_id: Any, level: Any, *, note: str = "") -> AdherenceReport:
    """The patient says how well they followed a piece of advice today (one report a day; a
    second report the same day replaces the first)."""
    require_capability(actor, "health.portal")
    advice = Advice.objects.select_related("patient").filter(pk=_pk(advice_id), for_doctor=False).first()
    if advice is None:
        raise NotFound()
    patient = access_patient(actor, advice.patient_id, AccessAction.UPDATE, audit=False)
    errors: dict[str, list[str]] = {}
    if str(level or "") not in Adherence.values:
        errors["level"] = [_("Choose one answer.")]
    note = str(note or "").strip()
    if len(note) > 300:
        errors["note"] = [_("At most 300 characters.")]
    if not advice.is_current:
        errors["advice"] = [_("This advice is no longer current.")]
    if errors:
        raise AdherenceInvalid(errors=errors)
    report, _created = AdherenceReport.objects.update_or_create(
        advice=advice,
        reported_on=clock.today(),
        defaults={"patient": patient, "level": str(level), "note": note, "reported_by": actor},
    )
    record(
        actor, AuditAction.CREATE, patient=patient, obj=report, detail={"event": "adherence", "level": level}
    )
    return report


# --- Trained models ---------------------------------------------------------------------------------


@transaction.atomic
def promote_model(actor: Any, model_id: Any) -> TrainedModel:
    """Make a candidate the version used for patients; the previously promoted one is retired."""
    require_capability(actor, "health.models")
    found = TrainedModel.objects.filter(pk=_pk(model_id)).values_list("outcome", flat=True).first()
    if found is None:
        raise NotFound()
    # Lock every version of the outcome (in a fixed order), so two promotions run one after the other.
    versions = {
        m.pk: m for m in TrainedModel.objects.select_for_update().filter(outcome=found).order_by("pk")
    }
    model = versions[_pk(model_id)]
    if model.status != ModelStatus.CANDIDATE:
        raise ModelTransitionRefused()
    TrainedModel.objects.filter(outcome=model.outcome, status=ModelStatus.PROMOTED).update(
        status=ModelStatus.RETIRED
    )
    model.status = ModelStatus.PROMOTED
    model.promoted_at = clock.now()
    model.promoted_by = actor
    model.save(update_fields=["status", "promoted_at", "promoted_by", "updated_at"])
    record(actor, AuditAction.UPDATE, obj=model, detail={"event": "model_promoted", "version": model.version})
    return model


@transaction.atomic
def retire_model(actor: Any, model_id: Any) -> TrainedModel:
    require_capability(actor, "health.models")
    model = TrainedModel.objects.select_for_update().filter(pk=_pk(model_id)).first()
    if model is None:
        raise NotFound()
    if model.status == ModelStatus.RETIRED:
        raise ModelTransitionRefused()
    model.status = ModelStatus.RETIRED
    model.save(update_fields=["status", "updated_at"])
    record(actor, AuditAction.UPDATE, obj=model, detail={"event": "model_retired", "version": model.version})
    return model


# --- Reminders --------------------------------------------------------------------------------------

REMINDER_AFTER_DAYS = 7
REMINDER_ACTOR = "health-reminders"


def remind_adherence() -> int:
    """Remind enrolled patients who have not reported on their advice for a week (at most one
    reminder a week). Idempotent: run by the worker's periodic ticker; returns how many were
    reminded."""
    from smartcare.notifications.models import Notification

    today = clock.today()
    since_day = today - dt.timedelta(days=REMINDER_AFTER_DAYS)
    since = clock.now() - dt.timedelta(days=REMINDER_AFTER_DAYS)
    enrolled = (
        Enrolment.objects.filter(
            status=EnrolmentStatus.ACTIVE, enrolled_on__lte=since_day, patient__user__isnull=False
        )
        .select_related("patient__user")
        .order_by("pk")
    )
    reported = set(
        AdherenceReport.objects.filter(reported_on__gt=since_day, advice__enrolment__in=enrolled).values_list(
            "patient_id", flat=True
        )
    )
    reminded_recently = set(
        Notification.objects.filter(category="health_adherence", created_at__gte=since).values_list(
            "recipient_id", flat=True
        )
    )
    count = 0
    seen: set[int] = set()
    for enrolment in enrolled:
        patient = enrolment.patient
        user = patient.user
        if patient.pk in reported or patient.pk in seen or user is None or user.pk in reminded_recently:
            continue
        seen.add(patient.pk)
        language = getattr(user, "preferred_language", "") or settings.LANGUAGE_CODE
        with translation.override(language):
            notify(
                user,
                category="health_adherence",
                subject=str(gettext_lazy("How is your health plan going?")),
                body=str(gettext_lazy("Tell us in one tap whether you followed your advice this week.")),
                link="/health/me/",
            )
        count += 1
    if count:
        record(
            None,
            AuditAction.SYSTEM,
            actor_username=REMINDER_ACTOR,
            detail={"event": "adherence_reminders", "sent": count},
        )
    return count


UNASSESSED_BATCH = 200
_UNASSESSED_CURSOR = "health:unassessed-after"


def assess_unassessed(limit: int = UNASSESSED_BATCH) -> int:
    """Risks for patients whose lipids reached the record without a signal (bulk imports: FHIR,
    migrations) and who have no assessment yet. Walks the patients in order, ``limit`` at a time,
    remembering where it stopped (in the cache), and starts again from the beginning when it
    reaches the end. Returns how many patients got a new assessment."""
    from django.core.cache import cache

    from smartcare.emr.models import Observation
    from smartcare.health.record import TOTAL_CHOLESTEROL

    after = int(cache.get(_UNASSESSED_CURSOR) or 0)
    with_lipids = Observation.objects.filter(code__in=TOTAL_CHOLESTEROL, value__isnull=False).values(
        "patient_id"
    )
    assessed = RiskAssessment.objects.values("patient_id")
    ids = list(
        Patient.objects.filter(pk__gt=after, pk__in=with_lipids)
        .exclude(pk__in=assessed)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    cache.set(_UNASSESSED_CURSOR, ids[-1] if len(ids) == limit else 0, timeout=None)
    done = 0
    for patient_id in ids:
        try:
            with transaction.atomic():
                done += bool(refresh_from_record(patient_id))
        except Exception:  # one bad record must not stop the batch
            logger.exception("risk assessment failed for patient %s", patient_id)
    return done
