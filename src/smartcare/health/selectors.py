"""Reads of health management, already restricted to what the user may see.

``risk_reduction_indicator`` is the plan's indicator for the KPI cockpit: the share of enrolled
patients whose risk fell by at least 25% between enrolment and follow-up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.health import effect as fx
from smartcare.health import equations
from smartcare.health.choices import ADHERENCE_SCORE, EnrolmentStatus
from smartcare.health.equations import MODELS
from smartcare.health.models import AdherenceReport, Advice, Enrolment, Programme, RiskAssessment
from smartcare.health.record import gather
from smartcare.health.services import latest_assessments
from smartcare.patients.models import Patient

ADHERENCE_WINDOW_DAYS = 30

# Words for the size of a 10-year cardiovascular risk (ACC/AHA 2013/2019 categories).
CV_BANDS = (
    (0.05, "low", _("low")),
    (0.075, "borderline", _("borderline")),
    (0.20, "intermediate", _("intermediate")),
    (1.01, "high", _("high")),
)
FINDRISC_WORDS = {
    "low": _("low"),
    "slightly_elevated": _("slightly raised"),
    "moderate": _("moderate"),
    "high": _("high"),
    "very_high": _("very high"),
}


def band_of(assessment: RiskAssessment) -> tuple[str, str]:
    if assessment.model == "findrisc":
        return assessment.band, str(FINDRISC_WORDS.get(assessment.band, assessment.band))
    for limit, key, words in CV_BANDS:
        if assessment.risk < limit:
            return key, str(words)
    return "high", str(_("high"))


@dataclass
class RiskView:
    """One assessment as shown: plain words, an icon array of 100 people, the drivers."""

    assessment: RiskAssessment
    model_name: str
    outcome: str
    plain_outcome: str
    population: str
    citation: str
    out_of_100: int
    band: str
    band_words: str
    icons: list[dict[str, Any]]  # x, y (SVG units) and whether the person is affected
    drivers: list[dict[str, Any]]
    optimal_out_of_100: int | None

    @property
    def sentence(self) -> str:
        return str(
            _("About %(n)s in 100 people like you will have %(outcome)s.")
            % {"n": self.out_of_100, "outcome": self.plain_outcome or self.outcome}
        )


def risk_view(assessment: RiskAssessment) -> RiskView:
    spec = MODELS.get(assessment.model)
    out_of_100 = max(0, min(100, round(assessment.risk * 100)))
    band, words = band_of(assessment)
    drivers = []
    for driver in assessment.drivers or []:
        share = driver.get("contribution", 0)
        factor = driver.get("factor", "")
        label = (
            equations.FINDRISC_LABELS.get(factor)
            if assessment.model == "findrisc"
            else equations.CV_LABELS.get(factor)
        )
        drivers.append(
            {
                **driver,
                "label": str(label) if label else driver.get("label", factor),
                "display": f"{share:g}" if assessment.model == "findrisc" else f"+{share * 100:.1f}%",
            }
        )
    trained = assessment.trained_model
    return RiskView(
        assessment=assessment,
        model_name=str(spec.name) if spec else (trained.label if trained else assessment.model),
        outcome=str(spec.outcome) if spec else (str(trained.get_outcome_display()) if trained else ""),
        plain_outcome=str(spec.plain_outcome) if spec else "",
        population=str(spec.population) if spec else "",
        citation=spec.citation if spec else "",
        out_of_100=out_of_100,
        band=band,
        band_words=words,
        icons=[{"x": (i % 10) * 20, "y": (i // 10) * 20, "on": i < out_of_100} for i in range(100)],
        drivers=drivers,
        optimal_out_of_100=round(assessment.optimal_risk * 100)
        if assessment.optimal_risk is not None
        else None,
    )


def risk_views(patient: Any, *, for_patient: bool = False) -> list[RiskView]:
    """The latest risk of each model. A patient sees one heart risk (the PCE, or Framingham when
    the PCE does not apply to them) and the diabetes risk; hospital-trained models are for the
    doctor."""
    latest = latest_assessments(patient)
    if for_patient:
        heart = latest.get("pce") or latest.get("framingham")
        latest = {k: v for k, v in latest.items() if k == "findrisc" or v is heart}
    order = ["pce", "framingham", "findrisc", "trained"]
    return [risk_view(latest[k]) for k in sorted(latest, key=lambda k: order.index(k) if k in order else 9)]


def latest_of(patient: Any, model: str) -> RiskAssessment | None:
    return RiskAssessment.objects.filter(patient=patient, model=model).order_by("-computed_at", "-pk").first()


def history(patient: Any, limit: int = 40) -> list[RiskAssessment]:
    return list(RiskAssessment.objects.filter(patient=patient).order_by("-computed_at", "-pk")[:limit])


def current_advice(patient: Any, *, for_doctor: bool | None = None) -> list[Advice]:
    rows = Advice.objects.filter(patient=patient, is_current=True).order_by("for_doctor", "category", "pk")
    if for_doctor is not None:
        rows = rows.filter(for_doctor=for_doctor)
    return list(rows)


def reported_today(advice: list[Advice]) -> dict[int, str]:
    return dict(
        AdherenceReport.objects.filter(advice__in=advice, reported_on=clock.today()).values_list(
            "advice_id", "level"
        )
    )


def missing_inputs(patient: Any) -> dict[str, list[str]]:
    return gather(patient).missing


@dataclass
class Follower:
    enrolment: Enrolment
    reports: int
    last_report: dt.date | None
    adherence: float | None  # mean score over the window
    status: str  # following, not_following, no_reports

    @property
    def status_label(self) -> str:
        return str(
            {
                "following": _("Follows the advice"),
                "not_following": _("Does not follow"),
                "no_reports": _("No reports"),
            }[self.status]
        )


def followers(user: Any, *, programme: Any = None) -> list[Follower]:
    """Active enrolments of the patients ``user`` may see, with their adherence over 30 days."""
    visible = Patient.objects.visible_to(user)
    rows = (
        Enrolment.objects.filter(status=EnrolmentStatus.ACTIVE, patient__in=visible)
        .select_related("patient", "programme", "baseline")
        .order_by("programme__key", "patient__pk")
    )
    if programme is not None:
        rows = rows.filter(programme=programme)
    enrolments = list(rows[:500])
    since = clock.today() - dt.timedelta(days=ADHERENCE_WINDOW_DAYS)
    scores: dict[int, list[float]] = {}
    last: dict[int, dt.date] = {}
    for enrolment_id, level, day in AdherenceReport.objects.filter(
        advice__enrolment__in=enrolments, reported_on__gte=since
    ).values_list("advice__enrolment_id", "level", "reported_on"):
        scores.setdefault(enrolment_id, []).append(ADHERENCE_SCORE.get(level, 0.0))
        last[enrolment_id] = max(day, last.get(enrolment_id, day))
    result = []
    for enrolment in enrolments:
        values = scores.get(enrolment.pk, [])
        mean = sum(values) / len(values) if values else None
        status = "no_reports" if mean is None else ("following" if mean >= 0.5 else "not_following")
        result.append(Follower(enrolment, len(values), last.get(enrolment.pk), mean, status))
    return result


def enrolments_of(patient: Any) -> QuerySet[Enrolment]:
    return (
        Enrolment.objects.filter(patient=patient)
        .select_related("programme", "baseline")
        .order_by("-enrolled_on")
    )


# --- Effect and the indicator ---------------------------------------------------------------------


@dataclass
class ProgrammeRow:
    programme: Programme
    department: Any
    effect: fx.Effect


def effect_table() -> list[ProgrammeRow]:
    """Each active programme overall, then per enrolling department (aggregates only)."""
    from smartcare.organization.models import Department

    rows: list[ProgrammeRow] = []
    for programme in Programme.objects.filter(is_active=True).order_by("key"):
        rows.append(ProgrammeRow(programme, None, fx.programme_effect(programme)))
        department_ids = (
            Enrolment.objects.filter(programme=programme, department__isnull=False)
            .values_list("department_id", flat=True)
            .distinct()
        )
        for department in Department.objects.filter(pk__in=list(department_ids)).order_by("pk"):
            rows.append(
                ProgrammeRow(
                    programme, department, fx.programme_effect(programme, department_id=department.pk)
                )
            )
    return rows


@dataclass
class RiskReductionIndicator:
    start: dt.date
    end: dt.date
    evaluated: int  # enrolled patients with a follow-up in the period
    reduced: int  # of whom the risk fell by at least 25%
    share: float | None
    low: float | None
    high: float | None
    target: float = fx.REDUCTION_TARGET


def risk_reduction_indicator(start: dt.date, end: dt.date, department: Any = None) -> RiskReductionIndicator:
    """Among patients enrolled in any programme whose follow-up assessment (at least 90 days after
    enrolment) falls between ``start`` and ``end``: how many had their risk reduced by at least 25%
    of the baseline. Aggregates only, for the KPI cockpit."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    zone = ZoneInfo(settings.TIME_ZONE)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    since = dt.datetime.combine(start, dt.time(), tzinfo=zone)
    evaluated = reduced = 0
    for programme in Programme.objects.all():
        enrolled, _comparison = fx.programme_pairs(
            programme, department_id=getattr(department, "pk", department), until=until
        )
        ids = {p.patient_id for p in enrolled}
        latest = dict(
            RiskAssessment.objects.filter(
                model=programme.risk_model, patient_id__in=ids, computed_at__lt=until
            )
            .order_by("computed_at", "pk")
            .values_list("patient_id", "computed_at")
        )
        for pair in enrolled:
            at = latest.get(pair.patient_id)
            if at is None or at < since:
                continue
            evaluated += 1
            reduced += pair.relative_reduction >= fx.REDUCTION_TARGET
    share = fx.wilson(reduced, evaluated)
    return RiskReductionIndicator(start, end, evaluated, reduced, share.share, share.low, share.high)


def risk_reduction_by_day(start: dt.date, end: dt.date) -> dict[tuple[dt.date, int | None], tuple[int, int]]:
    """The risk-reduction indicator of ``risk_reduction_indicator`` over ``start`` to ``end``,
    split by the local day of each patient's follow-up assessment and the enrolling department:
    ``{(day, department id): (reduced, evaluated)}``. The pairs are computed once for the whole
    range (the KPI cockpit stores these as daily facts)."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    zone = ZoneInfo(settings.TIME_ZONE)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    since = dt.datetime.combine(start, dt.time(), tzinfo=zone)
    result: dict[tuple[dt.date, int | None], list[int]] = {}
    for programme in Programme.objects.all():
        enrolled, _comparison = fx.programme_pairs(programme, until=until)
        ids = {p.patient_id for p in enrolled}
        latest = dict(
            RiskAssessment.objects.filter(
                model=programme.risk_model, patient_id__in=ids, computed_at__lt=until
            )
            .order_by("computed_at", "pk")
            .values_list("patient_id", "computed_at")
        )
        for pair in enrolled:
            at = latest.get(pair.patient_id)
            if at is None or at < since:
                continue
            row = result.setdefault((at.astimezone(zone).date(), pair.department_id), [0, 0])
            row[0] += pair.relative_reduction >= fx.REDUCTION_TARGET
            row[1] += 1
    return {key: (reduced, evaluated) for key, (reduced, evaluated) in result.items()}
