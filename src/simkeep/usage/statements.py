"""The statements a usage batch runs, written out (``simkeep.statements``): a batch of 100
records is a handful of statements, whatever the number of records or SIMs in it.

Design overview
---------------
* ``SIMS``: the SIMs behind the batch's numbers, with state, plan and currency — on
  PostgreSQL locking their rows in id order, as crediting and the retention run do, so a
  top-up, a fee or another batch for one of them waits for this one, and this one for it.
* ``FACTS``: in one read, once the SIMs are locked, the rates of their plans, their buckets
  that may pay and their bonus and balance accounts (both locked on PostgreSQL: buckets an
  expiry changes, balance rows a fee or a refund changes), the usage revenue accounts, and
  which of the batch's record ids were charged before. ``EARLIER`` reads those records
  whole, only when there are some.
* ``insert_records``: the new records with what each cost, at once (PostgreSQL: ``unnest``
  of one array per column; SQLite: a JSON array read with ``json_each``), ``ON CONFLICT DO
  NOTHING``; ``spend_buckets``: what the batch took from each bucket, in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sqltypes import sqlite_timestamp
from simkeep.statements import Statement


def _listed(name: str, sql_type: str, *, postgresql: bool) -> str:
    """A list parameter as a one-column table ``l(value)``, joined to a table by ``{join}``:
    SQLite's ``CROSS JOIN`` keeps the list the outer loop (an index lookup per element),
    where its planner would otherwise scan a whole client's records."""
    if postgresql:
        return f"unnest(:{name}::{sql_type}[]) AS l(value)"
    return f"json_each(:{name}) AS l"


_CROSS = "CROSS JOIN"  # SQLite: the left table is the outer loop

CLIENT_OF_TOKEN = Statement("SELECT id, name FROM network_clients WHERE token_digest = :digest")

_SIMS = """
    SELECT n.e164 AS number, s.id AS sim_id, s.state, s.plan_code, s.home_currency
    FROM {numbers} {join} sim_lines n ON n.e164 = l.value JOIN sims s ON s.id = n.sim_id
    ORDER BY s.id {lock}
"""
SIMS = Statement(
    _SIMS.format(
        numbers=_listed("numbers", "text", postgresql=True), join="JOIN", lock="FOR UPDATE OF s"
    ),
    sqlite=_SIMS.format(numbers=_listed("numbers", "", postgresql=False), join=_CROSS, lock=""),
)

_COLUMNS = """
    client_id, record_id, sim_id, number, kind, zone, quantity, occurred_at, received_at,
    currency, rate_minor, bucket_units, amount_minor, bonus_minor, balance_minor,
    unpaid_minor, barred, journal_id
"""
_INSERT_PG = Statement(
    f"""
    INSERT INTO usage_records ({_COLUMNS})
    SELECT :client_id, r.record_id, r.sim_id, r.number, r.kind, r.zone, r.quantity,
           r.occurred_at, :now, r.currency, r.rate, r.units, r.amount, r.bonus, r.balance,
           r.unpaid, r.barred, r.journal
    FROM unnest(:record_ids::text[], :sim_ids::bigint[], :numbers::text[], :kinds::text[],
                :zones::text[], :quantities::bigint[], :occurred::timestamptz[],
                :currencies::text[], :rates::bigint[], :units::bigint[], :amounts::bigint[],
                :bonus::bigint[], :balance::bigint[], :unpaid::bigint[], :barred::boolean[],
                :journals::bigint[])
         AS r(record_id, sim_id, number, kind, zone, quantity, occurred_at, currency, rate,
              units, amount, bonus, balance, unpaid, barred, journal)
    ON CONFLICT (client_id, record_id) DO NOTHING
    """  # noqa: S608 - column names, not input
)
_INSERT_SQLITE = Statement(
    f"""
    INSERT INTO usage_records ({_COLUMNS})
    SELECT :client_id, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3,
           r.value ->> 4, r.value ->> 5, r.value ->> 6, :now, r.value ->> 7, r.value ->> 8,
           r.value ->> 9, r.value ->> 10, r.value ->> 11, r.value ->> 12, r.value ->> 13,
           r.value ->> 14, r.value ->> 15
    FROM json_each(:rows) AS r WHERE true
    ON CONFLICT (client_id, record_id) DO NOTHING
    """  # noqa: S608 - column names, not input
)
_ARRAYS = (
    "record_ids",
    "sim_ids",
    "numbers",
    "kinds",
    "zones",
    "quantities",
    "occurred",
    "currencies",
    "rates",
    "units",
    "amounts",
    "bonus",
    "balance",
    "unpaid",
    "barred",
    "journals",
)
# (record id, SIM id, number, kind, zone, quantity, occurred at, currency, rate, units from
# buckets, amount, from bonus, from balance, unpaid, barred, journal id)
NewRecord = tuple[
    str, int, str, str, str, int, datetime, str, int, int, int, int, int, int, bool, int | None
]


async def insert_records(
    conn: AsyncConnection, *, client_id: int, records: Sequence[NewRecord], now: datetime
) -> int:
    """Insert the records, each with what it cost; how many were new."""
    if conn.dialect.name == "postgresql":
        columns = list(zip(*records, strict=True))
        arrays: dict[str, Any] = {
            name: list(column) for name, column in zip(_ARRAYS, columns, strict=True)
        }
        return await _INSERT_PG.execute(conn, client_id=client_id, now=now, **arrays)
    listed = [[*r[:6], sqlite_timestamp(r[6]), *r[7:]] for r in records]
    return await _INSERT_SQLITE.execute(conn, client_id=client_id, now=now, rows=listed)


_EARLIER = """
    SELECT u.record_id, u.number, u.kind, u.zone, u.quantity, u.occurred_at, u.currency,
           u.rate_minor, u.bucket_units, u.amount_minor, u.bonus_minor, u.balance_minor,
           u.unpaid_minor, u.barred
    FROM {record_ids} {join} usage_records u ON u.client_id = :client_id AND u.record_id = l.value
"""
EARLIER = Statement(
    _EARLIER.format(record_ids=_listed("record_ids", "text", postgresql=True), join="JOIN"),
    sqlite=_EARLIER.format(record_ids=_listed("record_ids", "", postgresql=False), join=_CROSS),
)

# Each list joins as a table (``unnest`` / ``json_each``), so that every read is an index
# lookup per element whatever the planner's statistics say of a growing table.
_FACTS = """
    WITH buckets AS (
        SELECT k.id, k.sim_id, k.kind, k.zone, k.remaining, k.expires_at
        FROM {sim_ids} {join} sim_buckets k ON k.sim_id = l.value
        WHERE k.remaining > 0 AND k.expired_at IS NULL AND k.expires_at > :since
        ORDER BY k.sim_id, k.expires_at, k.id {lock}
    ), balances AS (
        SELECT a.code, a.id, b.balance - b.pending_out AS available
        FROM {codes} {join} ledger_accounts a ON a.code = l.value
        JOIN ledger_balances b ON b.account_id = a.id
        ORDER BY a.id {lock_b}
    )
    SELECT 'bucket' AS fact, kind AS name, id, remaining AS amount, sim_id, zone, expires_at
    FROM buckets
    UNION ALL
    SELECT 'account', code, id, available, NULL, NULL, NULL FROM balances
    UNION ALL
    SELECT 'account', a.code, a.id, 0, NULL, NULL, NULL
    FROM {revenue} {join} ledger_accounts a ON a.code = l.value
    UNION ALL
    SELECT 'rate', r.plan_code || ' ' || r.zone || ' ' || r.kind, NULL, r.rate_minor, NULL,
           NULL, NULL
    FROM {plans} {join} plan_rates r ON r.plan_code = l.value
    UNION ALL
    SELECT 'earlier', u.record_id, NULL, NULL, NULL, NULL, NULL
    FROM {record_ids} {join} usage_records u ON u.client_id = :client_id AND u.record_id = l.value
"""


FACTS = Statement(  # buckets locked first, then balance rows, as an expiry or a grant does
    _FACTS.format(
        sim_ids=_listed("sim_ids", "bigint", postgresql=True),
        codes=_listed("codes", "text", postgresql=True),
        revenue=_listed("revenue", "text", postgresql=True),
        plans=_listed("plans", "text", postgresql=True),
        record_ids=_listed("record_ids", "text", postgresql=True),
        join="JOIN",
        lock="FOR UPDATE OF k",
        lock_b="FOR UPDATE OF b",
    ),
    sqlite=_FACTS.format(
        sim_ids=_listed("sim_ids", "", postgresql=False),
        codes=_listed("codes", "", postgresql=False),
        revenue=_listed("revenue", "", postgresql=False),
        plans=_listed("plans", "", postgresql=False),
        record_ids=_listed("record_ids", "", postgresql=False),
        join=_CROSS,
        lock="",
        lock_b="",
    ),
)

_SPEND_PG = Statement(
    """
    UPDATE sim_buckets b SET remaining = b.remaining - u.spent
    FROM unnest(:ids::bigint[], :spent::bigint[]) AS u(id, spent) WHERE b.id = u.id
    """
)
_SPEND_SQLITE = Statement(
    """
    UPDATE sim_buckets SET remaining = remaining - u.spent
    FROM (SELECT value ->> 0 AS id, value ->> 1 AS spent FROM json_each(:rows)) AS u
    WHERE sim_buckets.id = u.id
    """
)


async def spend_buckets(conn: AsyncConnection, *, spent: dict[int, int]) -> None:
    """Take what the batch spent from each bucket."""
    if conn.dialect.name == "postgresql":
        await _SPEND_PG.execute(conn, ids=list(spent), spent=list(spent.values()))
    else:
        await _SPEND_SQLITE.execute(conn, rows=[[k, v] for k, v in spent.items()])
