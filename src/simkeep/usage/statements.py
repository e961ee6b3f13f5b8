"""The statements a usage batch runs, written out (``simkeep.statements``): a batch of 100
records is a handful of statements, whatever the number of records or SIMs in it.

Design overview
---------------
* ``SIMS``: the SIMs behind the batch's numbers, with state, plan and currency — on
  PostgreSQL locking their rows in id order, as crediting and the retention run do, so a
  top-up, a fee or another batch for one of them waits for this one, and this one for it.
* ``insert_records``: every new record at once (PostgreSQL: ``unnest`` of one array per
  column; SQLite: a JSON array read with ``json_each``), ``ON CONFLICT DO NOTHING
  RETURNING`` — only the records that come back are new; the others were charged before.
* ``BUCKETS``, ``BALANCES``: what the SIMs can pay with, locked on PostgreSQL (buckets that
  an expiry or a grant changes, balance rows a refund or a fee changes).
* ``spend_buckets``, ``settle_records``: the outcome written back in one statement each.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sqltypes import sqlite_timestamp
from simkeep.statements import Row, Statement

CLIENT_OF_TOKEN = Statement("SELECT id, name FROM network_clients WHERE token_digest = :digest")

SIMS = Statement(
    """
    SELECT l.e164 AS number, s.id AS sim_id, s.state, s.plan_code, s.home_currency
    FROM sim_lines l JOIN sims s ON s.id = l.sim_id
    WHERE l.e164 = ANY(:numbers) ORDER BY s.id FOR UPDATE OF s
    """,
    sqlite="""
    SELECT l.e164 AS number, s.id AS sim_id, s.state, s.plan_code, s.home_currency
    FROM sim_lines l JOIN sims s ON s.id = l.sim_id
    WHERE l.e164 IN (SELECT value FROM json_each(:numbers)) ORDER BY s.id
    """,
)

RATES = Statement(
    "SELECT plan_code, zone, kind, rate_minor FROM plan_rates WHERE plan_code = ANY(:plans)",
    sqlite="SELECT plan_code, zone, kind, rate_minor FROM plan_rates"
    " WHERE plan_code IN (SELECT value FROM json_each(:plans))",
)

_COLUMNS = """
    client_id, record_id, sim_id, number, kind, zone, quantity, occurred_at, received_at,
    currency, rate_minor, bucket_units, amount_minor, bonus_minor, balance_minor,
    unpaid_minor, barred
"""
_INSERT_PG = Statement(
    f"""
    INSERT INTO usage_records ({_COLUMNS})
    SELECT :client_id, r.record_id, r.sim_id, r.number, r.kind, r.zone, r.quantity,
           r.occurred_at, :now, r.currency, r.rate, 0, r.quantity * r.rate, 0, 0,
           r.quantity * r.rate, r.barred
    FROM unnest(:record_ids::text[], :sim_ids::bigint[], :numbers::text[], :kinds::text[],
                :zones::text[], :quantities::bigint[], :occurred::timestamptz[],
                :currencies::text[], :rates::bigint[], :barred::boolean[])
         AS r(record_id, sim_id, number, kind, zone, quantity, occurred_at, currency, rate,
              barred)
    ON CONFLICT (client_id, record_id) DO NOTHING
    RETURNING id, record_id
    """  # noqa: S608 - column names, not input
)
_INSERT_SQLITE = Statement(
    f"""
    INSERT INTO usage_records ({_COLUMNS})
    SELECT :client_id, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3,
           r.value ->> 4, r.value ->> 5, r.value ->> 6, :now, r.value ->> 7, r.value ->> 8, 0,
           (r.value ->> 5) * (r.value ->> 8), 0, 0, (r.value ->> 5) * (r.value ->> 8),
           r.value ->> 9
    FROM json_each(:rows) AS r WHERE true
    ON CONFLICT (client_id, record_id) DO NOTHING
    RETURNING id, record_id
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
    "barred",
)
# (record id, SIM id, number, kind, zone, quantity, occurred at, currency, rate, barred)
NewRecord = tuple[str, int, str, str, str, int, datetime, str, int, bool]


async def insert_records(
    conn: AsyncConnection, *, client_id: int, records: Sequence[NewRecord], now: datetime
) -> dict[str, int]:
    """Insert the records not seen before; their record ids → row ids."""
    rows: Sequence[Row]
    if conn.dialect.name == "postgresql":
        columns = list(zip(*records, strict=True))
        arrays: dict[str, Any] = {
            name: list(column) for name, column in zip(_ARRAYS, columns, strict=True)
        }
        rows = await _INSERT_PG.rows(conn, client_id=client_id, now=now, **arrays)
    else:
        listed = [[*r[:6], sqlite_timestamp(r[6]), *r[7:]] for r in records]
        rows = await _INSERT_SQLITE.rows(conn, client_id=client_id, now=now, rows=listed)
    return {row["record_id"]: row["id"] for row in rows}


EARLIER = Statement(
    """
    SELECT record_id, number, kind, zone, quantity, occurred_at, currency, rate_minor,
           bucket_units, amount_minor, bonus_minor, balance_minor, unpaid_minor, barred
    FROM usage_records WHERE client_id = :client_id AND record_id = ANY(:record_ids)
    """,
    sqlite="""
    SELECT record_id, number, kind, zone, quantity, occurred_at, currency, rate_minor,
           bucket_units, amount_minor, bonus_minor, balance_minor, unpaid_minor, barred
    FROM usage_records WHERE client_id = :client_id
      AND record_id IN (SELECT value FROM json_each(:record_ids))
    """,
)

BUCKETS = Statement(
    """
    SELECT id, sim_id, kind, zone, remaining, expires_at FROM sim_buckets
    WHERE sim_id = ANY(:sim_ids) AND remaining > 0 AND expired_at IS NULL
      AND expires_at > :since
    ORDER BY sim_id, expires_at, id FOR UPDATE
    """,
    sqlite="""
    SELECT id, sim_id, kind, zone, remaining, expires_at FROM sim_buckets
    WHERE sim_id IN (SELECT value FROM json_each(:sim_ids)) AND remaining > 0
      AND expired_at IS NULL AND expires_at > :since
    ORDER BY sim_id, expires_at, id
    """,
)

BALANCES = Statement(  # SIM accounts: one balance row each
    """
    SELECT a.code, a.id, b.balance - b.pending_out AS available
    FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
    WHERE a.code = ANY(:codes) ORDER BY a.id FOR UPDATE OF b
    """,
    sqlite="""
    SELECT a.code, a.id, b.balance - b.pending_out AS available
    FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
    WHERE a.code IN (SELECT value FROM json_each(:codes))
    """,
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


_SETTLE_PG = Statement(
    """
    UPDATE usage_records r SET bucket_units = u.units, amount_minor = u.amount,
           bonus_minor = u.bonus, balance_minor = u.balance, unpaid_minor = u.unpaid,
           journal_id = u.journal
    FROM unnest(:ids::bigint[], :units::bigint[], :amounts::bigint[], :bonus::bigint[],
                :balance::bigint[], :unpaid::bigint[], :journals::bigint[])
         AS u(id, units, amount, bonus, balance, unpaid, journal)
    WHERE r.id = u.id
    """
)
_SETTLE_SQLITE = Statement(
    """
    UPDATE usage_records SET bucket_units = u.units, amount_minor = u.amount,
           bonus_minor = u.bonus, balance_minor = u.balance, unpaid_minor = u.unpaid,
           journal_id = u.journal
    FROM (SELECT value ->> 0 AS id, value ->> 1 AS units, value ->> 2 AS amount,
                 value ->> 3 AS bonus, value ->> 4 AS balance, value ->> 5 AS unpaid,
                 value ->> 6 AS journal FROM json_each(:rows)) AS u
    WHERE usage_records.id = u.id
    """
)

# (row id, bucket units, amount, from bonus, from balance, unpaid, journal id)
Settled = tuple[int, int, int, int, int, int, int | None]


async def settle_records(conn: AsyncConnection, *, settled: Sequence[Settled]) -> None:
    """Write what each new record cost and who paid it."""
    if conn.dialect.name == "postgresql":
        columns = [list(column) for column in zip(*settled, strict=True)]
        names = ("ids", "units", "amounts", "bonus", "balance", "unpaid", "journals")
        await _SETTLE_PG.execute(conn, **dict(zip(names, columns, strict=True)))
    else:
        await _SETTLE_SQLITE.execute(conn, rows=[list(row) for row in settled])
