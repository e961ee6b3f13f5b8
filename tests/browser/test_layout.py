"""The base layout as a person sees it, in headless Chromium: three languages on a phone.

On a 390×844 phone the visitor taps 繁, 简 and EN in the header in turn. Each tap must show
the page in that language (``<html lang>``, the heading, the highlighted switch), drawn in
that region's CJK font rather than boxes, with nothing wider than the screen; coming back to
``/`` must keep the choice (the ``lang`` cookie). The API docs must render Swagger UI with
no request leaving the server. Screenshots go to ``$SIMKEEP_SCREENSHOTS`` (default: a
temporary folder). HTTP-level checks of the same pages live in ``tests/e2e/test_app.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Tab

pytestmark = pytest.mark.browser


# What each language switch link leads to, strings from src/simkeep/web/locale/*/messages.po.
# (label, locale code, <html lang>, h1, eyebrow above the h1)
LANGUAGES = [
    ("繁", "zh_Hant_HK", "zh-Hant-HK", "為中港電話卡增值，保住你的號碼", "一張電話卡，兩個號碼"),
    ("简", "zh_Hans_CN", "zh-Hans-CN", "为中港手机卡充值，保住您的号码", "一张手机卡，两个号码"),
    ("EN", "en", "en", "Top up your China–Hong Kong SIM and keep your numbers alive",
     "One SIM card, two numbers"),
]  # fmt: skip
# The Han glyphs of each Chinese locale must come from a font of its own region
# (simkeep.css picks them; CI installs Debian's fonts-noto-cjk).
REGIONAL_FONTS = {
    "zh_Hant_HK": {"Noto Sans CJK HK", "Noto Sans CJK TC"},
    "zh_Hans_CN": {"Noto Sans CJK SC"},
}


def fonts_drawing(page: Page, selector: str) -> list[dict[str, Any]]:
    """The platform fonts Chromium used to draw the text of the first ``selector`` match."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts: list[dict[str, Any]] = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})[
            "fonts"
        ]
        return fonts
    finally:
        cdp.detach()


def assert_fits_the_screen(page: Page, width: int) -> None:
    """No horizontal scrolling, and the whole header (language switch too) on screen."""
    # Measured once the page has loaded: after a click, the text a test waited for may be
    # there before the stylesheet is applied (an unstyled QR code is wider than a phone).
    page.wait_for_load_state("load")
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    # A mobile browser widens its layout viewport to fit what overflows, and innerWidth with
    # it: hence both comparisons, or an overflow would pass as "scrollWidth <= innerWidth".
    assert scroll_width <= inner_width == width, (
        f"page is {scroll_width}px wide (layout viewport {inner_width}px) on a {width}px screen"
    )
    for selector in (".brand", ".lang-switch"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width, f"{selector} sticks out: {box}"


def test_language_switch_on_a_phone(phone: Tab, screenshots: Path) -> None:
    page = phone.page
    home = page.goto("/")
    assert home is not None
    assert "script-src 'self';" in home.headers["content-security-policy"]  # enforced below
    # An English-speaking browser (Accept-Language: en-GB) first gets English.
    expect(page.locator("html")).to_have_attribute("lang", "en")

    for label, code, tag, heading, eyebrow in LANGUAGES:
        page.locator(".lang-switch").get_by_role("link", name=label, exact=True).tap()
        expect(page.locator("html")).to_have_attribute("lang", tag)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator(".hero__eyebrow")).to_have_text(eyebrow)
        current = page.locator(".lang-switch a[aria-current]")
        expect(current).to_have_count(1)
        expect(current).to_have_text(label)

        # Coming back to the home page, with no ?lang=, keeps the choice: the cookie.
        assert {"name": "lang", "value": code} in [
            {"name": cookie.get("name"), "value": cookie.get("value")}
            for cookie in page.context.cookies()
        ]
        page.goto("/")
        expect(page.locator("html")).to_have_attribute("lang", tag)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        page.reload()
        expect(page.locator("html")).to_have_attribute("lang", tag)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)

        if code in REGIONAL_FONTS:
            fonts = fonts_drawing(page, "h1")
            assert {font["familyName"] for font in fonts} <= REGIONAL_FONTS[code], fonts
            assert sum(font["glyphCount"] for font in fonts) == len(heading), fonts
        assert_fits_the_screen(page, 390)
        page.screenshot(path=screenshots / f"home-{code}-phone.png", full_page=True)

    assert phone.outside_requests == []
    assert phone.errors == []


def test_api_docs_render_offline(desktop: Tab, screenshots: Path) -> None:
    page = desktop.page
    docs_page = page.goto("/api/docs")
    assert docs_page is not None
    assert "script-src 'self' 'sha256-" in docs_page.headers["content-security-policy"]
    docs = page.locator(".swagger-ui")
    expect(docs.locator(".info .title")).to_contain_text("simkeep")
    expect(docs.locator(".opblock-summary-path").filter(has_text="/healthz")).to_be_visible()
    page.screenshot(path=screenshots / "api-docs-desktop.png", full_page=True)

    # Swagger UI's script, styles and the OpenAPI document all came from the app itself, and
    # nothing broke its Content-Security-Policy (a violation is a console error).
    assert desktop.outside_requests == []
    assert desktop.errors == []
