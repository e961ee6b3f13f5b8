"""Paying on a phone with WeChat Pay H5, then pressing Back, in headless Chromium.

Against the live server on the demo data, a 390×844 phone (a phone browser's User-Agent)
that asks for English: a new subscriber registers, links a CNY SIM and tops it up ¥100. The
review page lists first the ways that open the wallet on the phone itself and keeps the QR
codes as the fallback; they choose WeChat Pay, are sent to the simulated H5 cashier, pay
with the password and are sent back to the status page, which turns to "credited" by itself
(the simulator's signed notification reaching the notify endpoint over HTTP, the worker
loop running). Then they press Back until the review page: every page on the way must be
a GET page that loads again as it is, sending no form a second time. (A POST's result taken
from history is what the fix removed: a person's Chromium asks "resubmit the form?" or
shows ``net::ERR_CACHE_MISS``; Playwright's Chromium, started with
``--disable-prompt-on-repost``, silently sends the POST again — so the test watches the
requests, not only the page.) Screenshots go to ``$SIMKEEP_SCREENSHOTS`` or
``var/screenshots``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Request, expect

from tests.browser.conftest import Tab, open_tab
from tests.browser.test_topup_story import CNY_SIM, SETTLE_MS, WECHAT_PASSWORD, WIDTH, Story

pytestmark = pytest.mark.browser

PHONE = "+85261880002"  # the new subscriber
BACK_STEPS = 4  # status page → cashier → review, with room to spare


@pytest.fixture
def phone(browser: Browser, demo_server: str) -> Iterator[Tab]:
    with open_tab(
        browser, demo_server, {"width": WIDTH, "height": 844}, mobile=True, locale="en-GB"
    ) as tab:
        yield tab


def test_wechat_pay_h5_on_a_phone_then_back_to_the_review(phone: Tab, screenshots: Path) -> None:
    page = phone.page
    story = Story(page, screenshots, prefix="pay_on_a_phone")
    dialogs: list[str] = []

    def note(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", note)

    page.goto("/register")
    page.fill('input[name="phone"]', "6188 0002")
    page.click('button[value="send"]')
    expect(page).to_have_url(re.compile(r"/register\?phone=%2B85261880002&step=code$"))
    page.fill('input[name="code"]', story.sms_code(PHONE))
    page.fill('input[name="password"]', "my phone password")
    page.click('button[value="create"]')
    expect(page).to_have_url(re.compile(r"/my$"))
    story.link(CNY_SIM)
    balance = story.balance_of(CNY_SIM)

    story.topup_from_my(CNY_SIM, "10000")
    page.click('button[value="review"]')
    expect(page).to_have_url(re.compile(r"/topup\?.*step=review"))
    methods = page.locator('input[name="method"]')
    expect(methods.nth(0)).to_have_value("alipay-wap")  # the wallet opens on the phone …
    expect(methods.nth(0)).to_be_checked()
    expect(methods.nth(1)).to_have_value("wechatpay-wap")
    expect(methods.nth(2)).to_have_value("unionpay-wap")  # the card's cashier for a phone
    expect(methods.nth(4)).to_have_value("wechatpay-qr")  # … a QR code is the fallback
    page.locator('label:has(input[value="wechatpay-wap"])').click()
    story.shot("review_en")
    page.click("button.button--pay")

    expect(page).to_have_url(re.compile(r"/_sim/wechatpay/cashier/T\d+\?redirect_url="))
    story.shot("wechat_h5_cashier", ours=False)  # the simulator's page
    page.fill('input[name="password"]', WECHAT_PASSWORD)
    page.click('button[value="pay"]')
    expect(page).to_have_url(re.compile(r"/topups/T\d+$"))
    expect(page.locator(".status--done")).to_be_visible(timeout=SETTLE_MS)
    expect(page.locator(".status__title")).to_have_text("Top-up credited")
    story.shot("credited_en")

    resent: list[str] = []

    def watch(request: Request) -> None:
        if request.method != "GET":
            resent.append(f"{request.method} {request.url}")

    page.on("request", watch)
    for _ in range(BACK_STEPS):
        page.go_back()
        if "step=review" in page.url:
            break
    expect(page).to_have_url(re.compile(r"/topup\?.*step=review"))
    expect(page.locator("#review-title")).to_have_text("Check and pay")
    assert "ERR_CACHE_MISS" not in page.content()
    assert resent == []  # no form sent again on the way back
    story.shot("back_at_the_review_en")
    assert dialogs == []

    assert story.balance_of(CNY_SIM) == balance + 100
    assert phone.outside_requests == []
    assert phone.errors == []
