"""Insurance settlement on worked examples, one per scheme, computed by hand in the comments.

The pure calculator (``settle_lines``) is checked with explicit terms; the real-time settlement
(``start_payment``) with the shipped policies of the test hospital (level 3A), including the
annual cap across several bills of a year, the per-stay deductible of inpatient care and the
preview, which must equal what paying then settles.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from smartcare.billing import services
from smartcare.billing.choices import BillKind, DeductibleBasis
from smartcare.billing.insurance import LineInput, Terms, Usage, describe, settle_lines
from smartcare.billing.models import InsurancePolicy, Settlement
from smartcare.core import clock
from tests.billing.builders import at
from tests.factories import PatientFactory

EMPLOYEE_OUTPATIENT_L3 = Terms(
    scheme="urban_employee",
    policy_id=1,
    class_b_share=D("0.10"),
    deductible=D("300.00"),
    ratio_a=D("0.80"),
    ratio_b=D("0.80"),
    ratio_self=D("0"),
    annual_cap=D("20000.00"),
)
# registration (A), consultation (A), coronary CTA (B), ECG (A), single room (self-pay), a class B drug
LINES = [
    LineInput(1, 101, D("6.00"), "A"),
    LineInput(2, 102, D("10.00"), "A"),
    LineInput(3, 103, D("230.00"), "B"),
    LineInput(4, 104, D("39.00"), "A"),
    LineInput(5, 105, D("200.00"), "self"),
    LineInput(6, 106, D("12.35"), "B"),
]


def split(result):
    return [(line.charge_id, line.insurer, line.patient) for line in result.lines]


def test_employee_after_the_deductible_is_used_up():
    result = settle_lines(LINES, EMPLOYEE_OUTPATIENT_L3, Usage(deductible_used=D("300.00")))
    assert split(result) == [
        (1, D("4.80"), D("1.20")),  # 6.00 x 80%
        (2, D("8.00"), D("2.00")),  # 10.00 x 80%
        (3, D("165.60"), D("64.40")),  # 10% first = 23.00; 207.00 x 80% = 165.60
        (4, D("31.20"), D("7.80")),  # 39.00 x 80%
        (5, D("0.00"), D("200.00")),  # self-pay item
        (6, D("8.89"), D("3.46")),  # 10% first = 1.235 -> 1.24; 11.11 x 80% = 8.888 -> 8.89
    ]
    assert result.total == D("497.35")
    assert result.insurer == D("218.49")
    assert result.patient == D("278.86")
    assert result.insurer + result.patient == result.total
    assert result.deductible == D("0")


def test_employee_with_part_of_the_deductible_open():
    result = settle_lines(LINES, EMPLOYEE_OUTPATIENT_L3, Usage(deductible_used=D("250.00")))
    # 50.00 open: registration 6.00 and consultation 10.00 go to it (34.00 left); the CTA's
    # eligible 207.00 pays the last 34.00, 173.00 x 80% = 138.40.
    assert split(result)[:3] == [
        (1, D("0.00"), D("6.00")),
        (2, D("0.00"), D("10.00")),
        (3, D("138.40"), D("91.60")),
    ]
    assert result.deductible == D("50.00")
    codes = [r["code"] for r in result.lines[2].reasons]
    assert codes == ["class_b_first", "deductible", "ratio"]
    assert result.lines[2].reasons[1] == {"code": "deductible", "amount": "34.00", "remaining": "0.00"}


def test_first_visit_of_the_year_goes_to_the_deductible():
    result = settle_lines(LINES, EMPLOYEE_OUTPATIENT_L3, Usage())
    # 6 + 10 + 207 (CTA after its 10%) + 39 + 11.11 (drug after its 10%) = 273.11 < 300
    assert result.insurer == D("0.00")
    assert result.patient == result.total == D("497.35")
    assert result.deductible == D("273.11")


def test_resident_scheme_with_exclusion_and_cap():
    terms = Terms(
        scheme="resident",
        policy_id=2,
        class_b_share=D("0.15"),
        deductible=D("100.00"),
        ratio_a=D("0.50"),
        ratio_b=D("0.50"),
        annual_cap=D("3000.00"),
        excluded=frozenset({104}),
    )
    result = settle_lines(LINES, terms, Usage(deductible_used=D("100.00"), insurer_paid=D("2990.00")))
    # 10.00 left under the cap: registration 3.00, consultation 5.00, the CTA's 97.75 only 2.00.
    assert split(result) == [
        (1, D("3.00"), D("3.00")),
        (2, D("5.00"), D("5.00")),
        (3, D("2.00"), D("228.00")),  # 15% first = 34.50; 195.50 x 50% = 97.75 -> capped to 2.00
        (4, D("0.00"), D("39.00")),  # excluded by the scheme
        (5, D("0.00"), D("200.00")),  # self-pay item
        (6, D("0.00"), D("12.35")),  # cap reached: 5.25 moved to the patient
    ]
    lines = {line.charge_id: line for line in result.lines}
    assert lines[3].reasons[-1] == {"code": "cap", "amount": "95.75", "cap": "3000.00"}
    assert lines[4].reasons == [{"code": "excluded"}]
    assert lines[6].reasons[-1] == {"code": "cap", "amount": "5.25", "cap": "3000.00"}
    assert result.insurer == D("10.00")
    assert result.insurer + result.patient == result.total


def test_resident_cap_stops_exactly_at_the_cap():
    terms = Terms(scheme="resident", policy_id=2, ratio_a=D("0.50"), annual_cap=D("3000.00"))
    result = settle_lines(
        [LineInput(1, 1, D("100.00"), "A"), LineInput(2, 2, D("100.00"), "A")],
        terms,
        Usage(insurer_paid=D("2990.00")),
    )
    # 50.00 due, 10.00 left under the cap: 10.00 paid, 40.00 moved to the patient; then nothing.
    assert split(result) == [(1, D("10.00"), D("90.00")), (2, D("0.00"), D("100.00"))]
    assert result.lines[0].reasons[-1] == {"code": "cap", "amount": "40.00", "cap": "3000.00"}


def test_commercial_insurance_pays_part_of_self_pay_items():
    terms = Terms(
        scheme="commercial",
        policy_id=3,
        ratio_a=D("0.80"),
        ratio_b=D("0.80"),
        ratio_self=D("0.50"),
        annual_cap=D("10000.00"),
    )
    result = settle_lines(LINES, terms, Usage())
    lines = {line.charge_id: line for line in result.lines}
    assert lines[5].insurer == D("100.00")  # 200.00 x 50%
    assert lines[3].insurer == D("184.00")  # no class B share: 230.00 x 80%
    assert lines[6].insurer == D("9.88")  # 12.35 x 80%
    assert result.insurer == D("100.00") + D("184.00") + D("9.88") + D("4.80") + D("8.00") + D("31.20")


def test_self_pay_patient_pays_everything():
    result = settle_lines(LINES, Terms(scheme="self_pay"), Usage())
    assert result.insurer == D("0.00")
    assert result.patient == D("497.35")
    assert all(line.reasons == [{"code": "self_pay_patient"}] for line in result.lines)


def test_no_policy_for_the_year_means_the_patient_pays():
    result = settle_lines(LINES[:1], Terms(scheme="urban_employee", policy_id=None), Usage())
    assert result.lines[0].reasons == [{"code": "no_policy"}]
    assert result.patient == D("6.00")


def test_reasons_read_in_both_languages():
    from django.utils import translation

    result = settle_lines(LINES, EMPLOYEE_OUTPATIENT_L3, Usage(deductible_used=D("280.00")))
    with translation.override("en"):
        texts = [describe(r) for r in result.lines[2].reasons]
    assert texts[0] == "Class B item: the patient first pays 10%, 23.00 yuan."
    assert "Insurance pays 80%" in texts[-1]
    with translation.override("zh-hans"):
        assert all(describe(r) for r in result.lines[2].reasons)


def test_input_usage_is_not_changed():
    usage = Usage(deductible_used=D("0"), insurer_paid=D("0"))
    settle_lines(LINES, EMPLOYEE_OUTPATIENT_L3, usage)
    assert usage.deductible_used == D("0") and usage.insurer_paid == D("0")


# --- In the database, with the shipped policies --------------------------------------------------


def pay_cash(world, bill):
    return services.start_payment(world.user("frontdesk"), bill.pk, provider="cashier", method="cash")


@pytest.fixture()
def resident(world):
    return PatientFactory(name="居民", insurance_type="resident")


def test_preview_equals_the_settlement(world):
    patient = world.patient_in_care  # urban employee
    first = world.bill(patient, ("E-BRAIN_MRI", 1))  # uses the 300.00 deductible
    pay_cash(world, first)
    bill = world.bill(patient, ("REG-ORD", 1), ("E-CORONARY_CTA", 1), ("D-AMIODARONE", 14), ("BED-SINGLE", 1))
    preview = services.preview(world.user("frontdesk"), bill.pk)
    started = pay_cash(world, bill)
    settlement = started.settlement
    assert settlement.status == "confirmed"
    assert (preview.result.total, preview.result.insurer, preview.result.patient) == (
        settlement.total_amount,
        settlement.insurer_amount,
        settlement.patient_amount,
    )
    # Level 3, 80%: registration 4.80; CTA (230 - 23) x 80% = 165.60; amiodarone
    # 14 x 7.30 = 102.20 x 80% = 81.76; the single room is self-pay.
    assert settlement.insurer_amount == D("4.80") + D("165.60") + D("81.76")
    assert settlement.total_amount == D("6.00") + D("230.00") + D("102.20") + D("200.00")
    assert started.payment.amount == settlement.patient_amount == D("286.04")


def test_annual_cap_across_several_bills_of_a_year(world, resident):
    policy = InsurancePolicy.objects.get(scheme__code="resident", year=2027)
    policy.outpatient_annual_cap = D("500.00")
    policy.save()
    shares = []
    for _ in range(4):
        bill = world.bill(resident, ("E-BRAIN_MRI", 1))  # 600.00, class B
        shares.append(pay_cash(world, bill).settlement.insurer_amount)
    # Bill 1: 15% first (90.00), deductible 100.00, 410.00 x 50% = 205.00.
    # Bill 2: 510.00 x 50% = 255.00. Bill 3: 255.00 due, 40.00 left under the cap. Bill 4: 0.
    assert shares == [D("205.00"), D("255.00"), D("40.00"), D("0.00")]
    assert sum(shares) == policy.outpatient_annual_cap
    # A new year starts a new cap and a new deductible.
    with clock.frozen_at(at(366, 9)):
        bill = world.bill(resident, ("E-BRAIN_MRI", 1))
        assert pay_cash(world, bill).settlement.insurer_amount == D("205.00")


def test_outpatient_and_inpatient_caps_are_separate(world, resident):
    InsurancePolicy.objects.filter(scheme__code="resident", year=2027).update(
        outpatient_annual_cap=D("10.00")
    )
    outpatient = world.bill(resident, ("E-BRAIN_MRI", 1))
    assert pay_cash(world, outpatient).settlement.insurer_amount == D("10.00")
    stay = world.bill(resident, ("E-BRAIN_MRI", 1), kind=BillKind.STAY)
    # Inpatient at level 3: deductible 1000.00 per stay eats the whole 510.00.
    settlement = pay_cash(world, stay).settlement
    assert settlement.care_setting == "inpatient"
    assert settlement.insurer_amount == D("0.00") and settlement.deductible_applied == D("510.00")


def test_inpatient_deductible_applies_per_stay(world):
    patient = world.patient_in_care  # employee: inpatient level 3 deductible 800.00 per stay
    for _ in range(2):
        stay = world.bill(patient, ("BED-STD", 20), kind=BillKind.STAY)  # 1000.00 class A
        settlement = pay_cash(world, stay).settlement
        # 800.00 deductible again for each stay; 200.00 x 90% = 180.00.
        assert settlement.deductible_applied == D("800.00")
        assert settlement.insurer_amount == D("180.00")


def test_deductible_basis_is_editable(world):
    patient = world.patient_in_care
    policy = InsurancePolicy.objects.get(scheme__code="urban_employee", year=2027)
    policy.rules.filter(care_setting="inpatient").update(deductible_basis=DeductibleBasis.YEAR)
    first = pay_cash(world, world.bill(patient, ("BED-STD", 20), kind=BillKind.STAY)).settlement
    second = pay_cash(world, world.bill(patient, ("BED-STD", 20), kind=BillKind.STAY)).settlement
    assert (first.deductible_applied, second.deductible_applied) == (D("800.00"), D("0.00"))
    assert second.insurer_amount == D("900.00")


def test_fully_covered_bill_settles_without_a_payment(world):
    patient = PatientFactory(insurance_type="commercial")
    policy = InsurancePolicy.objects.get(scheme__code="commercial", year=2027)
    policy.rules.update(ratio_class_a=D("1"))
    started = pay_cash(world, world.bill(patient, ("REG-ORD", 1)))
    assert started.payment is None
    assert started.settlement.status == "confirmed" and started.settlement.insurer_amount == D("6.00")


def test_settlement_shares_always_add_up_in_the_database(world):
    from django.db import IntegrityError, transaction

    bill = world.bill(world.patient_in_care, ("REG-ORD", 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Settlement.objects.create(
            bill=bill,
            patient=bill.patient,
            scheme="self_pay",
            care_setting="outpatient",
            year=2027,
            total_amount=D("6.00"),
            insurer_amount=D("1.00"),
            patient_amount=D("4.00"),
        )


@pytest.mark.parametrize(
    ("level", "insurer"),
    [
        # Employee outpatient, deductible used by a first bill; CTA 230.00: 10% first = 23.00, then
        # 207.00 x the level's ratio.
        ("1", D("186.30")),  # 90%
        ("2", D("175.95")),  # 85%
        ("3", D("165.60")),  # 80%
    ],
)
def test_the_hospital_level_chooses_the_ratio(world, level, insurer):
    from smartcare.organization.models import Hospital

    Hospital.objects.update(level=level)
    patient = world.patient_in_care
    pay_cash(world, world.bill(patient, ("E-BRAIN_MRI", 1)))  # uses the 300.00 deductible
    settlement = pay_cash(world, world.bill(patient, ("E-CORONARY_CTA", 1))).settlement
    assert settlement.hospital_level == int(level)
    assert settlement.insurer_amount == insurer


def test_a_level_without_a_rule_takes_the_nearest_and_the_higher_on_a_tie(world):
    from smartcare.organization.models import Hospital

    Hospital.objects.update(level="2")
    policy = InsurancePolicy.objects.get(scheme__code="urban_employee", year=2027)
    policy.rules.filter(care_setting="outpatient", hospital_level=2).delete()
    # Levels 1 (90%) and 3 (80%) are equally near level 2: the level-3 rule applies.
    terms, _policy = services.terms_for("urban_employee", 2027, "outpatient", 2)
    assert terms.ratio_a == D("0.80")
    policy.rules.filter(care_setting="outpatient", hospital_level=3).delete()
    terms, _policy = services.terms_for("urban_employee", 2027, "outpatient", 2)
    assert terms.ratio_a == D("0.90")
    policy.rules.filter(care_setting="outpatient").delete()
    # No rule at all for the setting: nothing is paid by the insurer.
    terms, _policy = services.terms_for("urban_employee", 2027, "outpatient", 2)
    assert terms.ratio_a == D("0") and terms.policy_id is None
