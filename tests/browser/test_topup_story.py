"""A new subscriber's first top-ups, clicked through in headless Chromium on a phone.

Against the live server on the demo data (an HKD→CNY rate of 0.9200 is set): a person whose
phone asks for Traditional Chinese registers, reading the SMS code on the SMS simulator's
page; links a CNY SIM and an HKD SIM, each with the code sent to it; switches to Simplified
Chinese and tops up ¥100 with WeChat Pay's QR code (offered on a phone as the fallback) —
the status page shows the QR code, the simulated cashier (opened from the page, as another
phone would scan it) takes the payment password, and the status page, left open, turns to
"credited" by itself; then switches to English and tops up HK$50 with Alipay, the phone's
pre-selected way, paid in renminbi — redirected to the simulated cashier, back on the status
page after paying. Both credits arrive the real way: the simulator's signed
notification reaches the notify endpoint over HTTP, with the server's worker loop running
(SMS delivery, polling, retries). Finally /my shows the new balances. Each step is saved as
a screenshot (390×844) in ``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots``, after checking
that nothing is wider than the phone's screen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Tab, open_tab
from tests.browser.test_layout import assert_fits_the_screen

pytestmark = pytest.mark.browser

PHONE = "+85261880001"  # the new subscriber
PASSWORD = "my first password"
# Demo SIMs nobody holds yet (``simkeep.demo.service``: SIM n has HK number 9{n+200}{n*37}
# and Mainland number 139{n:04}{n*53:04}): 12 is a CNY validity card, 8 an HKD one.
CNY_SIM = "+8613900120636"
HKD_SIM = "+85292080296"
WECHAT_PASSWORD = "123456"  # the simulators' demo payment password
SETTLE_MS = 15_000  # the status page asks every 2 s; the worker runs every second
WIDTH = 390


@pytest.fixture
def person(browser: Browser, demo_server: str) -> Iterator[Tab]:
    """A 390×844 phone whose browser asks for Traditional Chinese (Hong Kong)."""
    with open_tab(
        browser, demo_server, {"width": WIDTH, "height": 844}, mobile=True, locale="zh-HK"
    ) as tab:
        yield tab


class Story:
    def __init__(self, page: Page, screenshots: Path, *, prefix: str = "topup_story") -> None:
        self.page = page
        self.folder = screenshots
        self.prefix = prefix
        self.shots = 0

    def shot(self, name: str, *, ours: bool = True) -> None:
        """Check that one of our pages fits the phone's width; keep a picture of any page."""
        if ours:
            assert_fits_the_screen(self.page, WIDTH)
        self.shots += 1
        path = self.folder / f"{self.prefix}_{self.shots:02d}_{name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def sms_code(self, to: str) -> str:
        """The newest code sent to ``to``, read on the SMS simulator's page (the worker
        delivers the SMS a moment after it is queued)."""
        sms = self.page.context.new_page()
        try:
            for _ in range(40):
                sms.goto(f"/_sim/sms?to={quote(to)}")
                bodies = sms.locator("ul li p")  # newest first
                newest = bodies.first.inner_text() if bodies.count() else ""
                match = re.search(r"(?<!\d)(\d{6})(?!\d)", newest)
                if match:
                    sms.screenshot(path=str(self.folder / f"{self.prefix}_sms.png"))
                    return match.group(1)
                sms.wait_for_timeout(250)
        finally:
            sms.close()
        raise AssertionError(f"no SMS code reached {to}")

    def language(self, tag: str) -> None:
        self.page.locator(f'.lang-switch a[hreflang="{tag}"]').click()
        expect(self.page.locator("html")).to_have_attribute("lang", tag)

    def balance_of(self, number: str) -> Decimal:
        """The balance /my shows on the card of the SIM with ``number``."""
        self.page.goto("/my")
        card = self.page.locator("article.sim-card", has_text=_spaced(number))
        return _amount(card.locator(".figures__main").inner_text())

    def topup_from_my(self, number: str, amount: str) -> None:
        """From /my: the card's top-up button, the guard, the number typed again, the amount."""
        self.page.goto("/my")
        card = self.page.locator("article.sim-card", has_text=_spaced(number))
        card.locator('a[href^="/topup?number="]').click()
        expect(self.page.locator(".guard")).to_be_visible()
        self.page.fill('input[name="confirm"]', number)
        self.page.locator(f'label:has(input[value="{amount}"])').click()

    def link(self, number: str) -> None:
        self.page.goto("/my/sims/link")
        self.page.fill('input[name="number"]', number)
        self.page.click('button[value="send"]')
        self.page.fill('input[name="code"]', self.sms_code(number))
        self.page.click('button[value="link"]')
        expect(self.page).to_have_url(re.compile(r"/my/sims/\d+$"))


def _spaced(e164: str) -> str:
    """How the pages write a number: ``+852 9208 0296``, ``+86 139 0012 0636``."""
    if e164.startswith("+852"):
        return f"+852 {e164[4:8]} {e164[8:]}"
    return f"+86 {e164[3:6]} {e164[6:10]} {e164[10:]}"


def _amount(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.]", "", text))


def test_a_new_subscriber_tops_up_two_sims(person: Tab, screenshots: Path) -> None:
    page = person.page
    story = Story(page, screenshots)

    # Register (Traditional Chinese, as the phone asks).
    page.goto("/register")
    expect(page.locator("h1")).to_have_text("建立帳戶")
    story.shot("register_zh-Hant")
    page.fill('input[name="phone"]', "6188 0001")
    page.click('button[value="send"]')
    page.fill('input[name="code"]', story.sms_code(PHONE))
    page.fill('input[name="password"]', PASSWORD)
    story.shot("register_code_zh-Hant")
    page.click('button[value="create"]')
    expect(page).to_have_url(re.compile(r"/my$"))
    expect(page.locator(".app-nav")).to_contain_text("登出")
    story.shot("my_empty_zh-Hant")

    # Link a CNY SIM and an HKD SIM, each with the code sent to it.
    story.link(CNY_SIM)
    story.shot("sim_linked_zh-Hant")
    story.link(HKD_SIM)
    page.goto("/my")
    expect(page.locator("article.sim-card")).to_have_count(2)
    story.shot("my_two_sims_zh-Hant")
    cny_before, hkd_before = story.balance_of(CNY_SIM), story.balance_of(HKD_SIM)

    # ¥100 with WeChat Pay, in Simplified Chinese: QR code → simulated cashier → password.
    story.language("zh-Hans-CN")
    story.topup_from_my(CNY_SIM, "10000")
    story.shot("topup_amount_zh-Hans")
    page.click('button[value="review"]')
    expect(page.locator(".summary__total")).to_have_text("¥100.00")
    page.locator('label:has(input[value="wechatpay-qr"])').click()  # the QR code, as a fallback
    story.shot("topup_review_zh-Hans")
    page.click("button.button--pay")
    expect(page.locator(".qr-box svg")).to_be_visible()
    expect(page.locator(".status__title")).to_contain_text("微信支付")
    story.shot("status_qr_zh-Hans")
    with page.expect_popup() as opened:
        page.click('a[href^="/_sim/wechatpay/cashier/"]')
    cashier = opened.value
    cashier.fill('input[name="password"]', WECHAT_PASSWORD)
    cashier.click('button[value="pay"]')
    expect(cashier.locator("[role=status]")).to_contain_text("Paid")
    cashier.screenshot(path=str(screenshots / "topup_story_wechat_cashier.png"), full_page=True)
    cashier.close()
    # The status page was left alone: it must turn to "credited" by itself.
    expect(page.locator(".status--done")).to_be_visible(timeout=SETTLE_MS)
    expect(page.locator(".status__title")).to_have_text("充值成功")
    expect(page.locator("#order-status")).to_have_attribute("data-state", "credited")
    expect(page.locator(".status--done")).to_contain_text("¥100.00")
    story.shot("status_credited_zh-Hans")

    # HK$50 with Alipay, in English: paid in renminbi at the locked rate, via the cashier.
    story.language("en")
    story.topup_from_my(HKD_SIM, "5000")
    expect(page.locator("form.form")).to_contain_text("1 HKD = 0.9200 CNY")
    page.locator('label:has(input[name="pay_currency"][value="CNY"])').click()  # not HKD
    story.shot("topup_amount_en")
    page.click('button[value="review"]')
    expect(page.locator(".summary__total")).to_have_text("CN¥46.00")
    expect(page.locator(".summary")).to_contain_text("locked for this order")
    expect(page.locator('input[value="alipay-wap"]')).to_be_checked()  # a phone: the cashier page
    story.shot("topup_review_en")
    page.click("button.button--pay")
    expect(page.locator("h1")).to_have_text("Alipay cashier (simulator)")
    story.shot("alipay_cashier", ours=False)  # the simulator's page
    page.fill('input[name="password"]', "123456")
    page.click('button[value="pay"]')
    expect(page).to_have_url(re.compile(r"/topups/T\d+"))
    expect(page.locator(".status--done")).to_be_visible(timeout=SETTLE_MS)
    expect(page.locator(".status__title")).to_have_text("Top-up credited")
    expect(page.locator(".status--done")).to_contain_text("HK$50.00")
    story.shot("status_credited_en")

    # Its receipt, with the QR code whose link anyone can open to check it.
    page.click('a[href$="/receipt"]')
    expect(page.locator("h1")).to_have_text("Top-up receipt")
    expect(page.locator(".receipt")).to_contain_text("HK$50.00")
    expect(page.locator(".receipt")).to_contain_text("1 HKD = 0.9200 CNY")
    expect(page.locator(".receipt__qr svg")).to_be_visible()
    story.shot("receipt_en")
    page.click("a.receipt__link")
    expect(page.locator(".status--done")).to_contain_text("genuine simkeep receipt")
    story.shot("receipt_verified_en")

    # /my shows both new balances.
    assert story.balance_of(CNY_SIM) == cny_before + 100
    assert story.balance_of(HKD_SIM) == hkd_before + 50
    story.shot("my_after_en")
    page.goto("/topups")
    expect(page.locator("a.order")).to_have_count(2)
    story.shot("history_en")
    story.language("zh-Hant-HK")
    story.shot("history_zh-Hant")

    assert person.outside_requests == []
    assert person.errors == []
