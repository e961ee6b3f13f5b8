"""How a journal reaches the database: one statement on PostgreSQL, three on SQLite.

Design overview
---------------
``write_journal`` inserts the journal header (``ON CONFLICT (client_id) DO NOTHING``), its
postings, and the balance changes they cause, inside the caller's transaction.

* PostgreSQL: one data-modifying CTE, so a journal costs one round trip. Slots of hot
  accounts are drawn with ``random()`` in the statement; accounts are matched on id *and*
  currency, so a wrong account or currency shows up as a count mismatch.
* SQLite: three statements on the driver connection (no thread hop, no SQL compilation);
  one writer at a time, so hot accounts always use slot 0 there.

A journal whose ``client_id`` exists already writes nothing and returns ``None``; the
service then compares content hashes. The database refuses what slips past the checks here:
floors (CHECK), currencies (composite foreign key) and balance (trigger).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import driver_connection
from simkeep.ledger.model import JournalKind, JournalRequest
from simkeep.sqltypes import sqlite_timestamp

_PG_BALANCE_EFFECT = {
    False: "balance = lb.balance + d.delta",
    True: "pending_out = lb.pending_out + d.out_amount, pending_in = lb.pending_in + d.in_amount",
}

_PG_WRITE = """
WITH j AS (
    INSERT INTO ledger_journals (client_id, content_hash, kind, pending_id, reverses_id,
                                 posting_count, description, metadata, expires_at, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (client_id) DO NOTHING
    RETURNING id
), v AS (
    SELECT x.ord, x.account_id, x.currency, x.amount, a.normal_sign,
           CASE WHEN a.hot_slots > 1 THEN floor(random() * a.hot_slots)::smallint
                ELSE 0::smallint END AS slot
    FROM unnest($11::bigint[], $12::text[], $13::bigint[]) WITH ORDINALITY
         AS x(account_id, currency, amount, ord)
    JOIN ledger_accounts a ON a.id = x.account_id AND a.currency = x.currency
    WHERE EXISTS (SELECT 1 FROM j)
), p AS (
    INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount)
    SELECT j.id, v.account_id, v.currency, v.slot, v.amount FROM j, v ORDER BY v.ord
), d AS (
    SELECT account_id, slot,
           sum(amount * normal_sign) AS delta,
           sum(greatest(-amount * normal_sign, 0)) AS out_amount,
           sum(greatest(amount * normal_sign, 0)) AS in_amount
    FROM v GROUP BY account_id, slot
), b AS (
    UPDATE ledger_balances lb SET {effect}
    FROM d WHERE lb.account_id = d.account_id AND lb.slot = d.slot
    RETURNING 1
)
SELECT (SELECT id FROM j), (SELECT count(*) FROM v), (SELECT count(*) FROM b),
       (SELECT count(*) FROM d)
"""

_SQLITE_INSERT_JOURNAL = """
INSERT INTO ledger_journals (client_id, content_hash, kind, pending_id, reverses_id,
                             posting_count, description, metadata, expires_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (client_id) DO NOTHING
RETURNING id
"""

_SQLITE_INSERT_POSTINGS = """
INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount)
SELECT ?, a.id, a.currency, 0, v.column3
FROM (VALUES {rows}) AS v
JOIN ledger_accounts a ON a.id = v.column1 AND a.currency = v.column2
"""

_SQLITE_BALANCE_EFFECT = {
    False: "balance = balance + d.delta",
    True: "pending_out = pending_out + d.out_amount, pending_in = pending_in + d.in_amount",
}

_SQLITE_UPDATE_BALANCES = """
UPDATE ledger_balances SET {effect}
FROM (
    SELECT p.account_id, sum(p.amount * a.normal_sign) AS delta,
           sum(max(-p.amount * a.normal_sign, 0)) AS out_amount,
           sum(max(p.amount * a.normal_sign, 0)) AS in_amount
    FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
    WHERE p.journal_id = ? GROUP BY p.account_id
) AS d
WHERE ledger_balances.account_id = d.account_id AND ledger_balances.slot = 0
"""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """``journal_id`` is None when the client id was taken; counts let the caller verify."""

    journal_id: int | None
    matched_postings: int
    updated_rows: int
    expected_rows: int


async def write_journal(
    conn: AsyncConnection, request: JournalRequest, content_hash: str, now: datetime
) -> WriteResult:
    if conn.dialect.name == "postgresql":
        return await _write_postgresql(conn, request, content_hash, now)
    return await _write_sqlite(conn, request, content_hash, now)


def _header(request: JournalRequest, content_hash: str) -> tuple[object, ...]:
    return (
        request.client_id,
        content_hash,
        request.kind.value,
        request.pending_id,
        request.reverses_id,
        len(request.postings),
        request.description,
        json.dumps(dict(request.metadata), ensure_ascii=False, sort_keys=True),
    )


async def _write_postgresql(
    conn: AsyncConnection, request: JournalRequest, content_hash: str, now: datetime
) -> WriteResult:
    pending = request.kind is JournalKind.PENDING
    statement = _PG_WRITE.format(effect=_PG_BALANCE_EFFECT[pending])
    params = (
        *_header(request, content_hash),
        request.expires_at,
        now,
        [p.account_id for p in request.postings],
        [p.currency for p in request.postings],
        [p.amount for p in request.postings],
    )
    row: Sequence[Any] = (await conn.exec_driver_sql(statement, params)).one()
    return WriteResult(row[0], row[1], row[2], row[3])


async def _write_sqlite(
    conn: AsyncConnection, request: JournalRequest, content_hash: str, now: datetime
) -> WriteResult:
    pending = request.kind is JournalKind.PENDING
    cursor = sqlite3.Cursor(await driver_connection(conn))
    expires = sqlite_timestamp(request.expires_at) if request.expires_at else None
    row = cursor.execute(
        _SQLITE_INSERT_JOURNAL, (*_header(request, content_hash), expires, sqlite_timestamp(now))
    ).fetchone()
    if row is None:
        return WriteResult(None, 0, 0, 0)
    journal_id = row[0]
    values: list[object] = [journal_id]
    for posting in request.postings:
        values += (posting.account_id, posting.currency, posting.amount)
    rows = ", ".join(["(?, ?, ?)"] * len(request.postings))
    matched = cursor.execute(_SQLITE_INSERT_POSTINGS.format(rows=rows), values).rowcount
    effect = _SQLITE_BALANCE_EFFECT[pending]
    updated = cursor.execute(_SQLITE_UPDATE_BALANCES.format(effect=effect), (journal_id,)).rowcount
    accounts = len({p.account_id for p in request.postings})
    return WriteResult(journal_id, matched, updated, accounts)
