"""What a webhook storm left behind, read from the database as figures.

Each figure is a count that a broken rule would change — journals, credited orders,
receipts, credit SMS, inbox rows by status, answers, SIM balances and validity — and they
are compared all at once with what they must be, so a failing storm shows every figure that
is off, not only the first."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger import tables as ledger_tables
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import PROVIDERS, Provider
from simkeep.payments import tables as payment_tables
from simkeep.payments.model import REFUSED_PREFIX_BYTES
from simkeep.sims import tables as sim_tables
from simkeep.sims.model import SimState
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import VALIDITY_DAYS
from tests.e2e.storm_notices import Notice, Weather
from tests.e2e.storm_world import CHANNELS, Placed, Storm

Figures = dict[str, int]
Row = dict[str, Any]


async def figures(
    storm: Storm,
    *,
    credited: list[Placed],
    uncredited: list[Placed],
    notices: list[Notice],
    weather: Weather,
) -> tuple[Figures, Figures]:
    """(what the storm left, what it must have left): ``credited`` are the orders that must
    be credited once, ``uncredited`` those that must not be."""
    actual: Figures = {}
    expected: Figures = {}
    for part in (
        await _money(storm, credited, uncredited),
        await _orders(storm, credited, uncredited),
        await _sims(storm, credited),
        _inbox(await inbox_rows(storm), credited, notices, weather),
        _answers(notices, weather),
    ):
        for name, (got, want) in part.items():
            actual[name], expected[name] = got, want
    return actual, expected


def off(actual: Figures, expected: Figures) -> str:
    """The figures that are not what they must be, one a line."""
    wrong = [
        f"  {name}: {actual[name]}, must be {want}"
        for name, want in expected.items()
        if actual[name] != want
    ]
    return "figures off:\n" + "\n".join(wrong)


Part = dict[str, tuple[int, int]]  # figure: (what it is, what it must be)
Clearing = dict[tuple[Provider, str], int]  # a clearing account's balance, by provider and currency


async def _money(storm: Storm, credited: list[Placed], uncredited: list[Placed]) -> Part:
    journals = await topup_journals(storm)
    credits: Counter[int] = Counter()
    cleared: Counter[tuple[Provider, str]] = Counter()
    for order in credited:
        credits[order.ask.card.sim.id] += order.ask.credit.minor
        cleared[(order.provider, order.pay.currency)] += order.pay.minor
    accounts = [
        (provider, currency) for provider in CHANNELS for currency in PROVIDERS[provider].currencies
    ]

    async def read(conn: AsyncConnection) -> tuple[dict[int, int], Clearing, int]:
        held = {}
        for card in storm.cards:
            code = chart.sim_balance(card.sim.id, card.currency).code
            held[card.sim.id] = await balance_of(conn, code)
        clearing = {
            (provider, currency): await balance_of(
                conn, chart.provider_clearing_code(provider.value, currency)
            )
            for provider, currency in accounts
        }
        return held, clearing, len((await ledger.check_books(conn)).problems)

    held, clearing, problems = await storm.db.transaction(read)
    return {
        "top-up journals": (len(journals), len(credited)),
        "top-up journals of orders not to be credited": (
            len(journals & {f"topup:{order.order_no}" for order in uncredited}),
            0,
        ),
        "SIMs not holding the sum of their orders": (
            sum(1 for card in storm.cards if held[card.sim.id] != credits[card.sim.id]),
            0,
        ),
        **{
            f"{provider.value} clearing, {currency}": (
                clearing[(provider, currency)],
                cleared[(provider, currency)],
            )
            for provider, currency in accounts
        },
        "problems in the books": (problems, 0),
    }


async def _orders(storm: Storm, credited: list[Placed], uncredited: list[Placed]) -> Part:
    rows = await orders_by_no(storm, [order.order_no for order in credited + uncredited])
    mine = [rows[order.order_no] for order in credited]
    receipts = [row["receipt_no"] for row in mine if row["receipt_no"] is not None]
    sms = await credit_sms(storm)
    told = Counter(receipt for body in sms for receipt in receipts if receipt in body)
    return {
        "orders credited": (sum(1 for row in mine if row["state"] == "credited"), len(credited)),
        "orders credited not to be": (
            sum(1 for order in uncredited if rows[order.order_no]["state"] == "credited"),
            0,
        ),
        "receipts, distinct": (len(set(receipts)), len(credited)),
        "credit SMS": (len(sms), len(credited)),
        "receipts in exactly one SMS": (sum(1 for n in told.values() if n == 1), len(credited)),
    }


async def _sims(storm: Storm, credited: list[Placed]) -> Part:
    """A validity SIM's date moved on by each of its credited top-ups once; a SIM in grace or
    suspended that was topped up is active again, by one state change."""
    days: Counter[int] = Counter()
    for order in credited:
        days[order.ask.card.sim.id] += VALIDITY_DAYS[order.ask.credit.minor]
    sims, wakeups = await sims_after(storm)
    validity_off = sum(
        1
        for card in storm.cards
        if card.validity_until is not None
        and sims[card.sim.id]["validity_until"]
        != card.validity_until + timedelta(days=days[card.sim.id])
    )
    asleep = {card.sim.id for card in storm.cards if card.sim.state is not SimState.ACTIVE}
    woken = asleep & set(days)
    return {
        "validity SIMs off the days of their orders": (validity_off, 0),
        "SIM wake-ups recorded": (sum(wakeups.values()), len(woken)),
        "topped-up SIMs not active": (
            sum(1 for sim_id in days if sims[sim_id]["state"] != SimState.ACTIVE.value),
            0,
        ),
    }


def _inbox(
    inbox: list[Row], credited: list[Placed], notices: list[Notice], weather: Weather
) -> Part:
    """One row per delivery, each kept as what it was; one credited row per credited order
    (from its notification or from the poll), every other genuine delivery a duplicate."""
    delivered = [row for row in inbox if row["source"] == "notification"]
    by_body: defaultdict[str, list[Row]] = defaultdict(list)
    for row in delivered:
        by_body[row["body_sha256"]].append(row)
    misfiled = sum(
        1
        for notice in notices
        for row in by_body[hashlib.sha256(notice.body).hexdigest()]
        if not kept_right(notice, row)
    )
    bad: Counter[str] = Counter()
    for notice in notices:
        if notice.status is not None:
            bad[notice.status] += notice.copies
    kept = Counter(row["status"] for row in delivered)
    credited_rows = Counter(row["order_no"] for row in inbox if row["status"] == "credited")
    genuine = sum(notice.copies for notice in notices if notice.status is None)
    by_notification = len(credited) - weather.polled_credits
    by_poll = sum(1 for row in inbox if row["source"] == "poll" and row["status"] == "credited")
    return {
        "deliveries kept": (len(delivered), sum(notice.copies for notice in notices)),
        "deliveries kept as something they were not": (misfiled, 0),
        "credited rows": (sum(credited_rows.values()), len(credited)),
        "orders with exactly one credited row": (
            sum(1 for order in credited if credited_rows[order.order_no] == 1),
            len(credited),
        ),
        "credited rows from the poll": (by_poll, weather.polled_credits),
        "duplicate rows": (kept["duplicate"], genuine - by_notification),
        "failed rows": (kept["failed"], 0),
        **{f"{status} rows": (kept[status], copies) for status, copies in sorted(bad.items())},
    }


def kept_right(notice: Notice, row: Row) -> bool:
    """The row is what the inbox must keep of a delivery of ``notice``."""
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


def _answers(notices: list[Notice], weather: Weather) -> Part:
    """Every delivery answered, none with a 5xx; genuine payments (and Alipay's
    TRADE_CLOSED) acknowledged and nothing else; every acknowledged payment applied — the
    order credited and its credited row kept — by the time the provider read the answer."""
    answers = weather.answers
    return {
        "answers": (len(answers), sum(notice.copies for notice in notices)),
        "5xx answers": (sum(1 for a in answers if a.status_code >= 500), 0),
        "acknowledged, not to be": (
            sum(1 for a in answers if a.acknowledged and not a.notice.acknowledged),
            0,
        ),
        "not acknowledged, to be": (
            sum(1 for a in answers if a.notice.acknowledged and not a.acknowledged),
            0,
        ),
        "acknowledged before applied": (sum(1 for a in answers if a.applied is False), 0),
    }


# --- reading the database -----------------------------------------------------------------


async def inbox_rows(storm: Storm) -> list[Row]:
    inbox = payment_tables.inbox

    async def read(conn: AsyncConnection) -> list[Row]:
        rows = await conn.execute(select(inbox).order_by(inbox.c.id))
        return [dict(row._mapping) for row in rows]

    return await storm.db.transaction(read)


async def topup_journals(storm: Storm) -> set[str]:
    journals = ledger_tables.journals.c

    async def read(conn: AsyncConnection) -> set[str]:
        query = select(journals.client_id).where(journals.client_id.like("topup:%"))
        return set((await conn.execute(query)).scalars())

    return await storm.db.transaction(read)


async def credit_sms(storm: Storm) -> list[str]:
    """The SMS queued to the SIMs' own numbers: the credit SMS (the sign-up codes go to the
    subscribers' phones)."""
    numbers = [
        line.e164 for card in storm.cards for line in (card.sim.hk_number, card.sim.cn_number)
    ]

    async def read(conn: AsyncConnection) -> list[str]:
        query = select(outbox.c.body).where(outbox.c.recipient.in_(numbers))
        return list((await conn.execute(query)).scalars())

    return await storm.db.transaction(read)


async def orders_by_no(storm: Storm, order_nos: list[str]) -> dict[str, Row]:
    orders = topup_tables.orders

    async def read(conn: AsyncConnection) -> dict[str, Row]:
        rows = await conn.execute(select(orders).where(orders.c.order_no.in_(order_nos)))
        return {row.order_no: dict(row._mapping) for row in rows}

    return await storm.db.transaction(read)


async def balance_of(conn: AsyncConnection, code: str) -> int:
    account = await ledger.get_account_by_code(conn, code=code)
    assert account is not None, code
    return (await ledger.get_balance(conn, account_id=account.id)).posted


async def sims_after(storm: Storm) -> tuple[dict[int, Row], Counter[int]]:
    """The SIMs as they are now, and how many top-up state changes each had."""
    sims, events = sim_tables.sims, sim_tables.events

    async def read(conn: AsyncConnection) -> tuple[dict[int, Row], Counter[int]]:
        rows = await conn.execute(select(sims))
        now = {row.id: dict(row._mapping) for row in rows}
        query = select(events.c.sim_id).where(events.c.reason == "top-up")
        return now, Counter((await conn.execute(query)).scalars())

    return await storm.db.transaction(read)
