"""The double-entry ledger. Every settlement, reversal, payment and payout posts one balanced
journal entry; entries are never changed or deleted (a reversal is a new entry).

Accounts (created on first use):

| code | kind | holds |
|---|---|---|
| ``patients`` | asset | what patients owe us (a credit balance: what we owe them back) |
| ``insurer:<scheme>`` | asset | the insurer's share of settled bills, to be claimed |
| ``revenue:<item kind>`` | income | charges settled, by kind (drugs, lab tests...) |
| ``cash:<cashier>`` | asset | the cash drawer of one cashier |
| ``clearing:card`` | asset | card payments at the desk, until the acquirer pays out |
| ``clearing:<provider>`` | asset | mobile payments held by the provider until settled to the bank |
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from smartcare.billing.choices import AccountKind
from smartcare.billing.errors import LedgerUnbalanced
from smartcare.billing.models import JournalEntry, JournalLine, LedgerAccount
from smartcare.billing.money import ZERO, fen, round_fen

PATIENTS = "patients"

_NAMES = {
    "patients": "Patients' accounts",
    "insurer": "Insurer receivable",
    "revenue": "Revenue",
    "cash": "Cash drawer",
    "clearing": "Clearing",
}


def _kind_of(code: str) -> str:
    return AccountKind.INCOME if code.startswith("revenue:") else AccountKind.ASSET


def account(code: str) -> LedgerAccount:
    found = LedgerAccount.objects.filter(code=code).first()
    if found is not None:
        return found
    head, _sep, tail = code.partition(":")
    name = f"{_NAMES.get(head, head)} {tail}".strip()
    return LedgerAccount.objects.get_or_create(code=code, defaults={"name": name, "kind": _kind_of(code)})[0]


def post(
    kind: str, movements: Iterable[tuple[str, Decimal]], *, memo: str = "", **links: Any
) -> JournalEntry | None:
    """Post signed movements (positive = debit, negative = credit) as one balanced entry.

    Movements on the same account are added up; zero movements are left out; an entry whose
    movements are all zero is not written. Raises ``LedgerUnbalanced`` when debits and credits
    differ, or an amount has fractions of a fen."""
    totals: dict[str, Decimal] = {}
    for code, amount in movements:
        if amount != round_fen(amount):
            raise LedgerUnbalanced(debit=str(amount), credit="-")
        totals[code] = totals.get(code, ZERO) + amount
    lines = [(code, amount) for code, amount in totals.items() if amount != 0]
    debit = sum((a for _c, a in lines if a > 0), ZERO)
    credit = -sum((a for _c, a in lines if a < 0), ZERO)
    if debit != credit:
        raise LedgerUnbalanced(debit=str(debit), credit=str(credit))
    if not lines:
        return None
    entry = JournalEntry.objects.create(kind=kind, memo=memo[:200], **links)
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=entry,
            account=account(code),
            debit=amount if amount > 0 else ZERO,
            credit=-amount if amount < 0 else ZERO,
        )
        for code, amount in lines
    )
    return entry


def balance(code: str) -> Decimal:
    """Debits minus credits of one account."""
    sums = JournalLine.objects.filter(account__code=code).aggregate(d=Sum("debit"), c=Sum("credit"))
    return fen(sums["d"]) - fen(sums["c"])


def trial_balance() -> tuple[Decimal, Decimal]:
    """Total debits and total credits of the whole ledger (equal when the books balance)."""
    sums = JournalLine.objects.aggregate(d=Sum("debit"), c=Sum("credit"))
    return fen(sums["d"]), fen(sums["c"])


def unbalanced_entries() -> list[int]:
    """Entries whose own lines do not balance (none, unless rows were changed outside ``post``)."""
    rows = JournalLine.objects.values("entry_id").annotate(d=Sum("debit"), c=Sum("credit"))
    return [row["entry_id"] for row in rows if fen(row["d"]) != fen(row["c"])]
