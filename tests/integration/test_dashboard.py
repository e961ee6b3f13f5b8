"""The operator's dashboard through the real app, on SQLite and PostgreSQL (docs/staff.md).

陳 (+852 6123 4567) tops up, as the services of the app do it: HK$100.00 by FPS (QR) and
HK$50.00 paid ¥46.00 by Alipay (phone) on 20 November, ¥50.00 by WeChat Pay (QR) at 00:30 on
25 November — Hong Kong time, which is still the 24th in UTC —, HK$50.00 by FPS on
1 October, and an order never paid. A refund of the HK$100.00 top-up is asked on the 21st and
paid the same day; one of the Alipay top-up, asked on the 22nd, is refused on the 23rd. The
bills of the 20th are reconciled: FPS's has a payment simkeep never saw, Alipay's lacks the
Alipay top-up. Two promotions: HK$ bonuses by FPS with a budget of 10 grants, yuan ones by
WeChat Pay without a budget. A SIM's validity ends on 27 November. Today is 25 November 2026
in Hong Kong.

The dashboard of the default range (the last 30 days) shows exactly those figures in its
charts' data and in the tables beneath them; a range that does not read, is reversed or is
longer than 366 days is a 400 page with the field marked; every role that reads staff pages
reads it."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.days import DayRange
from simkeep.money import Money
from simkeep.names import Names
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import (
    PaymentProviderAdapter,
    ProviderRefund,
    RefundRequest,
    RefundStatus,
)
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Benefit, BenefitKind, Conditions
from simkeep.reconciliation import service as reconciliation
from simkeep.reconciliation.bill import Bill, BillRow, RowKind
from simkeep.refunds import sending
from simkeep.refunds import service as refunds
from simkeep.refunds.model import AutoRule, Reason
from simkeep.refunds.service import Asking
from simkeep.retention import at_risk
from simkeep.sims.model import SimState
from simkeep.staff import dashboard
from simkeep.staff.audit import Actor
from simkeep.staff.model import code_at, time_step
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest
from tests.agent_world import SECRETS, STAFF_PASSWORD, operator
from tests.e2e.site_world import Site, csrf_of, site
from tests.factories import issue_sim

__all__ = ["site"]

HOLDER = "+85261234567"
RULE = AutoRule(max_credit=30_000, within=timedelta(hours=24))
NO_RULE = AutoRule(max_credit=0, within=timedelta(0))
TODAY = date(2026, 11, 25)


def hk(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """An instant given in Hong Kong time (UTC+8)."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@dataclass
class FakeProvider:
    """The provider's side of refunds: each refund number is paid at once."""

    paid: list[str] = field(default_factory=list)

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        self.paid.append(request.out_refund_no)
        return ProviderRefund(
            request.out_refund_no, RefundStatus.SUCCEEDED, request.amount, "P1", None, None
        )

    query_refund = refund


@dataclass
class Bills:
    """A provider's bills, as its console hands them out."""

    bills: dict[date, Bill]

    async def bill(self, day: date) -> Bill:
        return self.bills[day]


@dataclass
class Planted:
    site: Site
    holder: int
    olive: Actor
    orders: dict[str, Order]


async def credited(
    p: Planted,
    key: str,
    *,
    at: datetime,
    credit: Money,
    provider: Provider,
    channel: Channel,
    pay_currency: str,
    cn: bool = False,
    pay: bool = True,
) -> Order:
    sim = p.site.cn_sim if cn else p.site.hk_sim
    number = (sim.cn_number if cn else sim.hk_number).e164
    request = OrderRequest.of(
        subscriber_id=p.holder,
        idempotency_key=key,
        number=number,
        confirm_number=number,
        credit=credit,
        pay_currency=pay_currency,
        provider=provider,
        channel=channel,
    )

    async def run(conn: AsyncConnection) -> Order:
        order = await topups.create_order(conn, request=request, now=at)
        if not pay:
            return order
        result = await topups.credit_paid_order(
            conn, order_no=order.order_no, paid=order.pay, provider_trade_no=key, now=at
        )
        return result.order

    p.orders[key] = await p.site.db.transaction(run)
    return p.orders[key]


async def ask_refund(p: Planted, key: str, *, at: datetime, rule: AutoRule) -> str:
    refund = await p.site.db.transaction(
        lambda conn: refunds.request_refund(
            conn,
            order_no=p.orders[key].order_no,
            asking=Asking(p.holder),
            reason=Reason.WRONG_NUMBER,
            note="=1+1 typed one digit wrong",
            asked=None,
            rule=rule,
            now=at,
        )
    )
    return refund.refund_no


async def promotion(p: Planted, code: str, conditions: Conditions, budget: int | None) -> None:
    await p.site.db.transaction(
        lambda conn: promotions.create_promotion(
            conn,
            code=code,
            names=Names(f"{code} 繁", f"{code} 简", f"{code} en"),
            priority=10,
            stackable=False,
            conditions=conditions,
            benefits=(Benefit(BenefitKind.MONEY, 500, None, 90),),
            budget=budget,
            per_sim_cap=None,
            now=hk(1, 0, month=9),
        )
    )


async def plant(site: Site) -> Planted:
    holder = await subscribers.enroll(
        site.db, phone=HOLDER, password="correct horse", language="en", now=hk(1, 0, month=9)
    )
    olive = Actor(await operator(site.db, "olive", now=site.clock.now()), "127.0.0.1")
    p = Planted(site, holder, olive, {})
    await site.db.transaction(  # its validity ends on the 27th: the run moves it on the 28th
        lambda conn: issue_sim(
            conn, n=10, plan="HK-VALID", now=hk(1, 0), validity_until=hk(27, 23, 30)
        )
    )
    await promotion(p, "HKBONUS", Conditions(currency="HKD", provider=Provider.FPS), 10)
    await promotion(p, "CNBONUS", Conditions(currency="CNY", provider=Provider.WECHATPAY), None)
    hkd, cny = "HKD", "CNY"
    await credited(
        p, "old", at=hk(1, 12, month=10), credit=Money(5_000, hkd), provider=Provider.FPS,
        channel=Channel.QR, pay_currency=hkd,
    )  # fmt: skip
    await credited(
        p, "fps", at=hk(20, 10), credit=Money(10_000, hkd), provider=Provider.FPS,
        channel=Channel.QR, pay_currency=hkd,
    )  # fmt: skip
    await credited(
        p, "alipay", at=hk(20, 12), credit=Money(5_000, hkd), provider=Provider.ALIPAY,
        channel=Channel.WAP, pay_currency=cny,
    )  # fmt: skip
    await credited(
        p, "wechat", at=hk(25, 0, 30), credit=Money(5_000, cny), provider=Provider.WECHATPAY,
        channel=Channel.QR, pay_currency=cny, cn=True,
    )  # fmt: skip
    await credited(
        p, "unpaid", at=hk(24, 9), credit=Money(20_000, hkd), provider=Provider.FPS,
        channel=Channel.QR, pay_currency=hkd, pay=False,
    )  # fmt: skip
    await ask_refund(p, "fps", at=hk(21, 9), rule=RULE)
    fake = FakeProvider()
    adapters: dict[Provider, PaymentProviderAdapter] = {Provider.FPS: fake}  # type: ignore[dict-item]
    assert await sending.send_due(site.db, adapters=adapters, now=hk(21, 9, 5)) == 1
    refused = await ask_refund(p, "alipay", at=hk(22, 15), rule=NO_RULE)
    await site.db.transaction(
        lambda conn: refunds.refuse(
            conn, refund_no=refused, actor=olive, note="used", now=hk(23, 11)
        )
    )
    await reconcile(p)
    return p


async def reconcile(p: Planted) -> None:
    """The bills of 20 November: FPS's has the FPS top-up and a payment simkeep never saw;
    Alipay's lacks the Alipay top-up."""
    day, hkd = date(2026, 11, 20), "HKD"

    def paid(order_no: str, trade_no: str, amount: Money, at: datetime) -> BillRow:
        return BillRow(RowKind.PAY, order_no, "", trade_no, amount, Money(0, amount.currency), at)

    fps_rows = (
        paid(p.orders["fps"].order_no, "fps", Money(10_000, hkd), hk(20, 10, 1)),
        paid("NOT-OURS-1", "P-NOT-OURS", Money(5_000, hkd), hk(20, 15)),
    )
    for provider, rows in ((Provider.FPS, fps_rows), (Provider.ALIPAY, ())):
        await reconciliation.reconcile(
            p.site.db,
            provider=provider,
            day=day,
            source=Bills({day: Bill(provider, day, rows)}),
            adapter=None,
            by="cli",
            clock=p.site.clock,
            carry=timedelta(minutes=10),
        )


@pytest.fixture
async def planted(site: Site) -> Planted:
    return await plant(site)


@asynccontextmanager
async def signed_in(site: Site, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as ``username``, a member of staff."""
    site.clock.advance(timedelta(seconds=30))  # each login its own TOTP step
    async with site.browser() as http:
        page = await http.get("/staff/login")
        code = code_at(SECRETS[username], time_step(site.clock.now()))
        data = {"csrf": csrf_of(page), "username": username, "password": STAFF_PASSWORD}
        assert (await http.post("/staff/login", data={**data, "code": code})).status_code == 303
        yield http


def charts(page: httpx.Response) -> dict[str, dict[str, Any]]:
    """Each chart's data, by the id of its section."""
    within = r"(?:(?!</section>).)*?"  # in the same section
    found = re.findall(
        rf'<section [^>]*id="([a-z-]+)"{within}data-chart=\'([^\']*)\'', page.text, re.S
    )
    return {name: json.loads(html.unescape(data)) for name, data in found}


def series(chart: dict[str, Any]) -> dict[str, list[int]]:
    return {s["name"]: s["values"] for s in chart["series"]}


def nonzero(chart: dict[str, Any], days: list[str]) -> dict[str, dict[str, int]]:
    """A chart of days as {series: {day label: value}}, without the zeros."""
    return {
        s["name"]: {days[i]: v for i, v in enumerate(s["values"]) if v} for s in chart["series"]
    }


async def test_the_figures_of_the_last_30_days(planted: Planted) -> None:
    p = planted
    days = DayRange.ending(TODAY, days=30)
    figures = await dashboard.dashboard(p.site.db, days=days, today=TODAY)

    assert figures.days == DayRange(date(2026, 10, 27), TODAY)
    assert len(figures.by_provider.categories) == 30
    at = {day: i for i, day in enumerate(figures.by_provider.categories)}
    d20, d25 = at[date(2026, 11, 20)], at[TODAY]

    def values(chart: dashboard.Chart) -> dict[str, dict[int, int]]:
        return {s.key: {i: v for i, v in enumerate(s.values) if v} for s in chart.series}

    assert values(figures.by_provider) == {
        "alipay": {d20: 1},
        "wechatpay": {d25: 1},  # 00:30 in Hong Kong: the 25th, though the 24th in UTC
        "fps": {d20: 1},
    }
    assert values(figures.by_channel) == {"qr": {d20: 1, d25: 1}, "wap": {d20: 1}}
    assert values(figures.paid) == {"CNY": {d20: 4_600, d25: 5_000}, "HKD": {d20: 10_000}}
    assert [s.currency for s in figures.paid.series] == ["CNY", "HKD"]
    d21, d22, d23 = at[date(2026, 11, 21)], at[date(2026, 11, 22)], at[date(2026, 11, 23)]
    assert values(figures.refunds) == {
        "asked": {d21: 1, d22: 1},
        "paid": {d21: 1},
        "refused": {d23: 1},
    }
    assert values(figures.refunds_paid) == {"HKD": {d21: 10_000}}
    assert values(figures.reconciliation) == {"alipay": {d20: 1}, "fps": {d20: 1}}


async def test_sims_lapsing_and_promotion_budgets(planted: Planted) -> None:
    p = planted
    figures = await dashboard.dashboard(p.site.db, days=DayRange(TODAY, TODAY), today=TODAY)

    sims = dict(zip(figures.sims.categories, figures.sims.series[0].values, strict=True))
    states = {
        SimState.ACTIVE: 3,  # the CNY SIM, the lapsing one; the HKD SIM, back from grace
        SimState.GRACE: 0,
        SimState.SUSPENDED: 0,
        SimState.RECYCLED: 1,
    }
    assert sims == states
    assert figures.lapsing.categories == [TODAY + timedelta(days=n) for n in range(15)]

    async def lines(conn: AsyncConnection) -> dict[str, Counter[date]]:
        found = {}
        for state in at_risk.AT_RISK_STATES:
            rows = await at_risk.at_risk(conn, state=state, today=TODAY, limit=1000)
            found[state.value] = Counter(max(row.leaves_on, TODAY) for row in rows)
        return found

    by_line = await p.site.db.read(lines)
    by_day = {
        s.key: Counter(
            {d: v for d, v in zip(figures.lapsing.categories, s.values, strict=True) if v}
        )
        for s in figures.lapsing.series
    }
    assert by_day == by_line  # the grouped query agrees with the lines' own days
    assert by_day["active"] == Counter({date(2026, 11, 28): 1})
    assert [s.key for s in figures.lapsing.series] == ["active", "grace", "suspended"]

    names = [promotion.code for promotion in figures.promotions.categories]
    budgets = {s.key: s.values for s in figures.promotions.series}
    assert dict(zip(names, zip(budgets["used"], budgets["left"], strict=True), strict=True)) == {
        "HKBONUS": (3, 7),  # of 10: the two FPS top-ups credited, and the unpaid one's hold
        "CNBONUS": (1, 0),  # no budget: only what it took
    }


async def test_lapsing_lines_are_counted_on_their_hong_kong_day(site: Site) -> None:
    """Three SIMs on a validity plan: one whose validity ends at 00:30 on 28 November in
    Hong Kong (the 27th in UTC) leaves on the 29th; one ending at 23:30 on the 27th leaves
    on the 28th; one that ended on the 20th, not moved on yet, is due today."""
    ends = [hk(28, 0, 30), hk(27, 23, 30), hk(20, 12)]

    async def issue(conn: AsyncConnection) -> None:
        for n, validity_until in enumerate(ends, start=10):
            await issue_sim(conn, n=n, plan="HK-VALID", now=hk(1, 0), validity_until=validity_until)

    await site.db.transaction(issue)
    by_day = await site.db.read(lambda conn: at_risk.at_risk_by_day(conn, today=TODAY))

    assert by_day == {
        SimState.ACTIVE: {TODAY: 1, date(2026, 11, 28): 1, date(2026, 11, 29): 1},
        SimState.GRACE: {},  # the world's HKD SIM: its grace ends after the horizon
        SimState.SUSPENDED: {},
    }


async def test_the_page_draws_and_tabulates_the_same_figures(planted: Planted) -> None:
    async with signed_in(planted.site, "olive") as http:
        page = await http.get("/staff/dashboard", params={"lang": "en"})

    assert page.status_code == 200
    assert 'value="2026-10-27"' in page.text
    assert 'value="2026-11-25"' in page.text
    drawn = charts(page)
    assert set(drawn) == {
        "topups-by-method",
        "topups-by-channel",
        "amounts",
        "sims",
        "lapsing",
        "promotions",
        "refunds",
        "refunds-paid",
        "reconciliation",
    }
    by_method = drawn["topups-by-method"]
    days = by_method["categories"]
    assert (len(days), days[-6], days[-1]) == (30, "Nov 20", "Nov 25")
    assert nonzero(by_method, days) == {
        "Alipay": {"Nov 20": 1},
        "WeChat Pay": {"Nov 25": 1},
        "FPS": {"Nov 20": 1},
    }
    assert nonzero(drawn["topups-by-channel"], days) == {
        "QR code": {"Nov 20": 1, "Nov 25": 1},
        "Phone wallet": {"Nov 20": 1},
    }
    amounts = drawn["amounts"]
    assert amounts["kind"] == "line"
    assert [(s["name"], s["currency"], s["exponent"]) for s in amounts["series"]] == [
        ("CNY", "CNY", 2),
        ("HKD", "HKD", 2),
    ]
    assert nonzero(amounts, days) == {
        "CNY": {"Nov 20": 4_600, "Nov 25": 5_000},  # integers: minor units
        "HKD": {"Nov 20": 10_000},
    }
    assert nonzero(drawn["refunds"], days) == {
        "Asked for": {"Nov 21": 1, "Nov 22": 1},
        "Paid back": {"Nov 21": 1},
        "Refused": {"Nov 23": 1},
    }
    lapsing = drawn["lapsing"]
    assert (lapsing["categories"][0], lapsing["categories"][-1]) == ("Nov 25", "Dec 9")
    assert nonzero(lapsing, lapsing["categories"]) == {
        "Active": {"Nov 28": 1},
        "Grace period": {},
        "Suspended": {},
    }
    assert drawn["sims"]["categories"] == ["Active", "Grace period", "Suspended", "Recycled"]
    assert series(drawn["sims"]) == {"SIMs": [3, 0, 0, 1]}
    assert drawn["promotions"]["categories"] == ["CNBONUS en", "HKBONUS en"]
    assert series(drawn["promotions"]) == {"Grants taken": [1, 3], "Left of the budget": [0, 7]}
    assert drawn["promotions"]["horizontal"] is True
    assert nonzero(drawn["reconciliation"], days) == {
        "Alipay": {"Nov 20": 1},  # the top-up its bill lacks
        "FPS": {"Nov 20": 1},  # the payment of its bill that simkeep never saw
    }

    tables = re.findall(r"<details.*?</details>", page.text, re.S)
    assert len(tables) == len(drawn)
    amounts_table = re.sub(r"\s+", " ", tables[2])
    assert '<th scope="row">Nov 20, 2026</th> <td class="num">CN¥46.00</td>' in amounts_table
    assert '<td class="num">HK$100.00</td>' in amounts_table
    assert "CN¥96.00" in amounts_table  # the total of the days


BAD_RANGES = [
    ({"from": "2025-11-24", "to": "2026-11-25"}, "from", "Choose at most 366 days."),
    ({"from": "2026-11-25", "to": "2026-11-01"}, "to", "The last day comes before the first."),
    ({"from": "25/11/2026"}, "from", "Enter a day as YYYY-MM-DD."),
    ({"to": "2026-13-01"}, "to", "Enter a day as YYYY-MM-DD."),
    ({"from": "0001-01-01", "to": "0001-01-05"}, "from", "Choose days from the years"),
    ({"to": "9999-12-31"}, "to", "Choose days from the years"),
    ({"from": "9" * 5000}, "from", "Enter a day as YYYY-MM-DD."),
]


async def test_a_range_that_cannot_be_had_is_a_400_with_the_field_marked(site: Site) -> None:
    await operator(site.db, "olive", now=site.clock.now())
    async with signed_in(site, "olive") as http:
        for query, field, says in BAD_RANGES:
            page = await http.get("/staff/dashboard", params={**query, "lang": "en"})

            assert page.status_code == 400, query
            assert re.search(rf'<input id="f-{field}" [^>]*aria-invalid="true"', page.text)
            assert says in page.text
            assert "data-chart" not in page.text


async def test_a_range_of_366_days_is_shown(site: Site) -> None:
    await operator(site.db, "olive", now=site.clock.now())
    async with signed_in(site, "olive") as http:
        page = await http.get("/staff/dashboard", params={"from": "2025-11-25", "to": "2026-11-25"})

    assert page.status_code == 200
    assert 'value="2025-11-25"' in page.text
    assert len(charts(page)["sims"]["categories"]) == 4


@pytest.mark.parametrize("role", ["auditor", "support", "finance"])
async def test_every_reading_role_reads_the_dashboard(planted: Planted, role: str) -> None:
    username = {"auditor": "ada", "support": "abby", "finance": "fiona"}[role]
    await operator(planted.site.db, username, now=planted.site.clock.now(), role=role)
    async with signed_in(planted.site, username) as http:
        page = await http.get("/staff/dashboard", params={"lang": "zh_Hant_HK"})

    assert page.status_code == 200
    assert "<h1>儀表板</h1>" in page.text
    assert series(charts(page)["sims"]) == {"SIM 卡數": [3, 0, 0, 1]}
    assert charts(page)["refunds"]["series"][0]["name"] == "已申請"


async def test_the_overview_and_the_nav_lead_to_the_dashboard(site: Site) -> None:
    await operator(site.db, "olive", now=site.clock.now())
    async with signed_in(site, "olive") as http:
        home = await http.get("/staff")
    assert home.text.count('href="/staff/dashboard"') == 2
