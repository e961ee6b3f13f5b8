"""The operator's voucher work, each change audited in its own transaction.

Design overview
---------------
* ``create_batch`` generates a batch (``batches.generate_batch``) and records
  ``voucher_batch.create`` in the audit log — batch number, face value, count, expiry,
  never a PIN — in the same transaction; the command line records it with the actor
  ``cli``. The caller writes the printer's file from what it returns, this once — or, with
  ``export``, inside the transaction, so that a file that cannot be written makes no batch.
* ``block_batch`` moves the unsold vouchers of a batch ``generated → blocked`` with one
  conditional update (sold ones stay sold: someone paid for them), audited with how many.
* ``look_up`` is the operator's view of one voucher by its public serial: state, batch,
  when it was sold and in which outlet sale, and for which number (masked) it was redeemed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.money import Money
from simkeep.phone import parse_number
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Target
from simkeep.topups import service as topups
from simkeep.vouchers import batches
from simkeep.vouchers import tables as t
from simkeep.vouchers.batches import GeneratedBatch, Progress
from simkeep.vouchers.model import Batch, VoucherError, VoucherState, check_serial

v = t.vouchers.c


class UnknownBatch(VoucherError):
    code = "unknown_batch"


@dataclass(frozen=True, slots=True)
class VoucherView:
    serial: str
    batch_no: str
    face: Money
    state: VoucherState
    expires_at: datetime
    sold_at: datetime | None
    sale_id: int | None
    redeemed_at: datetime | None
    order_no: str | None
    redeemed_for: str | None  # the number credited, masked
    closed_at: datetime | None


async def create_batch(
    db: Database,
    *,
    face: Money,
    count: int,
    expires_on: date,
    key: bytes,
    actor: Actor,
    now: datetime,
    progress: Progress | None = None,
    export: Callable[[GeneratedBatch], None] | None = None,
) -> GeneratedBatch:
    """A new batch, audited; its printer's lines are returned this once (and handed to
    ``export`` inside the transaction: if writing them fails, no batch is made)."""

    async def create(conn: AsyncConnection) -> GeneratedBatch:
        made = await batches.generate_batch(
            conn,
            face=face,
            count=count,
            expires_on=expires_on,
            created_by=actor.staff_id,
            key=key,
            now=now,
            progress=progress,
        )
        await audit.record(
            conn,
            actor=actor,
            action="voucher_batch.create",
            target=Target("voucher_batch", made.batch.batch_no),
            before=None,
            after=_described(made.batch),
            now=now,
        )
        if export is not None:
            export(made)
        return made

    return await db.transaction(create)


def _described(batch: Batch) -> dict[str, object]:
    return {
        "face_minor": batch.face.minor,
        "currency": batch.face.currency,
        "count": batch.count,
        "expires_on": batch.expires_on.isoformat(),
    }


async def block_batch(db: Database, *, batch_id: int, actor: Actor, now: datetime) -> int:
    """Block the batch's vouchers not sold yet; how many were blocked."""

    async def block(conn: AsyncConnection) -> int:
        batch = await batches.get_batch(conn, batch_id=batch_id)
        if batch is None:
            raise UnknownBatch(f"no voucher batch {batch_id}")
        moved = await conn.execute(
            update(t.vouchers)
            .where(v.batch_id == batch_id, v.state == VoucherState.GENERATED.value)
            .values(state=VoucherState.BLOCKED.value, closed_at=now)
        )
        blocked = int(moved.rowcount or 0)
        await audit.record(
            conn,
            actor=actor,
            action="voucher_batch.block",
            target=Target("voucher_batch", batch.batch_no),
            before={"generated": blocked},
            after={"blocked": blocked},
            now=now,
        )
        return blocked

    return await db.transaction(block)


async def look_up(conn: AsyncConnection, *, serial: str) -> VoucherView | None:
    """One voucher by its serial (refused if the serial is malformed), or None."""
    query = (
        select(t.vouchers, t.batches.c.batch_no)
        .join(t.batches, t.batches.c.id == v.batch_id)
        .where(v.serial == check_serial(serial))
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    order = None
    if row["order_no"]:
        order = await topups.get_order(conn, order_no=row["order_no"])
    return VoucherView(
        serial=row["serial"],
        batch_no=row["batch_no"],
        face=Money(int(row["face_minor"]), row["currency"]),
        state=VoucherState(row["state"]),
        expires_at=row["expires_at"],
        sold_at=row["sold_at"],
        sale_id=row["sale_id"],
        redeemed_at=row["redeemed_at"],
        order_no=row["order_no"],
        redeemed_for=parse_number(order.msisdn).masked() if order else None,
        closed_at=row["closed_at"],
    )
