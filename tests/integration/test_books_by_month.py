"""The books by month (``simkeep.ledger.partitions``): on PostgreSQL journals and postings
are partitioned by Hong Kong month, with the months to come created ahead; a journal lands
in its month and reads, holds, reversals, replays and ``ledger check`` work across the
boundary on both databases; a month that ended and holds no open hold is archived with its
totals kept, so ``ledger check`` still proves every balance; what cannot be archived is
refused and changes nothing; the migration moves existing books into their months and back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from simkeep.cli.main import app
from simkeep.db import Database
from simkeep.jobs.loop import standard_jobs
from simkeep.ledger import chart, partitions, queries, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.model import AlreadyReversed, JournalArchived, JournalConflict, PendingNotOpen
from simkeep.ledger.partitions import ArchiveRefused, Month
from simkeep.migrations import upgrade
from simkeep.money import Money
from tests.conftest import downgrade

# 23:59:59 and 00:00:00 in Hong Kong on either side of 1 December 2026
LAST_OF_NOVEMBER = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)
FIRST_OF_DECEMBER = datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 10, 4, 0, tzinfo=UTC)
JANUARY = datetime(2027, 1, 5, 4, 0, tzinfo=UTC)


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


@dataclass
class Books:
    clearing: int
    sim: int


@pytest.fixture
async def books(db: Database) -> AsyncIterator[Books]:
    async def open_books(conn: AsyncConnection) -> Books:
        await ledger.ensure_chart(conn, now=OCTOBER, hot_slots=1)
        await partitions.ensure_months(conn, now=OCTOBER, ahead=3)  # October to January
        clearing = await ledger.get_account_by_code(
            conn, code=chart.provider_clearing_code("alipay", "HKD")
        )
        assert clearing is not None
        sim = await ledger.open_account(conn, spec=chart.sim_balance(1, "HKD"), now=OCTOBER)
        return Books(clearing.id, sim.id)

    yield await db.transaction(open_books)
    if db.dialect == "postgresql":  # months archived by a test: their tables go
        await db.transaction(drop_detached)


async def drop_detached(conn: AsyncConnection) -> None:
    for table in partitions.TABLES:
        await conn.execute(text(f"DROP TABLE IF EXISTS {Month(2026, 10).partition(table)}_gone"))


async def top_up(db: Database, books: Books, client_id: str, minor: int, at: datetime) -> int:
    async def post(conn: AsyncConnection) -> int:
        journal = await ledger.post_journal(
            conn,
            client_id=client_id,
            postings=rules.provider_topup(
                clearing=books.clearing, sim_balance=books.sim, amount=hkd(minor)
            ),
            now=at,
        )
        return journal.id

    return await db.transaction(post)


async def partition_of(db: Database, journal_id: int) -> tuple[str, set[str]]:
    """PostgreSQL: the partition holding the journal, and those holding its postings."""

    async def read(conn: AsyncConnection) -> tuple[str, set[str]]:
        journal = (
            await conn.execute(
                text("SELECT tableoid::regclass::text FROM ledger_journals WHERE id = :j"),
                {"j": journal_id},
            )
        ).scalar_one()
        postings = await conn.execute(
            text("SELECT tableoid::regclass::text FROM ledger_postings WHERE journal_id = :j"),
            {"j": journal_id},
        )
        return str(journal), set(postings.scalars())

    return await db.transaction(read)


async def checked(db: Database) -> ledger.CheckReport:
    report = await db.transaction(ledger.check_books)
    assert report.ok, report.problems
    return report


async def test_the_months_to_come_are_created_ahead(db: Database) -> None:
    march = datetime(2027, 3, 15, 4, 0, tzinfo=UTC)
    created = await db.transaction(lambda conn: partitions.ensure_months(conn, now=march))
    again = await db.transaction(lambda conn: partitions.ensure_months(conn, now=march))
    found = await db.transaction(partitions.status)
    if db.dialect == "sqlite":
        assert (created, again, found.months) == ([], [], [])
        return
    expected = {"2027-03", "2027-04", "2027-05", "2027-06"}  # this month and three more
    assert set(created) <= expected <= set(found.months)
    assert again == []


async def test_the_worker_job_makes_the_months_hourly(db: Database) -> None:
    jobs = standard_jobs(db=db, sms=NoSms(), adapters={})
    may = datetime(2028, 5, 31, 15, 30, tzinfo=UTC)  # 23:30 on 31 May in Hong Kong
    made = await jobs["ledger_months"](may)
    june = await jobs["ledger_months"](may + timedelta(minutes=40))  # within the hour
    later = await jobs["ledger_months"](may + timedelta(hours=1))
    found = await db.transaction(partitions.status)
    if db.dialect == "sqlite":
        assert (made, june, later) == (0, 0, 0)
        return
    assert made == 4  # May to August 2028
    assert june == 0  # looked at 40 minutes ago: September waits
    assert later == 1  # September 2028
    assert {"2028-05", "2028-09"} <= set(found.months)


class NoSms:
    async def send(self, *, to: str, text: str) -> None:
        raise AssertionError("no SMS here")


async def test_a_journal_lands_in_its_hong_kong_month_and_reads_across_the_boundary(
    db: Database, books: Books
) -> None:
    before = await top_up(db, books, "topup:nov", 1_000, LAST_OF_NOVEMBER)
    after = await top_up(db, books, "topup:dec", 2_000, FIRST_OF_DECEMBER)
    if db.dialect == "postgresql":
        assert await partition_of(db, before) == (
            "ledger_journals_p2026_11",
            {"ledger_postings_p2026_11"},
        )
        assert await partition_of(db, after) == (
            "ledger_journals_p2026_12",
            {"ledger_postings_p2026_12"},
        )

    async def read(conn: AsyncConnection) -> tuple[list[str], int, list[str]]:
        page = await ledger.history(conn, account_id=books.sim, limit=10)
        balance = await ledger.get_balance(conn, account_id=books.sim)
        owned = await queries.owner_journals(
            conn, owner_type="sim", owner_id="1", before=None, limit=10
        )
        return [line.client_id for line in page.lines], balance.posted, [j.client_id for j in owned]

    lines, posted, owned = await db.transaction(read)
    assert lines == ["topup:dec", "topup:nov"]  # newest first, across the two partitions
    assert owned == ["topup:dec", "topup:nov"]
    assert posted == 3_000
    report = await checked(db)
    assert (report.journals, report.postings) == (2, 4)


async def test_a_client_id_is_used_once_across_months(db: Database, books: Books) -> None:
    first = await top_up(db, books, "topup:once", 1_000, LAST_OF_NOVEMBER)
    replayed = await top_up(db, books, "topup:once", 1_000, JANUARY)  # the same, a month on
    assert replayed == first
    with pytest.raises(JournalConflict):
        await top_up(db, books, "topup:once", 9_000, JANUARY)

    async def read(conn: AsyncConnection) -> tuple[int, int | None]:
        balance = await ledger.get_balance(conn, account_id=books.sim)
        found = await ledger.get_journal_by_client_id(conn, client_id="topup:once")
        return balance.posted, None if found is None else found.id

    assert await db.transaction(read) == (1_000, first)
    assert (await checked(db)).journals == 1


async def test_a_hold_and_a_reversal_resolve_once_across_months(db: Database, books: Books) -> None:
    await top_up(db, books, "topup:paid", 5_000, OCTOBER)
    extra = await top_up(db, books, "topup:extra", 1_000, LAST_OF_NOVEMBER)

    async def hold(conn: AsyncConnection) -> int:
        held = await ledger.hold(
            conn,
            client_id="refund-hold:1",
            postings=rules.transfer(books.sim, books.clearing, hkd(2_000)),
            now=LAST_OF_NOVEMBER,
        )
        return held.id

    held = await db.transaction(hold)

    async def post(conn: AsyncConnection, client_id: str) -> None:
        await ledger.post_pending(conn, client_id=client_id, pending_id=held, now=FIRST_OF_DECEMBER)

    await db.transaction(lambda conn: post(conn, "refund-paid:1"))
    with pytest.raises(PendingNotOpen):
        await db.transaction(lambda conn: post(conn, "refund-paid:again"))

    async def reverse(conn: AsyncConnection, client_id: str) -> None:
        await ledger.reverse_journal(conn, client_id=client_id, journal_id=extra, now=JANUARY)

    await db.transaction(lambda conn: reverse(conn, "reverse:1"))
    await db.transaction(lambda conn: reverse(conn, "reverse:1"))  # a replay: the same
    with pytest.raises(AlreadyReversed):
        await db.transaction(lambda conn: reverse(conn, "reverse:2"))

    async def read(conn: AsyncConnection) -> tuple[int, int]:
        balance = await ledger.get_balance(conn, account_id=books.sim)
        return balance.posted, balance.pending_out

    assert await db.transaction(read) == (5_000 + 1_000 - 2_000 - 1_000, 0)
    report = await checked(db)
    assert report.journals == 5  # two top-ups, the hold, its post, the reversal


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_ended_month_is_archived_and_the_books_still_prove_every_balance(
    db: Database, books: Books
) -> None:
    await top_up(db, books, "topup:oct:1", 1_000, OCTOBER)
    await top_up(db, books, "topup:oct:2", 2_500, OCTOBER + timedelta(days=3))
    await top_up(db, books, "topup:nov", 4_000, LAST_OF_NOVEMBER)
    whole = await checked(db)

    archived = await db.transaction(
        lambda conn: partitions.archive_month(conn, month=Month(2026, 10), now=FIRST_OF_DECEMBER)
    )
    assert (archived.month, archived.journals, archived.postings) == ("2026-10", 2, 4)
    assert archived.accounts == 2  # the clearing account and the SIM, slot 0 each

    report = await checked(db)  # the kept totals stand in for the detached postings
    assert (report.journals, report.postings) == (whole.journals, whole.postings)
    assert report.trial_balances == whole.trial_balances

    async def read(conn: AsyncConnection) -> tuple[int, int, list[str], list[str]]:
        live = (await conn.execute(text("SELECT count(*) FROM ledger_journals"))).scalar_one()
        balance = await ledger.get_balance(conn, account_id=books.sim)
        found = await partitions.status(conn)
        return int(live), balance.posted, found.archived, found.months

    live, posted, archived_months, months = await db.transaction(read)
    assert (live, posted, archived_months) == (1, 7_500, ["2026-10"])
    assert "2026-10" not in months
    assert "2026-11" in months
    with pytest.raises(JournalArchived, match="archived month"):  # never posted a second time
        await top_up(db, books, "topup:oct:1", 1_000, JANUARY)

    async def corrupt(conn: AsyncConnection) -> None:  # past the append-only trigger
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("UPDATE ledger_archived_totals SET balance = balance + 1"))

    await db.transaction(corrupt)
    assert not (await db.transaction(ledger.check_books)).ok  # the totals are checked

    await db.transaction(rename_detached)


async def rename_detached(conn: AsyncConnection) -> None:
    """The detached tables out of the way of the next test's months (dropped after it)."""
    for table in partitions.TABLES:
        name = Month(2026, 10).partition(table)
        await conn.execute(text(f"ALTER TABLE {name} RENAME TO {name}_gone"))


async def test_what_cannot_be_archived_is_refused_and_changes_nothing(
    db: Database, books: Books
) -> None:
    await top_up(db, books, "topup:oct", 1_000, OCTOBER)

    async def hold(conn: AsyncConnection) -> None:
        await ledger.hold(
            conn,
            client_id="refund-hold:open",
            postings=rules.transfer(books.sim, books.clearing, hkd(500)),
            now=LAST_OF_NOVEMBER,
        )

    await db.transaction(hold)

    async def archive(month: Month, now: datetime) -> partitions.Archived:
        return await db.transaction(
            lambda conn: partitions.archive_month(conn, month=month, now=now)
        )

    if db.dialect == "sqlite":
        with pytest.raises(ArchiveRefused, match="one table"):
            await archive(Month(2026, 10), JANUARY)
        return
    with pytest.raises(ArchiveRefused, match="has not ended"):
        await archive(Month(2026, 12), FIRST_OF_DECEMBER)
    with pytest.raises(ArchiveRefused, match="hold"):
        await archive(Month(2026, 11), JANUARY)
    with pytest.raises(ArchiveRefused, match="not in the books"):
        await archive(Month(2020, 1), JANUARY)
    found = await db.transaction(partitions.status)
    assert found.archived == []
    assert {"2026-10", "2026-11", "2026-12"} <= set(found.months)
    assert (await checked(db)).journals == 2


def test_the_command_line_refuses_a_month_that_is_not_one(database_url: str) -> None:
    runner = CliRunner()
    env = {"SIMKEEP_DATABASE_URL": database_url}
    months = runner.invoke(app, ["ledger", "months"], env=env)
    assert months.exit_code == 0, months.output
    assert "archived: none" in months.output
    bad = runner.invoke(app, ["ledger", "archive", "2026-13"], env=env)
    assert bad.exit_code == 2
    assert "is not a month" in bad.output
    now = runner.invoke(app, ["ledger", "archive", Month.of(datetime.now(UTC)).label], env=env)
    assert now.exit_code == 2
    assert "refused" in now.output
    assert ("has not ended" if database_url.startswith("postgresql") else "one table") in now.output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_fifty_makers_of_the_same_months_leave_them_made_once(
    db: Database, database_url: str
) -> None:
    """Workers racing to make the same months: each month made once, no maker fails."""
    june = datetime(2029, 6, 1, 4, 0, tzinfo=UTC)

    async def make() -> list[str]:
        return await db.transaction(lambda conn: partitions.ensure_months(conn, now=june))

    made = await asyncio.gather(*(make() for _ in range(50)))
    assert sorted(month for months in made for month in months) == [
        "2029-06",
        "2029-07",
        "2029-08",
        "2029-09",
    ]
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'ledger%p2029%'"
        )
    finally:
        await conn.close()
    assert count == 8


async def test_the_migration_takes_the_books_into_their_months_and_back(
    db: Database, books: Books
) -> None:
    """Books written, the schema taken back to one table each (0028) and forward again:
    nothing lost or doubled, each journal in its month, its client id and its hold's
    resolution still unique."""
    november = await top_up(db, books, "topup:nov", 1_000, LAST_OF_NOVEMBER)
    december = await top_up(db, books, "topup:dec", 2_000, FIRST_OF_DECEMBER)

    async def hold(conn: AsyncConnection) -> int:
        held = await ledger.hold(
            conn,
            client_id="refund-hold:m",
            postings=rules.transfer(books.sim, books.clearing, hkd(500)),
            now=FIRST_OF_DECEMBER,
        )
        await ledger.post_pending(
            conn, client_id="refund-paid:m", pending_id=held.id, now=FIRST_OF_DECEMBER
        )
        return held.id

    held = await db.transaction(hold)
    before = await checked(db)

    await downgrade(db, "0028")
    await upgrade(db)

    after = await checked(db)
    assert (after.journals, after.postings) == (before.journals, before.postings) == (4, 8)
    assert after.trial_balances == before.trial_balances
    if db.dialect == "postgresql":
        assert (await partition_of(db, november))[0] == "ledger_journals_p2026_11"
        assert (await partition_of(db, december))[1] == {"ledger_postings_p2026_12"}
    assert await top_up(db, books, "topup:nov", 1_000, JANUARY) == november  # a replay
    with pytest.raises(PendingNotOpen):
        await db.transaction(
            lambda conn: ledger.post_pending(
                conn, client_id="refund-paid:again", pending_id=held, now=JANUARY
            )
        )

    async def read(conn: AsyncConnection) -> tuple[int, list[str]]:
        balance = await ledger.get_balance(conn, account_id=books.sim)
        page = await ledger.history(conn, account_id=books.sim, limit=10)
        return balance.posted, [line.client_id for line in page.lines]

    posted, lines = await db.transaction(read)
    assert posted == 1_000 + 2_000 - 500
    assert lines == ["refund-paid:m", "refund-hold:m", "topup:dec", "topup:nov"]
