"""Test data for billing: the test hospital with the shipped price catalog and insurance
policies, bills with chosen charges, and the sandbox gateway's notification delivered through
Django's test client (the HTTP round trip of the real delivery, without a server)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.test import Client

from smartcare.billing import services
from smartcare.billing.catalog import ensure_catalog
from smartcare.billing.choices import BillKind
from smartcare.billing.models import Bill, CatalogItem, Charge, SandboxNotification
from smartcare.billing.policies import ensure_policies
from smartcare.billing.sandbox_gateway import SandboxGateway
from smartcare.core import clock
from smartcare.patients.models import Patient
from tests.factories import TestHospital
from tests.scheduling.builders import MONDAY, at

__all__ = ["MONDAY", "BillingWorld", "at", "build_world", "now"]


def now() -> dt.datetime:
    return at(0, 7)


@dataclass
class BillingWorld:
    h: TestHospital

    def __getattr__(self, name: str) -> Any:
        return getattr(self.h, name)

    def item(self, code: str) -> CatalogItem:
        return CatalogItem.objects.get(code=code)

    def bill(self, patient: Patient, *lines: tuple[str, Any], kind: str = BillKind.VISIT) -> Bill:
        """A bill with charges of catalog items: ``("E-CBC", 1), ("D-ASPIRIN", "14")``."""
        bill = Bill.objects.create(patient=patient, kind=kind, department=self.h.cardiology)
        for number, (code, quantity) in enumerate(lines):
            services.add_charge(
                bill,
                self.item(code),
                Decimal(str(quantity)),
                source=f"test:{bill.pk}:{number}",
                service_date=clock.today(),
            )
        return bill

    def charges(self, bill: Bill) -> list[Charge]:
        return list(bill.charges.filter(corrects__isnull=True).order_by("pk"))


def build_world(hospital: TestHospital) -> BillingWorld:
    ensure_catalog()
    ensure_policies([2026, 2027, 2028])
    return BillingWorld(hospital)


def client_post(client: Client | None = None) -> Any:
    """A transport for the sandbox gateway's notification: POST through Django's test client."""
    http = client or Client()

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        from urllib.parse import urlsplit

        path = urlsplit(url).path
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
        response = http.post(path, body, content_type="application/json", **extra)
        post.responses.append(response)  # type: ignore[attr-defined]
        return response.status_code

    post.responses = []  # type: ignore[attr-defined]
    return post


def deliver_all(post: Any | None = None) -> list[int]:
    """Deliver every pending sandbox notification once (as the background task would)."""
    gateway = SandboxGateway()
    transport = post or client_post()
    delivered = []
    for event in SandboxNotification.objects.filter(delivered_at__isnull=True).order_by("pk"):
        gateway.deliver(event.pk, post=transport)
        delivered.append(event.pk)
    return delivered
