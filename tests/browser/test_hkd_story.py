"""A Hong Kong dollar SIM topped up three ways, in Hong Kong dollars, in headless Chromium.

Against the live server on the demo data (an HKD→CNY rate of 0.9200 is set), a new
subscriber with an HKD demo SIM:

1. on a desktop (1280×800) that asks for Traditional Chinese, registers, links the SIM and
   tops up HK$100 by FPS. The amount step offers Hong Kong dollars first with their ways to
   pay, then renminbi with the rate; the review offers FPS first. The status page shows the
   FPS QR code: the test photographs it and decodes the picture (``zxing-cpp``), as the
   payer's banking app would, and checks the EMVCo payload by hand (its CRC, HKD, the
   amount, the order number as the reference). The simulated banking app, opened with that
   payload, shows the payee, amount and reference and takes the PIN; the status page, left
   open, turns to "credited" by itself.
2. on a phone (390×844) in English, logs in and tops up HK$50 by bank card: the browser
   posts the signed form to the UnionPay simulator, whose cashier declines the first card
   and says so, then takes a good card with the password; "Return to merchant" leads back
   to the order, credited once the simulator's notification has come over HTTP.
3. in Simplified Chinese on the same phone, tops up HK$50 more with the first of AlipayHK and
   WeChat Pay HK the review offers, paid at its simulated cashier.
4. /my shows the balance HK$200 higher.

Each step is saved as a screenshot in ``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots``,
after checking that nothing is wider than the screen.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import Tab, open_tab
from tests.browser.test_layout import assert_fits_the_screen
from tests.browser.test_topup_story import SETTLE_MS, Story

pytestmark = pytest.mark.browser

PHONE = "+85261880003"  # the new subscriber
TYPED_PHONE = "6188 0003"
PASSWORD = "my hkd password"
# Demo SIM 13 (see the note in test_topup_story): a Hong Kong dollar SIM on a plan that keeps
# the number, held by nobody and used by no other browser test.
HKD_SIM = "+85292130481"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE_SIZE: ViewportSize = {"width": 390, "height": 844}
FPS_PIN = "123456"  # printed on the simulated banking app's page
DECLINED_CARD = "6216 6100 0000 0000 024"  # printed on the UnionPay cashier's page
GOOD_CARD = "6216 6100 0000 0000 016"
CARD_PASSWORD = "123456"
ALIPAYHK_ACCOUNT = "buyer@alipayhk.test"  # printed on the AlipayHK cashier's page
WALLET_PASSWORD = "123456"
FPS_PAYEE = "SIMKEEP DEMO LTD"  # the simulated bank's merchant (simulators.fps_setup)
HKD_NUMERIC = "344"  # ISO 4217


@pytest.fixture
def desktop(browser: Browser, demo_server: str) -> Iterator[Tab]:
    """A 1280×800 desktop whose browser asks for Traditional Chinese (Hong Kong)."""
    with open_tab(browser, demo_server, DESKTOP, mobile=False, locale="zh-HK") as tab:
        yield tab


@pytest.fixture
def phone(browser: Browser, demo_server: str) -> Iterator[Tab]:
    """A 390×844 phone whose browser asks for English."""
    with open_tab(browser, demo_server, PHONE_SIZE, mobile=True, locale="en-GB") as tab:
        yield tab


class Album:
    """The story's screenshots, numbered across the devices."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def shot(self, page: Page, name: str, *, ours: bool = True) -> None:
        """Check that the page fits its screen's width; keep a picture of it."""
        width = page.viewport_size["width"] if page.viewport_size else 0
        if ours:
            assert_fits_the_screen(page, width)
        else:  # a simulator's page: no header of ours, still no sideways scrolling
            page.wait_for_load_state("load")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        self.count += 1
        path = self.folder / f"hkd_story_{self.count:02d}_{name}.png"
        page.screenshot(path=str(path), full_page=True)


def parse_tlv(text: str) -> dict[str, str]:
    """EMVCo's objects: a 2-digit tag, a 2-digit length, the value."""
    objects, at = {}, 0
    while at < len(text):
        tag, length = text[at : at + 2], int(text[at + 2 : at + 4])
        objects[tag] = text[at + 4 : at + 4 + length]
        assert len(objects[tag]) == length, f"object {tag} is cut short"
        at += 4 + length
    return objects


def decode_qr(page: Page, selector: str) -> str:
    """What a phone's camera reads from the QR code on the page."""
    picture = Image.open(BytesIO(page.locator(selector).screenshot()))
    found = zxingcpp.read_barcodes(picture)
    assert [code.format for code in found] == [zxingcpp.BarcodeFormat.QRCode], found
    return found[0].text


def check_fps_payload(payload: str, *, order_no: str, amount: str) -> None:
    """An EMVCo merchant-presented FPS code for this order: dynamic, HKD, the amount, the
    order number as the reference, and a CRC-16/CCITT-FALSE over everything before it."""
    objects = parse_tlv(payload)
    assert list(objects)[:2] == ["00", "01"]
    assert list(objects)[-1] == "63"
    assert objects["00"] == "01"  # payload format indicator
    assert objects["01"] == "12"  # dynamic: one payment
    assert objects["53"] == HKD_NUMERIC
    assert objects["54"] == amount
    assert objects["58"] == "HK"
    assert objects["59"] == FPS_PAYEE
    assert parse_tlv(objects["26"])["00"] == "hk.com.hkicl"  # FPS's scheme identifier
    assert parse_tlv(objects["62"])["05"] == order_no  # the reference label
    crc = binascii.crc_hqx(payload[:-4].encode("ascii"), 0xFFFF)
    assert objects["63"] == f"{crc:04X}"


def spaced(e164: str) -> str:
    """How the pages write a Hong Kong number: ``+852 9213 0481``."""
    return f"+852 {e164[4:8]} {e164[8:]}"


def balance(page: Page) -> Decimal:
    """The balance /my shows for the SIM."""
    page.goto("/my")
    card = page.locator("article.sim-card", has_text=spaced(HKD_SIM))
    return Decimal(re.sub(r"[^\d.]", "", card.locator(".figures__main").inner_text()))


def start_topup(page: Page, amount: str) -> None:
    """From /my: the SIM's top-up button, the number typed again if asked, the amount."""
    page.goto("/my")
    card = page.locator("article.sim-card", has_text=spaced(HKD_SIM))
    card.locator('a[href^="/topup?number="]').click()
    expect(page.locator(".guard")).to_be_visible()
    if page.locator('input[name="confirm"]').count():
        page.fill('input[name="confirm"]', HKD_SIM)
    page.locator(f'label:has(input[name="amount"][value="{amount}"])').click()


def methods_offered(page: Page) -> list[str]:
    """The ways to pay the review offers, in its order."""
    return [choice.input_value() for choice in page.locator('input[name="method"]').all()]


def test_an_hkd_sim_topped_up_by_fps_card_and_wallet(
    desktop: Tab, phone: Tab, screenshots: Path
) -> None:
    album = Album(screenshots)
    page = desktop.page

    # 1. A desktop in Traditional Chinese: register, link the HKD SIM, HK$100 by FPS.
    story = Story(page, screenshots, prefix="hkd_story")  # its SMS codes and SIM linking
    page.goto("/register")
    page.fill('input[name="phone"]', TYPED_PHONE)
    page.click('button[value="send"]')
    page.fill('input[name="code"]', story.sms_code(PHONE))
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[value="create"]')
    expect(page).to_have_url(re.compile(r"/my$"))
    story.link(HKD_SIM)
    before = balance(page)
    album.shot(page, "my_zh-Hant")

    start_topup(page, "10000")
    currencies = page.locator('label.choice:has(input[name="pay_currency"])')
    expect(currencies).to_have_count(2)
    expect(currencies.nth(0).locator("input")).to_have_value("HKD")
    expect(currencies.nth(0).locator("input")).to_be_checked()
    expect(currencies.nth(0)).to_contain_text("轉數快")
    expect(currencies.nth(0)).to_contain_text("AlipayHK")
    expect(currencies.nth(0)).to_contain_text("WeChat Pay HK")
    expect(currencies.nth(0)).to_contain_text("銀行卡（銀聯）")
    expect(currencies.nth(1).locator("input")).to_have_value("CNY")
    expect(currencies.nth(1)).not_to_contain_text("轉數快")
    expect(page.locator("form.form")).to_contain_text("1 HKD = 0.9200 CNY")
    album.shot(page, "amount_zh-Hant")
    page.click('button[value="review"]')
    expect(page.locator(".summary__total")).to_have_text("HK$100.00")
    assert methods_offered(page)[0] == "fps-qr"
    expect(page.locator('input[value="fps-qr"]')).to_be_checked()
    album.shot(page, "review_zh-Hant")
    page.click("button.button--pay")

    expect(page.locator(".status__title")).to_contain_text("轉數快")
    expect(page.locator(".qr-box svg")).to_be_visible()
    order_no = page.locator(".summary__code").inner_text().strip()
    album.shot(page, "status_fps_qr_zh-Hant")
    payload = decode_qr(page, ".qr-box svg")
    check_fps_payload(payload, order_no=order_no, amount="100.00")
    bank_app = page.locator('a[href^="/_sim/fps/app?payload="]')
    href = bank_app.get_attribute("href") or ""
    assert parse_qs(urlsplit(href).query)["payload"] == [payload]  # the code the link opens
    with page.expect_popup() as opened:
        bank_app.click()
    app = opened.value
    expect(app.locator("dl")).to_contain_text(FPS_PAYEE)
    expect(app.locator(".amount")).to_have_text("HK$100.00")
    expect(app.locator('input[name="reference"]')).to_have_value(order_no)
    app.fill('input[name="pin"]', FPS_PIN)
    album.shot(app, "fps_bank_app", ours=False)
    app.click('button[value="pay"]')
    expect(app.locator("[role=status]")).to_contain_text("Paid")
    expect(app.locator("body")).to_contain_text(order_no)
    album.shot(app, "fps_bank_app_paid", ours=False)
    app.close()
    expect(page.locator(".status--done")).to_be_visible(timeout=SETTLE_MS)
    expect(page.locator("#order-status")).to_have_attribute("data-state", "credited")
    expect(page.locator(".status__title")).to_have_text("增值成功")
    expect(page.locator(".status--done")).to_contain_text("HK$100.00")
    album.shot(page, "status_fps_credited_zh-Hant")

    # 2. A phone in English: log in, HK$50 by bank card — a declined card, then a good one.
    page = phone.page
    page.goto("/login")
    page.fill('input[name="phone"]', TYPED_PHONE)
    page.fill('input[name="password"]', PASSWORD)
    page.click("form.form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/my$"))
    start_topup(page, "5000")
    album.shot(page, "amount_en")
    page.click('button[value="review"]')
    expect(page.locator(".summary__total")).to_have_text("HK$50.00")
    offered = methods_offered(page)
    assert "unionpay-wap" in offered
    page.locator('label:has(input[value="unionpay-wap"])').click()
    album.shot(page, "review_card_en")
    page.click("button.button--pay")  # the signed form, posted on by the browser

    expect(page).to_have_url(re.compile(r"/_sim/unionpay/cashier/\w+$"))
    expect(page.locator(".amount")).to_contain_text("HK$50.00")
    album.shot(page, "card_cashier", ours=False)
    page.fill('input[name="card_no"]', DECLINED_CARD)
    page.fill('input[name="password"]', CARD_PASSWORD)
    page.locator("form button").click()
    expect(page.locator("[role=status]")).to_contain_text("declined")
    expect(page.locator('input[name="card_no"]')).to_be_visible()  # try again
    album.shot(page, "card_declined", ours=False)
    page.fill('input[name="card_no"]', GOOD_CARD)
    page.fill('input[name="password"]', CARD_PASSWORD)
    page.locator("form button").click()
    expect(page.locator("[role=status]")).to_contain_text("Paid")
    album.shot(page, "card_paid", ours=False)
    page.get_by_role("link", name=re.compile("Return to merchant")).click()
    expect(page).to_have_url(re.compile(r"/topups/T\d+$"))
    expect(page.locator(".status--done")).to_be_visible(timeout=SETTLE_MS)
    expect(page.locator(".status__title")).to_have_text("Top-up credited")
    expect(page.locator(".status--done")).to_contain_text("HK$50.00")
    album.shot(page, "status_card_credited_en")

    # 3. Simplified Chinese: HK$50 with the first wallet of Hong Kong the review offers.
    page.locator('.lang-switch a[hreflang="zh-Hans-CN"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans-CN")
    start_topup(page, "5000")
    album.shot(page, "amount_zh-Hans")
    page.click('button[value="review"]')
    offered = methods_offered(page)
    wallet = next(m for m in offered if m in ("alipayhk-wap", "wechatpay_hk-wap"))
    assert offered.index(wallet) < offered.index(wallet.replace("-wap", "-qr"))
    page.locator(f'label:has(input[value="{wallet}"])').click()
    album.shot(page, "review_wallet_zh-Hans")
    page.click("button.button--pay")
    if wallet == "alipayhk-wap":
        expect(page).to_have_url(re.compile(r"/_sim/alipayhk/cashier/"))
        expect(page.locator(".amount")).to_have_text("HK$50.00")
        album.shot(page, "alipayhk_cashier", ours=False)
        page.fill('input[name="account"]', ALIPAYHK_ACCOUNT)
        page.click('button[value="login"]')
        page.fill('input[name="password"]', WALLET_PASSWORD)
        album.shot(page, "alipayhk_password", ours=False)
        page.click('button[value="pay"]')
    else:
        expect(page).to_have_url(re.compile(r"/_sim/wechatpay_hk/cashier/"))
        album.shot(page, "wechatpay_hk_cashier", ours=False)
        page.fill('input[name="password"]', WALLET_PASSWORD)
        page.click('button[value="pay"]')
    expect(page).to_have_url(re.compile(r"/topups/T\d+"))
    expect(page.locator(".status--done")).to_be_visible(timeout=SETTLE_MS)
    expect(page.locator(".status__title")).to_have_text("充值成功")
    expect(page.locator(".status--done")).to_contain_text("HK$50.00")
    album.shot(page, "status_wallet_credited_zh-Hans")

    # 4. /my: HK$200 more than before.
    assert balance(page) == before + 200
    album.shot(page, "my_after_zh-Hans")

    for tab in (desktop, phone):
        assert tab.outside_requests == []
        assert tab.errors == [], "\n".join(tab.errors)
