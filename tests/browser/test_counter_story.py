"""The counter's whole story in headless Chromium on the demo data: the Mong Kok clerk logs in
and opens a shift; a HK$500 top-up is refused until the holder's ID is checked (a wrong
number first: "no match"), then goes through in cash; the receipt prints and its QR link
proves it genuine; the clerk sells a voucher by its serial for cash and its receipt lists
it; the demo subscriber redeems that voucher's PIN for their number in the app (in
Traditional Chinese) and is credited; the clerk closes the shift with the cash counted,
and the Z-report shows the top-up, the voucher and no difference. Screenshots go to
``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots`` (prefix ``counter_story``)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from decimal import Decimal

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from simkeep.demo.agents import DEMO_AGENT_STAFF
from simkeep.demo.service import DEMO_SUBSCRIBERS, demo_id
from simkeep.demo.vouchers import DEMO_FILE, SOLD
from tests.browser.conftest import DemoSite, Tab, open_tab

pytestmark = pytest.mark.browser
CLERK = next(member for member in DEMO_AGENT_STAFF if member.username == "clerk.mk")
SUBSCRIBER = DEMO_SUBSCRIBERS[0]
SIM = SUBSCRIBER.sims[0]  # a Hong Kong dollar SIM: the Mong Kok counter sells in HKD
SETTLE_MS = 15_000


@pytest.fixture
def till(browser: Browser, demo_site: DemoSite) -> Iterator[Tab]:
    with open_tab(
        browser, demo_site.base_url, {"width": 1024, "height": 768}, mobile=False, locale="en-GB"
    ) as tab:
        yield tab


@pytest.fixture
def phone(browser: Browser, demo_site: DemoSite) -> Iterator[Tab]:
    with open_tab(
        browser, demo_site.base_url, {"width": 390, "height": 844}, mobile=True, locale="zh-HK"
    ) as tab:
        yield tab


def unsold_voucher(site: DemoSite) -> tuple[str, str]:
    """Serial and PIN of a HK$100 demo voucher no counter has sold yet (the demo sells the
    first ``SOLD`` of each batch)."""
    with (site.workdir / "var" / DEMO_FILE).open(newline="", encoding="utf-8") as printed:
        hkd = [row for row in csv.DictReader(printed) if row["currency"] == "HKD"]
    return hkd[SOLD]["serial"], hkd[SOLD]["pin"]


def shot(page: Page, screenshots: object, name: str) -> None:
    page.screenshot(path=f"{screenshots}/counter_story_{name}.png", full_page=True)


def test_a_clerk_serves_a_customer_and_closes_the_shift(
    till: Tab, phone: Tab, demo_site: DemoSite, screenshots: object
) -> None:
    pos = till.page
    pos.goto("/staff/login?lang=en")
    pos.fill('input[name="username"]', CLERK.username)
    pos.fill('input[name="password"]', CLERK.password)
    pos.fill('input[name="code"]', pyotp.TOTP(CLERK.totp_secret).now())
    pos.locator("form.form button[type=submit]").click()
    expect(pos).to_have_url(re.compile(r"/pos$"))
    opening = Decimal("0")
    if pos.locator('input[name="opening_cash"]').count():  # the demo may have left one open
        opening = Decimal("800")
        pos.fill('input[name="opening_cash"]', "800")
        pos.get_by_role("button", name="Open the shift").click()
    shift_text = pos.locator(".summary").first.inner_text()
    sales_before = _money_after(shift_text, "Cash sales")
    opening = _money_after(shift_text, "Opening cash")
    shot(pos, screenshots, "shift_en")

    pos.fill('input[name="number"]', SUBSCRIBER.hk_numbers[0])
    pos.keyboard.press("Enter")
    expect(pos.locator(".pos-lookup")).to_be_visible()
    pos.fill('input[name="amount"]', "500")
    pos.locator('input[name="payment"][value="cash"]').check()
    pos.get_by_role("button", name=re.compile("^Top up")).click()
    refused = pos.locator(".pos-status--failed").first
    expect(refused).to_contain_text("ID", timeout=SETTLE_MS)
    expect(pos.locator(".pos-status--done")).to_have_count(0)
    shot(pos, screenshots, "id_required_en")

    id_type, id_number = demo_id(SIM)
    pos.select_option('select[name="id_type"]', id_type.value)
    pos.fill('input[name="id_number"]', "Z999999(9)")
    pos.get_by_role("button", name="Check the ID").click()
    expect(pos.locator(".notice--error")).to_contain_text("does NOT match")
    pos.select_option('select[name="id_type"]', id_type.value)
    pos.fill('input[name="id_number"]', id_number)
    pos.get_by_role("button", name="Check the ID").click()
    expect(pos.locator(".notice--ok")).to_contain_text("it matches")
    assert id_number not in pos.content()  # never written back
    shot(pos, screenshots, "id_matched_en")

    pos.fill('input[name="amount"]', "500")
    pos.locator('input[name="payment"][value="cash"]').check()
    pos.get_by_role("button", name=re.compile("^Top up")).click()
    done = pos.locator(".pos-status--done").first
    expect(done).to_contain_text("Done — receipt R", timeout=SETTLE_MS)
    done.get_by_role("link").click()
    expect(pos.locator("h1")).to_have_text("Top-up receipt")
    receipt = pos.locator("main").inner_text()
    assert "HK$500.00" in receipt
    assert "Cash" in receipt
    expect(pos.get_by_role("button", name="Print")).to_be_visible()
    shot(pos, screenshots, "receipt_en")
    pos.emulate_media(media="print")
    shot(pos, screenshots, "receipt_print_en")
    pos.emulate_media(media="screen")
    verify = pos.locator("a.receipt__link").get_attribute("href")
    assert verify is not None
    pos.goto(verify)
    expect(pos.locator("main")).to_contain_text("genuine")
    shot(pos, screenshots, "receipt_verified_en")

    serial, pin = unsold_voucher(demo_site)
    pos.goto("/pos")
    pos.fill('textarea[name="serials"]', serial)
    pos.locator('input[name="v_payment"][value="cash"]').check()
    pos.get_by_role("button", name="Sell the vouchers").click()
    sold = pos.locator(".pos-status--done").first
    expect(sold).to_contain_text("Done — receipt V", timeout=SETTLE_MS)
    sold.get_by_role("link").click()
    expect(pos.locator("main")).to_contain_text(serial)
    shot(pos, screenshots, "voucher_receipt_en")

    page = phone.page
    page.goto("/login?lang=zh_Hant_HK")
    page.fill('input[name="phone"]', SUBSCRIBER.phone)
    page.fill('input[name="password"]', SUBSCRIBER.password)
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/my$"))
    page.goto("/vouchers/redeem")
    page.fill('input[name="pin"]', f"{pin[:4]} {pin[4:8]} {pin[8:12]} {pin[12:]}")
    page.fill('input[name="number"]', SUBSCRIBER.hk_numbers[0])
    if page.locator('input[name="confirm_number"]').count():
        page.fill('input[name="confirm_number"]', SUBSCRIBER.hk_numbers[0])
    shot(page, screenshots, "redeem_zh_hant")
    page.locator("form button[type=submit]").last.click()
    expect(page.locator("main")).to_contain_text("HK$100.00", timeout=SETTLE_MS)
    shot(page, screenshots, "redeemed_zh_hant")
    assert pin not in page.content()

    pos.goto("/pos")
    expected = opening + sales_before + Decimal("600")  # the top-up and the voucher, cash
    assert _money_after(pos.locator(".summary").first.inner_text(), "Expected cash") == expected
    pos.fill('input[name="counted_cash"]', str(expected))
    pos.get_by_role("button", name="Close the shift").click()
    expect(pos).to_have_url(re.compile(r"/pos/shifts/\d+/z-report"))
    report = pos.locator("main").inner_text()
    assert "HK$500.00" in report
    assert "HK$100.00" in report
    assert _money_after(report, "Difference") == 0
    shot(pos, screenshots, "z_report_en")
    assert till.outside_requests == phone.outside_requests == []
    refusals = [e for e in till.errors if "status of 409" in e]  # the refused top-up's answer
    assert len(refusals) == 1
    assert [e for e in till.errors if e not in refusals] == phone.errors == []


def _money_after(text: str, label: str) -> Decimal:
    """The amount written after ``label`` on a page's summary (``HK$1,234.50``)."""
    found = re.search(re.escape(label) + r"[^\d\-−]*([\-−]?)[^\d]*([\d,]+\.\d\d)", text)
    assert found is not None, f"no {label!r} in {text!r}"
    sign = -1 if found.group(1) else 1
    return sign * Decimal(found.group(2).replace(",", ""))
