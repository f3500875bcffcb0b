"""Helpers shared by the browser tests (page actions and language checks)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import IN_CI

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def sign_in(page: Any, username: str, password: str | None = None) -> None:
    """Sign in through the login form and wait for the home page."""
    from playwright.sync_api import expect

    from tests.factories import PASSWORD

    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password or PASSWORD)
    page.click("[data-testid=login-submit]")
    expect(page.locator("[data-testid=home-title]")).to_be_visible()


def assert_zh_text(text: str) -> None:
    """``text`` is shown in Chinese.

    While the zh-Hans catalog has no translation for it yet (catalogs not written or not compiled),
    the check is skipped locally and fails in CI, where the catalogs must be complete.
    """
    if CJK.search(text):
        return
    from django.utils import translation

    with translation.override("zh-hans"):
        translated = translation.gettext(text)
    if translated == text and not IN_CI:
        pytest.skip(f"zh-Hans catalog has no translation for {text!r} (run compilemessages)")
    raise AssertionError(f"expected Chinese text, got {text!r} (catalog has {translated!r})")


def assert_en_text(text: str) -> None:
    assert text.strip(), "empty text"
    assert not CJK.search(text), f"expected English text, got {text!r}"
    assert text.isascii(), f"expected ASCII-only text, got {text!r}"
    assert re.search(r"[A-Za-z]", text), f"expected letters, got {text!r}"


def nav_links(page: Any) -> set[str]:
    """Every page the menu offers: the menu bar's links and those inside its drop-downs."""
    return set(
        page.eval_on_selector_all(
            "#mainnav .navbar-nav a.nav-link, #mainnav .navbar-nav a.dropdown-item",
            "els => els.map(e => e.getAttribute('href'))",
        )
    )


# WCAG 2 contrast ratio of an element's text against what is painted behind it (the backgrounds of
# the element and its ancestors, translucent ones blended over the first opaque one, white page last).
CONTRAST_JS = """(el) => {
  const parse = (c) => { const v = c.match(/[\\d.]+/g).map(Number); return v.length === 3 ? [...v, 1] : v; };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[3] * top[i] + (1 - top[3]) * bottom[i]).concat(1);
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const layers = [];
  for (let node = el; node; node = node.parentElement) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break;
  }
  const bg = layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255, 1]);
  const fg = over(parse(getComputedStyle(el).color), bg);
  const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}"""


def low_contrast(page: Any, selector: str, minimum: float = 4.5) -> list[str]:
    """Visible elements matching ``selector`` whose text contrast is below ``minimum``."""
    found = []
    for element in page.query_selector_all(selector):
        if not element.is_visible() or not element.inner_text().strip():
            continue
        ratio = element.evaluate(CONTRAST_JS)
        if ratio < minimum:
            found.append(f"{element.inner_text().strip()!r} ({ratio:.1f}:1)")
    return found


def open_phone_menu(page: Any) -> None:
    """Tap the phone menu button and wait until Bootstrap has finished opening the menu.

    A click on an item while the menu is still sliding open can land on nothing, so wait for
    the end state (``show`` without ``collapsing``) before the caller clicks inside it.
    """
    page.click(".navbar-toggler")
    page.wait_for_function(
        "() => { const m = document.getElementById('mainnav');"
        " return m.classList.contains('show') && !m.classList.contains('collapsing'); }"
    )


def toggle_elderly_mode(page: Any) -> None:
    """Press the elderly-mode switch and wait for the page it posts to have loaded.

    The switch is a form post followed by a redirect; on a loaded machine that round trip can
    take longer than an assertion's default wait, so wait for the navigation itself.
    """
    with page.expect_navigation(wait_until="load", timeout=30_000):
        page.click("[data-testid=elderly-toggle]")
