"""Exports of orders, refunds and reconciliation as CSV files for a range of Hong Kong days,
for the staff pages (``/staff/exports``) and the command line (``simkeep export``) alike.

Design overview
---------------
* What: ``orders`` created in the range (whatever became of them: the state is a column),
  ``refunds`` asked in the range, ``reconciliation``: the rows recorded for the providers'
  days in the range (the differences, the carries, the payments matched on another day —
  the columns of a day's file on ``/staff/reconciliation``). Each is a ``Source``: a
  header, a read of one batch and the cells of one row.
* The file: UTF-8 with a byte order mark — without it, Excel on a Chinese or English
  Windows reads UTF-8 as the local code page and mangles every Chinese character; Python
  (``utf-8-sig``), LibreOffice and spreadsheets online skip it. A header row, rows ended by
  CRLF (RFC 4180). Amounts are decimal text in major units (``100.00``), each followed by
  its currency's column, from the integers of minor units (``Money.to_decimal``: never a
  float). Times are ISO 8601 in Hong Kong time with the offset (``2026-11-25T17:00:00+08:00``).
  Numbers are masked as on the staff pages. Free text (a refund's notes) that a spreadsheet
  would read as a formula (``=``, ``+``, ``-``, ``@``) is led by an apostrophe.
* Streamed: ``csv_text`` yields the file a batch at a time (``BATCH`` rows per read, keyset
  on the id, each read a statement of its own), so a year of orders never sits in memory
  or holds a connection while a slow client downloads it.
* Audited: ``record_export`` writes who exported what and which days (``export.<what>``)
  before the first byte is sent; an export that is cut off midway was still asked for.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_hong_kong
from simkeep.days import DayRange
from simkeep.db import Database
from simkeep.money import Money
from simkeep.phone import Number, Region
from simkeep.reconciliation import figures as reconciliation_figures
from simkeep.reconciliation.figures import DayRow
from simkeep.refunds import figures as refund_figures
from simkeep.refunds.queries import Refund
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Target
from simkeep.topups import figures as topup_figures
from simkeep.topups.model import Order

BATCH = 1000
BOM = "\ufeff"
MEDIA_TYPE = "text/csv; charset=utf-8"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Export(StrEnum):
    ORDERS = "orders"
    REFUNDS = "refunds"
    RECONCILIATION = "reconciliation"


class Fetch(Protocol):
    """A read of one batch: at most ``limit`` items of ``days`` after ``after_id``, each
    with its id, in the order of the ids."""

    async def __call__(
        self, conn: AsyncConnection, *, days: DayRange, after_id: int, limit: int
    ) -> Sequence[tuple[int, Any]]: ...


@dataclass(frozen=True, slots=True)
class Source:
    header: tuple[str, ...]
    fetch: Fetch
    cells: Callable[[Any], list[str]]


def order_cells(order: Order) -> list[str]:
    return [
        order.order_no,
        when(order.created_at),
        order.state.value,
        order.provider.value,
        order.channel.value,
        masked(order.msisdn),
        *amount(order.credit),
        *amount(order.pay),
        str(order.fx_rate or ""),
        when(order.paid_at),
        when(order.credited_at),
        order.provider_trade_no or "",
        order.receipt_no or "",
    ]


def refund_cells(refund: Refund) -> list[str]:
    return [
        refund.refund_no,
        refund.order_no,
        when(refund.requested_at),
        refund.state.value,
        refund.reason.value,
        refund.requested_by,
        refund.provider.value,
        *amount(refund.credit),
        *amount(refund.pay),
        "yes" if refund.full else "no",
        when(refund.decided_at),
        refund.decided_by or "",
        when(refund.paid_at),
        refund.provider_refund_no or "",
        text(refund.note),
        text(refund.decision_note or ""),
    ]


def reconciliation_cells(found: DayRow) -> list[str]:
    row, none = found.row, ("", "")
    return [
        found.provider.value,
        found.day.isoformat(),
        row.side.value,
        row.kind.value,
        row.row_class.value,
        row.action.value,
        text(row.order_no),
        text(row.refund_no),
        text(row.trade_no),
        *(amount(row.billed) if row.billed else none),
        *(amount(row.bill_fee) if row.bill_fee else none),
        when(row.bill_at),
        *(amount(row.local) if row.local else none),
        row.local_state or "",
        when(row.local_at),
        row.other_day.isoformat() if row.other_day else "",
        text(row.answer or ""),
        row.acted_by or "",
        when(row.acted_at),
        text(row.note or ""),
    ]


SOURCES: dict[Export, Source] = {
    Export.ORDERS: Source(
        header=(
            "order_no",
            "created_at",
            "state",
            "provider",
            "channel",
            "number",
            "credit_amount",
            "credit_currency",
            "pay_amount",
            "pay_currency",
            "fx_rate",
            "paid_at",
            "credited_at",
            "provider_trade_no",
            "receipt_no",
        ),
        fetch=topup_figures.orders_created,
        cells=order_cells,
    ),
    Export.REFUNDS: Source(
        header=(
            "refund_no",
            "order_no",
            "requested_at",
            "state",
            "reason",
            "requested_by",
            "provider",
            "credit_amount",
            "credit_currency",
            "pay_amount",
            "pay_currency",
            "full",
            "decided_at",
            "decided_by",
            "paid_at",
            "provider_refund_no",
            "note",
            "decision_note",
        ),
        fetch=refund_figures.refunds_requested,
        cells=refund_cells,
    ),
    Export.RECONCILIATION: Source(
        header=(
            "provider",
            "day",
            "side",
            "kind",
            "class",
            "action",
            "order_no",
            "refund_no",
            "trade_no",
            "bill_amount",
            "bill_currency",
            "bill_fee",
            "bill_fee_currency",
            "bill_at",
            "simkeep_amount",
            "simkeep_currency",
            "simkeep_state",
            "simkeep_at",
            "other_day",
            "answer",
            "acted_by",
            "acted_at",
            "note",
        ),
        fetch=reconciliation_figures.rows_of_days,
        cells=reconciliation_cells,
    ),
}


def file_name(what: Export, days: DayRange) -> str:
    """``simkeep-orders-2026-11-01-2026-11-30.csv``."""
    return f"simkeep-{what.value}-{days.first.isoformat()}-{days.last.isoformat()}.csv"


async def record_export(
    db: Database, *, what: Export, days: DayRange, actor: Actor, now: datetime
) -> None:
    """Write in the audit log who exports ``what`` of which days."""
    after = {"what": what.value, "from": days.first.isoformat(), "to": days.last.isoformat()}

    async def record(conn: AsyncConnection) -> None:
        await audit.record(
            conn,
            actor=actor,
            action=f"export.{what.value}",
            target=Target("export", f"{after['from']}/{after['to']}"),
            before=None,
            after=after,
            now=now,
        )

    await db.transaction(record)


async def csv_text(
    db: Database, *, what: Export, days: DayRange, batch: int = BATCH
) -> AsyncIterator[str]:
    """The CSV file of ``what`` in ``days``: the byte order mark and the header, then the
    rows ``batch`` at a time."""
    source = SOURCES[what]
    yield BOM + lines([source.header])
    after_id = 0
    while True:
        read = await _batch(db, source, days=days, after_id=after_id, limit=batch)
        if read:
            yield lines(source.cells(item) for _, item in read)
        if len(read) < batch:
            return
        after_id = read[-1][0]


async def _batch(
    db: Database, source: Source, *, days: DayRange, after_id: int, limit: int
) -> Sequence[tuple[int, Any]]:
    async def read(conn: AsyncConnection) -> Sequence[tuple[int, Any]]:
        return await source.fetch(conn, days=days, after_id=after_id, limit=limit)

    return await db.read(read)


def lines(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180: quoted where needed, CRLF)."""
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def amount(money: Money) -> tuple[str, str]:
    """An amount as two cells: decimal text in major units, and its currency."""
    return f"{money.to_decimal():f}", money.currency


def when(instant: datetime | None) -> str:
    return "" if instant is None else in_hong_kong(instant).isoformat(timespec="seconds")


def masked(e164: str) -> str:
    region = Region.HK if e164.startswith("+852") else Region.CN
    return Number(e164, region).masked()


def text(value: str) -> str:
    """Free text that no spreadsheet runs as a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
