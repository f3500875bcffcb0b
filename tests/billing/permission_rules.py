"""Permission rules for billing: the pages under /billing/ and the API under /api/billing/.

What the URLs point at is created on first use by ``_billing(world)`` (called from the rules'
``params``), directly in the database and only for these rules, so that the other apps' rules do
not pay for it (and no price catalog exists there to charge their bookings):

* ``open``: the target patient's unpaid bill (registration, HbA1c);
* ``pending``: a bill with a pending sandbox QR payment (and its wallet token);
* ``paid``: a bill paid in cash (its settlement is the receipt) with omeprazole left to refund
  and a cash refund waiting to be handed back;
* a refund waiting for approval, a price catalog item, an insurance policy, a reconciliation.

Capabilities: ``billing.pay`` (patients, channels, kiosks, front desk) opens a bill and pays by QR;
``billing.cashier`` (front desk) takes cash and card, refunds and pays refunds out, and sees its own
cash report; ``billing.kiosk`` (devices) the kiosk page; ``billing.approve_refund`` and
``billing.manage`` (operations managers, not among the callers here: see tests/billing/test_pages.py)
approvals, prices, policies, reconciliation and the ledger. One patient's bill, payment or receipt
also needs access to the patient: a patient asking for someone else's, or a kiosk without the
patient's one code scanned, gets 404 CORE-404, as for a bill that does not exist. The providers'
callback takes no sign-in; without a valid signature it answers 401 BILL-007.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

from smartcare.billing.models import (
    Bill,
    CatalogItem,
    Charge,
    InsurancePolicy,
    InsuranceScheme,
    Payment,
    Price,
    Reconciliation,
    Refund,
    RefundLine,
    RefundPayout,
    SandboxOrder,
    Settlement,
    SettlementLine,
)
from smartcare.core import clock
from tests.test_permissions import (
    ANON,
    DEVICE,
    EVERYONE,
    FRONT_DESK,
    MISSING_ID,
    NOBODY,
    PATIENT_OTHER,
    PATIENT_OWN,
    PATIENTS,
    SIGNED_IN,
    Rule,
    World,
)

OWNER = frozenset({PATIENT_OWN, FRONT_DESK})  # billing.pay and access to the target
NOT_SEEN = {PATIENT_OTHER: 404, DEVICE: 404}  # billing.pay without access: not found
CASHIER = frozenset({FRONT_DESK})


def _item(code: str, kind: str, price: str, category: str = "A") -> CatalogItem:
    item = CatalogItem.objects.create(
        code=code, kind=kind, name_zh=code, name_en=code, insurance_category=category, match=""
    )
    Price.objects.create(item=item, amount=D(price), valid_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    return item


def _charge(bill: Bill, item: CatalogItem, quantity: str, source: str) -> Charge:
    price = item.prices.get()
    return Charge.objects.create(
        bill=bill,
        patient_id=bill.patient_id,
        item=item,
        price=price,
        kind=item.kind,
        name_zh=item.name_zh,
        name_en=item.name_en,
        unit="次",
        insurance_category=item.insurance_category,
        unit_price=price.amount,
        quantity=D(quantity),
        amount=price.amount * D(quantity),
        service_date=clock.today(),
        source=source,
    )


def _settle(bill: Bill, charges: list[Charge], status: str) -> Settlement:
    total = sum((c.amount for c in charges), D("0"))
    settlement = Settlement.objects.create(
        bill=bill,
        patient_id=bill.patient_id,
        status=status,
        scheme="self_pay",
        care_setting="outpatient",
        year=clock.today().year,
        total_amount=total,
        insurer_amount=D("0"),
        patient_amount=total,
        confirmed_at=clock.now() if status == "confirmed" else None,
    )
    for charge in charges:
        SettlementLine.objects.create(
            settlement=settlement,
            charge=charge,
            amount=charge.amount,
            insurer_amount=D("0"),
            patient_amount=charge.amount,
            reasons=[{"code": "self_pay_patient"}],
        )
    return settlement


def _billing(world: World) -> dict[str, Any]:
    if "billing" in world.extra:
        return world.extra["billing"]
    target = world.target
    frontdesk = world.h.user("frontdesk")
    registration = _item("REG-ORD", "registration", "6.00")
    lab = _item("E-HBA1C", "lab", "44.00")
    drug = _item("D-OMEPRAZOLE", "drug", "0.60")
    mri = _item("E-BRAIN_MRI", "imaging", "600.00", "B")
    open_bill = Bill.objects.create(patient=target, kind="visit", department=world.h.cardiology)
    _charge(open_bill, registration, "1", f"perm:{open_bill.pk}:1")
    _charge(open_bill, lab, "1", f"perm:{open_bill.pk}:2")
    pending_bill = Bill.objects.create(patient=target, kind="visit")
    pending_settlement = _settle(
        pending_bill, [_charge(pending_bill, registration, "1", "perm:p")], "pending"
    )
    token = "perm-token-" + str(pending_bill.pk)
    pending = Payment.objects.create(
        bill=pending_bill,
        settlement=pending_settlement,
        patient=target,
        provider="sandbox",
        method="qr",
        channel="portal",
        amount=D("6.00"),
        out_trade_no=f"SCPERM{pending_bill.pk}",
        code_url=f"http://testserver/billing/sandbox/pay/{token}/",
        expires_at=clock.now() + dt.timedelta(minutes=15),
    )
    SandboxOrder.objects.create(
        out_trade_no=pending.out_trade_no,
        transaction_id=f"SBXPERM{pending_bill.pk}",
        pay_token=token,
        description="perm",
        amount_fen=600,
        notify_url="http://127.0.0.1:9/api/billing/notify/sandbox",
        expires_at=pending.expires_at,
    )
    paid_bill = Bill.objects.create(patient=target, kind="visit")
    omeprazole = _charge(paid_bill, drug, "10", "perm:d")
    paid_settlement = _settle(paid_bill, [omeprazole], "confirmed")
    paid = Payment.objects.create(
        bill=paid_bill,
        settlement=paid_settlement,
        patient=target,
        provider="cashier",
        method="cash",
        channel="desk",
        amount=D("6.00"),
        out_trade_no=f"SCPERMPAID{paid_bill.pk}",
        status="paid",
        paid_at=clock.now(),
        cashier=frontdesk,
    )
    returned = Refund.objects.create(
        bill=paid_bill,
        patient=target,
        reason="returned",
        status="approved",
        total_amount=D("1.20"),
        patient_amount=D("1.20"),
        requested_by=frontdesk,
    )
    RefundLine.objects.create(refund=returned, charge=omeprazole, quantity=D("2"), amount=D("1.20"))
    payout = RefundPayout.objects.create(
        refund=returned, payment=paid, amount=D("1.20"), out_refund_no=f"RFPERM{paid_bill.pk}"
    )
    big_bill = Bill.objects.create(patient=target, kind="visit")
    scan = _charge(big_bill, mri, "1", "perm:m")
    waiting = Refund.objects.create(
        bill=big_bill,
        patient=target,
        reason="scanner broken",
        total_amount=D("600.00"),
        requested_by=frontdesk,
    )
    RefundLine.objects.create(refund=waiting, charge=scan, quantity=D("1"), amount=D("600.00"))
    scheme = InsuranceScheme.objects.create(code="urban_employee", name_zh="职工", name_en="Employee")
    policy = InsurancePolicy.objects.create(scheme=scheme, year=clock.today().year)
    run = Reconciliation.objects.create(provider="sandbox", date=clock.today(), file_sha256="0" * 64)
    found = {
        "open": open_bill,
        "pending": pending,
        "token": token,
        "paid": paid_bill,
        "receipt": paid_settlement,
        "omeprazole": omeprazole,
        "payout": payout,
        "waiting": waiting,
        "item": registration,
        "policy": policy,
        "run": run,
    }
    world.extra["billing"] = found
    return found


def _bill(key: str) -> Any:
    return lambda w, m: {"bill_id": MISSING_ID if m else _billing(w)[key].pk}


def _payment(w: World, m: bool) -> dict[str, Any]:
    return {"payment_id": MISSING_ID if m else _billing(w)["pending"].pk}


def _receipt(w: World, m: bool) -> dict[str, Any]:
    return {"settlement_id": MISSING_ID if m else _billing(w)["receipt"].pk}


def _paid(w: World, kind: str, response: Any) -> None:
    assert Payment.objects.filter(bill=_billing(w)["open"]).exists()


def _closed(w: World, kind: str, response: Any) -> None:
    assert Payment.objects.get(pk=_billing(w)["pending"].pk).status == "closed"


def _refund_form(w: World, m: bool) -> dict[str, Any]:
    return {f"qty-{_billing(w)['omeprazole'].pk}": "1", "reason": "one tablet returned"}


def _refunded(w: World, kind: str, response: Any) -> None:
    assert Refund.objects.filter(bill=_billing(w)["paid"], reason="one tablet returned").exists()


def _paid_out(w: World, kind: str, response: Any) -> None:
    assert RefundPayout.objects.get(pk=_billing(w)["payout"].pk).status == "paid"


def _wallet_paid(w: World, kind: str, response: Any) -> None:
    assert SandboxOrder.objects.get(pay_token=_billing(w)["token"]).state == "SUCCESS"


RULES: list[Rule] = [
    # --- patient pages ---
    Rule("GET", "/billing/", PATIENTS, special={FRONT_DESK: 302, DEVICE: 302}),
    Rule("GET", "/billing/bills/{bill_id}/", OWNER, special=NOT_SEEN, record=True, params=_bill("open")),
    Rule(
        "POST",
        "/billing/bills/{bill_id}/pay/",
        OWNER,
        ok=302,
        special=NOT_SEEN,
        record=True,
        params=_bill("open"),
        payload=lambda w, m: {"provider": "sandbox"},
        effect=_paid,
    ),
    Rule("GET", "/billing/payments/{payment_id}/", OWNER, special=NOT_SEEN, record=True, params=_payment),
    Rule(
        "GET", "/billing/payments/{payment_id}/status/", OWNER, special=NOT_SEEN, record=True, params=_payment
    ),
    Rule(
        "POST",
        "/billing/payments/{payment_id}/cancel/",
        OWNER,
        ok=302,
        special=NOT_SEEN,
        record=True,
        params=_payment,
        effect=_closed,
    ),
    Rule("GET", "/billing/receipts/{settlement_id}/", OWNER, special=NOT_SEEN, record=True, params=_receipt),
    # --- the sandbox gateway's wallet page: the unguessable token is the key, as a QR code's is ---
    Rule(
        "GET", "/billing/sandbox/pay/{token}/", EVERYONE, params=lambda w, m: {"token": _billing(w)["token"]}
    ),
    Rule(
        "POST",
        "/billing/sandbox/pay/{token}/",
        EVERYONE,
        params=lambda w, m: {"token": _billing(w)["token"]},
        effect=_wallet_paid,
    ),
    # --- cashier window ---
    Rule("GET", "/billing/cashier/", CASHIER),
    Rule(
        "POST",
        "/billing/cashier/bills/{bill_id}/pay/",
        CASHIER,
        ok=302,
        params=_bill("open"),
        payload=lambda w, m: {"method": "cash"},
        effect=_paid,
    ),
    Rule("GET", "/billing/cashier/bills/{bill_id}/refund/", CASHIER, params=_bill("paid")),
    Rule(
        "POST",
        "/billing/cashier/bills/{bill_id}/refund/",
        CASHIER,
        ok=302,
        params=_bill("paid"),
        payload=_refund_form,
        effect=_refunded,
    ),
    Rule(
        "POST",
        "/billing/cashier/payouts/{payout_id}/",
        CASHIER,
        ok=302,
        params=lambda w, m: {"payout_id": _billing(w)["payout"].pk},
        effect=_paid_out,
    ),
    Rule("GET", "/billing/cashier/report/", CASHIER),
    # --- kiosk (presenting the one code lets the kiosk act for the patient for a few minutes) ---
    Rule("GET", "/billing/kiosk/", frozenset({DEVICE})),
    Rule("POST", "/billing/kiosk/", frozenset({DEVICE}), payload=lambda w, m: {"code": w.target.one_code}),
    # --- billing managers only (operations managers; none among these callers) ---
    Rule("GET", "/billing/refunds/", NOBODY),
    Rule(
        "POST",
        "/billing/refunds/{refund_id}/decide/",
        NOBODY,
        params=lambda w, m: {"refund_id": _billing(w)["waiting"].pk},
        payload=lambda w, m: {"decision": "approve"},
    ),
    Rule("GET", "/billing/catalog/", NOBODY),
    Rule(
        "POST",
        "/billing/catalog/{item_id}/price/",
        NOBODY,
        params=lambda w, m: {"item_id": _billing(w)["item"].pk},
        payload=lambda w, m: {"amount": "7.00", "reason": "notice"},
    ),
    Rule("GET", "/billing/policies/", NOBODY),
    Rule(
        "GET",
        "/billing/policies/{policy_id}/",
        NOBODY,
        params=lambda w, m: {"policy_id": _billing(w)["policy"].pk},
    ),
    Rule(
        "POST",
        "/billing/policies/{policy_id}/",
        NOBODY,
        params=lambda w, m: {"policy_id": _billing(w)["policy"].pk},
        payload=lambda w, m: {"class_b_self_pay_share": "0.2"},
    ),
    Rule("GET", "/billing/reconciliation/", NOBODY),
    Rule("POST", "/billing/reconciliation/", NOBODY, payload=lambda w, m: {"provider": "sandbox"}),
    Rule(
        "GET",
        "/billing/reconciliation/{reconciliation_id}/",
        NOBODY,
        params=lambda w, m: {"reconciliation_id": _billing(w)["run"].pk},
    ),
    Rule("GET", "/billing/ledger/", NOBODY),
    # --- API ---
    Rule("GET", "/api/billing/bills", PATIENTS, special={FRONT_DESK: 400, DEVICE: 400}),
    Rule("GET", "/api/billing/bills/{bill_id}", OWNER, special=NOT_SEEN, record=True, params=_bill("open")),
    Rule(
        "POST",
        "/api/billing/bills/{bill_id}/payments",
        OWNER,
        ok=201,
        special=NOT_SEEN,
        record=True,
        params=_bill("open"),
        payload=lambda w, m: {"provider": "sandbox"},
        effect=_paid,
    ),
    Rule("GET", "/api/billing/payments/{payment_id}", OWNER, special=NOT_SEEN, record=True, params=_payment),
    Rule(
        "POST",
        "/api/billing/payments/{payment_id}/cancel",
        OWNER,
        special=NOT_SEEN,
        record=True,
        params=_payment,
        effect=_closed,
    ),
    Rule(
        "POST",
        "/api/billing/notify/{provider}",
        NOBODY,
        deny=401,
        special={ANON: 401},
        params=lambda w, m: {"provider": "sandbox"},
        payload=lambda w, m: {"id": "forged", "resource": {}},
    ),
    Rule(
        "POST",
        "/api/billing/bills/{bill_id}/refunds",
        CASHIER,
        ok=201,
        params=_bill("paid"),
        payload=lambda w, m: {
            "lines": [{"charge_id": _billing(w)["omeprazole"].pk, "quantity": "1"}],
            "reason": "one tablet returned",
        },
        effect=_refunded,
    ),
    Rule(
        "POST",
        "/api/billing/refunds/{refund_id}/approve",
        NOBODY,
        params=lambda w, m: {"refund_id": _billing(w)["waiting"].pk},
        payload=lambda w, m: {"note": ""},
    ),
    Rule(
        "POST",
        "/api/billing/refunds/{refund_id}/reject",
        NOBODY,
        params=lambda w, m: {"refund_id": _billing(w)["waiting"].pk},
        payload=lambda w, m: {"note": "no"},
    ),
    Rule("GET", "/api/billing/catalog", SIGNED_IN),
    Rule("GET", "/api/billing/reports/cash", CASHIER),
    Rule(
        "POST",
        "/api/billing/reconciliations",
        NOBODY,
        payload=lambda w, m: {"provider": "sandbox", "date": clock.today().isoformat()},
    ),
    Rule("GET", "/api/billing/ledger/trial-balance", NOBODY),
]
