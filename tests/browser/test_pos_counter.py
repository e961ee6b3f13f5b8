"""The counter in headless Chromium at 1024×768 on the demo data: the demo clerk logs in and
lands at /pos, looks a demo number up and tops it up; the first answer is lost on the way
back (the sale was made), the page's script sends the same sale again with the same key and
shows "Done — receipt …", and the shift holds one sale more, not two. The receipt page
prints (its Print button works only with the script). Screenshots go to
``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Route, expect

from simkeep.demo.agents import DEMO_AGENT_STAFF
from simkeep.demo.service import DEMO_SUBSCRIBERS
from tests.browser.conftest import Tab, open_tab

pytestmark = pytest.mark.browser
CLERK = next(member for member in DEMO_AGENT_STAFF if member.username == "clerk.mk")


@pytest.fixture
def till(browser: Browser, demo_server: str) -> Iterator[Tab]:
    with open_tab(
        browser, demo_server, {"width": 1024, "height": 768}, mobile=False, locale="en-GB"
    ) as tab:
        yield tab


def test_a_lost_answer_is_sent_again_and_sells_once(till: Tab, screenshots: Path) -> None:
    page = till.page
    page.goto("/staff/login?lang=en")
    page.fill('input[name="username"]', CLERK.username)
    page.fill('input[name="password"]', CLERK.password)
    page.fill('input[name="code"]', pyotp.TOTP(CLERK.totp_secret).now())
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/pos$"))
    if page.locator('input[name="opening_cash"]').count():
        page.fill('input[name="opening_cash"]', "500")
        page.get_by_role("button", name="Open the shift").click()
    sales_before = page.locator(".pos-sales li").count()

    number = DEMO_SUBSCRIBERS[0].hk_numbers[0]
    page.fill('input[name="number"]', number)
    page.keyboard.press("Enter")
    expect(page.locator(".pos-lookup")).to_be_visible()
    expect(page.locator('input[name="amount"]')).to_be_focused()
    page.screenshot(path=str(screenshots / "pos_lookup_en.png"), full_page=True)

    lost: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        if not lost:
            route.fetch()  # the server makes the sale …
            lost.append(route.request.post_data or "")
            route.abort("connectionreset")  # … and its answer never arrives
        else:
            route.continue_()

    page.route("**/pos/topups", lose_the_first_answer)
    page.fill('input[name="amount"]', "50")
    page.keyboard.press("Enter")

    status = page.locator(".pos-status").first
    expect(status).to_contain_text("Done — receipt R", timeout=15_000)
    assert len(lost) == 1
    page.screenshot(path=str(screenshots / "pos_done_en.png"), full_page=True)
    status.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Top-up receipt")
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    page.screenshot(path=str(screenshots / "pos_receipt_en.png"), full_page=True)

    page.goto("/pos")
    assert page.locator(".pos-sales li").count() == min(sales_before + 1, 10)
