"""Granting what an order was promised, in its crediting transaction, and expiring it later
(docs/promotions.md).

Design overview
---------------
* ``grant_order`` runs inside ``topups.crediting.credit_paid_order``, which moves an order
  to paid once however many notifications and polls race, and it moves each of the order's
  promises ``reserved → granted`` by a conditional update besides: nothing is granted twice.
  An order that expired unpaid gave its reservation back; if it is paid after all, its
  promotions are taken again, atomically as at ordering, and granted only if the budget and
  the SIM's cap still allow.
* A grant writes one bucket per benefit (``sim_buckets``: voice, data, SMS, money; its
  ``source_ref`` is ``promotion:<id>:<order_no>``, unique per kind and zone) expiring the
  benefit's days after the grant; bonus money is also posted to the SIM's bonus account
  (``rules.promotion_grant``, journal ``promotion:<id>:<order_no>``, the account opened if
  the SIM has none yet). Extra validity days are returned for the caller to add to the
  top-up's own, so the SIM's validity moves once, under its 730-day cap.
* A refund takes the order's benefits back (``order_bonus`` with ``take_back``): its open
  buckets close as on expiry, and the caller deducts the bonus money used from the refund.
* ``expire_buckets`` closes buckets past their expiry in batches: a conditional update marks
  each once (and empties it), and unused bonus money goes back from the bonus account to the
  promotion expense (``rules.promotion_expiry``, journal ``bucket-expiry:<id>``), so a job
  repeated, or two workers at once, expire nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.buckets import tables as b
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.promotions import tables as t
from simkeep.promotions.model import Applied, Grant
from simkeep.promotions.reserving import GRANTED, RELEASED, RESERVED, held_by_order, take

EXPIRY_BATCH = 200


@dataclass(frozen=True, slots=True)
class Granted:
    """What an order was granted just now."""

    promotions: list[Applied]

    @property
    def validity_days(self) -> int:
        return sum(applied.validity_days for applied in self.promotions)


async def grant_order(
    conn: AsyncConnection, *, order_no: str, sim_id: int, currency: str, now: datetime
) -> Granted:
    """Grant what the order holds (in the crediting transaction, once)."""
    o = t.order_promotions.c
    moved = await conn.execute(
        update(t.order_promotions)
        .where(o.order_no == order_no, o.state == RESERVED)
        .values(state=GRANTED, settled_at=now)
        .returning(o.promotion_id)
    )
    granted = {row.promotion_id for row in moved}
    released = await conn.execute(
        select(o.promotion_id).where(o.order_no == order_no, o.state == RELEASED)
    )
    for promotion_id in sorted(row.promotion_id for row in released):
        if await take(conn, promotion_id=promotion_id, sim_id=sim_id):
            await conn.execute(
                update(t.order_promotions)
                .where(o.order_no == order_no, o.promotion_id == promotion_id)
                .values(state=GRANTED, settled_at=now)
            )
            granted.add(promotion_id)
    held = [a for a in await held_by_order(conn, order_no=order_no) if a.promotion_id in granted]
    for applied in held:
        ref = f"promotion:{applied.promotion_id}:{order_no}"
        for grant in applied.grants:
            await _fill(conn, grant, sim_id=sim_id, currency=currency, ref=ref, now=now)
    return Granted(held)


async def _fill(
    conn: AsyncConnection, grant: Grant, *, sim_id: int, currency: str, ref: str, now: datetime
) -> None:
    """One benefit into its bucket (and, for money, into the SIM's bonus account)."""
    kind = grant.kind.bucket
    if kind is None or grant.expires_days is None:
        return  # validity days: the caller adds them to the top-up's
    is_money = kind == "money"
    await conn.execute(
        b.buckets.insert().values(
            sim_id=sim_id,
            kind=kind,
            zone=grant.zone,
            currency=currency if is_money else None,
            granted=grant.amount,
            remaining=grant.amount,
            granted_at=now,
            expires_at=now + timedelta(days=grant.expires_days),
            source_ref=ref,
        )
    )
    if is_money:
        expense, bonus = await _accounts(conn, sim_id=sim_id, currency=currency, now=now)
        await ledger.post_journal(
            conn,
            client_id=ref,
            postings=rules.promotion_grant(
                promotion_expense=expense, sim_bonus=bonus, bonus=grant.money(currency)
            ),
            now=now,
            description=f"Bonus money, {ref}",
            metadata={"source_ref": ref},
        )


async def _accounts(
    conn: AsyncConnection, *, sim_id: int, currency: str, now: datetime
) -> tuple[int, int]:
    """The promotion expense and the SIM's bonus account (opened when first needed)."""
    expense_code = chart.system_code(System.PROMOTION_EXPENSE, currency)
    bonus_spec = chart.sim_bonus(sim_id, currency)
    ids = await ledger.account_ids(conn, codes=[expense_code, bonus_spec.code])
    if bonus_spec.code not in ids:
        ids[bonus_spec.code] = (await ledger.open_account(conn, spec=bonus_spec, now=now)).id
    return ids[expense_code], ids[bonus_spec.code]


async def expire_buckets(db: Database, *, now: datetime, limit: int = EXPIRY_BATCH) -> int:
    """Close the buckets past their expiry, a batch per transaction; unused bonus money goes
    back to the promotion expense. Returns how many were closed."""
    closed = 0
    while True:
        done = await db.transaction(lambda conn: _expire_batch(conn, now=now, limit=limit))
        closed += done
        if done < limit:
            return closed


async def _expire_batch(conn: AsyncConnection, *, now: datetime, limit: int) -> int:
    """Up to ``limit`` buckets past their expiry, locked (PostgreSQL) so that usage spending
    one at this moment is waited for, then each closed once."""
    c = b.buckets.c
    return await _close(conn, (c.expired_at.is_(None), c.expires_at <= now), now=now, limit=limit)


async def close_for_sims(conn: AsyncConnection, *, sim_ids: Sequence[int], now: datetime) -> None:
    """Close every open bucket of these SIMs (recycled: nothing on them may be used any
    more), in the caller's transaction; unused bonus money goes back as on expiry."""
    c = b.buckets.c
    await _close(conn, (c.expired_at.is_(None), c.sim_id.in_(sim_ids)), now=now, limit=None)


@dataclass(frozen=True, slots=True)
class OrderBonus:
    """The bonus money of an order's promotions still open on the SIM, in minor units."""

    granted: int
    unused: int


async def order_bonus(
    conn: AsyncConnection, *, order_no: str, sim_id: int, take_back: bool, now: datetime
) -> OrderBonus:
    """The bonus money the order's open buckets granted and what is unused of it; with
    ``take_back`` (a refund) every open bucket of the order is closed, its unused money
    back to the promotion expense as on expiry."""
    c = b.buckets.c
    where = (
        c.expired_at.is_(None),
        c.sim_id == sim_id,
        c.source_ref.endswith(f":{order_no}", autoescape=True),
    )
    rows = (
        await conn.execute(
            select(c.granted, c.remaining).where(*where, c.kind == "money").with_for_update()
        )
    ).all()
    if take_back:
        await _close(conn, where, now=now, limit=None)
    return OrderBonus(sum(r.granted for r in rows), sum(r.remaining for r in rows))


async def _close(
    conn: AsyncConnection,
    where: tuple[ColumnElement[bool], ...],
    *,
    now: datetime,
    limit: int | None,
) -> int:
    """The open buckets ``where`` says, locked in id order, each closed once."""
    c = b.buckets.c
    due = (
        await conn.execute(
            select(c.id, c.sim_id, c.kind, c.currency, c.remaining)
            .where(*where)
            .order_by(c.id)
            .limit(limit)
            .with_for_update()
        )
    ).all()
    for row in due:
        closed = await conn.execute(
            update(b.buckets)
            .where(c.id == row.id, c.expired_at.is_(None))
            .values(expired_at=now, remaining=0)
        )
        if closed.rowcount == 1 and row.kind == "money" and row.remaining > 0:
            await _give_back(conn, row.id, row.sim_id, Money(row.remaining, row.currency), now)
    return len(due)


async def _give_back(
    conn: AsyncConnection, bucket_id: int, sim_id: int, unused: Money, now: datetime
) -> None:
    expense, bonus = await _accounts(conn, sim_id=sim_id, currency=unused.currency, now=now)
    await ledger.post_journal(
        conn,
        client_id=f"bucket-expiry:{bucket_id}",
        postings=rules.promotion_expiry(sim_bonus=bonus, promotion_expense=expense, unused=unused),
        now=now,
        description=f"Bonus money expired unused, bucket {bucket_id}",
        metadata={"bucket_id": str(bucket_id)},
    )
