"""Every role signs in through the form in both languages, lands on its home page with its menu,
and signs out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import assert_en_text, assert_zh_text, nav_links, sign_in

PATIENTS = "/patients/"
MY_RECORD = "/patients/me/"
SCAN = "/patients/scan/"
REGISTER = "/patients/register/"
DEPARTMENTS = "/departments/"
AUDIT = "/audit/"
BREAK_GLASS_REVIEW = "/accounts/break-glass/reviews/"
INBOX = "/notifications/"
ADMIN = "/admin/"


@dataclass(frozen=True)
class RoleCase:
    username: str
    sees: frozenset[str]
    not_sees: frozenset[str]


def case(username: str, sees: set[str], not_sees: set[str]) -> RoleCase:
    return RoleCase(username, frozenset(sees | {"/", INBOX}), frozenset(not_sees))


CLINICAL_SEARCH = {PATIENTS, SCAN, DEPARTMENTS}
ROLES = {
    "patient": case("patient", {MY_RECORD}, {PATIENTS, SCAN, REGISTER, DEPARTMENTS, AUDIT, ADMIN}),
    "doctor": case("doctor", CLINICAL_SEARCH | {REGISTER}, {MY_RECORD, AUDIT, BREAK_GLASS_REVIEW, ADMIN}),
    "nurse": case("nurse", CLINICAL_SEARCH | {REGISTER}, {MY_RECORD, AUDIT, BREAK_GLASS_REVIEW, ADMIN}),
    "department_head": case(
        "head", CLINICAL_SEARCH | {BREAK_GLASS_REVIEW}, {MY_RECORD, REGISTER, AUDIT, ADMIN}
    ),
    "front_desk": case(
        "frontdesk", CLINICAL_SEARCH | {REGISTER}, {MY_RECORD, AUDIT, BREAK_GLASS_REVIEW, ADMIN}
    ),
    "operations_manager": case("manager", {DEPARTMENTS}, {PATIENTS, MY_RECORD, SCAN, REGISTER, AUDIT, ADMIN}),
    "researcher": case("researcher", {DEPARTMENTS}, {PATIENTS, MY_RECORD, SCAN, REGISTER, AUDIT, ADMIN}),
    "data_steward": case("steward", {DEPARTMENTS}, {PATIENTS, MY_RECORD, SCAN, REGISTER, AUDIT, ADMIN}),
    "it_admin": case("itadmin", {ADMIN, DEPARTMENTS}, {PATIENTS, MY_RECORD, SCAN, REGISTER, AUDIT}),
    "auditor": case("auditor", {AUDIT, BREAK_GLASS_REVIEW, DEPARTMENTS}, {PATIENTS, MY_RECORD, SCAN, ADMIN}),
}


@pytest.mark.browser
@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("role", list(ROLES))
def test_role_signs_in_sees_its_menu_and_signs_out(
    role: str, language: str, hospital: Any, live_server: Any, new_context: Any
) -> None:
    expected = ROLES[role]
    page = new_context(language).new_page()

    sign_in(page, expected.username)

    expect(page).to_have_url(f"{live_server.url}/")
    assert page.get_attribute("html", "lang") == language
    assert page.get_attribute("body", "data-role") == role
    title = page.locator("[data-testid=home-title]")
    expect(title).to_be_visible()
    title_text = title.inner_text().strip()

    links = nav_links(page)
    missing = expected.sees - links
    assert not missing, f"{role} should see {sorted(missing)} in the menu; menu is {sorted(links)}"
    unexpected = expected.not_sees & links
    assert not unexpected, f"{role} should not see {sorted(unexpected)}; menu is {sorted(links)}"

    page.click("[data-testid=logout]")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.locator("[data-testid=logout]")).to_have_count(0)
    page.goto("/")  # signed out: the home page asks to sign in again
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    expect(page.locator("#id_username")).to_be_visible()

    # Last: while the zh-Hans catalog is not compiled yet this check skips (fails in CI).
    if language == "en":
        assert_en_text(title_text)
    else:
        assert_zh_text(title_text)
