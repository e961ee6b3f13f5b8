"""Refunds as a subscriber and an operator click through them, in headless Chromium.

Against the live server on the demo data, with its worker loop running (the refunds are
sent to the FPS bank simulator and the SMS delivered by the same jobs as in production), a
new subscriber on a 390×844 phone whose browser asks for Traditional Chinese, holding one
Hong Kong dollar SIM, and the demo operator on a 1280×900 desktop:

1. The subscriber tops up HK$100 by FPS to a number that is not theirs, sees it credited,
   asks for a refund with "I topped up the wrong number": the rule approves it at once (no
   one decides, it never waits for staff), the worker pays it back, the page shows "Paid
   back", the SMS names the refund number, and the operator's list says the rule decided.
2. HK$100 on their own SIM, asked back with "I do not need the credit any more": it waits
   for staff, held on the SIM; the operator approves it with a note; the subscriber's page
   shows it paid back, and the audit log shows the decision with the note.
3. HK$50 more on their own SIM, asked back and refused by the operator with a reason: the
   subscriber sees "Refused" with the reason, and the SIM's balance is what it was.
4. The day's FPS statement is reconciled (made early by the bank simulator, matched on a
   clock a day ahead): the refunds paid back are matched, and the operator's report of the
   day says the day is done.

The refund form, the order page with its refunds and the staff queue are photographed in
the three languages (繁, 简, EN), each checked for its region's CJK font, for English left
untranslated on the Chinese pages, and, on the phone, for nothing wider than the screen.
Screenshots go to ``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from simkeep.clock import HONG_KONG
from simkeep.demo.service import DEMO_STAFF
from simkeep.payment_methods import Provider
from tests.browser.conftest import DemoSite, Tab, open_tab
from tests.browser.test_layout import REGIONAL_FONTS, assert_fits_the_screen, fonts_drawing
from tests.browser.test_staff_console import log_in
from tests.browser.test_topup_story import SETTLE_MS, WIDTH, Story

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+85261880007"  # the new subscriber
TYPED_PHONE = "6188 0007"
PASSWORD = "my refund password"
# Demo SIMs nobody holds (see the note in test_topup_story), both Hong Kong dollar SIMs on
# a plan that keeps the number: 17 is the subscriber's own, 14 a stranger's.
OWN_SIM = "+85292170629"
WRONG_SIM = "+85292140518"
FPS_PIN = "123456"  # printed on the simulated banking app's page
PAID_BACK_S = 30.0  # the worker runs every second; a payout may be asked about again later
# (switch link, <html lang>, catalog locale) of the three languages, Traditional Chinese first.
LANGUAGES = [("zh-Hant-HK", "zh_Hant_HK"), ("zh-Hans-CN", "zh_Hans_CN"), ("en", "en")]
# Latin words a Chinese page may carry: names, codes and units that are not translated.
LATIN_ALLOWED = re.compile(
    r"^(simkeep|SIM|SK|EN|HK|CN|HKD|CNY|FPS|AlipayHK|Alipay|WeChat|Pay|UnionPay|Demo|Operator"
    r"|operator)$"
)
# An order or refund number: codes, not words.
CODE = re.compile(r"\b[TF]\d[0-9A-F]{8,}\b")
# The state words of the refunds table, in each language (refunds.po).
PAID_BACK = {"zh_Hant_HK": "已退回", "zh_Hans_CN": "已退回", "en": "Paid back"}
REFUSED = {"zh_Hant_HK": "已拒絕", "zh_Hans_CN": "已拒绝", "en": "Refused"}
WAITING = {
    "zh_Hant_HK": "等待職員處理",
    "zh_Hans_CN": "等待工作人员处理",
    "en": "Waiting for our staff",
}


@dataclass(frozen=True)
class Subscriber:
    phone: str
    password: str


@pytest.fixture(scope="module")
def subscriber(browser: Browser, demo_server: str, screenshots: Path) -> Subscriber:
    """A new subscriber, registered with the SMS code, holding ``OWN_SIM``."""
    with open_tab(
        browser, demo_server, {"width": WIDTH, "height": 844}, mobile=True, locale="zh-HK"
    ) as tab:
        page = tab.page
        story = Story(page, screenshots, prefix="refund_story")
        page.goto("/register")
        page.fill('input[name="phone"]', TYPED_PHONE)
        page.click('button[value="send"]')
        page.fill('input[name="code"]', story.sms_code(PHONE))
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[value="create"]')
        expect(page).to_have_url(re.compile(r"/my$"))
        story.link(OWN_SIM)
    return Subscriber(PHONE, PASSWORD)


@pytest.fixture
def person(browser: Browser, demo_server: str, subscriber: Subscriber) -> Iterator[Tab]:
    """The subscriber's phone (Traditional Chinese), logged in."""
    with open_tab(
        browser, demo_server, {"width": WIDTH, "height": 844}, mobile=True, locale="zh-HK"
    ) as tab:
        page = tab.page
        page.goto("/login")
        page.fill('input[name="phone"]', TYPED_PHONE)
        page.fill('input[name="password"]', subscriber.password)
        page.click("form.form button[type=submit]")
        expect(page).to_have_url(re.compile(r"/my$"))
        yield tab
        assert tab.outside_requests == []
        assert tab.errors == [], "\n".join(tab.errors)


@pytest.fixture(scope="module")
def desk(browser: Browser, demo_server: str) -> Iterator[Tab]:
    """The demo operator's desktop, logged in once with the printed password and TOTP
    secret (a code is taken once: a second login within its 30 s would be refused)."""
    with open_tab(
        browser, demo_server, {"width": 1280, "height": 900}, mobile=False, locale="en-GB"
    ) as tab:
        log_in(tab.page, next(member for member in DEMO_STAFF if member.role == "operator"))
        yield tab
        assert tab.outside_requests == []
        assert tab.errors == [], "\n".join(tab.errors)


class RefundStory(Story):
    """The subscriber's steps, their screenshots, and the pages in three languages."""

    def current_locale(self) -> str:
        tag = self.page.locator("html").get_attribute("lang")
        return next(code for switch, code in LANGUAGES if switch == tag)

    def top_up_by_fps(self, number: str, amount: str) -> str:
        """Top ``number`` up by FPS, paid in the simulated banking app; the order number."""
        self.page.goto(f"/topup?number={quote(number)}")
        expect(self.page.locator(".guard")).to_be_visible()
        if self.page.locator('input[name="confirm"]').count():  # a number never topped up
            self.page.fill('input[name="confirm"]', number)
        self.page.locator(f'label:has(input[name="amount"][value="{amount}"])').click()
        self.page.locator('label:has(input[name="pay_currency"][value="HKD"])').click()
        self.page.click('button[value="review"]')
        self.page.locator('label:has(input[value="fps-qr"])').click()
        self.page.click("button.button--pay")
        order_no = self.page.locator(".summary__code").inner_text().strip()
        with self.page.expect_popup() as opened:
            self.page.click('a[href^="/_sim/fps/app?payload="]')
        app = opened.value
        app.fill('input[name="pin"]', FPS_PIN)
        app.click('button[value="pay"]')
        expect(app.locator("[role=status]")).to_contain_text("Paid")
        app.close()
        expect(self.page.locator("#order-status")).to_have_attribute(
            "data-state", "credited", timeout=SETTLE_MS
        )
        return order_no

    def ask_refund(self, order_no: str, reason: str, *, tour: str = "") -> None:
        """From the order's page: "Ask for a refund", the reason, submit; back on the page."""
        self.page.goto(f"/topups/{order_no}")
        self.page.click(f'a[href="/topups/{order_no}/refund"]')
        expect(self.page.locator('input[name="reason"]')).to_have_count(4)
        if tour:
            self.tour(tour, "form.form legend")
        self.page.locator(f'label:has(input[name="reason"][value="{reason}"])').click()
        self.page.locator("form.form button[type=submit]").click()
        expect(self.page).to_have_url(re.compile(rf"/topups/{order_no}\?refund=F\w+$"))

    def refund_row(self) -> Locator:
        """The order page's newest refund."""
        return self.page.locator("#refunds + .orders > li").last

    def wait_for_state(self, words: dict[str, str]) -> None:
        """Reload the order page until its newest refund is in that state (bounded)."""
        expected = words[self.current_locale()]
        for _ in range(int(PAID_BACK_S * 2)):
            if expected in self.refund_row().inner_text():
                return
            self.page.wait_for_timeout(500)
            self.page.reload()
        raise AssertionError(f"the refund never showed {expected!r}: {self.refund_row()}")

    def sms_containing(self, to: str, text: str) -> str:
        """The newest SMS to ``to`` that contains ``text`` (the worker delivers it soon)."""
        inbox = self.page.context.new_page()
        try:
            for _ in range(int(PAID_BACK_S * 4)):
                inbox.goto(f"/_sim/sms?to={quote(to)}")
                for body in inbox.locator("ul li p").all_inner_texts():
                    if text in body:
                        inbox.screenshot(path=str(self.folder / f"{self.prefix}_sms.png"))
                        return body
                inbox.wait_for_timeout(250)
        finally:
            inbox.close()
        raise AssertionError(f"no SMS to {to} mentions {text}")

    def tour(self, name: str, sample: str) -> None:
        """The page in each language: its region's font, no English left, a screenshot."""
        start = self.page.locator("html").get_attribute("lang") or "en"
        for tag, code in LANGUAGES:
            self.language(tag)
            self.shot(f"{name}_{tag}")
            check_language(self.page, code, sample)
        self.language(start)


def check_language(page: Page, code: str, selector: str) -> None:
    """Chinese text drawn in its region's font (no empty boxes), no English words left."""
    expect(page.locator(selector).first).to_be_visible()
    if code == "en":
        return
    used = {font["familyName"] for font in fonts_drawing(page, selector)}
    assert used & REGIONAL_FONTS[code], f"{selector} drawn in {used} on a {code} page"
    text = CODE.sub("", page.locator("main").inner_text())
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", text)
    english = sorted({word for word in words if not LATIN_ALLOWED.match(word)})
    assert english == [], f"English left on a {code} page: {english}"


def balance(page: Page, number: str) -> Decimal:
    """The balance /my shows on the card of the SIM with ``number``."""
    page.goto("/my")
    card = page.locator("article.sim-card", has_text=f"+852 {number[4:8]} {number[8:]}")
    return Decimal(re.sub(r"[^\d.]", "", card.locator(".figures__main").inner_text()))


def staff_row(page: Page, order_no: str) -> Locator:
    """The operator's row of the refund of ``order_no`` waiting for a decision."""
    page.goto("/staff/refunds")
    return page.locator("tr", has=page.locator("td", has_text=order_no)).first


def test_a_wrong_number_top_up_is_paid_back_by_the_rule(
    person: Tab, desk: Tab, screenshots: Path
) -> None:
    story = RefundStory(person.page, screenshots, prefix="refund_story_1")
    order_no = story.top_up_by_fps(WRONG_SIM, "10000")
    expect(story.page.locator(".status__title")).to_have_text("增值成功")
    story.shot("credited_zh-Hant")

    story.ask_refund(order_no, "wrong_number")
    row = story.refund_row()
    expect(row).to_contain_text("HK$100.00")
    expect(row).not_to_contain_text(WAITING["zh_Hant_HK"])  # approved at once: no staff
    refund_no = row.locator(".summary__code").inner_text().strip()
    story.shot("approved_zh-Hant")
    story.wait_for_state(PAID_BACK)
    expect(story.page.locator(".status__title")).to_contain_text("已退款")  # the order
    story.shot("paid_back_zh-Hant")
    sms = story.sms_containing(PHONE, refund_no)
    assert "HK$100.00" in sms
    assert order_no in sms

    staff = desk.page
    staff.goto("/staff/refunds")
    latest = staff.locator("tr", has=staff.locator("td", has_text=refund_no))
    expect(latest).to_contain_text("The automatic rule")
    expect(latest).to_contain_text("Paid back")
    expect(staff.locator(f"#refund-{refund_no}")).to_have_count(0)  # it never waited
    staff.goto("/staff/audit?action=refund.approve")
    decision = staff.locator("table.staff-audit tbody tr", has_text=refund_no)
    expect(decision).to_contain_text("rule:wrong_number_unused")


def test_a_request_waits_for_staff_who_approve_it(
    person: Tab, desk: Tab, screenshots: Path
) -> None:
    story = RefundStory(person.page, screenshots, prefix="refund_story_2")
    before = balance(story.page, OWN_SIM)
    order_no = story.top_up_by_fps(OWN_SIM, "10000")
    assert balance(story.page, OWN_SIM) == before + 100

    story.ask_refund(order_no, "not_needed", tour="form")
    row = story.refund_row()
    expect(row).to_contain_text(WAITING["zh_Hant_HK"])
    refund_no = row.locator(".summary__code").inner_text().strip()
    expect(story.page.locator(f'a[href="/topups/{order_no}/refund"]')).to_have_count(0)

    staff = desk.page
    waiting = staff_row(staff, order_no)
    expect(waiting).to_contain_text("I do not need the credit any more")
    expect(waiting).to_contain_text("HK$100.00")
    staff_tour(staff, screenshots, "refund_story_2_staff_queue", f"#refund-{refund_no} td")
    waiting.locator('input[name="note"]').first.fill("Asked the same day, nothing used")
    waiting.get_by_role("button", name="Approve").click()
    expect(staff.locator(".notice")).to_contain_text(refund_no)
    expect(staff.locator(f"#refund-{refund_no}")).to_have_count(0)

    story.page.goto(f"/topups/{order_no}")
    story.wait_for_state(PAID_BACK)
    story.tour("order_paid_back", "#refunds")
    assert balance(story.page, OWN_SIM) == before

    staff.goto("/staff/audit?action=refund.approve")
    entry = staff.locator("table.staff-audit tbody tr", has_text=refund_no)
    expect(entry).to_contain_text("operator")
    changes = entry.locator(".staff-changes")
    expect(changes).to_contain_text("state: requested → approved")
    expect(changes).to_contain_text("decision_note: — → Asked the same day, nothing used")
    staff.screenshot(path=str(screenshots / "refund_story_2_audit_en.png"), full_page=True)


def test_a_refused_request_shows_why_and_gives_the_balance_back(
    person: Tab, desk: Tab, screenshots: Path
) -> None:
    story = RefundStory(person.page, screenshots, prefix="refund_story_3")
    order_no = story.top_up_by_fps(OWN_SIM, "5000")
    credited = balance(story.page, OWN_SIM)
    story.ask_refund(order_no, "charged_twice")

    staff = desk.page
    waiting = staff_row(staff, order_no)
    reason = "此增值只收到一筆付款"  # the operator writes in the payer's language
    waiting.locator('input[name="note"]').last.fill(reason)
    waiting.get_by_role("button", name="Refuse").click()
    expect(staff.locator(".notice")).to_be_visible()

    story.page.goto(f"/topups/{order_no}")
    story.wait_for_state(REFUSED)
    expect(story.refund_row()).to_contain_text(reason)
    expect(story.page.locator(f'a[href="/topups/{order_no}/refund"]')).to_be_visible()
    story.tour("order_refused", "#refunds")
    assert balance(story.page, OWN_SIM) == credited
    # The hold is released: all of it can be asked back again (the form counts holds).
    story.page.goto(f"/topups/{order_no}/refund")
    expect(story.page.locator(".summary__total")).to_have_text("HK$50.00")


def test_the_days_fps_bill_matches_the_refunds_paid_back(
    demo_site: DemoSite, desk: Tab, screenshots: Path
) -> None:
    """The day's FPS statement, reconciled as the next morning's job would (the bank
    simulator makes it early, the service runs a day ahead): the refunds paid back above
    are in it and matched, and the report page says so."""
    paid_back = re.findall(r"F\d[0-9A-F]{17}", desk.page.content())  # what the audit showed
    reconcile_today(demo_site, Provider.FPS)
    today = datetime.now(HONG_KONG).date().isoformat()
    staff = desk.page
    staff.goto(f"/staff/reconciliation/fps/{today}")
    expect(staff.locator("h1")).to_contain_text("FPS")
    expect(staff.locator("h1")).to_contain_text("Done")
    refunds = staff.locator(".staff-card dd", has_text=re.compile(r"^\d+ · "))
    expect(refunds.nth(1)).not_to_have_text(re.compile(r"^[01] · "))  # two paid back, or more
    differences = staff.locator("main").inner_text()
    for refund_no in paid_back:
        assert refund_no not in differences  # matched: counted, not listed
    staff.screenshot(path=str(screenshots / "refund_story_4_reconciled_en.png"), full_page=True)


def reconcile_today(site: DemoSite, provider: Provider) -> None:
    """Today's bill of ``provider`` made early by its simulator in the server, and matched
    by the reconciliation service on a clock a day ahead (``chaos.reconcile_day``: today's
    bill is otherwise only made after midnight), its adapter reaching the server's
    simulators."""
    early = httpx.post(
        f"{site.base_url}/_sim/{provider.value}/bills/differences", params={"kind": "early"}
    )
    early.raise_for_status()
    env = {
        **os.environ,
        "SIMKEEP_DATABASE_URL": f"sqlite:///{site.workdir / 'simkeep.db'}",
        "SIMKEEP_KEYS_DIR": str(site.workdir / "var" / "keys"),
        "SIMKEEP_PUBLIC_URL": site.base_url,
        "SIMKEEP_SIMULATORS_URL": site.base_url,
    }
    today = datetime.now(HONG_KONG).date().isoformat()
    command = [sys.executable, "-m", "chaos.reconcile_day", provider.value, today]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def staff_tour(page: Page, folder: Path, name: str, sample: str) -> None:
    """The staff queue in each language, on the desktop and on a phone-sized window."""
    for tag, code in LANGUAGES:
        page.locator(f'.lang-switch a[hreflang="{tag}"]').click()
        expect(page.locator("html")).to_have_attribute("lang", tag)
        page.screenshot(path=str(folder / f"{name}_{tag}.png"), full_page=True)
        page.set_viewport_size({"width": WIDTH, "height": 844})
        page.screenshot(path=str(folder / f"{name}_{tag}_narrow.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        check_language(page, code, sample)
    page.locator('.lang-switch a[hreflang="en"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_fits_the_screen(page, 1280)
