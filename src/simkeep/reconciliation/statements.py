"""The set-based statements that match a bill (``simkeep.statements``).

Design overview
---------------
A day's bill is loaded into a temporary table of the matching transaction,
``reconcile_rows`` (PostgreSQL: ``COPY`` through the driver connection, dropped at commit;
SQLite: ``executemany`` into a temporary table, indexed once loaded, dropped at the end),
and matched by a few statements that join it with the orders and refunds, whatever its
size — never row by row. They name ``topup_orders`` and ``refunds`` themselves, as the
ledger's checks name the ledger's tables: a join over a million rows cannot go through
another domain's service. The states they compare with come from the models
(``model.SETTLED``), never typed twice.

* ``BILL_SIDE``: each row of the bill that is not simply matched on the day is recorded,
  classed as ``model.classify`` classes it — also a row matched to a payment simkeep took on
  another day, so that day does not count it as missing. A payment or refund the bill names
  twice is matched once: the earliest row; the others are the provider's alone.
* ``SETTLE``: a row another day of the provider left carried or missing that this bill has
  is matched after all.
* ``LOCAL_SIDE``: what simkeep took on the day that neither this bill nor another day's has
  is missing (``local_only``), or ``carried`` from ``carry_from`` on.
* ``FLAG``: the carried rows of a day that the next day's bill lacks too are missing.

Every insert writes each row once (``ON CONFLICT DO NOTHING`` on the day, side, kind and
key), so matching a day again keeps what was done about its rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import driver_connection
from simkeep.reconciliation.bill import BillRow, RowKind
from simkeep.reconciliation.model import SETTLED, Action, RowClass, Side
from simkeep.sqltypes import sqlite_timestamp
from simkeep.statements import Statement

STAGING = "reconcile_rows"
COLUMNS = ("kind", "order_no", "refund_no", "trade_no", "minor", "currency", "fee", "at")


def _in(values: frozenset[str]) -> str:
    return ", ".join(f"'{value}'" for value in sorted(values))


_CREATE = Statement(
    f"""
    CREATE TEMPORARY TABLE {STAGING} (
      kind text NOT NULL, order_no text NOT NULL, refund_no text NOT NULL,
      trade_no text NOT NULL, minor bigint NOT NULL, currency text NOT NULL,
      fee bigint NOT NULL, at timestamptz NOT NULL
    ) ON COMMIT DROP
    """,
    sqlite=f"""
    CREATE TEMPORARY TABLE {STAGING} (
      kind TEXT NOT NULL, order_no TEXT NOT NULL, refund_no TEXT NOT NULL,
      trade_no TEXT NOT NULL, minor INTEGER NOT NULL, currency TEXT NOT NULL,
      fee INTEGER NOT NULL, at TEXT NOT NULL
    )
    """,
)
# PostgreSQL never analyses a temporary table by itself: without it, the joins below are
# planned for a handful of rows. SQLite finds the orders by the staging table's rows and
# the staging table's rows by the day's orders: both through indexes.
_ANALYZE = Statement(f"ANALYZE {STAGING}")
_SQLITE_INDEXES = (
    Statement(f"CREATE INDEX temp.ix_{STAGING}_order ON {STAGING} (kind, order_no)"),
    Statement(f"CREATE INDEX temp.ix_{STAGING}_refund ON {STAGING} (kind, refund_no)"),
)
_SQLITE_DROP = Statement(f"DROP TABLE temp.{STAGING}")  # PostgreSQL drops it at commit

_INSERT = """
    INSERT INTO reconciliation_items (
      reconciliation_id, side, kind, key, order_no, refund_no, trade_no, row_class, action,
      bill_minor, bill_currency, bill_fee_minor, bill_at,
      local_minor, local_currency, local_state, local_at)
"""
_BILL_SIDE = """
    {insert}
    SELECT :reconciliation_id, '{bill}', s.kind, s.trade_no, s.order_no, s.refund_no,
      s.trade_no,
      CASE
        WHEN x.id IS NULL THEN '{provider_only}'
        WHEN x.pay_minor <> s.minor OR x.pay_currency <> s.currency THEN '{amount_mismatch}'
        WHEN x.state IN ({settled}) THEN '{matched}'
        ELSE '{paid_not_credited}'
      END,
      '{none}', s.minor, s.currency, s.fee, s.at,
      x.pay_minor, x.pay_currency, x.state, x.paid_at
    FROM (
      SELECT r.*, row_number() OVER (PARTITION BY r.{number} ORDER BY r.at, r.trade_no) AS nth
      FROM {staging} r WHERE r.kind = '{kind}'
    ) s
    LEFT JOIN {table} x
      ON s.nth = 1 AND x.{number} = s.{number} AND x.provider = :provider
    WHERE x.id IS NULL OR x.pay_minor <> s.minor OR x.pay_currency <> s.currency
      OR x.state NOT IN ({settled}) OR x.paid_at < :start OR x.paid_at >= :end
    ON CONFLICT (reconciliation_id, side, kind, key) DO NOTHING
"""
_LOCAL_SIDE = """
    {insert}
    SELECT :reconciliation_id, '{local}', '{kind}', x.{number}, x.order_no, {refund_no},
      coalesce(x.{provider_no}, ''),
      CASE WHEN x.paid_at >= :carry_from THEN '{carried}' ELSE '{local_only}' END,
      CASE WHEN x.paid_at >= :carry_from THEN '{carried_action}' ELSE '{none}' END,
      NULL, NULL, NULL, NULL, x.pay_minor, x.pay_currency, x.state, x.paid_at
    FROM {table} x
    WHERE x.provider = :provider AND x.state IN ({settled})
      AND x.paid_at >= :start AND x.paid_at < :end
      AND NOT EXISTS (
        SELECT 1 FROM {staging} s WHERE s.kind = '{kind}' AND s.{number} = x.{number})
      AND NOT EXISTS (
        SELECT 1 FROM reconciliation_items i
        JOIN reconciliations d ON d.id = i.reconciliation_id
        WHERE i.{number} = x.{number} AND i.kind = '{kind}'
          AND d.provider = :provider AND d.id <> :reconciliation_id)
    ON CONFLICT (reconciliation_id, side, kind, key) DO NOTHING
"""
_SETTLE = """
    UPDATE reconciliation_items SET row_class = '{matched}',
      other_day = (SELECT d.day FROM reconciliations d WHERE d.id = :reconciliation_id)
    WHERE side = '{local}' AND kind = '{kind}'
      AND row_class IN ('{carried}', '{local_only}')
      AND action IN ('{carried_action}', '{none}')
      AND reconciliation_id IN (
        SELECT d.id FROM reconciliations d
        WHERE d.provider = :provider AND d.id <> :reconciliation_id)
      AND EXISTS (
        SELECT 1 FROM {staging} s
        WHERE s.kind = '{kind}' AND s.{number} = reconciliation_items.{number})
    RETURNING reconciliation_id
"""
_NAMES = {
    "insert": _INSERT,
    "staging": STAGING,
    "bill": Side.BILL.value,
    "local": Side.LOCAL.value,
    "none": Action.NONE.value,
    "carried_action": Action.CARRIED.value,
    **{row_class.name.lower(): row_class.value for row_class in RowClass},
}
_KINDS = {
    RowKind.PAY: {
        "kind": RowKind.PAY.value,
        "table": "topup_orders",
        "number": "order_no",
        "refund_no": "''",
        "provider_no": "provider_trade_no",
        "settled": _in(SETTLED[RowKind.PAY]),
    },
    RowKind.REFUND: {
        "kind": RowKind.REFUND.value,
        "table": "refunds",
        "number": "refund_no",
        "refund_no": "x.refund_no",
        "provider_no": "provider_refund_no",
        "settled": _in(SETTLED[RowKind.REFUND]),
    },
}
BILL_SIDE = {
    kind: Statement(_BILL_SIDE.format(**_NAMES, **names)) for kind, names in _KINDS.items()
}
LOCAL_SIDE = {
    kind: Statement(_LOCAL_SIDE.format(**_NAMES, **names)) for kind, names in _KINDS.items()
}
SETTLE = {kind: Statement(_SETTLE.format(**_NAMES, **names)) for kind, names in _KINDS.items()}
FLAG = Statement(
    f"""
    UPDATE reconciliation_items SET row_class = '{RowClass.LOCAL_ONLY.value}',
      action = '{Action.NONE.value}',
      other_day = (SELECT d.day FROM reconciliations d WHERE d.id = :looked_in)
    WHERE reconciliation_id = :carried_from AND side = '{Side.LOCAL.value}'
      AND row_class = '{RowClass.CARRIED.value}'
    RETURNING reconciliation_id
    """  # noqa: S608 - values of the model, not input
)


async def create_staging(conn: AsyncConnection) -> None:
    """The temporary table of this transaction's bill."""
    await _CREATE.execute(conn)


async def load(conn: AsyncConnection, rows: Sequence[BillRow]) -> None:
    """Rows of the bill into the staging table: one ``COPY`` on PostgreSQL, one
    ``executemany`` on SQLite (whose timestamps are UTC text)."""
    driver = await driver_connection(conn)
    postgresql = conn.dialect.name == "postgresql"
    records = [
        (
            r.kind.value,
            r.order_no,
            r.refund_no,
            r.trade_no,
            r.amount.minor,
            r.amount.currency,
            r.fee.minor,
            r.at if postgresql else sqlite_timestamp(r.at),
        )
        for r in rows
    ]
    if postgresql:
        await driver.copy_records_to_table(STAGING, records=records, columns=COLUMNS)
        return
    marks = ", ".join("?" for _ in COLUMNS)
    sqlite3.Cursor(driver).executemany(f"INSERT INTO {STAGING} VALUES ({marks})", records)  # noqa: S608


async def index_staging(conn: AsyncConnection) -> None:
    """Once loaded: what the joins need to read the staging table fast."""
    if conn.dialect.name == "postgresql":
        await _ANALYZE.execute(conn)
        return
    for statement in _SQLITE_INDEXES:
        await statement.execute(conn)


async def drop_staging(conn: AsyncConnection) -> None:
    if conn.dialect.name == "sqlite":
        await _SQLITE_DROP.execute(conn)
