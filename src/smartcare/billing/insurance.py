"""Insurance settlement: the split of a bill's lines between the insurer and the patient.

``settle_lines`` is a pure function of the lines, the policy terms and what the patient has
already used this year (deductible, insurer payments towards the annual cap), so the same code
serves the real-time settlement, the preview before paying, the re-settlement after a refund,
the demo year and the worked-example tests.

For every line, in order:

1. A patient without insurance (self-pay scheme) or without a policy for the year, setting and
   hospital level pays everything.
2. An item the scheme excludes is paid by the patient.
3. Self-pay items (自费) are reimbursed at the policy's self-pay ratio (0 for the basic schemes).
4. Class B items (乙类): the patient first pays the class B share (乙类先行自付, e.g. 10%); the rest
   is eligible.
5. The deductible (起付线) still open is paid by the patient out of the eligible amount.
6. The insurer pays the category's ratio of what remains (统筹支付), rounded half up to the fen;
   the patient pays the rest (co-payment).
7. The insurer never pays beyond the annual cap (年度最高支付限额) of the setting; the excess goes
   to the patient.

Every line carries its reasons (codes with their numbers) so the bill and the receipt can say,
in the reader's language, why each yuan is paid by whom.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from smartcare.billing.choices import DeductibleBasis, InsuranceCategory
from smartcare.billing.money import ZERO, percent, round_fen

SELF_PAY_SCHEME = "self_pay"


@dataclass(frozen=True)
class LineInput:
    charge_id: int
    item_id: int
    amount: Decimal
    category: str


@dataclass(frozen=True)
class Terms:
    """The part of a policy that applies to one settlement (scheme, year, setting, level)."""

    scheme: str
    policy_id: int | None = None
    class_b_share: Decimal = Decimal("0")
    deductible: Decimal = ZERO
    deductible_basis: str = DeductibleBasis.YEAR
    ratio_a: Decimal = Decimal("0")
    ratio_b: Decimal = Decimal("0")
    ratio_self: Decimal = Decimal("0")
    annual_cap: Decimal = ZERO
    excluded: frozenset[int] = frozenset()

    @property
    def insured(self) -> bool:
        return self.scheme != SELF_PAY_SCHEME and self.policy_id is not None


@dataclass
class Usage:
    """What this patient has already used: deductible paid (this year, or this bill for a
    per-stay deductible) and insurer payments this year in this setting (towards the cap)."""

    deductible_used: Decimal = ZERO
    insurer_paid: Decimal = ZERO


@dataclass(frozen=True)
class LineResult:
    charge_id: int
    amount: Decimal
    insurer: Decimal
    patient: Decimal
    deductible: Decimal
    reasons: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    lines: list[LineResult]
    scheme: str
    policy_id: int | None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def insurer(self) -> Decimal:
        return sum((line.insurer for line in self.lines), ZERO)

    @property
    def patient(self) -> Decimal:
        return sum((line.patient for line in self.lines), ZERO)

    @property
    def deductible(self) -> Decimal:
        return sum((line.deductible for line in self.lines), ZERO)


def settle_lines(lines: Iterable[LineInput], terms: Terms | None, usage: Usage) -> Result:
    """Split every line; ``usage`` is not changed (the caller's counters stay as they were)."""
    deductible_used = usage.deductible_used
    insurer_paid = usage.insurer_paid
    results: list[LineResult] = []
    scheme = terms.scheme if terms else SELF_PAY_SCHEME
    for line in lines:
        amount = line.amount
        if amount <= 0:
            continue
        reasons: list[dict[str, Any]] = []
        if terms is None or terms.scheme == SELF_PAY_SCHEME:
            reasons.append({"code": "self_pay_patient"})
            results.append(LineResult(line.charge_id, amount, ZERO, amount, ZERO, reasons))
            continue
        if terms.policy_id is None:
            reasons.append({"code": "no_policy"})
            results.append(LineResult(line.charge_id, amount, ZERO, amount, ZERO, reasons))
            continue
        if line.item_id in terms.excluded:
            reasons.append({"code": "excluded"})
            results.append(LineResult(line.charge_id, amount, ZERO, amount, ZERO, reasons))
            continue
        eligible = amount
        if line.category == InsuranceCategory.SELF_PAY:
            ratio = terms.ratio_self
            if ratio <= 0:
                reasons.append({"code": "self_pay_item"})
                results.append(LineResult(line.charge_id, amount, ZERO, amount, ZERO, reasons))
                continue
        elif line.category == InsuranceCategory.CLASS_B:
            ratio = terms.ratio_b
            first = round_fen(amount * terms.class_b_share)
            if first > 0:
                eligible = amount - first
                reasons.append(
                    {"code": "class_b_first", "share": percent(terms.class_b_share), "amount": str(first)}
                )
        else:
            ratio = terms.ratio_a
        deductible = ZERO
        open_deductible = max(ZERO, terms.deductible - deductible_used)
        if open_deductible > 0 and eligible > 0:
            deductible = min(eligible, open_deductible)
            deductible_used += deductible
            eligible -= deductible
            reasons.append(
                {
                    "code": "deductible",
                    "amount": str(deductible),
                    "remaining": str(open_deductible - deductible),
                }
            )
        insurer = round_fen(eligible * ratio)
        if eligible > 0:
            reasons.append(
                {
                    "code": "ratio",
                    "category": line.category,
                    "ratio": percent(ratio),
                    "eligible": str(eligible),
                    "insurer": str(insurer),
                }
            )
        open_cap = max(ZERO, terms.annual_cap - insurer_paid)
        if insurer > open_cap:
            reasons.append({"code": "cap", "amount": str(insurer - open_cap), "cap": str(terms.annual_cap)})
            insurer = open_cap
        insurer_paid += insurer
        results.append(LineResult(line.charge_id, amount, insurer, amount - insurer, deductible, reasons))
    return Result(results, scheme, terms.policy_id if terms else None)


def describe(reason: dict[str, Any]) -> str:
    """One reason in the reader's language."""
    code = reason.get("code")
    if code == "self_pay_patient":
        return _("No insurance: paid by the patient.")
    if code == "no_policy":
        return _("No insurance policy applies: paid by the patient.")
    if code == "excluded":
        return _("Not covered by the insurance scheme: paid by the patient.")
    if code == "self_pay_item":
        return _("Self-pay item (not in the insurance catalog): paid by the patient.")
    if code == "class_b_first":
        return _("Class B item: the patient first pays %(share)s%%, %(amount)s yuan.") % reason
    if code == "deductible":
        return _("Deductible: %(amount)s yuan paid by the patient (%(remaining)s yuan still open).") % reason
    if code == "ratio":
        return (
            _("Insurance pays %(ratio)s%% of %(eligible)s yuan: %(insurer)s yuan; the rest is co-payment.")
            % reason
        )
    if code == "cap":
        return _("Annual cap of %(cap)s yuan reached: %(amount)s yuan moved to the patient.") % reason
    if code == "refund":
        return _("Refunded: %(amount)s yuan.") % reason
    return str(code)
