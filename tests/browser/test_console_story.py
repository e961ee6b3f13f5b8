"""The operator console's story, in headless Chromium, on the demo data (docs/staff.md).

Three members of staff are added to the demo server's database: Sue (support) and two of
finance, Fay and Fin.

1. Sue, at a desk in English, types the Mainland number of demo SIM 1 the way a caller reads
   it out into the header's search box and lands on the SIM's page: both numbers, its
   money, the account that holds it, and its timeline — its top-ups, the journals that
   booked them, its SMS. She has no form to adjust the balance. The page is photographed in
   the three languages, each in its region's CJK font, and on a phone, where nothing is
   wider than the screen.
2. Fay, on her phone in Traditional Chinese, enters +HK$25.00 with a reason: the page says
   it waits for someone else; the balance has not moved; the queue shows it to her with no
   button to approve her own.
3. Fin, at a desk, approves it on the queue; the SIM's page shows the balance HK$25.00
   higher, the approval's journal at the top of its story and the adjustment approved.

Screenshots go to ``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.demo.service import DemoStaff
from simkeep.settings import load_settings
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from tests.browser.conftest import DemoSite, Tab, open_tab
from tests.browser.test_layout import REGIONAL_FONTS, assert_fits_the_screen, fonts_drawing
from tests.browser.test_staff_console import log_in

pytestmark = pytest.mark.browser

SUE = DemoStaff(
    "sue", "Sue Support", "support", "sue-support-1", "SUESUPPORTSUESUPPORTSUESUPPORTSU"
)
FAY = DemoStaff(
    "fay", "Fay Finance", "finance", "fay-finance-1", "FAYFINANCEFAYFINANCEFAYFINANCEFA"
)
FIN = DemoStaff(
    "fin", "Fin Finance", "finance", "fin-finance-1", "FINFINANCEFINFINANCEFINFINANCEFI"
)
SIM_HK, SIM_CN = "+852 9201 0037", "+86 139 0001 0053"  # demo SIM 1, held by +852 6100 0001
TYPED_CN = "139-0001-0053"
LANGUAGES = [("zh-Hant-HK", "zh_Hant_HK"), ("zh-Hans-CN", "zh_Hans_CN"), ("en", "en")]
STORY = {"zh_Hant_HK": "記錄（最新在前）", "zh_Hans_CN": "记录（最新在前）", "en": "What happened"}
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def members(demo_site: DemoSite) -> None:
    """Sue, Fay and Fin, enrolled, in the demo server's database."""

    async def add() -> None:
        url = f"sqlite:///{demo_site.workdir / 'simkeep.db'}"
        db = Database.from_settings(load_settings(database_url=url))
        try:
            for member in (SUE, FAY, FIN):
                await staff.ensure_staff(
                    db,
                    username=member.username,
                    display_name=member.name,
                    role=member.role,
                    password=member.password,
                    totp_secret=member.totp_secret,
                    actor=CLI,
                    now=SystemClock().now(),
                )
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as apart:  # Playwright's loop runs in this thread
        apart.submit(asyncio.run, add()).result()


@pytest.fixture
def desk(browser: Browser, demo_server: str, members: None) -> Iterator[Tab]:
    with open_tab(browser, demo_server, DESK, mobile=False, locale="en-GB") as tab:
        yield tab
        assert tab.outside_requests == []
        assert tab.errors == [], "\n".join(tab.errors)


@pytest.fixture
def phone(browser: Browser, demo_server: str, members: None) -> Iterator[Tab]:
    with open_tab(browser, demo_server, PHONE, mobile=True, locale="zh-HK") as tab:
        yield tab
        assert tab.outside_requests == []
        assert tab.errors == [], "\n".join(tab.errors)


def balance_of(page: Page) -> Decimal:
    text = page.locator(".staff-sim__balance strong").inner_text()
    return Decimal(re.sub(r"[^\d.]", "", text))


def switch_to(page: Page, tag: str) -> None:
    page.locator(f'.lang-switch a[lang="{tag}"]').click()
    expect(page.locator("html")).to_have_attribute("lang", tag)


def test_support_finds_a_sim_by_its_mainland_number(desk: Tab, screenshots: Path) -> None:
    page = desk.page
    log_in(page, SUE)
    page.fill("#staff-search-q", TYPED_CN)
    page.press("#staff-search-q", "Enter")
    expect(page).to_have_url(re.compile(r"/staff/sims/\d+\?found="))
    expect(page.locator("h1")).to_contain_text(SIM_HK)
    expect(page.locator("h1")).to_contain_text(SIM_CN)
    expect(page.locator(".notice")).to_contain_text(TYPED_CN)
    expect(page.locator(".staff-holders")).to_contain_text("+852 6100 0001")
    assert page.locator(".staff-entry--order").count() >= 1
    assert page.locator(".staff-entry--journal").count() >= 1
    expect(page.locator(".staff-entry--order").first).to_contain_text("Receipt")
    expect(page.locator("form.staff-adjust")).to_have_count(0)  # support does not adjust
    expect(page.locator(".staff-nav__who")).to_contain_text("Support")
    for tag, code in LANGUAGES:
        switch_to(page, tag)
        expect(page.locator("#story")).to_contain_text(STORY[code])
        if code in REGIONAL_FONTS:
            fonts = fonts_drawing(page, "#story")
            assert {font["familyName"] for font in fonts} <= REGIONAL_FONTS[code], fonts
        page.screenshot(path=str(screenshots / f"console_sim_{code}.png"), full_page=True)


def test_finance_adjusts_and_another_member_of_finance_approves(
    phone: Tab, desk: Tab, screenshots: Path
) -> None:
    maker = phone.page
    log_in(maker, FAY)
    maker.fill("#staff-search-q", SIM_HK)
    maker.press("#staff-search-q", "Enter")
    expect(maker).to_have_url(re.compile(r"/staff/sims/\d+"))
    sim_page = maker.url.split("?")[0]
    before = balance_of(maker)
    switch_to(maker, "zh-Hant-HK")
    assert_fits_the_screen(maker, PHONE["width"])
    maker.screenshot(path=str(screenshots / "console_sim_zh_Hant_HK_phone.png"), full_page=True)

    maker.fill('input[name="amount"]', "+25.00")
    maker.fill('input[name="reason"]', "Goodwill: a dropped call on 1 Dec")
    maker.locator("form.staff-adjust button[type=submit]").click()
    notice = maker.locator(".notice")
    expect(notice).to_contain_text("調整 #")
    number = re.search(r"#(\d+)", notice.inner_text())
    assert number is not None
    adjustment = number.group(1)
    assert balance_of(maker) == before  # nothing moves before someone else approves
    assert_fits_the_screen(maker, PHONE["width"])

    maker.goto("/staff/adjustments")
    card = maker.locator(f"#adjustment-{adjustment}")
    expect(card).to_contain_text("+HK$25.00")
    expect(card.locator("button")).to_have_count(0)  # never one's own
    assert_fits_the_screen(maker, PHONE["width"])
    maker.screenshot(
        path=str(screenshots / "console_adjustments_zh_Hant_HK_phone.png"), full_page=True
    )

    checker = desk.page
    log_in(checker, FIN)
    checker.goto("/staff/adjustments")
    card = checker.locator(f"#adjustment-{adjustment}")
    expect(card).to_contain_text("Goodwill: a dropped call on 1 Dec")
    card.locator('input[name="note"]').first.fill("checked against the call log")
    card.get_by_role("button", name="Approve").click()
    expect(checker.locator(".notice")).to_contain_text(f"Adjustment #{adjustment} was decided.")
    expect(checker.locator(f"#adjustment-{adjustment}")).to_contain_text("Approved")
    checker.screenshot(path=str(screenshots / "console_adjustments_en.png"), full_page=True)

    checker.goto(sim_page)
    assert balance_of(checker) == before + Decimal("25.00")
    booked = checker.locator(".staff-timeline li").first  # the approval's journal, newest
    expect(booked).to_contain_text(f"adjustment:{adjustment}")
    expect(booked).to_contain_text("+HK$25.00")
    entered = checker.locator(f'.staff-entry--adjustment:has(a[href$="adjustment-{adjustment}"])')
    expect(entered).to_contain_text("Approved")
    checker.screenshot(
        path=str(screenshots / "console_sim_after_adjustment_en.png"), full_page=True
    )
