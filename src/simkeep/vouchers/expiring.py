"""Vouchers past their expiry: what was sold and never redeemed becomes breakage income.

Design overview
---------------
``expire_vouchers`` runs in one transaction: one conditional update moves every sold
voucher whose expiry has passed to ``expired`` and returns them, and their face values go
from the vouchers-outstanding liability to ``voucher_breakage`` — one journal per batch,
with the client id ``voucher_breakage:<batch>:<first voucher id>``, so a rerun after a
crash books nothing twice (the update and the journal commit together) and a voucher of a
batch whose sale committed just after the batch expired gets a journal of its own later.
A second update moves the generated (never sold) vouchers past their expiry to
``expired`` with no journal: nobody paid for them. The worker calls it every second, so it
first looks, with a read on the state-and-expiry index, whether any voucher is due at all:
most seconds none is, and no write transaction is opened (on SQLite, one that would take
the database's write lock from the top-ups).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningUpdate

from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import VoucherState

v = t.vouchers.c


@dataclass(frozen=True, slots=True)
class Expired:
    sold: int  # sold and never redeemed: their value is breakage now
    unsold: int  # never sold
    breakage: tuple[Money, ...]  # per currency


async def expire_vouchers(db: Database, *, now: datetime) -> Expired:
    """Expire every voucher past its expiry; book the sold ones' value as breakage."""
    if not await db.read(lambda conn: _any_due(conn, now)):
        return Expired(sold=0, unsold=0, breakage=())
    return await db.transaction(lambda conn: _expire(conn, now))


async def _any_due(conn: AsyncConnection, now: datetime) -> bool:
    states = (VoucherState.SOLD.value, VoucherState.GENERATED.value)
    due = select(v.id).where(v.state.in_(states), v.expires_at <= now).limit(1)
    return (await conn.execute(due)).first() is not None


async def _expire(conn: AsyncConnection, now: datetime) -> Expired:
    sold = (await conn.execute(_moving(VoucherState.SOLD, now))).all()
    by_batch: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for voucher_id, batch_id, face_minor, currency in sold:
        by_batch[int(batch_id)].append((int(voucher_id), int(face_minor), str(currency)))
    totals: dict[str, int] = defaultdict(int)
    for batch_id, vouchers in sorted(by_batch.items()):
        value = Money(sum(face for _, face, _ in vouchers), vouchers[0][2])
        first = min(voucher_id for voucher_id, _, _ in vouchers)
        await _book(conn, batch_id, f"voucher_breakage:{batch_id}:{first}", value, now)
        totals[value.currency] += value.minor
    unsold = (await conn.execute(_moving(VoucherState.GENERATED, now))).all()
    breakage = tuple(Money(minor, currency) for currency, minor in sorted(totals.items()))
    return Expired(sold=len(sold), unsold=len(unsold), breakage=breakage)


def _moving(state: VoucherState, now: datetime) -> ReturningUpdate[Any]:
    return (
        update(t.vouchers)
        .where(v.state == state.value, v.expires_at <= now)
        .values(state=VoucherState.EXPIRED.value, closed_at=now)
        .returning(v.id, v.batch_id, v.face_minor, v.currency)
    )


async def _book(
    conn: AsyncConnection, batch_id: int, client_id: str, value: Money, now: datetime
) -> None:
    codes = [
        chart.system_code(System.VOUCHERS_OUTSTANDING, value.currency),
        chart.system_code(System.VOUCHER_BREAKAGE, value.currency),
    ]
    ids = await ledger.account_ids(conn, codes=codes)
    await ledger.post_journal(
        conn,
        client_id=client_id,
        postings=rules.voucher_breakage(
            vouchers_outstanding=ids[codes[0]], breakage=ids[codes[1]], face_value=value
        ),
        now=now,
        description=f"Vouchers of batch {batch_id} expired unredeemed",
        metadata={"batch_id": str(batch_id)},
    )
