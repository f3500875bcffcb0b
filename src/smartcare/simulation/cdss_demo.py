"""Decision support in the demo year: the demo encounters' orders checked by the real rules at
order signing (and the chart opened at patient view), with doctors accepting most cards and
overriding some with a reason, so the rule review page and the usage indicator show real data."""

from __future__ import annotations

from smartcare.cdss.choices import FeedbackOutcome, OverrideReason
from smartcare.cdss.models import Consultation, RuleFiring
from smartcare.cdss.seed import load_rules
from smartcare.cdss.services import evaluate
from smartcare.emr.models import Encounter
from smartcare.emr.selectors import clinical_facts
from smartcare.simulation.registry import DemoContext, register_generator

ENCOUNTERS = 600
CONSULTED = 0.85  # share of encounters in which the doctor opened decision support
ACCEPTED = 0.6  # of the cards with feedback; the rest overridden with a reason
FEEDBACK = 0.85  # cards that got feedback at all
REASONS = [
    OverrideReason.BENEFIT_OUTWEIGHS_RISK,
    OverrideReason.ALREADY_MONITORED,
    OverrideReason.PATIENT_TOLERATED,
    OverrideReason.NOT_APPLICABLE,
]
COMMENTS = ["已告知患者并监测", "短期使用，已评估", "患者既往耐受良好", "本科室不适用"]


def build_cdss(ctx: DemoContext) -> None:
    rng = ctx.rng
    load_rules()
    finished = list(
        Encounter.objects.filter(ended_at__isnull=False, attending__isnull=False)
        .select_related("patient", "attending__user", "department__national_code")
        .order_by("pk")
    )
    chosen = sorted(rng.sample(finished, min(len(finished), ENCOUNTERS)), key=lambda e: e.pk)
    cards = consultations = 0
    for encounter in chosen:
        if rng.random() > CONSULTED or encounter.attending is None:
            continue
        doctor = encounter.attending.user
        department = encounter.department.national_code_id if encounter.department else ""
        facts = clinical_facts(encounter.patient, encounter=encounter, as_of=encounter.ended_at)
        for hook in ("patient-view", "order-sign"):
            shown = evaluate(
                doctor,
                facts,
                hook,
                department_code=department or "",
                patient=encounter.patient,
                encounter_ref=str(encounter.pk),
            )
            consultations += 1
            cards += len(shown)
            for card in shown:
                if rng.random() > FEEDBACK:
                    continue
                accepted = rng.random() < ACCEPTED
                index = rng.randrange(len(REASONS))
                RuleFiring.objects.filter(card_uuid=card.uuid).update(
                    fired_at=encounter.ended_at,
                    outcome=FeedbackOutcome.ACCEPTED if accepted else FeedbackOutcome.OVERRIDDEN,
                    override_reason="" if accepted else REASONS[index],
                    comment="" if accepted else COMMENTS[index],
                    feedback_at=encounter.ended_at,
                )
        # The consultations happened during the visit, not today.
        Consultation.objects.filter(encounter_ref=str(encounter.pk)).update(at=encounter.ended_at)
        RuleFiring.objects.filter(consultation__encounter_ref=str(encounter.pk)).update(
            fired_at=encounter.ended_at
        )
    ctx.log(f"decision support: {consultations} consultations, {cards} cards with doctors' feedback")


register_generator("cdss", build_cdss, order=50)
