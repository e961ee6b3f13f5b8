"""A demo subscriber's pages on the demo data, in headless Chromium on a phone: after logging
in with the printed demo login, each balance on /my is the sum of the credited top-ups of
that number in /topups, whose history spans weeks (an expired order among them), less the
fees the SIM's page lists; and a top-up's receipt opens from its status page. Screenshots
(390×844) go to ``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots``."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from simkeep.demo.service import DEMO_SUBSCRIBERS
from tests.browser.conftest import Tab, open_tab
from tests.browser.test_layout import assert_fits_the_screen

pytestmark = pytest.mark.browser

WIDTH = 390
DATE = re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{4}")  # "Nov 27, 2026", as the pages write it


@pytest.fixture
def person(browser: Browser, demo_server: str) -> Iterator[Tab]:
    with open_tab(
        browser, demo_server, {"width": WIDTH, "height": 844}, mobile=True, locale="en-GB"
    ) as tab:
        yield tab


def _amount(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.]", "", text))


def test_a_demo_subscribers_balances_have_their_history(person: Tab, screenshots: Path) -> None:
    page = person.page
    demo = DEMO_SUBSCRIBERS[0]
    page.goto("/login")
    page.fill('input[name="phone"]', demo.phone)
    page.fill('input[name="password"]', demo.password)
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/my$"))
    cards = page.locator("article.sim-card")
    expect(cards).to_have_count(len(demo.sims))
    assert_fits_the_screen(page, WIDTH)
    page.screenshot(path=str(screenshots / "demo_my_en.png"), full_page=True)
    balances = {}  # by the SIM's two numbers, as the pages write them
    details = {}  # the SIM's page, where its fees are listed
    for card in cards.all():
        numbers = re.findall(r"\+\d[\d ]+\d", card.locator(".sim-card__numbers").inner_text())
        balances[frozenset(numbers)] = _amount(card.locator(".figures__main").inner_text())
        details[frozenset(numbers)] = card.locator("a.button--quiet").get_attribute("href")
    fees: dict[frozenset[str], Decimal] = {}
    for numbers, href in details.items():
        page.goto(str(href))
        amounts = page.locator(".history .history__amount").all_inner_texts()
        fees[numbers] = sum((_amount(text) for text in amounts), Decimal(0))
    assert any(fees.values())  # the daily runs charged fees over the history

    page.goto("/topups")
    orders = page.locator("a.order")
    assert orders.count() > len(demo.sims)
    assert_fits_the_screen(page, WIDTH)
    page.screenshot(path=str(screenshots / "demo_history_en.png"), full_page=True)
    credited: dict[str, Decimal] = defaultdict(Decimal)
    days, states = set(), set()
    for order in orders.all():
        main = order.locator(".order__main").inner_text()
        amount, number = main.split(" ", 1)
        state = order.locator(".badge").inner_text()
        states.add(state)
        if state == "Credited":
            credited[number.strip()] += _amount(amount)
        days.update(DATE.findall(order.locator(".order__meta").inner_text()))
    for numbers, balance in balances.items():
        assert sum(credited[number] for number in numbers) - fees[numbers] == balance, numbers
    assert any(balance > 0 for balance in balances.values())
    assert states == {"Credited", "Expired"}
    assert len(days) >= 4  # over the past weeks, not one moment

    page.locator("a.order", has=page.locator(".badge--credited")).first.click()
    expect(page.locator(".status--done")).to_be_visible()
    page.click('a[href$="/receipt"]')
    expect(page.locator("h1")).to_have_text("Top-up receipt")
    expect(page.locator(".receipt__qr svg")).to_be_visible()
    assert_fits_the_screen(page, WIDTH)
    page.screenshot(path=str(screenshots / "demo_receipt_en.png"), full_page=True)
    assert person.outside_requests == []
    assert person.errors == []
