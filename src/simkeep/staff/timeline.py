"""A SIM's story on the console: the card and what is on it, who holds it, and one timeline
of everything that happened to it, newest first, a page at a time (docs/staff.md).

Design overview
---------------
* ``sim_story`` is one read: the SIM with its two numbers and plan, its money balance,
  bonus money and what refunds hold of the balance, the accounts that hold it (their phones
  in full: a support person finds a caller by them) and one page of the timeline.
* The timeline merges sources, each read by the domain that owns it where it has a read
  module — orders (``topups.queries``), journals on the SIM's accounts (``ledger.queries``),
  refunds (``refunds.queries``), adjustments (``adjustments.queries``) — and here for the
  rest: payment notifications of its orders, its state changes, the SMS sent to its numbers
  (six-digit codes hidden: a one-time code is not staff's to read), keep-alive charges and
  usage batches. Every source reads by the SIM through an index (migration 0024 added the
  missing ones) and returns at most a page and one more, ordered by its own (time, id).
* Entries are ordered by (time, source, id), newest first; the merge sorts the sources'
  answers in Python and keeps a page. The cursor of the next page is the last entry's
  (time, source, id), and each source is given the keyset that matches its place against
  it (``keyset.older_than``): a source ranked below the cursor's still has the cursor's
  instant to show, one ranked above only earlier ones. Entries that share an instant are so
  never lost nor shown twice between pages.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.adjustments import queries as adjustments
from simkeep.db import Database
from simkeep.keepalive import tables as keepalive_tables
from simkeep.keyset import Keyset, older_than
from simkeep.ledger import chart
from simkeep.ledger import queries as ledger
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payments import tables as payment_tables
from simkeep.refunds import queries as refunds
from simkeep.sims import holdings, plans
from simkeep.sims import service as sims
from simkeep.sims import tables as sim_tables
from simkeep.sims.model import Plan, Sim
from simkeep.sqltypes import MAX_ID
from simkeep.subscribers import service as subscribers
from simkeep.topups import queries as topups
from simkeep.topups import tables as topup_tables
from simkeep.usage import tables as usage_tables

PAGE = 25
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
HIDDEN_CODE = "••••••"


class Source(IntEnum):
    """The timeline's sources; at one instant, a higher one is shown first."""

    ORDER = 1
    NOTIFICATION = 2
    JOURNAL = 3
    STATE = 4
    SMS = 5
    REFUND = 6
    KEEPALIVE = 7
    USAGE = 8
    ADJUSTMENT = 9


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """Where a page of the timeline ends: the last entry's (time, source, id)."""

    at: datetime
    source: int
    id: int

    def token(self) -> str:
        """The cursor in a page's address: ``<µs since 1970>-<source>-<id>``."""
        micros = (self.at - EPOCH) // _MICROSECOND
        return f"{micros}-{self.source}-{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """A cursor from its token; ``ValueError`` for anything else."""
        match = re.fullmatch(r"(\d{1,16})-(\d)-(\d{1,19})", token)
        if match is None:
            raise ValueError(f"{token[:40]!r} is not a page of a timeline")
        micros, source, row_id = (int(part) for part in match.groups())
        if source not in {s.value for s in Source} or row_id > MAX_ID:
            raise ValueError(f"{token[:40]!r} is not a page of a timeline")
        return cls(EPOCH + micros * _MICROSECOND, source, row_id)

    def keyset_for(self, source: Source) -> Keyset:
        """What ``source`` has left to show after this cursor."""
        if source < self.source:
            return Keyset(self.at, MAX_ID)  # the cursor's instant too
        if source > self.source:
            return Keyset(self.at, 0)  # only earlier instants
        return Keyset(self.at, self.id)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    source: Source
    id: int
    item: Any  # what the source read: an order, a journal, a refund …

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.source.value, self.id)


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    order_no: str
    provider: str
    source: str  # notification | poll
    status: str
    error: str | None


@dataclass(frozen=True, slots=True)
class StateChange:
    from_state: str | None
    to_state: str
    reason: str


@dataclass(frozen=True, slots=True)
class Message:
    recipient: str
    body: str  # one-time codes hidden
    sent: bool


@dataclass(frozen=True, slots=True)
class KeepAliveCharge:
    period: date
    state: str
    amount: Money
    tries: int
    order_no: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class UsageBatch:
    records: int
    data_mb: int
    voice_minutes: int
    sms: int
    charged: Money
    from_bonus: Money
    from_balance: Money
    unpaid: Money


@dataclass(frozen=True, slots=True)
class Holding:
    phone: str  # the account's login number, E.164
    linked_at: datetime


@dataclass(frozen=True, slots=True)
class SimStory:
    sim: Sim
    plan: Plan
    balance: Money
    bonus: Money
    held: Money  # of the balance, held by refunds waiting for a decision
    holders: list[Holding]
    entries: list[Entry]
    older: Cursor | None  # the next page's cursor, if there is more


Read = Callable[[AsyncConnection, Sim, Keyset | None, int], Awaitable[list[Entry]]]


async def sim_story(db: Database, *, sim_id: int, cursor: Cursor | None) -> SimStory | None:
    """The SIM's page: the card, its money, its holders and one page of its timeline
    (``cursor``: where the previous page ended); None for an unknown SIM."""

    async def read(conn: AsyncConnection) -> SimStory | None:
        sim = await sims.get_sim(conn, sim_id=sim_id)
        if sim is None:
            return None
        plan = await plans.get_plan(conn, code=sim.plan_code)
        assert plan is not None  # a SIM's plan_code references its plan
        balance, held = await _money(conn, chart.sim_balance(sim.id, sim.home_currency).code)
        bonus, _ = await _money(conn, chart.sim_bonus(sim.id, sim.home_currency).code)
        entries, older = await _timeline(conn, sim, cursor)
        return SimStory(
            sim, plan, balance, bonus, held, await _holders(conn, sim.id), entries, older
        )

    return await db.read(read)


async def _timeline(
    conn: AsyncConnection, sim: Sim, cursor: Cursor | None
) -> tuple[list[Entry], Cursor | None]:
    entries: list[Entry] = []
    for source, read in SOURCES.items():
        keyset = cursor.keyset_for(source) if cursor else None
        entries += await read(conn, sim, keyset, PAGE + 1)
    entries.sort(key=lambda entry: entry.cursor, reverse=True)
    page = entries[:PAGE]
    return page, page[-1].cursor if len(entries) > PAGE else None


async def _money(conn: AsyncConnection, code: str) -> tuple[Money, Money]:
    """An account's posted balance and what holds take of it."""
    account = await ledger.get_account_by_code(conn, code=code)
    currency = code.rsplit(":", 1)[-1]
    if account is None:
        return Money(0, currency), Money(0, currency)
    balance = await ledger.get_balance(conn, account_id=account.id)
    return balance.money(), Money(balance.pending_out, currency)


async def _holders(conn: AsyncConnection, sim_id: int) -> list[Holding]:
    held_by = await holdings.holders(conn, sim_id=sim_id)
    phones = await subscribers.phones(conn, subscriber_ids=[h.subscriber_id for h in held_by])
    return [Holding(phones[h.subscriber_id], h.linked_at) for h in held_by]


async def _orders(
    conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
) -> list[Entry]:
    found = await topups.orders_of_sim(conn, sim_id=sim.id, before=keyset, limit=limit)
    return [Entry(order.created_at, Source.ORDER, row_id, order) for row_id, order in found]


async def _notifications(
    conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
) -> list[Entry]:
    """The payment notifications (and kept poll answers) of the SIM's orders."""
    n, o = payment_tables.inbox.c, topup_tables.orders.c
    rows = await conn.execute(
        select(n.id, n.order_no, n.provider, n.source, n.status, n.error, n.received_at)
        .join(topup_tables.orders, o.order_no == n.order_no)
        .where(o.sim_id == sim.id, older_than(n.received_at, n.id, keyset))
        .order_by(n.received_at.desc(), n.id.desc())
        .limit(limit)
    )
    return [
        Entry(
            row.received_at,
            Source.NOTIFICATION,
            row.id,
            PaymentNotice(row.order_no, row.provider, row.source, row.status, row.error),
        )
        for row in rows
    ]


async def _journals(
    conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
) -> list[Entry]:
    found = await ledger.owner_journals(
        conn, owner_type="sim", owner_id=str(sim.id), before=keyset, limit=limit
    )
    return [Entry(journal.created_at, Source.JOURNAL, journal.id, journal) for journal in found]


async def _states(
    conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
) -> list[Entry]:
    e = sim_tables.events.c
    rows = await conn.execute(
        select(e.id, e.from_state, e.to_state, e.reason, e.at)
        .where(e.sim_id == sim.id, older_than(e.at, e.id, keyset))
        .order_by(e.at.desc(), e.id.desc())
        .limit(limit)
    )
    return [
        Entry(row.at, Source.STATE, row.id, StateChange(row.from_state, row.to_state, row.reason))
        for row in rows
    ]


async def _messages(
    conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
) -> list[Entry]:
    """SMS to either of the SIM's numbers since it was issued (reminders, state notices,
    credits, link notices), one-time codes hidden."""
    m = outbox.c
    numbers = [sim.hk_number.e164, sim.cn_number.e164]
    rows = await conn.execute(
        select(m.id, m.recipient, m.body, m.created_at, m.sent_at)
        .where(
            m.recipient.in_(numbers),
            m.kind == "sms",
            m.created_at >= sim.created_at,
            older_than(m.created_at, m.id, keyset),
        )
        .order_by(m.created_at.desc(), m.id.desc())
        .limit(limit)
    )
    return [
        Entry(
            row.created_at,
            Source.SMS,
            row.id,
            Message(row.recipient, hide_codes(row.body), row.sent_at is not None),
        )
        for row in rows
    ]


def hide_codes(text: str) -> str:
    """A message with every run of exactly six digits (a one-time code) hidden."""
    return _CODE.sub(HIDDEN_CODE, text)


async def _refunds(
    conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
) -> list[Entry]:
    found = await refunds.refunds_of_sim(conn, sim_id=sim.id, before=keyset, limit=limit)
    return [Entry(refund.requested_at, Source.REFUND, row_id, refund) for row_id, refund in found]


async def _keepalive(
    conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
) -> list[Entry]:
    """The auto keep-alive charges of the SIM's rules, by when each was noticed."""
    a, r = keepalive_tables.attempts.c, keepalive_tables.rules.c
    rows = await conn.execute(
        select(keepalive_tables.attempts)
        .join(keepalive_tables.rules, r.id == a.rule_id)
        .where(r.sim_id == sim.id, older_than(a.noticed_at, a.id, keyset))
        .order_by(a.noticed_at.desc(), a.id.desc())
        .limit(limit)
    )
    return [
        Entry(
            row.noticed_at,
            Source.KEEPALIVE,
            row.id,
            KeepAliveCharge(
                row.period,
                row.state,
                Money(row.amount_minor, row.currency),
                row.tries,
                row.order_no,
                row.last_error,
            ),
        )
        for row in rows
    ]


async def _usage(conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int) -> list[Entry]:
    """The SIM's usage by the batch it came in (one time of arrival), summed."""
    u = usage_tables.records.c
    last = func.max(u.id)

    def units(kind: str) -> Any:
        return func.sum(case((u.kind == kind, u.quantity), else_=0))

    query = (
        select(
            u.received_at,
            u.currency,
            last.label("id"),
            func.count().label("records"),
            units("data").label("data"),
            units("voice").label("voice"),
            units("sms").label("sms"),
            func.sum(u.amount_minor).label("charged"),
            func.sum(u.bonus_minor).label("bonus"),
            func.sum(u.balance_minor).label("balance"),
            func.sum(u.unpaid_minor).label("unpaid"),
        )
        .where(u.sim_id == sim.id)
        .group_by(u.received_at, u.currency)
        .having(older_than(u.received_at, last, keyset))
        .order_by(u.received_at.desc(), last.desc())
        .limit(limit)
    )
    if keyset is not None:
        query = query.where(u.received_at <= keyset.at)
    rows = await conn.execute(query)
    return [_usage_entry(row) for row in rows]


def _usage_entry(row: Any) -> Entry:
    def money(minor: Any) -> Money:
        return Money(int(minor), row.currency)

    batch = UsageBatch(
        records=int(row.records),
        data_mb=int(row.data),
        voice_minutes=int(row.voice),
        sms=int(row.sms),
        charged=money(row.charged),
        from_bonus=money(row.bonus),
        from_balance=money(row.balance),
        unpaid=money(row.unpaid),
    )
    return Entry(row.received_at, Source.USAGE, int(row.id), batch)


async def _adjustments(
    conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
) -> list[Entry]:
    found = await adjustments.of_sim(conn, sim_id=sim.id, before=keyset, limit=limit)
    return [Entry(a.made_at, Source.ADJUSTMENT, a.id, a) for a in found]


SOURCES: dict[Source, Read] = {
    Source.ORDER: _orders,
    Source.NOTIFICATION: _notifications,
    Source.JOURNAL: _journals,
    Source.STATE: _states,
    Source.SMS: _messages,
    Source.REFUND: _refunds,
    Source.KEEPALIVE: _keepalive,
    Source.USAGE: _usage,
    Source.ADJUSTMENT: _adjustments,
}
