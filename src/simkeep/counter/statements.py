"""The counter's hand-written statement (``simkeep.statements``): the next sale's id.

A sale's receipt number holds its id (``model.voucher_receipt_no``), so the id is drawn
before the row is written, as top-up orders draw theirs: from the sequence on PostgreSQL;
on SQLite, the next id, which no one else can take while the caller's transaction holds
the write lock.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.statements import Statement

_NEXT_SALE_ID = Statement(
    "SELECT nextval(pg_get_serial_sequence('outlet_sales', 'id')) AS id",
    sqlite="SELECT ifnull(max(id), 0) + 1 AS id FROM outlet_sales",
)


async def next_sale_id(conn: AsyncConnection) -> int:
    """The id the next sale gets."""
    row = await _NEXT_SALE_ID.row(conn)
    assert row is not None  # one row, always
    return int(row["id"])
