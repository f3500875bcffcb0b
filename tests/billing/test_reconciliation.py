"""Daily reconciliation against the provider's statement, mismatches of every kind, refused
statement files, and the cash report per cashier."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from smartcare.billing import reconciliation, reports, services
from smartcare.billing.errors import InvalidStatement
from smartcare.billing.models import Payment, Reconciliation
from smartcare.billing.sandbox_gateway import SandboxGateway
from smartcare.core import clock
from tests.billing.builders import at, deliver_all
from tests.factories import staff

DAY = dt.date(2027, 3, 1)
HEADER = "record_type,time,out_trade_no,transaction_id,out_refund_no,refund_id,amount,status\n"


@pytest.fixture(autouse=True)
def _deliver_by_hand(monkeypatch):
    monkeypatch.setattr("smartcare.billing.sandbox_gateway.enqueue_delivery", lambda pk: None)
    monkeypatch.setattr("smartcare.billing.services._enqueue_payout", services.send_payout)


def qr_paid(world, *lines):
    bill = world.bill(world.patient_in_care, *lines)
    started = services.start_payment(world.user("frontdesk"), bill.pk, provider="sandbox", channel="desk")
    SandboxGateway().pay(started.payment.code_url.rstrip("/").rsplit("/", 1)[1])
    deliver_all()
    started.payment.refresh_from_db()
    return bill, started.payment


@pytest.fixture()
def day(world, django_capture_on_commit_callbacks):
    """Two QR payments and a partial refund on Monday 2027-03-01."""
    with clock.frozen_at(at(0, 9)):
        first_bill, first = qr_paid(world, ("REG-ORD", 1), ("D-AMIODARONE", 10))
        _bill, second = qr_paid(world, ("E-HBA1C", 1))
        (_reg, drug) = world.charges(first_bill)
    with clock.frozen_at(at(0, 11)), django_capture_on_commit_callbacks(execute=True):
        services.request_refund(world.user("frontdesk"), first_bill.pk, [(drug.pk, 2)], "returned")
    return first, second


def test_a_clean_day_balances(world, day):
    run = reconciliation.reconcile_from_provider("sandbox", DAY, actor=world.user("manager"))
    assert (run.statement_rows, run.matched) == (3, 3)
    assert run.balanced
    first, second = day
    assert run.provider_total == run.hospital_total == first.amount + second.amount - D("14.60")


def test_every_kind_of_mismatch_is_listed(world, day):
    first, second = day
    lines = SandboxGateway().statement(DAY).decode().splitlines()
    header, rows = lines[0], lines[1:]
    payment_rows = [r for r in rows if r.startswith("PAYMENT")]
    refund_rows = [r for r in rows if r.startswith("REFUND")]
    changed_amount = payment_rows[0].rsplit(",", 2)
    wrong = f"{changed_amount[0]},{D(changed_amount[1]) + D('1.00'):.2f},SUCCESS"
    # An order that expired here but the provider says was paid.
    expired = Payment.objects.create(
        bill=first.bill,
        settlement=first.settlement.__class__.objects.create(
            bill=first.bill,
            patient=first.patient,
            scheme="self_pay",
            care_setting="outpatient",
            year=2027,
            total_amount=D("5.00"),
            insurer_amount=D("0"),
            patient_amount=D("5.00"),
            status="voided",
        ),
        patient=first.patient,
        provider="sandbox",
        method="qr",
        channel="portal",
        amount=D("5.00"),
        out_trade_no="SCEXPIREDHERE",
        status="expired",
    )
    statement = (
        "\n".join(
            [
                header,
                wrong,  # our first payment, amount differs
                # our second payment is missing from the statement
                *refund_rows,
                "PAYMENT,2027-03-01 10:00:00,SCUNKNOWN0001,SBX1,,,9.90,SUCCESS",  # not ours
                f"PAYMENT,2027-03-01 10:05:00,{expired.out_trade_no},SBX2,,,5.00,SUCCESS",
            ]
        )
        + "\n"
    )
    run = reconciliation.reconcile(
        world.user("manager"), "sandbox", DAY, statement.encode(), file_name="edited.csv"
    )
    found = {(m.kind, m.reference) for m in run.mismatches.all()}
    assert found == {
        ("amount_differs", first.out_trade_no),
        ("missing_at_provider", second.out_trade_no),
        ("missing_at_hospital", "SCUNKNOWN0001"),
        ("status_differs", "SCEXPIREDHERE"),
    }
    assert run.matched == 1  # the refund
    assert not run.balanced


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (b"", 1, "empty"),
        (b"a,b,c\n1,2,3\n", 1, "missing columns"),
        (HEADER.encode() + b"PAYMENT,2027-03-01 09:00:00,SC1,T1,,,12.345,SUCCESS\n", 2, "amount"),
        (HEADER.encode() + b"PAYMENT,2027-03-01 09:00:00,SC1,T1,,,-3.00,SUCCESS\n", 2, "amount"),
        (HEADER.encode() + b"PAYMENT,01/03/2027 09:00,SC1,T1,,,3.00,SUCCESS\n", 2, "time"),
        (HEADER.encode() + b"PAYMENT,2027-03-02 09:00:00,SC1,T1,,,3.00,SUCCESS\n", 2, "is not on"),
        (HEADER.encode() + b"TRANSFER,2027-03-01 09:00:00,SC1,T1,,,3.00,SUCCESS\n", 2, "record type"),
        (HEADER.encode() + b"PAYMENT,2027-03-01 09:00:00,SC1,T1,,,3.00\n", 2, "fields"),
        (HEADER.encode() + b"PAYMENT,2027-03-01 09:00:00,,T1,,,3.00,SUCCESS\n", 2, "no order"),
        (
            HEADER.encode()
            + b"PAYMENT,2027-03-01 09:00:00,SC1,T1,,,3.00,SUCCESS\nPAYMENT,2027-03-01 09:01:00,SC1,T1,,,3.00,SUCCESS\n",
            3,
            "twice",
        ),
        (HEADER.encode() + b'PAYMENT,"2027-03-01 09:00:00,SC1\n', 2, ""),
        ("记录".encode("gbk"), 0, "UTF-8"),
    ],
)
def test_bad_statement_files_are_refused_with_their_line(world, content, line, reason):
    with pytest.raises(InvalidStatement) as caught:
        reconciliation.reconcile(world.user("manager"), "sandbox", DAY, content)
    assert caught.value.code == "BILL-020"
    assert caught.value.params["line"] == line
    assert reason in caught.value.params["reason"]
    assert not Reconciliation.objects.exists()


def test_the_daily_job_reconciles_yesterday_once(world, day):
    with clock.frozen_at(at(1, 2)):
        assert reconciliation.reconcile_yesterday() == 1
        assert reconciliation.reconcile_yesterday() == 0
    run = Reconciliation.objects.get()
    assert run.date == DAY and run.balanced and run.created_by is None


def test_cash_report_per_cashier(world):
    second = staff("cashier2", "front_desk")
    with clock.frozen_at(at(0, 9)):
        for cashier, method, code in (
            (world.user("frontdesk"), "cash", "REG-ORD"),
            (world.user("frontdesk"), "card", "E-HBA1C"),
            (second, "cash", "CONS-EXP"),
        ):
            bill = world.bill(world.patient_in_care, (code, 1))
            services.start_payment(cashier, bill.pk, provider="cashier", method=method, reference="POS-9")
        bill = world.bill(world.patient_in_care, ("D-OMEPRAZOLE", 10))
        services.start_payment(second, bill.pk, provider="cashier", method="cash")
        (charge,) = world.charges(bill)
        refund = services.request_refund(second, bill.pk, [(charge.pk, 5)], "returned")
        services.pay_out_at_desk(world.user("frontdesk"), refund.payouts.get().pk)
    rows = {day.cashier: day for day in reports.cash_report(DAY)}
    mine = rows["frontdesk"]
    assert mine.received == {"cash": D("6.00"), "card": D("44.00")}
    assert mine.paid_out == {"cash": D("3.00")}
    assert mine.cash_in_drawer == D("3.00")
    assert rows["cashier2"].received == {"cash": D("36.00")}  # 30.00 + 6.00
    assert [d.cashier for d in reports.cash_report(DAY, cashier_id=second.pk)] == ["cashier2"]
    assert reports.cash_report(DAY + dt.timedelta(days=1)) == []
    csv_text = reports.report_csv(DAY, reports.cash_report(DAY))
    assert "2027-03-01,frontdesk,6.00,44.00,3.00,0.00,3.00,2,1" in csv_text
