"""Making a batch of vouchers, and the operator's views of batches.

Design overview
---------------
``generate_batch`` writes the batch and its vouchers in the caller's transaction, in chunks
of ``CHUNK`` rows, and hands back the printer's lines — the only time the PINs exist
outside the caller's memory; the batch is marked exported at once, and nothing can show its
PINs again. Each chunk is one ``INSERT … ON CONFLICT (pin_digest) DO NOTHING RETURNING
serial``: a PIN whose digest is taken already (by this batch or any other) writes nothing
and is drawn again, so every PIN is unique without reading the table first (``draw``, the
source of PINs, is ``model.new_pin`` but for a test that makes a collision happen). The serials are
sequential within the batch (``model.serial_of``). ``progress`` hears how many vouchers are
written, for a progress bar.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.money import Money
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import (
    Batch,
    PrintedVoucher,
    VoucherState,
    check_batch,
    expiry_instant,
    new_pin,
    pin_digest,
    serial_of,
)

CHUNK = 1000

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class GeneratedBatch:
    batch: Batch
    printed: list[PrintedVoucher]


async def generate_batch(
    conn: AsyncConnection,
    *,
    face: Money,
    count: int,
    expires_on: date,
    created_by: int | None,
    key: bytes,
    now: datetime,
    progress: Progress | None = None,
    draw: Callable[[], str] = new_pin,
) -> GeneratedBatch:
    """A new batch of ``count`` vouchers and its printer's lines, shown this once."""
    check_batch(face=face, count=count, expires_on=expires_on, now=now)
    expires_at = expiry_instant(expires_on)
    batch_id = await _insert_batch(conn, face, count, expires_at, created_by, now)
    printed: list[PrintedVoucher] = []
    for start in range(1, count + 1, CHUNK):
        places = range(start, min(start + CHUNK, count + 1))
        serials = [serial_of(batch_id, place) for place in places]
        pins = await _insert_chunk(conn, batch_id, serials, face, expires_at, key, draw)
        printed += [PrintedVoucher(serial, pins[serial], face, expires_on) for serial in serials]
        if progress is not None:
            progress(len(serials))
    batch = await get_batch(conn, batch_id=batch_id)
    assert batch is not None
    return GeneratedBatch(batch, printed)


async def _insert_batch(
    conn: AsyncConnection,
    face: Money,
    count: int,
    expires_at: datetime,
    created_by: int | None,
    now: datetime,
) -> int:
    values = {
        "batch_no": secrets.token_hex(8),  # replaced below, once the id is known
        "face_minor": face.minor,
        "currency": face.currency,
        "count": count,
        "expires_at": expires_at,
        "created_by": created_by,
        "created_at": now,
        "exported_at": now,
    }
    result = await conn.execute(t.batches.insert().values(values).returning(t.batches.c.id))
    batch_id = int(result.scalar_one())
    await conn.execute(
        update(t.batches).where(t.batches.c.id == batch_id).values(batch_no=f"VB{batch_id:06d}")
    )
    return batch_id


async def _insert_chunk(
    conn: AsyncConnection,
    batch_id: int,
    serials: list[str],
    face: Money,
    expires_at: datetime,
    key: bytes,
    draw: Callable[[], str],
) -> dict[str, str]:
    """Write the vouchers of these serials; their PINs by serial, each drawn again until
    its digest is unique."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(t.vouchers)
        .on_conflict_do_nothing(index_elements=["pin_digest"])
        .returning(t.vouchers.c.serial)
    )
    pins: dict[str, str] = {}
    waiting = serials
    while waiting:
        drawn = {serial: draw() for serial in waiting}
        rows = [
            {
                "serial": serial,
                "batch_id": batch_id,
                "pin_digest": pin_digest(key, pin),
                "face_minor": face.minor,
                "currency": face.currency,
                "state": VoucherState.GENERATED.value,
                "expires_at": expires_at,
            }
            for serial, pin in drawn.items()
        ]
        written = set((await conn.execute(statement, rows)).scalars())
        pins.update((serial, pin) for serial, pin in drawn.items() if serial in written)
        waiting = [serial for serial in waiting if serial not in pins]
    return pins


async def get_batch(conn: AsyncConnection, *, batch_id: int) -> Batch | None:
    """One batch, or None."""
    row = (
        (await conn.execute(select(t.batches).where(t.batches.c.id == batch_id))).mappings().first()
    )
    return None if row is None else _batch(row)


def _batch(row: RowMapping) -> Batch:
    return Batch(
        id=int(row["id"]),
        batch_no=row["batch_no"],
        face=Money(int(row["face_minor"]), row["currency"]),
        count=int(row["count"]),
        expires_at=row["expires_at"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        exported_at=row["exported_at"],
    )


async def list_batches(
    conn: AsyncConnection, *, before_id: int | None = None, limit: int = 50
) -> list[tuple[Batch, dict[VoucherState, int]]]:
    """Batches newest first, each with how many of its vouchers are in each state."""
    query = select(t.batches).order_by(t.batches.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(t.batches.c.id < before_id)
    batches = [_batch(row) for row in (await conn.execute(query)).mappings()]
    counts = await state_counts(conn, batch_ids=[batch.id for batch in batches])
    return [(batch, counts.get(batch.id, {})) for batch in batches]


async def state_counts(
    conn: AsyncConnection, *, batch_ids: list[int]
) -> dict[int, dict[VoucherState, int]]:
    """How many vouchers of each batch are in each state."""
    v = t.vouchers.c
    rows = await conn.execute(
        select(v.batch_id, v.state, func.count())
        .where(v.batch_id.in_(batch_ids))
        .group_by(v.batch_id, v.state)
    )
    counts: dict[int, dict[VoucherState, int]] = {}
    for batch_id, state, count in rows:
        counts.setdefault(int(batch_id), {})[VoucherState(state)] = int(count)
    return counts
