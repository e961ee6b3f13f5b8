"""The sources of a SIM's timeline on the console (``staff.timeline``), each read by the
SIM through an index, newest first, at most a page and one more before a keyset.

Design overview
---------------
Orders, refunds, adjustments and the journals on the SIM's accounts are read by the domain
that owns them (``topups.queries``, ``refunds.queries``, ``adjustments.queries``,
``ledger.queries``); the rest is read here: the payment notifications of the SIM's orders,
its state changes, the SMS sent to its numbers (one-time codes hidden), its keep-alive
charges and its usage by batch. ``SOURCES`` names each source's read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.adjustments import queries as adjustments
from simkeep.keepalive import tables as keepalive_tables
from simkeep.keyset import Keyset, older_than
from simkeep.ledger import queries as ledger
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payments import tables as payment_tables
from simkeep.refunds import queries as refunds
from simkeep.sims import tables as sim_tables
from simkeep.sims.model import Sim
from simkeep.staff.timeline_entries import (
    Entry,
    KeepAliveCharge,
    Message,
    PaymentNotice,
    Source,
    StateChange,
    UsageBatch,
    hide_codes,
)
from simkeep.topups import queries as topups
from simkeep.topups import tables as topup_tables
from simkeep.usage import tables as usage_tables

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Read = Callable[[AsyncConnection, Sim, Keyset | None, int], Awaitable[list[Entry]]]


class OfSim(Protocol[T_co]):
    """A domain's read of a SIM's rows with their ids, newest first."""

    async def __call__(
        self, conn: AsyncConnection, *, sim_id: int, before: Keyset | None, limit: int
    ) -> Sequence[tuple[int, T_co]]: ...


def _of_sim(source: Source, of_sim: OfSim[T], at: Callable[[T], datetime]) -> Read:
    """The entries of a source a domain reads by the SIM, each at ``at`` of its item."""

    async def read(
        conn: AsyncConnection, sim: Sim, keyset: Keyset | None, limit: int
    ) -> list[Entry]:
        found = await of_sim(conn, sim_id=sim.id, before=keyset, limit=limit)
        return [Entry(at(item), source, row_id, item) for row_id, item in found]

    return read


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
    Source.ORDER: _of_sim(Source.ORDER, topups.orders_of_sim, lambda order: order.created_at),
    Source.NOTIFICATION: _notifications,
    Source.JOURNAL: _journals,
    Source.STATE: _states,
    Source.SMS: _messages,
    Source.REFUND: _of_sim(Source.REFUND, refunds.refunds_of_sim, lambda r: r.requested_at),
    Source.KEEPALIVE: _keepalive,
    Source.USAGE: _usage,
    Source.ADJUSTMENT: _adjustments,
}
