"""Top-up read models: one order, a subscriber's history with filters, a SIM's orders.

Design overview
---------------
Reads return ``model.Order``. History pages by keyset (``before`` an order id, newest
first), so a page costs the same however long the history is; filters are the order's
state, the number topped up and a date range (Hong Kong days are the caller's to convert;
a bound on the calendar's first or last day, which UTC cannot hold from every offset, means
"from the beginning" or "to the end").
Ownership is part of every query that takes a subscriber: an order of another subscriber is
simply not found. A top-up made at an outlet, which no account paid, is the business of
whoever holds the SIM it topped up: a subscriber who linked that SIM sees it (and may ask
for it back, ``refunds.service``) as the payer of an online order does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import MINYEAR, UTC, datetime
from decimal import Decimal

from sqlalchemy import Row, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.keyset import Keyset, older_than
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.sims.tables import holdings
from simkeep.sqltypes import as_utc
from simkeep.statements import Row as StatementRow
from simkeep.topups import tables as t
from simkeep.topups.model import CREDITED_ONCE, Order, OrderState

HISTORY_PAGE = 20


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    state: OrderState | None = None
    msisdn: str | None = None  # E.164
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    before: int | None = None  # the cursor: an order id from the previous page
    limit: int = HISTORY_PAGE


@dataclass(frozen=True, slots=True)
class HistoryPage:
    orders: list[Order]
    next_before: int | None  # pass as ``before`` for the next page; None on the last page


async def get_order(
    conn: AsyncConnection,
    *,
    order_no: str,
    subscriber_id: int | None = None,
    lock: bool = False,
) -> Order | None:
    """One order; with ``subscriber_id``, only if it is theirs to see: they placed it, or it
    was made at an outlet for a SIM they hold."""
    o = t.orders.c
    query = select(t.orders).where(o.order_no == order_no)
    if subscriber_id is not None:
        held = exists().where(
            holdings.c.subscriber_id == subscriber_id, holdings.c.sim_id == o.sim_id
        )
        query = query.where(
            or_(o.subscriber_id == subscriber_id, and_(o.provider == Provider.OUTLET.value, held))
        )
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return order_from_row(row) if row else None


async def get_order_by_receipt(conn: AsyncConnection, *, receipt_no: str) -> Order | None:
    row = (await conn.execute(select(t.orders).where(t.orders.c.receipt_no == receipt_no))).first()
    return order_from_row(row) if row else None


async def order_history(
    conn: AsyncConnection, *, subscriber_id: int, where: HistoryFilter
) -> HistoryPage:
    """A subscriber's orders, newest first, one page at a time."""
    o = t.orders.c
    query = select(t.orders).where(o.subscriber_id == subscriber_id)
    if where.state is not None:
        query = query.where(o.state == where.state.value)
    if where.msisdn is not None:
        query = query.where(o.msisdn == where.msisdn)
    if where.since is not None:
        query = query.where(o.created_at >= _in_utc(where.since))
    if where.until is not None:
        query = query.where(o.created_at < _in_utc(where.until))
    if where.before is not None:
        query = query.where(o.id < where.before)
    rows = (await conn.execute(query.order_by(o.id.desc()).limit(where.limit + 1))).all()
    more = len(rows) > where.limit
    rows = rows[: where.limit]
    return HistoryPage(
        orders=[order_from_row(row) for row in rows],
        next_before=rows[-1].id if more else None,
    )


async def by_idempotency_key(
    conn: AsyncConnection, *, subscriber_id: int, key: str
) -> tuple[Order, str] | None:
    """The order made with this key, and the fingerprint of the request that made it."""
    row = (
        await conn.execute(
            select(t.orders).where(
                t.orders.c.subscriber_id == subscriber_id, t.orders.c.idempotency_key == key
            )
        )
    ).first()
    return (order_from_row(row), row.request_hash) if row else None


async def credited_before(conn: AsyncConnection, *, sim_id: int) -> bool:
    """Whether any order ever credited the SIM (refunded since or not)."""
    o = t.orders.c
    found = await conn.scalar(
        select(o.id)
        .where(o.sim_id == sim_id, o.state.in_([state.value for state in CREDITED_ONCE]))
        .limit(1)
    )
    return found is not None


async def orders_of_sim(
    conn: AsyncConnection, *, sim_id: int, before: Keyset | None, limit: int
) -> list[tuple[int, Order]]:
    """The SIM's orders with their ids, newest first: at most ``limit`` before ``before``
    (a SIM's timeline on the console)."""
    o = t.orders.c
    rows = await conn.execute(
        select(t.orders)
        .where(o.sim_id == sim_id, older_than(o.created_at, o.id, before))
        .order_by(o.created_at.desc(), o.id.desc())
        .limit(limit)
    )
    return [(row.id, order_from_row(row)) for row in rows]


def order_from_row(row: Row[tuple[object, ...]] | StatementRow) -> Order:
    """An order from a row of ``topup_orders``, read by SQLAlchemy or by a ``Statement``."""
    m = row._mapping if isinstance(row, Row) else row
    return Order(
        order_no=m["order_no"],
        subscriber_id=m["subscriber_id"],
        sim_id=m["sim_id"],
        msisdn=m["msisdn"],
        credit=Money(m["credit_minor"], m["credit_currency"]),
        pay=Money(m["pay_minor"], m["pay_currency"]),
        fx_rate=Decimal(m["fx_rate"]) if m["fx_rate"] else None,
        validity_days=m["validity_days"],
        provider=Provider(m["provider"]),
        channel=Channel(m["channel"]),
        state=OrderState(m["state"]),
        created_at=as_utc(m["created_at"]),
        expires_at=as_utc(m["expires_at"]),
        receipt_no=m["receipt_no"],
        paid_at=_instant(m["paid_at"]),
        credited_at=_instant(m["credited_at"]),
        provider_trade_no=m["provider_trade_no"],
        validity_until=_instant(m["validity_until"]),
        pay_url=m["pay_url"],
        pay_qr=m["pay_qr"],
        pay_form=json.loads(m["pay_form"]) if m["pay_form"] else None,
    )


def _in_utc(instant: datetime) -> datetime:
    """``instant`` in UTC, or the end of the calendar it is beyond."""
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        if instant.year == MINYEAR:
            return datetime.min.replace(tzinfo=UTC)
        return datetime.max.replace(tzinfo=UTC)


def _instant(value: datetime | str | None) -> datetime | None:
    return None if value is None else as_utc(value)
