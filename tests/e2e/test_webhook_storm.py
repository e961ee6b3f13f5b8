"""The webhook storm, through the real app on SQLite and PostgreSQL.

1,000 orders are placed through ``POST /api/v1/topups`` (Alipay QR, WAP and page, WeChat
Pay QR and H5; HKD SIMs paid in yuan at the rate locked when ordered — the rate changes
halfway — and CNY SIMs) and paid at the simulators; 40 more are placed and never paid.
Then every paid order's genuine notification is delivered 1–8 times, and the bad ones
(``storm_notices.BAD``) 1–8 times each, all shuffled together, 32 in flight, while the poll
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

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger import tables as ledger_tables
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments import tables as payment_tables
from simkeep.payments.model import REFUSED_PREFIX_BYTES, TradeStatus
from simkeep.sims import tables as sim_tables
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import VALIDITY_DAYS
from tests.e2e.storm_notices import MAX_COPIES, Notice, Weather, bad_notices, genuine, storm_of
from tests.e2e.storm_world import Placed, Storm, place_and_pay, plan_orders, running_storm

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

    inbox = await inbox_rows(storm)
    answers_are_right(notices, weather)
    every_delivery_is_kept_as_what_it_was(notices, inbox)
    await paid_orders_are_credited_once(storm, paid, notices, inbox, weather)
    await unpaid_orders_are_expired_closed_and_uncredited(storm, unpaid)
    await sims_hold_the_sum_of_their_orders(storm, paid)
    await books_are_sound(storm)
    await it_was_a_storm(storm, paid, weather)


async def test_a_storm_of_bad_notifications_alone_credits_nothing(storm: Storm) -> None:
    rng = random.Random(SEED + 1)
    placed = await place_and_pay(storm, plan_orders(rng, storm.cards, paid=120, unpaid=UNPAID))
    paid = [order for order in placed if order.ask.paid]
    unpaid = [order for order in placed if not order.ask.paid]
    notices = bad_notices(storm, rng, paid=paid, unpaid=unpaid)

    weather = await storm_of(storm, notices, rng, follow=False)

    answers_are_right(notices, weather)
    every_delivery_is_kept_as_what_it_was(notices, await inbox_rows(storm))
    assert await topup_journals(storm) == set()
    assert await credit_sms(storm) == []
    states = await order_states(storm, [order.order_no for order in placed])
    assert Counter(states.values()) == {"awaiting_payment": len(placed)}
    await books_are_sound(storm)


# --- what is read afterwards ------------------------------------------------------------------


async def settle(storm: Storm) -> None:
    """A minute after the storm: the expiry closes whatever trades are still due a close."""
    storm.clock.advance(timedelta(minutes=1))
    adapters = storm.app.state.payment_adapters
    while await payments.expire_unpaid(
        storm.db, adapters=adapters, now=storm.clock.now(), limit=100
    ):
        pass


async def inbox_rows(storm: Storm) -> list[dict[str, Any]]:
    inbox = payment_tables.inbox

    async def read(conn: AsyncConnection) -> list[dict[str, Any]]:
        rows = await conn.execute(select(inbox).order_by(inbox.c.id))
        return [dict(row._mapping) for row in rows]

    return await storm.db.transaction(read)


async def topup_journals(storm: Storm) -> set[str]:
    journals = ledger_tables.journals.c

    async def read(conn: AsyncConnection) -> set[str]:
        query = select(journals.client_id).where(journals.client_id.like("topup:%"))
        return set((await conn.execute(query)).scalars())

    return await storm.db.transaction(read)


async def credit_sms(storm: Storm) -> list[tuple[str, str]]:
    """The SMS queued to the SIMs' own numbers: the credit SMS (the sign-up codes go to the
    subscribers' phones)."""
    numbers = [
        line.e164 for card in storm.cards for line in (card.sim.hk_number, card.sim.cn_number)
    ]

    async def read(conn: AsyncConnection) -> list[tuple[str, str]]:
        query = select(outbox.c.recipient, outbox.c.body).where(outbox.c.recipient.in_(numbers))
        return [(row.recipient, row.body) for row in await conn.execute(query)]

    return await storm.db.transaction(read)


async def orders_by_no(storm: Storm, order_nos: list[str]) -> dict[str, dict[str, Any]]:
    orders = topup_tables.orders

    async def read(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
        rows = await conn.execute(select(orders).where(orders.c.order_no.in_(order_nos)))
        return {row.order_no: dict(row._mapping) for row in rows}

    return await storm.db.transaction(read)


async def order_states(storm: Storm, order_nos: list[str]) -> dict[str, str]:
    return {no: row["state"] for no, row in (await orders_by_no(storm, order_nos)).items()}


async def books_are_sound(storm: Storm) -> None:
    report = await storm.db.transaction(ledger.check_books)
    assert report.ok, report.problems


# --- what must hold ---------------------------------------------------------------------------


def answers_are_right(notices: list[Notice], weather: Weather) -> None:
    """Every delivery was answered, none with a 5xx; genuine payments (and Alipay's
    TRADE_CLOSED) acknowledged, nothing else; an acknowledged payment was applied — the
    order credited and its credited row kept — before the provider read the answer."""
    answers = weather.answers
    assert len(answers) == sum(notice.copies for notice in notices)
    assert Counter(a.status_code for a in answers if a.status_code >= 500) == {}
    wrong = Counter(
        (a.notice.kind, a.status_code, a.text[:40])
        for a in answers
        if a.acknowledged != a.notice.acknowledged
    )
    assert wrong == {}, "acknowledged when it should not be, or the reverse"
    unapplied = [a.notice.order_no for a in answers if a.applied is False]
    assert len(unapplied) == 0, f"acknowledged before applied: {sorted(set(unapplied))[:5]}"


def every_delivery_is_kept_as_what_it_was(
    notices: list[Notice], inbox: list[dict[str, Any]]
) -> None:
    """One inbox row per delivery, none lost or extra; each kept as what it was: a bad one
    with its status (a refused one as a bounded record of its reason, naming no order), a
    genuine one as credited at most once and otherwise duplicate."""
    delivered = [row for row in inbox if row["source"] == "notification"]
    assert len(delivered) == sum(notice.copies for notice in notices)
    by_body = defaultdict(list)
    for row in delivered:
        by_body[row["body_sha256"]].append(row)
    expected: Counter[str] = Counter()
    for notice in notices:
        if notice.status is not None:
            expected[notice.status] += notice.copies
    kept = Counter(row["status"] for row in delivered)
    assert {status: kept[status] for status in expected} == dict(expected)
    genuine_copies = sum(notice.copies for notice in notices if notice.status is None)
    assert kept["credited"] + kept["duplicate"] == genuine_copies
    assert kept["failed"] == 0

    misfiled: Counter[tuple[str, str]] = Counter()
    for notice in notices:
        rows = by_body[hashlib.sha256(notice.body).hexdigest()]
        assert len(rows) == notice.copies, notice.kind
        for row in rows:
            if not kept_right(notice, row):
                misfiled[(notice.kind, row["status"])] += 1
    assert misfiled == {}


def kept_right(notice: Notice, row: dict[str, Any]) -> bool:
    if notice.status is None:
        return row["status"] in ("credited", "duplicate") and row["order_no"] == notice.order_no
    if row["status"] != notice.status:
        return False
    if notice.status != "rejected":
        return bool(row["order_no"] == notice.order_no)
    assert notice.reason is not None
    return (
        row["order_no"] is None
        and row["notification_id"] is None
        and len(row["body"]) <= REFUSED_PREFIX_BYTES
        and row["body_size"] == len(notice.body)
        and str(row["error"]).startswith(notice.reason)
    )


async def paid_orders_are_credited_once(
    storm: Storm,
    paid: list[Placed],
    notices: list[Notice],
    inbox: list[dict[str, Any]],
    weather: Weather,
) -> None:
    order_nos = [order.order_no for order in paid]
    journals = await topup_journals(storm)
    assert len(journals) == PAID
    assert journals == {f"topup:{order_no}" for order_no in order_nos}

    orders = await orders_by_no(storm, order_nos)
    assert Counter(row["state"] for row in orders.values()) == {"credited": PAID}
    receipts = {row["receipt_no"] for row in orders.values()}
    assert len(receipts) == PAID
    assert None not in receipts

    credited = Counter(row["order_no"] for row in inbox if row["status"] == "credited")
    assert sum(credited.values()) == PAID
    assert set(credited) == set(order_nos)
    assert Counter(credited.values()) == {1: PAID}  # one credited row per order
    by_poll = [row for row in inbox if row["source"] == "poll"]
    assert Counter(row["status"] for row in by_poll) == {"credited": weather.polled_credits}
    genuine_copies = sum(notice.copies for notice in notices if notice.status is None)
    duplicates = sum(1 for row in inbox if row["status"] == "duplicate")
    assert duplicates == genuine_copies - (PAID - weather.polled_credits)

    sms = await credit_sms(storm)
    assert len(sms) == PAID
    told = Counter(receipt for _, body in sms for receipt in receipts if receipt in body)
    assert told == Counter(receipts)


async def unpaid_orders_are_expired_closed_and_uncredited(
    storm: Storm, unpaid: list[Placed]
) -> None:
    orders = await orders_by_no(storm, [order.order_no for order in unpaid])
    assert Counter(row["state"] for row in orders.values()) == {"expired": UNPAID}
    assert [no for no, row in orders.items() if row["closed_at"] is None] == []
    assert [no for no, row in orders.items() if row["receipt_no"] is not None] == []
    adapters = storm.app.state.payment_adapters
    at_providers = Counter(
        [(await adapters[order.provider].query(order.order_no)).status for order in unpaid]
    )
    assert TradeStatus.PAID not in at_providers, at_providers


async def sims_hold_the_sum_of_their_orders(storm: Storm, paid: list[Placed]) -> None:
    """Each SIM holds the sum of its orders' credits, each provider's clearing the sum paid
    through it; a validity SIM's validity moved on by each of its top-ups exactly once, and
    a SIM in grace or suspended is active again, by one state change."""
    credits: Counter[int] = Counter()
    days: Counter[int] = Counter()
    cleared: Counter[Provider] = Counter()
    for order in paid:
        credits[order.ask.card.sim.id] += order.ask.credit.minor
        days[order.ask.card.sim.id] += VALIDITY_DAYS[order.ask.credit.minor]
        cleared[order.provider] += order.pay.minor

    async def read(conn: AsyncConnection) -> tuple[dict[int, int], dict[Provider, int]]:
        held = {}
        for card in storm.cards:
            code = chart.sim_balance(card.sim.id, card.currency).code
            held[card.sim.id] = await balance_of(conn, code)
        clearing = {
            provider: await balance_of(conn, chart.provider_clearing_code(provider.value, "CNY"))
            for provider in Provider
        }
        return held, clearing

    held, clearing = await storm.db.transaction(read)
    assert held == {card.sim.id: credits[card.sim.id] for card in storm.cards}
    assert clearing == dict(cleared)

    sims, events = await sims_after(storm)
    validity = {card.sim.id: card.validity_until for card in storm.cards if card.on_validity_plan}
    assert {sim_id: sims[sim_id]["validity_until"] for sim_id in validity} == {
        sim_id: until + timedelta(days=days[sim_id])
        for sim_id, until in validity.items()
        if until is not None
    }
    assert Counter(row["state"] for row in sims.values()) == {"active": len(storm.cards)}
    woken = {card.sim.id: 1 for card in storm.cards if card.sim.state.value != "active"}
    assert dict(events) == woken


async def balance_of(conn: AsyncConnection, code: str) -> int:
    account = await ledger.get_account_by_code(conn, code=code)
    assert account is not None, code
    return (await ledger.get_balance(conn, account_id=account.id)).posted


async def sims_after(storm: Storm) -> tuple[dict[int, dict[str, Any]], Counter[int]]:
    """The SIMs as they are now, and how many top-up state changes each had."""
    sims, events = sim_tables.sims, sim_tables.events

    async def read(conn: AsyncConnection) -> tuple[dict[int, dict[str, Any]], Counter[int]]:
        rows = await conn.execute(select(sims))
        now = {row.id: dict(row._mapping) for row in rows}
        query = select(events.c.sim_id).where(events.c.reason == "top-up")
        return now, Counter((await conn.execute(query)).scalars())

    return await storm.db.transaction(read)


async def it_was_a_storm(storm: Storm, paid: list[Placed], weather: Weather) -> None:
    """The races the storm is for took place: every way to pay was used; the poll credited
    some orders and the notifications the others; some orders had expired, and were due a
    close of their trade, when their payment was credited."""
    assert len({(order.provider, order.ask.channel) for order in paid}) == 5
    assert {order.ask.credit.currency for order in paid} == {"HKD", "CNY"}
    assert 0 < weather.polled_credits < PAID
    orders = await orders_by_no(storm, [order.order_no for order in paid])
    expired_first = [row for row in orders.values() if row["close_due_at"] is not None]
    assert expired_first
    assert all(row["credited_at"] >= row["expires_at"] for row in expired_first)
