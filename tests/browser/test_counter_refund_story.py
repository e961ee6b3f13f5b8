"""A counter refund in headless Chromium at 1024×768 on the demo data, in each language: the
Mong Kok clerk tops a demo number up with HK$50 in cash, the customer comes back with the
receipt, and the clerk types its number in "Refund a top-up", sees what goes back, picks the
reason and refunds it in cash; the refund's receipt prints on the 80 mm roll and the shift
counts the cash paid back. Then the demo's refund waiting at the agent's counters is paid
out from the counter's list. Screenshots go to ``$SIMKEEP_SCREENSHOTS`` or
``var/screenshots`` (prefix ``counter_refund``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from simkeep.demo.agents import DEMO_AGENT_STAFF
from simkeep.demo.service import DEMO_SUBSCRIBERS
from tests.browser.conftest import DemoSite, Tab, open_tab

pytestmark = pytest.mark.browser
CLERK = next(member for member in DEMO_AGENT_STAFF if member.username == "clerk.mk")
NUMBER = DEMO_SUBSCRIBERS[0].hk_numbers[0]  # a Hong Kong dollar SIM, as the counter sells
SETTLE_MS = 15_000
RECEIPT_NO = re.compile(r"R\d{16}")
REFUND_NO = re.compile(r"F\d{6}[0-9A-F]{12}")
# What the refund's receipt and the shift say, in each language.
WORDS = {
    "en": ("Refund receipt", "Refunds paid in cash", "Cash"),
    "zh_Hant_HK": ("退款收據", "以現金支付的退款", "現金"),
    "zh_Hans_CN": ("退款收据", "以现金支付的退款", "现金"),
}


@pytest.fixture
def till(browser: Browser, demo_site: DemoSite) -> Iterator[Tab]:
    with open_tab(
        browser, demo_site.base_url, {"width": 1024, "height": 768}, mobile=False, locale="en-GB"
    ) as tab:
        yield tab


def shot(page: Page, screenshots: object, name: str) -> None:
    page.screenshot(path=f"{screenshots}/counter_refund_{name}.png", full_page=True)


def log_in(page: Page) -> None:
    page.goto("/staff/login?lang=en")
    page.fill('input[name="username"]', CLERK.username)
    page.fill('input[name="password"]', CLERK.password)
    page.fill('input[name="code"]', pyotp.TOTP(CLERK.totp_secret).now())
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/pos$"))
    if page.locator('input[name="opening_cash"]').count():  # the demo may have left one open
        page.fill('input[name="opening_cash"]', "800")
        page.locator('form[action="/pos/shifts"] button[type=submit]').click()
    expect(page.locator('input[name="topup"]')).to_be_visible()


def top_up_fifty(page: Page, lang: str) -> str:
    """HK$50 in cash for the demo number; the receipt's number."""
    page.goto(f"/pos?lang={lang}")
    page.fill('input[name="number"]', NUMBER)
    page.keyboard.press("Enter")
    expect(page.locator(".pos-lookup")).to_be_visible()
    page.fill('input[name="amount"]', "50")
    page.locator('input[name="payment"][value="cash"]').check()
    page.locator('form[action="/pos/topups"] button[type=submit]').click()
    done = page.locator(".pos-status--done").first
    expect(done).to_contain_text("R", timeout=SETTLE_MS)
    found = RECEIPT_NO.search(done.inner_text())
    assert found is not None, done.inner_text()
    return found.group(0)


def test_a_clerk_refunds_top_ups_in_cash_in_each_language_and_pays_one_out(
    till: Tab, screenshots: object
) -> None:
    page = till.page
    log_in(page)  # once: a TOTP code is taken once
    for lang in WORDS:
        refund_one(page, screenshots, lang)
    pay_out_the_demos(page, screenshots)
    assert till.outside_requests == []
    assert till.errors == []


def refund_one(page: Page, screenshots: object, lang: str) -> None:
    """Top up HK$50 in cash, refund it by its receipt's number, print the refund's receipt."""
    title, paid_in_cash, cash = WORDS[lang]
    receipt_no = top_up_fifty(page, lang)

    page.goto(f"/pos?lang={lang}")
    page.fill('input[name="topup"]', receipt_no)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/pos/refund\?topup="))
    form = page.locator('form[action="/pos/refunds"]')
    expect(form.locator("button[type=submit]")).to_contain_text("HK$50.00")
    assert NUMBER[-8:] not in page.locator("main").inner_text()  # masked: +852 9***…
    shot(page, screenshots, f"found_{lang}")
    form.locator('input[name="reason"][value="wrong_number"]').check()
    form.locator("button[type=submit]").click()
    done = page.locator(".pos-status--done").first
    expect(done).to_contain_text("F", timeout=SETTLE_MS)
    refund_no = REFUND_NO.search(done.inner_text())
    assert refund_no is not None, done.inner_text()
    shot(page, screenshots, f"done_{lang}")

    done.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text(title)
    paper = page.locator("main").inner_text()
    assert refund_no.group(0) in paper
    assert receipt_no in paper
    assert "HK$50.00" in paper
    assert cash in paper
    expect(page.locator("[data-print]")).to_be_visible()
    shot(page, screenshots, f"receipt_{lang}")
    page.emulate_media(media="print")
    shot(page, screenshots, f"receipt_print_{lang}")
    page.emulate_media(media="screen")

    page.goto(f"/pos?lang={lang}")
    expect(page.locator("main")).to_contain_text(paid_in_cash)


def pay_out_the_demos(page: Page, screenshots: object) -> None:
    """The demo's refund waiting at the agent's counters, paid out from the counter's list."""
    page.goto("/pos?lang=en")
    waiting = page.locator("#h-waiting ~ table tbody tr").first
    expect(waiting).to_contain_text("HK$100.00")
    shot(page, screenshots, "waiting_en")

    waiting.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/pos/refunds/F\w+/pay-out"))
    shot(page, screenshots, "pay_out_en")
    page.locator("form[data-pos-sale] button[type=submit]").click()
    done = page.locator(".pos-status--done").first
    expect(done).to_contain_text("Done — receipt F", timeout=SETTLE_MS)
    done.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Refund receipt")
    shot(page, screenshots, "paid_out_en")
    page.goto("/pos?lang=en")
    expect(page.locator("#h-waiting")).to_have_count(0)
