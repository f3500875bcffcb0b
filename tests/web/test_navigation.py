"""The menu: what each person sees, and back-office pages grouped into drop-downs."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from smartcare.web import navigation
from smartcare.web.navigation import Section, items_for


def _flatten(menu: list[dict[str, Any]]) -> list[str]:
    urls: list[str] = []
    for entry in menu:
        urls.extend(sub["url"] for sub in entry["children"]) if "children" in entry else urls.append(
            entry["url"]
        )
    return urls


@pytest.mark.django_db
def test_anonymous_visitors_get_no_menu(rf: Any) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert items_for(AnonymousUser()) == []


def test_finance_pages_are_one_drop_down_for_the_operations_manager(hospital: Any) -> None:
    menu = items_for(hospital.user("manager"))
    finance = [entry for entry in menu if entry.get("key") == navigation.FINANCE]
    assert len(finance) == 1
    urls = [sub["url"] for sub in finance[0]["children"]]
    assert reverse("billing:ledger") in urls and reverse("billing:catalog") in urls
    # The same pages are not also on the menu bar.
    top_level = [entry["url"] for entry in menu if "children" not in entry]
    assert reverse("billing:ledger") not in top_level


def test_sections_group_back_office_pages_only(hospital: Any) -> None:
    # The auditor sees the audit trail and the break-the-glass review (two pages of "System")...
    auditor_menu = items_for(hospital.user("auditor"))
    system = [entry for entry in auditor_menu if entry.get("key") == navigation.SYSTEM]
    assert len(system) == 1 and len(system[0]["children"]) >= 2
    # ...a patient sees no back-office page at all, so no drop-down; a doctor's daily pages stay
    # on the menu bar.
    assert not [entry for entry in items_for(hospital.user("patient")) if "children" in entry]
    doctor_menu = items_for(hospital.user("doctor"))
    assert reverse("emr:workstation") in [entry.get("url") for entry in doctor_menu]


def test_single_entry_sections_are_not_wrapped(hospital: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(navigation, "_SECTIONS", {"only": Section("only", "Only", "gear")})
    monkeypatch.setattr(
        navigation,
        "_ITEMS",
        [
            navigation.NavItem("Home", "web:home", None, "house", 0),
            navigation.NavItem("Audit", "audit:search", None, "shield", 80, section="only"),
        ],
    )
    menu = items_for(hospital.user("doctor"))
    assert menu == [
        {"label": "Home", "url": reverse("web:home"), "icon": "house"},
        {"label": "Audit", "url": reverse("audit:search"), "icon": "shield"},
    ]


def test_menu_keeps_every_page_a_person_may_open(hospital: Any) -> None:
    """Grouping hides nothing: the flattened menu is exactly the pages the person's capabilities allow."""
    from smartcare.core.permissions import has_capability

    user = hospital.user("manager")
    expected = [
        reverse(item.url_name)
        for item in navigation._ITEMS
        if item.capability is None or has_capability(user, item.capability)
    ]
    assert sorted(_flatten(items_for(user))) == sorted(expected)
