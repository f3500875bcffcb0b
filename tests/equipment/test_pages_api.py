"""The API and the pages: registry with a one-time credential, work orders through the API with their
coded errors, utilization and indicators, and what each role sees on the pages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from smartcare.equipment.models import Asset, WorkOrder
from tests.equipment.conftest import Registered

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")


def api(client: Client, method: str, path: str, body: Any = None) -> Any:
    return client.generic(
        method,
        f"/api/equipment{path}",
        json.dumps(body) if body is not None else "",
        content_type="application/json",
    )


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_registry_over_the_api(ct: Registered) -> None:
    client = signed_in(ct.engineer)
    body = {
        "kind": "xray",
        "name": "DR 1",
        "maker": "Philips",
        "model_name": "C90",
        "serial_number": "DR-1",
        "department_id": ct.h.cardiology.pk,
    }
    created = api(client, "POST", "/assets", body)
    assert created.status_code == 201
    secret = created.json()["credential"]
    asset = Asset.objects.get(serial_number="DR-1")
    assert asset.verify(secret)
    again = api(client, "POST", "/assets", body)
    assert (again.status_code, again.json()["code"]) == (409, "EQ-004")
    renewed = api(client, "POST", f"/assets/{asset.pk}/credential")
    asset.refresh_from_db()
    assert asset.verify(renewed.json()["credential"]) and not asset.verify(secret)
    listed = api(client, "GET", "/assets").json()
    assert {a["serial_number"] for a in listed} == {"CT-0001", "DR-1"}
    assert api(client, "GET", "/assets/999999").status_code == 404


def test_work_orders_over_the_api(ct: Registered) -> None:
    client = signed_in(ct.engineer)
    opened = api(
        client,
        "POST",
        "/work-orders",
        {"asset_id": ct.asset.pk, "title": "Gantry noise", "is_failure": True, "down_now": True},
    )
    assert opened.status_code == 201
    order_id = opened.json()["id"]
    bad = api(client, "POST", f"/work-orders/{order_id}/complete", {"resolution": ""})
    assert (bad.status_code, bad.json()["code"]) == (400, "EQ-007")
    done = api(
        client,
        "POST",
        f"/work-orders/{order_id}/complete",
        {"resolution": "Bearing replaced", "parts": [{"name": "Bearing", "quantity": 2}]},
    )
    assert done.status_code == 200
    assert done.json()["status"] == "done" and done.json()["downtime_hours"] >= 0
    twice = api(client, "POST", f"/work-orders/{order_id}/start", {})
    assert (twice.status_code, twice.json()["code"]) == (409, "EQ-006")
    assert api(client, "GET", "/work-orders?status=done").json()[0]["id"] == order_id
    indicators = api(client, "GET", "/indicators").json()
    assert indicators["assets"] == 1
    assert api(client, "GET", "/indicators?start=2026-02-01&end=2026-01-01").status_code == 400
    utilization = api(client, "GET", f"/assets/{ct.asset.pk}/utilization?days=7").json()
    assert utilization["source"] == "bookings" and len(utilization["cells"]) == 7 * 10


def test_pages_show_what_each_role_may_do(ct: Registered) -> None:
    order = WorkOrder.objects.create(
        asset=ct.asset, kind="corrective", title="Check", due_on="2030-01-01", opened_at=ct.asset.created_at
    )
    engineer = signed_in(ct.engineer)
    page = engineer.get(f"/equipment/assets/{ct.asset.pk}/").content.decode()
    assert "Open a work order" in page and "Add a plan" in page
    assert 'data-testid="complete"' in engineer.get(f"/equipment/work-orders/{order.pk}/").content.decode()
    head = signed_in(ct.h.user("head"))
    page = head.get(f"/equipment/assets/{ct.asset.pk}/").content.decode()
    assert "Open a work order" not in page and "Add a plan" not in page
    assert 'data-testid="complete"' not in head.get(f"/equipment/work-orders/{order.pk}/").content.decode()
    assert head.post(f"/equipment/work-orders/{order.pk}/complete/", {"resolution": "x"}).status_code == 403
    refused = engineer.post(f"/equipment/work-orders/{order.pk}/complete/", {"resolution": ""}, follow=True)
    assert "EQ-007" in refused.content.decode()
    order.refresh_from_db()
    assert order.status == "open"
    assert signed_in(ct.h.user("doctor")).get("/equipment/").status_code == 403
