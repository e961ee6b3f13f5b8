"""The webhook storm, through the real app on SQLite and PostgreSQL.

1,000 orders are placed through ``POST /api/v1/topups`` (Alipay QR, WAP and page, WeChat
Pay QR and H5, and every channel of the kit providers: UnionPay, AlipayHK, WeChat Pay HK and
FPS; HKD SIMs paid in Hong Kong dollars or in yuan at the rate locked when ordered — the
rate changes halfway — and CNY SIMs) and paid at the simulators; 40 more are placed and
never paid. Then every paid order's genuine notification (for a kit provider, the one its
simulator sent, captured) is delivered 1–8 times, and the bad ones (``storm_bad.BAD``) 1–8
times each, all shuffled together, 32 in flight, while the poll
and the expiry run on the same orders and the clock moves on until every order has expired:
some notifications credit orders that have expired, some find the poll got there first, some
race a close of their trade at the provider.

What must come out, read from the database: exactly 1,000 top-up journals and 1,000 credit
SMS; each paid order credited once, with one receipt and one ``credited`` row in the inbox;
every other delivery of a genuine notification kept as ``duplicate``, every bad one as what
it is, none acknowledged; each SIM's balance the sum of its orders, its validity extended by
each of them once; the books balanced; the unpaid orders expired, closed and uncredited.

The app is served in process (httpx's ASGI transport), not by uvicorn: every request still
passes the whole app — the edge, the routing, the notify endpoint reading the raw body —
but no socket, so the storm's CPU goes to the app and the database on a small machine, and
the simulators' notifiers cannot reach the app on their own; the storm alone decides what
arrives, when and how often. ``test_notify_http.py`` covers the notify endpoint over real
HTTP.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.payments import service as payments
from simkeep.payments.model import TradeStatus
from tests.e2e.storm_bad import bad_notices
from tests.e2e.storm_figures import figures, off, orders_by_no
from tests.e2e.storm_notices import MAX_COPIES, Weather, genuine, storm_of
from tests.e2e.storm_world import (
    CHANNELS,
    Placed,
    Storm,
    place_and_pay,
    plan_orders,
    running_storm,
)

SEED = 20261125
PAID = 1_000
UNPAID = 40


@pytest.fixture
async def storm(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Storm]:
    async with running_storm(
        database_url=database_url, db=db, clock=clock, tmp_path=tmp_path
    ) as world:
        yield world


async def test_a_storm_of_notifications_credits_each_paid_order_once(storm: Storm) -> None:
    rng = random.Random(SEED)
    placed = await place_and_pay(storm, plan_orders(rng, storm.cards, paid=PAID, unpaid=UNPAID))
    paid = [order for order in placed if order.ask.paid]
    unpaid = [order for order in placed if not order.ask.paid]
    notices = [
        *(genuine(storm, order, copies=rng.randint(1, MAX_COPIES)) for order in paid),
        *bad_notices(storm, rng, paid=paid, unpaid=unpaid),
    ]

    weather = await storm_of(storm, notices, rng)
    await settle(storm)

    actual, expected = await figures(
        storm, credited=paid, uncredited=unpaid, notices=notices, weather=weather
    )
    assert actual == expected, off(actual, expected)
    assert actual["top-up journals"] == actual["credit SMS"] == PAID
    await unpaid_orders_are_expired_and_closed(storm, unpaid)
    await it_was_a_storm(storm, paid, weather)


async def test_a_storm_of_bad_notifications_alone_credits_nothing(storm: Storm) -> None:
    rng = random.Random(SEED + 1)
    placed = await place_and_pay(storm, plan_orders(rng, storm.cards, paid=120, unpaid=UNPAID))
    paid = [order for order in placed if order.ask.paid]
    unpaid = [order for order in placed if not order.ask.paid]
    notices = bad_notices(storm, rng, paid=paid, unpaid=unpaid)

    weather = await storm_of(storm, notices, rng, follow=False)

    actual, expected = await figures(
        storm, credited=[], uncredited=placed, notices=notices, weather=weather
    )
    assert actual == expected, off(actual, expected)
    assert actual["top-up journals"] == actual["credit SMS"] == 0
    orders = await orders_by_no(storm, [order.order_no for order in placed])
    assert Counter(row["state"] for row in orders.values()) == {"awaiting_payment": len(placed)}


async def settle(storm: Storm) -> None:
    """A minute after the storm: the expiry closes whatever trades are still due a close."""
    storm.clock.advance(timedelta(minutes=1))
    adapters = storm.app.state.payment_adapters
    while await payments.expire_unpaid(
        storm.db, adapters=adapters, now=storm.clock.now(), limit=100
    ):
        pass


async def unpaid_orders_are_expired_and_closed(storm: Storm, unpaid: list[Placed]) -> None:
    """Nobody paid them: they expired, their trades were closed, and no provider says they
    are paid."""
    orders = await orders_by_no(storm, [order.order_no for order in unpaid])
    assert Counter(row["state"] for row in orders.values()) == {"expired": UNPAID}
    assert [no for no, row in orders.items() if row["closed_at"] is None] == []
    adapters = storm.app.state.payment_adapters
    at_providers = Counter(
        [(await adapters[order.provider].query(order.order_no)).status for order in unpaid]
    )
    assert TradeStatus.PAID not in at_providers, at_providers


async def it_was_a_storm(storm: Storm, paid: list[Placed], weather: Weather) -> None:
    """The races the storm is for took place: every way to pay was used; the poll credited
    some orders and the notifications the others; some orders had expired, and were due a
    close of their trade, when their payment was credited."""
    methods = sum(len(channels) for channels in CHANNELS.values())
    assert len({(order.provider, order.ask.channel) for order in paid}) == methods
    assert {order.ask.credit.currency for order in paid} == {"HKD", "CNY"}
    assert 0 < weather.polled_credits < PAID
    orders = await orders_by_no(storm, [order.order_no for order in paid])
    expired_first = [row for row in orders.values() if row["close_due_at"] is not None]
    assert expired_first
    assert all(row["credited_at"] >= row["expires_at"] for row in expired_first)
