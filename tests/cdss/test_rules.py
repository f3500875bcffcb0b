"""Each rule kind fires when it should and stays silent when it should not."""

from __future__ import annotations

import pytest

from smartcare.cdss.choices import Indicator
from smartcare.cdss.models import Rule
from tests.cdss.helpers import NOW, Allergy, Condition, ExamOrder, facts, fired, keys, med, obs
from tests.factories import TestHospital

pytestmark = pytest.mark.django_db

# Pairs of commonly co-prescribed drugs with no interaction in the graph or the class rules.
NON_INTERACTING = [
    ("drug:amlodipine", "drug:metformin"),
    ("drug:atorvastatin", "drug:amlodipine"),
    ("drug:omeprazole", "drug:amoxicillin"),
    ("drug:paracetamol", "drug:cetirizine"),
    ("drug:losartan", "drug:metformin"),
    ("drug:levothyroxine", "drug:amlodipine"),
    ("drug:metoprolol", "drug:atorvastatin"),
    ("drug:sertraline", "drug:omeprazole"),
    ("drug:amoxicillin", "drug:paracetamol"),
    ("drug:aspirin", "drug:atorvastatin"),
]


def test_every_graph_interaction_is_a_rule() -> None:
    from smartcare.knowledge.models import Edge

    pairs = Edge.objects.filter(type="interacts_with").count()
    assert pairs >= 1160
    assert Rule.objects.filter(kind="drug_interaction", is_active=True).count() >= pairs


def test_interaction_fires_with_management_and_critical_indicator() -> None:
    f = facts(
        drafts=[med("drug:clarithromycin", 500, per_day=2)], active=[med("drug:simvastatin", 20, per_day=1)]
    )
    found = [x for x in fired(f) if x.rule.kind == "drug_interaction"]
    assert [x.rule.key for x in found] == ["ddi.clarithromycin.simvastatin"]
    assert found[0].rule.indicator == Indicator.CRITICAL
    assert (
        found[0].rule.parameters["management_en"] in found[0].detail
        or found[0].rule.parameters["management_zh"] in found[0].detail
    )
    assert found[0].suggestions[0]["actions"][0]["type"] == "delete"


def test_interaction_between_two_drafts_and_in_patient_view() -> None:
    f = facts(drafts=[med("drug:clarithromycin"), med("drug:simvastatin")])
    assert "ddi.clarithromycin.simvastatin" in keys(f)
    current = facts(active=[med("drug:clarithromycin"), med("drug:simvastatin")])
    assert "ddi.clarithromycin.simvastatin" in keys(current, "patient-view")
    assert "ddi.clarithromycin.simvastatin" not in keys(current, "order-sign")  # nothing new ordered


def test_class_level_interaction() -> None:
    # Celecoxib has no drug-level rule with warfarin: the NSAID class rule applies.
    f = facts(drafts=[med("drug:celecoxib")], active=[med("drug:warfarin")])
    assert "ddi.warfarin.nsaids" in keys(f)
    # Ibuprofen has its own: that one is shown, once.
    f = facts(drafts=[med("drug:ibuprofen")], active=[med("drug:warfarin")])
    assert keys(f, prefix="ddi.") == {"ddi.ibuprofen.warfarin"}


@pytest.mark.parametrize(("a", "b"), NON_INTERACTING)
def test_control_pairs_stay_silent(a: str, b: str) -> None:
    f = facts(drafts=[med(a)], active=[med(b)])
    assert keys(f, prefix="ddi.") == set()
    # Nothing else either, except the monitoring reminder of a drug being ordered (a statin
    # without a lipid panel in a year: see test_care_gaps_fire_at_order_time...).
    assert {k for k in keys(f) if not k.startswith("gap.")} == set()
    assert keys(f, prefix="gap.") <= {
        "gap.statin_lipids",
        "gap.levothyroxine_tsh",
        "gap.metformin_creatinine",
    }


def test_penicillin_allergy_blocks_amoxicillin_by_class() -> None:
    f = facts(
        drafts=[med("drug:amoxicillin", 500, per_day=3)],
        allergies=[Allergy(substance="drug_class:penicillins", name="青霉素")],
    )
    found = {x.rule.key: x for x in fired(f)}
    assert "allergy.penicillins" in found
    assert found["allergy.penicillins"].rule.indicator == Indicator.CRITICAL
    assert "allergy.same_substance" not in found  # the specific rule already said it


def test_allergy_to_one_penicillin_covers_the_class() -> None:
    f = facts(
        drafts=[med("drug:amoxicillin")],
        allergies=[Allergy(substance="drug:phenoxymethylpenicillin", name="penicillin V")],
    )
    assert "allergy.penicillins" in keys(f)


def test_cephalosporin_cross_reactivity_is_a_warning() -> None:
    f = facts(
        drafts=[med("drug:cefuroxime")],
        allergies=[Allergy(substance="drug_class:penicillins", name="penicillin")],
    )
    found = {x.rule.key: x.rule.indicator for x in fired(f)}
    assert found.get("allergy.penicillin_cephalosporin_cross") == Indicator.WARNING
    assert "allergy.penicillins" not in found


def test_sulfonamide_allergy_by_atc_and_free_text() -> None:
    cotrimoxazole = med("", name="sulfamethoxazole/trimethoprim")
    cotrimoxazole.atc = "J01EE01"
    f = facts(drafts=[cotrimoxazole], allergies=[Allergy(substance="", name="磺胺类药物")])
    assert "allergy.sulfonamides" in keys(f)


def test_allergy_silent_for_unrelated_drug() -> None:
    f = facts(
        drafts=[med("drug:azithromycin")],
        allergies=[Allergy(substance="drug_class:penicillins", name="青霉素")],
    )
    assert keys(f, prefix="allergy.") == set()


def test_pregnancy_contraindication_from_the_graph() -> None:
    pregnant = facts(drafts=[med("drug:enalapril", 10, per_day=1)], sex="female", age=30, pregnant=True)
    assert "ci.ace_inhibitors.pregnant_women" in keys(pregnant)
    not_pregnant = facts(drafts=[med("drug:enalapril", 10, per_day=1)], sex="female", age=30)
    assert keys(not_pregnant, prefix="ci.") == set()


def test_renal_rule_by_egfr_from_creatinine() -> None:
    low = facts(
        drafts=[med("drug:metformin", 500, per_day=2)], observations=[obs("2160-0", 300, 5, "umol/L")], age=70
    )
    assert "renal.metformin_egfr_30" in keys(low)
    assert "renal.metformin_egfr_45" not in keys(low)  # its CEL condition: egfr >= 30
    moderate = facts(drafts=[med("drug:metformin")], observations=[obs("2160-0", 1.8, 5, "mg/dL")], age=70)
    assert keys(moderate, prefix="renal.metformin") == {"renal.metformin_egfr_45"}
    normal = facts(drafts=[med("drug:metformin")], observations=[obs("2160-0", 70, 5, "umol/L")], age=40)
    assert keys(normal, prefix="renal.") == set()


def test_liver_failure_contraindication() -> None:
    f = facts(
        drafts=[med("drug:atorvastatin", 20, per_day=1)],
        conditions=[Condition(icd10="K72.1", name="慢性肝衰竭")],
    )
    assert "liver.statins" in keys(f)
    assert "liver.statins" not in keys(facts(drafts=[med("drug:atorvastatin", 20, per_day=1)]))


def test_dose_range_child_by_weight_vs_adult() -> None:
    # 500 mg paracetamol: fine for an adult, too much for a 16 kg child (15 mg/kg = 240 mg).
    adult = facts(drafts=[med("drug:paracetamol", 500, per_day=4)], age=40, weight_kg=70)
    assert "dose.paracetamol" not in keys(adult)
    child = facts(drafts=[med("drug:paracetamol", 500, per_day=4)], age=4, weight_kg=16)
    found = {x.rule.key: x for x in fired(child)}
    assert "dose.paracetamol" in found
    assert "240" in found["dose.paracetamol"].summary
    adult_over = facts(drafts=[med("drug:paracetamol", 1, "g", per_day=6)], age=40)
    assert "dose.paracetamol" in keys(adult_over)  # 6 g a day


def test_duplicate_therapy() -> None:
    nsaids = facts(drafts=[med("drug:ibuprofen")], active=[med("drug:diclofenac")])
    assert "duplicate.nsaids" in keys(nsaids)
    raas = facts(drafts=[med("drug:losartan")], active=[med("drug:enalapril")])
    assert "duplicate.raas" in keys(raas)
    one = facts(drafts=[med("drug:ibuprofen")], active=[med("drug:paracetamol")])
    assert keys(one, prefix="duplicate.") == set()


def test_repeated_exam_shows_previous_result_and_date() -> None:
    f = facts(
        observations=[obs("4548-4", 7.2, 30, "%", "HbA1c")],
        exam_orders=[ExamOrder(exam="exam:hba1c", name="HbA1c", when=NOW, status="draft", order_id="sr1")],
    )
    found = [x for x in fired(f) if x.rule.key == "repeat.exam"]
    assert len(found) == 1
    assert "7.2" in found[0].summary
    assert (NOW.date().toordinal() - 30) == __import__("datetime").date.fromisoformat(
        found[0].summary.split("于")[1][:10]
        if "于" in found[0].summary
        else found[0].summary.split("on ")[1][:10]
    ).toordinal()
    # outside the 90-day HbA1c window: silent
    old = facts(
        observations=[obs("4548-4", 7.2, 120, "%")],
        exam_orders=[ExamOrder(exam="exam:hba1c", name="HbA1c", when=NOW, status="draft")],
    )
    assert "repeat.exam" not in keys(old)


@pytest.mark.parametrize(
    ("rule", "trigger", "satisfied_by"),
    [
        ("gap.diabetes_hba1c", {"conditions": [Condition(icd10="E11.9")]}, obs("4548-4", 7.0, 60)),
        ("gap.hypertension_k_creatinine", {"conditions": [Condition(icd10="I10")]}, None),
        ("gap.ckd_urine_albumin", {"conditions": [Condition(icd10="N18.3")]}, obs("9318-7", 25, 100)),
        ("gap.warfarin_inr", {"active": [med("drug:warfarin")]}, obs("6301-6", 2.4, 10)),
        ("gap.statin_lipids", {"active": [med("drug:rosuvastatin")]}, obs("13457-7", 2.1, 90)),
    ],
)
def test_care_gaps(rule: str, trigger: dict, satisfied_by: object) -> None:
    gap = facts(**trigger)
    assert rule in keys(gap, "patient-view")
    assert rule not in keys(gap, "order-sign")  # care gaps are shown when the chart opens
    if satisfied_by is not None:
        done = facts(**trigger, observations=[satisfied_by])
        assert rule not in keys(done, "patient-view")
    assert rule not in keys(facts(), "patient-view")


def test_hypertension_gap_needs_both_tests() -> None:
    only_k = facts(conditions=[Condition(icd10="I10")], observations=[obs("2823-3", 4.1, 30)])
    found = [x for x in fired(only_k, "patient-view") if x.rule.key == "gap.hypertension_k_creatinine"]
    assert found and ("creatinine" in found[0].summary or "肌酐" in found[0].summary)
    both = facts(
        conditions=[Condition(icd10="I10")], observations=[obs("2823-3", 4.1, 30), obs("2160-0", 80, 30)]
    )
    assert "gap.hypertension_k_creatinine" not in keys(both, "patient-view")


def test_custom_cel_rule() -> None:
    older = facts(drafts=[med("drug:diazepam", 5, per_day=1)], age=80)
    assert "custom.older_adult_benzodiazepine" in keys(older)
    younger = facts(drafts=[med("drug:diazepam", 5, per_day=1)], age=40)
    assert "custom.older_adult_benzodiazepine" not in keys(younger)


def test_rule_enabled_per_department() -> None:
    rule = Rule.objects.get(key="duplicate.nsaids", is_active=True)
    rule.departments = ["03"]
    rule.save()
    f = facts(drafts=[med("drug:ibuprofen")], active=[med("drug:diclofenac")])
    assert "duplicate.nsaids" in {x.rule.key for x in fired(f, department="03.04")}
    assert "duplicate.nsaids" not in {x.rule.key for x in fired(f, department="07")}


def test_one_card_per_pair_of_medications_the_most_specific_rule() -> None:
    """Review finding: warfarin + aspirin gave two identical critical cards (the drug pair and
    warfarin + NSAIDs)."""
    found = fired(
        facts(drafts=[med("drug:aspirin", 100, per_day=1)], active=[med("drug:warfarin", 3, per_day=1)])
    )
    interactions = [f for f in found if f.rule.kind == "drug_interaction"]
    assert len(interactions) == 1, [f.rule.key for f in interactions]
    assert interactions[0].rule.key == "ddi.aspirin.warfarin"


@pytest.mark.django_db
def test_a_drug_is_recognised_behind_its_strength_and_form() -> None:
    """Review finding: 'Warfarin 5 mg tablet' from an external EMR matched no drug and was never checked."""
    from smartcare.cdss.kb import knowledge_index

    kb = knowledge_index()
    assert kb.drug_for_text("Warfarin 5 mg tablet") == "drug:warfarin"
    assert kb.drug_for_text("  ASPIRIN   100mg ") == "drug:aspirin"
    assert kb.drug_for_text("阿司匹林肠溶片") == "drug:aspirin"
    assert kb.drug_for_text("warfarinex 5 mg") == ""  # not half a word
    assert kb.drug_for_text("") == ""


# --- Review findings -------------------------------------------------------------------------------


def test_class_rules_are_labelled_as_smartcare_class_rules_not_onc() -> None:
    """Review finding: class-pair rules carried the ONC source although they are our own."""
    for key in (
        "ddi.warfarin.nsaids",
        "ddi.nitrates.pde5_inhibitors",
        "ddi.maois.ssris",
        "ddi.lithium.nsaids",
    ):
        rule = Rule.objects.get(key=key, is_active=True)
        assert rule.source_label.startswith("smartcare class rule"), key
        assert "basis:" in rule.source_label and len(rule.source_label) > 40
        assert rule.parameters["provenance"] == rule.source_label
    onc = Rule.objects.get(key="ddi.clarithromycin.simvastatin", is_active=True)
    assert onc.source_label.startswith("ONC high-priority")
    # graph pairs that are not from the ONC list say where they come from
    labelled = Rule.objects.get(key="ddi.ibuprofen.warfarin", is_active=True)
    assert "not the ONC" in labelled.source_label and "Product labelling" in labelled.source_label


def test_an_upgrade_corrects_shipped_rules_nobody_edited_and_keeps_edited_ones(
    hospital: TestHospital,
) -> None:
    from smartcare.cdss.seed import load_rules

    stale = Rule.objects.get(key="ddi.warfarin.nsaids", is_active=True)
    Rule.objects.filter(pk=stale.pk).update(source_label="ONC high-priority (old label)")
    gap = Rule.objects.get(key="gap.warfarin_inr", is_active=True)
    Rule.objects.filter(pk=gap.pk).update(hooks=["patient-view"])
    from smartcare.cdss.services import new_rule_version

    edited = new_rule_version(hospital.user("itadmin"), "ddi.maois.ssris", {"source_label": "our pharmacy"})
    assert load_rules() == 2
    fixed = Rule.objects.get(key="ddi.warfarin.nsaids", is_active=True)
    assert fixed.version == 2 and fixed.source_label.startswith("smartcare class rule")
    assert "source_label" in fixed.change_note and not Rule.objects.get(pk=stale.pk).is_active
    assert Rule.objects.get(key="gap.warfarin_inr", is_active=True).hooks == []
    assert Rule.objects.get(key="ddi.maois.ssris", is_active=True).pk == edited.pk
    assert load_rules() == 0


def test_care_gaps_fire_at_order_time_when_the_orders_make_them_relevant() -> None:
    """Review finding: missed exams fired only at patient-view."""
    # Ordering warfarin for a patient without a recent INR: the monitoring gap shows at order time.
    ordering = facts(drafts=[med("drug:warfarin", 3, per_day=1)])
    assert "gap.warfarin_inr" in keys(ordering, "order-select")
    assert "gap.warfarin_inr" in keys(ordering, "order-sign")
    # A diabetic patient: while tests are being ordered, the missing HbA1c is offered with them.
    diabetic = facts(
        conditions=[Condition(icd10="E11.9")],
        exam_orders=[ExamOrder(exam="exam:lipid_panel", name="血脂", when=NOW, status="draft")],
    )
    found = {x.rule.key: x for x in fired(diabetic, "order-sign")}
    assert "gap.diabetes_hba1c" in found
    assert found["gap.diabetes_hba1c"].suggestions[0]["actions"][0]["type"] == "create"
    # ...but not on every drug order of that patient, and not once the HbA1c is among the orders.
    assert "gap.diabetes_hba1c" not in keys(
        facts(conditions=[Condition(icd10="E11.9")], drafts=[med("drug:amlodipine")]), "order-sign"
    )
    with_test = facts(
        conditions=[Condition(icd10="E11.9")],
        exam_orders=[ExamOrder(exam="exam:hba1c", name="HbA1c", when=NOW, status="draft")],
    )
    assert "gap.diabetes_hba1c" not in keys(with_test, "order-sign")


def test_child_without_weight_gets_a_card_asking_for_it() -> None:
    """Review finding: children without a recorded weight got no mg/kg dose check, silently."""
    from django.utils import translation

    no_weight = facts(drafts=[med("drug:paracetamol", 250, per_day=4)], age=4)
    with translation.override("en"):
        found = {x.rule.key: x for x in fired(no_weight)}
    card = found["dose.paracetamol"]
    assert card.summary.startswith("Dose not checked") and "weight" in card.summary
    assert "15 mg/kg" in card.detail
    assert card.card_indicator == "warning"
    weighed = facts(drafts=[med("drug:paracetamol", 250, per_day=4)], age=4, weight_kg=17)
    assert "dose.paracetamol" not in keys(weighed)  # 250 mg <= 15 mg/kg x 17 kg
    # Above the absolute maximum, the dose card says so (and that the weight is missing).
    with translation.override("en"):
        over = {x.rule.key: x for x in fired(facts(drafts=[med("drug:paracetamol", 1500, per_day=4)], age=4))}
    assert over["dose.paracetamol"].summary.startswith("Dose too high")
    assert "no weight recorded" in over["dose.paracetamol"].detail
    # Adults are dosed without weight: no card.
    assert "dose.paracetamol" not in keys(facts(drafts=[med("drug:paracetamol", 500, per_day=4)], age=40))
