"""The books by month on PostgreSQL: journals and postings partitioned by ``created_at``
(docs/ledger.md, "Books by month").

Design overview
---------------
``ledger_journals`` and ``ledger_postings`` are range-partitioned by ``created_at`` into one
partition per Hong Kong calendar month (``ledger_journals_p2026_12`` holds the journals
from 1 December 00:00 Hong Kong time to 1 January), with a default partition that catches a
journal of a month that has none (a journal is never refused for want of a partition).
A posting carries its journal's ``created_at``, so a journal and its postings are always in
the same month. ``ensure_months`` creates the partitions of this month and ``AHEAD`` months
after it; ``simkeep db upgrade`` and a worker job run it, so the months exist long before
their first journal. Each creation waits at most ``LOCK_WAIT`` for its lock and is tried
again on the next run otherwise (as is a month whose journals are in the default partition
already: PostgreSQL will not carve a partition out of rows the default holds; they stay
there, counted by ``ledger check``).

``archive_month`` takes a month that has ended out of the books' tables: in one
transaction it keeps the month's per-account, per-slot totals (``ledger_archived_totals``)
and its counts (``ledger_archived_months``), then detaches both partitions; they stay in the
database as tables of their own, to be dumped and dropped by the operator. A month with a
hold still open cannot be archived (its release or post reads the hold's postings).
``ledger check`` adds the kept totals to the live postings, so the books still prove every
stored balance. SQLite keeps its books in one table each: nothing to create or detach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG, in_hong_kong
from simkeep.ledger.model import LedgerError

log = structlog.get_logger(__name__)

TABLES = ("ledger_journals", "ledger_postings")
AHEAD = 3  # months created after the present one
LOCK_WAIT = "2s"


class ArchiveRefused(LedgerError):
    code = "archive_refused"


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A Hong Kong calendar month."""

    year: int
    month: int

    @classmethod
    def of(cls, instant: datetime) -> Month:
        local = in_hong_kong(instant)
        return cls(local.year, local.month)

    @classmethod
    def parse(cls, label: str) -> Month:
        """``YYYY-MM``; anything else is refused."""
        year, dash, month = label.partition("-")
        if not (dash and len(year) == 4 and len(month) == 2 and year.isdigit()):
            raise ArchiveRefused(f"{label!r} is not a month (YYYY-MM)")
        if not month.isdigit() or not 1 <= int(month) <= 12:
            raise ArchiveRefused(f"{label!r} is not a month (YYYY-MM)")
        return cls(int(year), int(month))

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def starts_at(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=HONG_KONG)

    @property
    def ends_at(self) -> datetime:
        return self.next().starts_at

    def partition(self, table: str) -> str:
        return f"{table}_p{self.year:04d}_{self.month:02d}"

    def create_sql(self, table: str, *, parent: str | None = None) -> str:
        """The month's partition of ``table`` (attached to ``parent``, by default the
        table itself)."""
        return (
            f"CREATE TABLE {self.partition(table)} PARTITION OF {parent or table} FOR VALUES "
            f"FROM ('{self.starts_at.isoformat()}') TO ('{self.ends_at.isoformat()}')"
        )


def months_from(first: Month, last: Month) -> list[Month]:
    months = [first]
    while months[-1] < last:
        months.append(months[-1].next())
    return months


async def partitioned(conn: AsyncConnection) -> bool:
    kind = await conn.execute(
        text("SELECT relkind::text FROM pg_class WHERE relname = 'ledger_journals'")
    )
    return kind.scalar() == "p"


async def attached(conn: AsyncConnection) -> set[str]:
    """The month partitions of the books' tables, by name."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname IN ('ledger_journals', 'ledger_postings') "
            "AND c.relname NOT LIKE '%\\_default'"
        )
    )
    return set(rows.scalars())


async def ensure_months(conn: AsyncConnection, *, now: datetime, ahead: int = AHEAD) -> list[str]:
    """Create the partitions this month and the ``ahead`` after it lack; the months
    created (``YYYY-MM``). Nothing on SQLite."""
    if conn.dialect.name != "postgresql":
        return []
    first = Month.of(now)
    last = first
    for _ in range(ahead):
        last = last.next()
    if not await partitioned(conn):
        return []  # a schema from before the books were partitioned
    have = await attached(conn)
    created = []
    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
    for month in months_from(first, last):
        missing = [table for table in TABLES if month.partition(table) not in have]
        if not missing:
            continue
        try:
            async with conn.begin_nested():
                for table in missing:
                    await conn.execute(text(month.create_sql(table)))
        except DBAPIError as error:  # the lock not had in time, or the default holds rows
            log.warning("ledger.month_not_created", month=month.label, error=str(error.orig))
            continue
        created.append(month.label)
    return created


@dataclass(frozen=True, slots=True)
class Archived:
    month: str
    journals: int
    postings: int
    accounts: int  # (account, slot) totals kept


async def archive_month(conn: AsyncConnection, *, month: Month, now: datetime) -> Archived:
    """Keep the month's totals and detach its partitions; refused for a month that has not
    ended, one not in the books' tables, and one with a hold still open."""
    if conn.dialect.name != "postgresql":
        raise ArchiveRefused("the embedded database keeps its books in one table each")
    if month >= Month.of(now):
        raise ArchiveRefused(f"{month.label} has not ended")
    journals, postings = (month.partition(table) for table in TABLES)
    if {journals, postings} - await attached(conn):
        raise ArchiveRefused(f"{month.label} is not in the books' tables")
    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
    await conn.execute(text(f"LOCK TABLE {journals}, {postings} IN SHARE MODE"))
    open_holds = (
        await conn.execute(
            text(
                f"SELECT count(*) FROM {journals} j WHERE j.kind = 'pending' AND NOT EXISTS "  # noqa: S608 - names made from a Month
                "(SELECT 1 FROM ledger_pending_resolutions r WHERE r.pending_id = j.id)"
            )
        )
    ).scalar_one()
    if open_holds:
        raise ArchiveRefused(f"{month.label} has {open_holds} hold(s) still open")
    counted = (
        await conn.execute(
            text(f"SELECT (SELECT count(*) FROM {journals}), (SELECT count(*) FROM {postings})")  # noqa: S608 - names made from a Month
        )
    ).one()
    await conn.execute(
        text(
            "INSERT INTO ledger_archived_months (month, starts_at, ends_at, journals, postings,"
            " archived_at) VALUES (:month, :starts, :ends, :journals, :postings, :now)"
        ),
        {
            "month": month.label,
            "starts": month.starts_at,
            "ends": month.ends_at,
            "journals": counted[0],
            "postings": counted[1],
            "now": now,
        },
    )
    kept = await conn.execute(
        text(
            "INSERT INTO ledger_archived_totals (month, account_id, slot, balance) "  # noqa: S608 - names made from a Month
            "SELECT :month, p.account_id, p.slot, "
            "sum(CASE WHEN j.kind <> 'pending' THEN p.amount * a.normal_sign ELSE 0 END) "
            f"FROM {postings} p JOIN {journals} j ON j.id = p.journal_id "
            "JOIN ledger_accounts a ON a.id = p.account_id GROUP BY p.account_id, p.slot"
        ),
        {"month": month.label},
    )
    for table, partition in zip(TABLES, (journals, postings), strict=True):
        await conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {partition}"))
    return Archived(month.label, int(counted[0]), int(counted[1]), kept.rowcount)


@dataclass(frozen=True, slots=True)
class Status:
    months: list[str]  # in the books' tables
    archived: list[str]
    outside: int  # journals in the default partition: of a month that had no partition


async def status(conn: AsyncConnection) -> Status:
    archived = list(
        (await conn.execute(text("SELECT month FROM ledger_archived_months ORDER BY month")))
        .scalars()
        .all()
    )
    if conn.dialect.name != "postgresql" or not await partitioned(conn):
        return Status([], archived, 0)
    prefix = len("ledger_journals_p")
    months = sorted(
        name[prefix:].replace("_", "-")
        for name in await attached(conn)
        if name.startswith("ledger_journals_p")
    )
    outside = (await conn.execute(text("SELECT count(*) FROM ledger_journals_default"))).scalar()
    return Status(months, archived, int(outside or 0))
