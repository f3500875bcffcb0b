#!/usr/bin/env python
"""Billing throughput: real-time settlement and payment, the QR notification path, refunds.

    .venv/bin/python bench/billing_settlement.py [--bills 300] [--lines 6] [--var-dir DIR]

What it does, in a fresh SQLite database (a temporary SMARTCARE_VAR_DIR unless --var-dir is given):

1. migrates, loads the shipped price catalog and insurance policies, creates a hospital, a
   cashier and ``--bills`` patients of the four schemes, each with a bill of ``--lines`` charges
   drawn from the catalog (drugs, exams, fees);
2. ``settle_lines`` alone (the pure calculator) over every bill, 20 rounds;
3. cash at the desk for half of the bills (``start_payment``: settlement with the patient's year
   counters and a row lock, payment, two ledger entries, audit);
4. the sandbox QR flow for the other half: order, the wallet's confirmation, the signed
   notification POSTed through Django's test client to ``/api/billing/notify/sandbox``
   (signature check, decryption, idempotent application), then the same notification again;
5. a partial refund on every fifth paid bill (reversal, re-settlement, payout);
6. checks the trial balance.

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bills", type=int, default=300)
    parser.add_argument("--lines", type=int, default=6)
    parser.add_argument("--var-dir")
    args = parser.parse_args()
    var_dir = Path(args.var_dir or tempfile.mkdtemp(prefix="smartcare-billing-bench-"))
    os.environ["SMARTCARE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "smartcare.settings"
    os.environ.setdefault("SMARTCARE_LOG_LEVEL", "WARNING")
    os.environ["SMARTCARE_TASKS_IMMEDIATE"] = "1"
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import django

    django.setup()
    import random

    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    print(f"migrating {var_dir}", file=sys.stderr)
    call_command("migrate", verbosity=0, interactive=False)

    from tests.factories import PatientFactory, build_hospital

    from smartcare.billing import ledger, services
    from smartcare.billing.catalog import ensure_catalog
    from smartcare.billing.insurance import LineInput, Usage, settle_lines
    from smartcare.billing.models import Bill, CatalogItem, SandboxNotification
    from smartcare.billing.policies import ensure_policies
    from smartcare.billing.sandbox_gateway import SandboxGateway
    from smartcare.core import clock

    ensure_catalog()
    year = clock.today().year
    ensure_policies([year])
    hospital = build_hospital()
    cashier = hospital.user("frontdesk")
    rng = random.Random(7)
    items = list(CatalogItem.objects.exclude(kind="bed"))
    schemes = ["urban_employee", "resident", "commercial", "self_pay"]
    bills: list[Any] = []
    for number in range(args.bills):
        patient = PatientFactory(insurance_type=schemes[number % 4])
        bill = Bill.objects.create(patient=patient, kind="visit")
        for line, item in enumerate(rng.sample(items, args.lines)):
            quantity = Decimal(rng.randint(1, 20) if item.kind == "drug" else 1)
            services.add_charge(
                bill, item, quantity, source=f"bench:{bill.pk}:{line}", service_date=clock.today()
            )
        bills.append(bill)
    print(f"{len(bills)} bills of {args.lines} lines", file=sys.stderr)

    # 2. The pure calculator.
    terms = {s: services.terms_for(s, year, "outpatient", 3)[0] for s in schemes}
    inputs = [
        (
            terms[b.patient.insurance_type],
            [LineInput(c.pk, c.item_id, c.amount, c.insurance_category) for c in b.charges.all()],
        )
        for b in bills
    ]
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for term, lines in inputs:
            settle_lines(lines, term, Usage(deductible_used=Decimal("100.00")))
    pure_per_s = rounds * len(inputs) / (time.perf_counter() - started)

    # 3. Cash at the desk.
    half = len(bills) // 2
    cash_ms: list[float] = []
    for bill in bills[:half]:
        t0 = time.perf_counter()
        services.start_payment(cashier, bill.pk, provider="cashier", method="cash")
        cash_ms.append((time.perf_counter() - t0) * 1000)

    # 4. QR: order, wallet, notification over the test client, repeated notification.
    import smartcare.billing.sandbox_gateway as gateway_module

    gateway_module.enqueue_delivery = lambda pk: None  # delivered below, timed
    client = Client()
    order_ms: list[float] = []
    notify_ms: list[float] = []
    repeat_ms: list[float] = []
    gateway = SandboxGateway()
    for bill in bills[half:]:
        t0 = time.perf_counter()
        started_payment = services.start_payment(cashier, bill.pk, provider="sandbox", channel="desk")
        order_ms.append((time.perf_counter() - t0) * 1000)
        if started_payment.payment is None:
            continue
        gateway.pay(started_payment.payment.code_url.rstrip("/").rsplit("/", 1)[1])
        event = SandboxNotification.objects.filter(
            order__out_trade_no=started_payment.payment.out_trade_no
        ).get()
        for timings in (notify_ms, repeat_ms):
            body, headers = gateway.notification_request(event)
            extra = {
                f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"
            }
            t0 = time.perf_counter()
            response = client.post(
                "/api/billing/notify/sandbox", body, content_type="application/json", **extra
            )
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content

    # 5. Refunds.
    refund_ms: list[float] = []
    for bill in bills[::5]:
        charge = bill.charges.filter(corrects__isnull=True).order_by("-quantity").first()
        if charge is None or not services._live_lines(charge=charge, settlement__status="confirmed").exists():
            continue
        t0 = time.perf_counter()
        refund = services.request_refund(cashier, bill.pk, [(charge.pk, 1)], "bench")
        if refund.status == "requested":
            services.approve_refund(hospital.user("manager"), refund.pk)
        refund_ms.append((time.perf_counter() - t0) * 1000)

    debit, credit = ledger.trial_balance()
    result = {
        "bills": len(bills),
        "lines_per_bill": args.lines,
        "settle_lines_bills_per_s": round(pure_per_s, 1),
        "cash_payment_p50_ms": percentile(cash_ms, 0.5),
        "cash_payment_p95_ms": percentile(cash_ms, 0.95),
        "qr_order_p50_ms": percentile(order_ms, 0.5),
        "notification_p50_ms": percentile(notify_ms, 0.5),
        "notification_p95_ms": percentile(notify_ms, 0.95),
        "repeated_notification_p50_ms": percentile(repeat_ms, 0.5),
        "refund_p50_ms": percentile(refund_ms, 0.5) if refund_ms else None,
        "refunds": len(refund_ms),
        "payments_per_s": round(1000 / statistics.mean(cash_ms), 1),
        "ledger_balanced": debit == credit,
        "ledger_total": str(debit),
    }
    print(json.dumps(result))
    return 0 if debit == credit else 1


if __name__ == "__main__":
    raise SystemExit(main())
