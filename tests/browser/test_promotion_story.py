"""A promotion from the operator's desk to a subscriber's phone, in headless Chromium on the
demo data: the demo operator logs in with the printed password and a code from the printed
TOTP secret, creates a promotion (HK$50 or more: 30 Hong Kong voice minutes, stacking on
the others, one per SIM) and finds it in the audit log; then the first demo subscriber, on
a phone, starts a HK$50 top-up of their Hong Kong SIM and the review shows, before paying,
the day this top-up keeps the number until and the new promotion; once paid (Alipay's
simulated cashier, its signed notification over HTTP), the receipt names what it granted.
Screenshots go to ``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from simkeep.demo.service import DEMO_STAFF, DEMO_SUBSCRIBERS
from tests.browser.conftest import Tab, open_tab
from tests.browser.test_staff_console import log_in
from tests.browser.test_topup_story import SETTLE_MS, WIDTH, Story

pytestmark = pytest.mark.browser

NAME = "Evening calls: 30 minutes"


@pytest.fixture
def desk(browser: Browser, demo_server: str) -> Iterator[Tab]:
    with open_tab(
        browser, demo_server, {"width": 1280, "height": 900}, mobile=False, locale="en-GB"
    ) as tab:
        yield tab


@pytest.fixture
def phone(browser: Browser, demo_server: str) -> Iterator[Tab]:
    with open_tab(
        browser, demo_server, {"width": WIDTH, "height": 844}, mobile=True, locale="en-GB"
    ) as tab:
        yield tab


def test_an_operator_starts_a_promotion_and_a_subscriber_is_offered_it(
    desk: Tab, phone: Tab, screenshots: Path
) -> None:
    staff = desk.page
    operator = next(member for member in DEMO_STAFF if member.role == "operator")
    log_in(staff, operator)
    staff.goto("/staff/promotions/new")
    staff.fill('input[name="code"]', "EVENING30")
    staff.fill('input[name="name_zh_hant_hk"]', "晚間通話 30 分鐘")
    staff.fill('input[name="name_zh_hans_cn"]', "晚间通话 30 分钟")
    staff.fill('input[name="name_en"]', NAME)
    staff.select_option('select[name="currency"]', "HKD")
    staff.fill('input[name="min_credit"]', "50")
    staff.fill('input[name="voice"]', "30")
    staff.fill('input[name="voice_days"]', "30")
    staff.select_option('select[name="voice_zone"]', "hk")
    staff.check('input[name="stackable"]')
    staff.fill('input[name="budget"]', "100")
    staff.fill('input[name="per_sim_cap"]', "1")
    staff.screenshot(path=str(screenshots / "promotion_new_en.png"), full_page=True)
    staff.get_by_role("button", name="Create and start").click()
    expect(staff.locator("main")).to_contain_text(NAME)
    staff.screenshot(path=str(screenshots / "promotions_en.png"), full_page=True)
    staff.goto("/staff/audit?action=promotion.create")
    expect(staff.locator("table.staff-audit tbody tr").first).to_contain_text("EVENING30")

    page = phone.page
    story = Story(page, screenshots, prefix="promotion_story")
    subscriber = DEMO_SUBSCRIBERS[0]
    page.goto("/login?lang=en")
    page.fill('input[name="phone"]', subscriber.phone)
    page.fill('input[name="password"]', subscriber.password)
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/my$"))
    card = page.locator("article.sim-card", has_text="+852 9201 0037")
    card.locator('a[href^="/topup?number="]').click()  # a SIM of theirs: no number to retype
    page.locator('label:has(input[value="5000"])').click()
    page.locator('label:has(input[name="pay_currency"][value="CNY"])').click()  # Alipay's
    page.click('button[value="review"]')
    summary = page.locator(".summary")
    expect(summary).to_contain_text("This top-up keeps your number until")
    expect(summary.locator(".promotion", has_text=NAME)).to_contain_text("30")
    story.shot("review_en")

    page.click("button.button--pay")
    expect(page.locator("h1")).to_have_text("Alipay cashier (simulator)")
    page.fill('input[name="password"]', "123456")
    page.click('button[value="pay"]')
    expect(page.locator(".status--done")).to_be_visible(timeout=SETTLE_MS)
    page.click('a[href$="/receipt"]')
    expect(page.locator(".receipt")).to_contain_text(NAME)
    story.shot("receipt_en")
    assert desk.outside_requests == phone.outside_requests == []
