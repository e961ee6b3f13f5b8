"""Top-ups in figures, for the operator's dashboard and exports: counts and amounts per Hong
Kong day, and every order of a range of days, a batch at a time.

Design overview
---------------
* ``credited_by_day`` is one grouped query (``GROUP BY`` the Hong Kong day of
  ``credited_at``, the channel, the provider and the currency paid) over the orders credited
  within a ``DayRange``: an order counts on the day its money reached the SIM, whatever was
  refunded of it since (refunds have figures of their own). Amounts are what the payers
  paid, in minor units of the currency they paid in, summed by the database: integers
  throughout.
* ``orders_created`` reads the orders created on a range of days, oldest id first, after a
  given id: an export walks the range in batches of bounded size (keyset on the id), so
  neither the database nor the process holds a whole year of orders at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.days import DayRange, as_day, hk_day
from simkeep.payment_methods import Channel, Provider
from simkeep.topups import tables as t
from simkeep.topups.model import Order
from simkeep.topups.queries import order_from_row


@dataclass(frozen=True, slots=True)
class CreditedCount:
    """The top-ups credited on one Hong Kong day by one channel and provider, paid in one
    currency."""

    day: date
    channel: Channel
    provider: Provider
    currency: str
    count: int
    paid_minor: int


async def credited_by_day(conn: AsyncConnection, *, days: DayRange) -> list[CreditedCount]:
    """The top-ups credited within ``days``, counted and summed per day, channel, provider
    and currency paid."""
    c = t.orders.c
    start, end = days.window()
    day = hk_day(conn, c.credited_at).label("day")
    query = (
        select(
            day,
            c.channel,
            c.provider,
            c.pay_currency,
            func.count().label("n"),
            func.sum(c.pay_minor).label("paid"),
        )
        .where(c.credited_at >= start, c.credited_at < end)
        .group_by(day, c.channel, c.provider, c.pay_currency)
    )
    return [
        CreditedCount(
            day=as_day(row.day),
            channel=Channel(row.channel),
            provider=Provider(row.provider),
            currency=row.pay_currency,
            count=int(row.n),
            paid_minor=int(row.paid),
        )
        for row in await conn.execute(query)
    ]


async def orders_created(
    conn: AsyncConnection, *, days: DayRange, after_id: int, limit: int
) -> list[tuple[int, Order]]:
    """At most ``limit`` orders created on the Hong Kong days of ``days``, with their ids, in
    the order of their ids, after ``after_id``."""
    c = t.orders.c
    start, end = days.window()
    query = (
        select(t.orders)
        .where(c.created_at >= start, c.created_at < end, c.id > after_id)
        .order_by(c.id)
        .limit(limit)
    )
    return [(row.id, order_from_row(row)) for row in await conn.execute(query)]
