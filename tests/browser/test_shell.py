"""The page shell: styles are served, the language switcher, elderly mode, and the phone layout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import (
    CJK,
    assert_en_text,
    assert_zh_text,
    low_contrast,
    open_phone_menu,
    sign_in,
    toggle_elderly_mode,
)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def body_font_size(page: Any) -> float:
    return float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))


@pytest.mark.browser
def test_static_assets_are_served(hospital: Any, new_context: Any) -> None:
    page = new_context("en").new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    page.goto("/accounts/login/")
    page.wait_for_load_state("load")
    assert not failed, f"assets failed to load: {failed}"
    # app.css is applied (brand colour on the navbar) and app.js has run (Bootstrap on window).
    navbar_colour = page.evaluate("getComputedStyle(document.querySelector('.navbar')).backgroundColor")
    assert navbar_colour == "rgb(11, 110, 79)"
    assert page.evaluate("typeof window.bootstrap") == "object"
    assert page.evaluate("typeof window.htmx") == "object"


@pytest.mark.browser
def test_language_select_switches_the_page_language(
    hospital: Any, live_server: Any, new_context: Any
) -> None:
    page = new_context("en").new_page()
    sign_in(page, "doctor")
    assert page.get_attribute("html", "lang") == "en"
    english_title = page.inner_text("[data-testid=home-title]").strip()
    assert_en_text(english_title)

    page.select_option("[data-testid=language-select]", "zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("[data-testid=language-select]")).to_have_value("zh-hans")
    chinese_title = page.inner_text("[data-testid=home-title]").strip()

    # The choice sticks across pages (cookie), over the browser's Accept-Language.
    page.goto("/departments/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    page.select_option("[data-testid=language-select]", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(f"{live_server.url}/departments/")
    page.goto("/")
    assert page.inner_text("[data-testid=home-title]").strip() == english_title

    assert_zh_text(chinese_title)


@pytest.mark.browser
def test_language_select_works_before_signing_in(hospital: Any, new_context: Any) -> None:
    page = new_context("zh-hans").new_page()
    page.goto("/accounts/login/")
    assert page.get_attribute("html", "lang") == "zh-hans"
    page.select_option("[data-testid=language-select]", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_en_text(page.inner_text("[data-testid=login-submit]").strip())


@pytest.mark.browser
def test_elderly_mode_enlarges_text_and_is_remembered(hospital: Any, new_context: Any) -> None:
    page = new_context("zh-hans").new_page()
    sign_in(page, "patient")
    body = page.locator("body")
    expect(body).not_to_contain_class("elderly")
    standard = body_font_size(page)

    toggle_elderly_mode(page)
    expect(body).to_contain_class("elderly")
    enlarged = body_font_size(page)
    assert enlarged > standard, f"elderly mode font {enlarged}px is not larger than {standard}px"
    # Stored on the account: still on after reloading, and in a new session.
    page.reload()
    expect(body).to_contain_class("elderly")
    hospital.user("patient").refresh_from_db()
    assert hospital.user("patient").elderly_mode is True

    toggle_elderly_mode(page)
    expect(body).not_to_contain_class("elderly")
    assert body_font_size(page) == standard


@pytest.mark.browser
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_elderly_mode_keeps_links_and_buttons_readable(
    viewport: str, hospital: Any, new_context: Any
) -> None:
    """Elderly mode promises high contrast: every link and button keeps at least WCAG AA (4.5:1)."""
    page = new_context("zh-hans", **(PHONE if viewport == "phone" else {})).new_page()
    sign_in(page, "patient")
    if viewport == "phone":
        open_phone_menu(page)
        expect(page.locator("[data-testid=elderly-toggle]")).to_be_visible()
    toggle_elderly_mode(page)
    expect(page.locator("body")).to_contain_class("elderly")
    if viewport == "phone":
        open_phone_menu(page)
        expect(page.locator("[data-testid=logout]")).to_be_visible()
    unreadable = low_contrast(page, "a, button")
    assert not unreadable, f"low-contrast text in elderly mode: {unreadable}"


@pytest.mark.browser
def test_elderly_mode_on_a_kiosk_without_signing_in(hospital: Any, new_context: Any) -> None:
    page = new_context("zh-hans").new_page()
    page.goto("/accounts/login/")
    standard = body_font_size(page)
    toggle_elderly_mode(page)
    expect(page.locator("body")).to_contain_class("elderly")
    assert body_font_size(page) > standard
    assert "/accounts/login/" in page.url


@pytest.mark.browser
def test_patient_on_a_phone_opens_the_one_code(hospital: Any, new_context: Any) -> None:
    page = new_context("zh-hans", **PHONE).new_page()
    page.goto("/accounts/login/")
    assert page.evaluate(NO_HORIZONTAL_SCROLL), "login page scrolls sideways on a phone"
    sign_in(page, "patient")

    one_code = page.locator("[data-testid=my-one-code]")
    expect(one_code).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_SCROLL), "home page scrolls sideways on a phone"

    one_code.click()
    qr = page.locator("[data-testid=one-code-qr] svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 150, "the QR code is too small to scan"
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    assert page.evaluate(NO_HORIZONTAL_SCROLL), "one-code page scrolls sideways on a phone"
    assert hospital.own_patient.name in page.inner_text("main")


@pytest.mark.browser
def test_phone_menu_opens_from_the_toggler(hospital: Any, new_context: Any) -> None:
    page = new_context("en", **PHONE).new_page()
    sign_in(page, "patient")
    logout = page.locator("[data-testid=logout]")
    expect(logout).to_be_hidden()  # collapsed behind the menu button
    page.click(".navbar-toggler")
    expect(logout).to_be_visible()
    expect(page.locator("#mainnav a[href='/patients/me/']")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    assert not CJK.search(page.inner_text("[data-testid=home-title]"))


@pytest.mark.browser
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_back_office_pages_open_from_their_drop_down(viewport: str, hospital: Any, new_context: Any) -> None:
    """The operations manager's finance pages sit in one drop-down; a tap opens it, another the page."""
    page = new_context("en", **(PHONE if viewport == "phone" else {})).new_page()
    sign_in(page, "manager")
    if viewport == "phone":
        open_phone_menu(page)
    ledger = page.locator("#mainnav a.dropdown-item[href='/billing/ledger/']")
    expect(ledger).to_be_hidden()
    page.click("[data-testid=nav-section-finance]")
    expect(ledger).to_be_visible()
    ledger.click()
    expect(page).to_have_url(re.compile(r"/billing/ledger/$"))
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
