"""The ledger service as worked examples, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.model import (
    AccountConflict,
    AlreadyReversed,
    InsufficientFunds,
    InvalidJournal,
    JournalConflict,
    JournalKind,
    PendingExpired,
    PendingNotOpen,
    Posting,
    UnknownAccount,
)
from simkeep.money import Money

HK = "HKD"


def hkd(minor: int) -> Money:
    return Money(minor, HK)


@dataclass
class Books:
    clearing: int
    sim: int
    other_sim: int
    agent_float: int
    revenue: int
    fx_hkd: int
    fx_cny: int
    clearing_cny: int


@pytest.fixture
async def books(db: Database, clock: FixedClock) -> Books:
    async def open_books(conn: AsyncConnection) -> Books:
        await ledger.ensure_chart(conn, now=clock.now(), hot_slots=4)

        async def code(c: str) -> int:
            account = await ledger.get_account_by_code(conn, code=c)
            assert account is not None
            return account.id

        async def spec(s: chart.AccountSpec) -> int:
            return (await ledger.open_account(conn, spec=s, now=clock.now())).id

        return Books(
            clearing=await code(chart.provider_clearing_code("alipay", HK)),
            sim=await spec(chart.sim_balance(1, HK)),
            other_sim=await spec(chart.sim_balance(2, HK)),
            agent_float=await spec(chart.agent_float(7, HK, credit_limit=5_000)),
            revenue=await code(chart.system_code(System.RETENTION_FEE_REVENUE, HK)),
            fx_hkd=await code(chart.system_code(System.FX_POSITION, HK)),
            fx_cny=await code(chart.system_code(System.FX_POSITION, "CNY")),
            clearing_cny=await code(chart.provider_clearing_code("wechatpay", "CNY")),
        )

    return await db.transaction(open_books)


async def balance(db: Database, account_id: int) -> int:
    async def read(conn: AsyncConnection) -> int:
        return (await ledger.get_balance(conn, account_id=account_id)).posted

    return await db.transaction(read)


async def topup(db: Database, books: Books, clock: FixedClock, client_id: str, minor: int) -> int:
    async def post(conn: AsyncConnection) -> int:
        journal = await ledger.post_journal(
            conn,
            client_id=client_id,
            postings=rules.provider_topup(
                clearing=books.clearing, sim_balance=books.sim, amount=hkd(minor)
            ),
            now=clock.now(),
        )
        return journal.id

    return await db.transaction(post)


async def test_top_up_hk100_by_alipay(db: Database, books: Books, clock: FixedClock) -> None:
    journal_id = await topup(db, books, clock, "topup:1", 10_000)
    assert await balance(db, books.sim) == 10_000  # the SIM holds HK$100
    assert await balance(db, books.clearing) == 10_000  # Alipay owes us HK$100

    async def read(conn: AsyncConnection) -> None:
        journal = await ledger.get_journal(conn, journal_id=journal_id)
        assert journal is not None
        assert journal.kind is JournalKind.STANDARD
        assert sorted(p.amount for p in journal.postings) == [-10_000, 10_000]
        assert journal.created_at == clock.now()

    await db.transaction(read)


async def test_same_id_same_content_returns_the_first_journal(
    db: Database, books: Books, clock: FixedClock
) -> None:
    first = await topup(db, books, clock, "topup:2", 5_000)
    again = await topup(db, books, clock, "topup:2", 5_000)
    assert again == first
    assert await balance(db, books.sim) == 5_000  # credited once


async def test_same_id_other_content_is_refused(
    db: Database, books: Books, clock: FixedClock
) -> None:
    await topup(db, books, clock, "topup:3", 5_000)
    with pytest.raises(JournalConflict, match="topup:3"):
        await topup(db, books, clock, "topup:3", 5_001)
    assert await balance(db, books.sim) == 5_000


async def test_a_sim_never_goes_below_zero(db: Database, books: Books, clock: FixedClock) -> None:
    await topup(db, books, clock, "topup:4", 800)

    async def fee(conn: AsyncConnection) -> None:
        await ledger.post_journal(
            conn,
            client_id="fee:4",
            postings=rules.retention_fee(
                sim_balance=books.sim, revenue=books.revenue, fee=hkd(801)
            ),
            now=clock.now(),
        )

    with pytest.raises(InsufficientFunds):
        await db.transaction(fee)
    assert await balance(db, books.sim) == 800  # nothing half-written

    async def journal_absent(conn: AsyncConnection) -> None:
        assert await ledger.get_journal_by_client_id(conn, client_id="fee:4") is None

    await db.transaction(journal_absent)


async def test_an_agent_float_may_use_its_credit_limit(
    db: Database, books: Books, clock: FixedClock
) -> None:
    async def outlet_topup(client_id: str, minor: int) -> None:
        async def post(conn: AsyncConnection) -> None:
            await ledger.post_journal(
                conn,
                client_id=client_id,
                postings=rules.transfer(books.agent_float, books.other_sim, hkd(minor)),
                now=clock.now(),
            )

        await db.transaction(post)

    await outlet_topup("outlet:1", 5_000)  # float 0 → -50.00, the whole credit limit
    assert await balance(db, books.agent_float) == -5_000
    with pytest.raises(InsufficientFunds):
        await outlet_topup("outlet:2", 1)

    async def raise_limit(conn: AsyncConnection) -> None:
        await ledger.set_floor(conn, account_id=books.agent_float, min_balance=-10_000)

    await db.transaction(raise_limit)
    await outlet_topup("outlet:2", 1)
    assert await balance(db, books.agent_float) == -5_001

    async def lower_limit_below_use(conn: AsyncConnection) -> None:
        await ledger.set_floor(conn, account_id=books.agent_float, min_balance=0)

    with pytest.raises(InsufficientFunds):
        await db.transaction(lower_limit_below_use)


async def test_wrong_currency_or_unknown_account_is_refused(
    db: Database, books: Books, clock: FixedClock
) -> None:
    async def post(postings: tuple[Posting, ...]) -> None:
        async def run(conn: AsyncConnection) -> None:
            await ledger.post_journal(conn, client_id="bad", postings=postings, now=clock.now())

        await db.transaction(run)

    cny = Money(100, "CNY")
    with pytest.raises(UnknownAccount):
        await post((Posting.debit(books.clearing, cny), Posting.credit(books.fx_cny, cny)))
    with pytest.raises(UnknownAccount):
        await post((Posting.debit(books.clearing, hkd(1)), Posting.credit(999_999, hkd(1))))
    assert await balance(db, books.clearing) == 0


async def test_cross_currency_top_up_through_fx(
    db: Database, books: Books, clock: FixedClock
) -> None:
    async def post(conn: AsyncConnection) -> None:
        await ledger.post_journal(
            conn,
            client_id="topup:fx",
            postings=rules.cross_currency_topup(
                clearing=books.clearing_cny,
                fx_paid=books.fx_cny,
                fx_credited=books.fx_hkd,
                sim_balance=books.sim,
                paid=Money(9_200, "CNY"),
                credited=hkd(10_000),
            ),
            now=clock.now(),
        )

    await db.transaction(post)
    assert await balance(db, books.sim) == 10_000
    assert await balance(db, books.clearing_cny) == 9_200
    assert await balance(db, books.fx_cny) == 9_200  # equity: credited in CNY
    assert await balance(db, books.fx_hkd) == -10_000  # debited in HKD


async def test_hold_then_post_part_then_the_rest_is_released(
    db: Database, books: Books, clock: FixedClock
) -> None:
    await topup(db, books, clock, "topup:h", 10_000)
    held = rules.transfer(books.sim, books.revenue, hkd(6_000))

    async def hold(conn: AsyncConnection) -> int:
        journal = await ledger.hold(conn, client_id="hold:1", postings=held, now=clock.now())
        return journal.id

    pending_id = await db.transaction(hold)

    async def sim_balance(conn: AsyncConnection) -> tuple[int, int]:
        b = await ledger.get_balance(conn, account_id=books.sim)
        return b.posted, b.available

    assert await db.transaction(sim_balance) == (10_000, 4_000)

    async def too_much(conn: AsyncConnection) -> None:
        await ledger.post_journal(
            conn,
            client_id="fee:h",
            postings=rules.transfer(books.sim, books.revenue, hkd(4_001)),
            now=clock.now(),
        )

    with pytest.raises(InsufficientFunds):  # the hold counts against the floor
        await db.transaction(too_much)

    async def post_part(conn: AsyncConnection) -> int:
        journal = await ledger.post_pending(
            conn,
            client_id="hold:1:post",
            pending_id=pending_id,
            postings=rules.transfer(books.sim, books.revenue, hkd(2_500)),
            now=clock.now(),
        )
        return journal.id

    post_id = await db.transaction(post_part)
    assert await db.transaction(sim_balance) == (7_500, 7_500)
    assert await db.transaction(post_part) == post_id  # a retried post returns the same

    async def void(conn: AsyncConnection) -> None:
        await ledger.void_pending(
            conn, client_id="hold:1:void", pending_id=pending_id, now=clock.now()
        )

    with pytest.raises(PendingNotOpen):
        await db.transaction(void)


async def test_void_releases_a_hold_once(db: Database, books: Books, clock: FixedClock) -> None:
    await topup(db, books, clock, "topup:v", 3_000)

    async def hold(conn: AsyncConnection) -> int:
        postings = rules.transfer(books.sim, books.revenue, hkd(3_000))
        return (await ledger.hold(conn, client_id="hold:v", postings=postings, now=clock.now())).id

    pending_id = await db.transaction(hold)

    async def void(conn: AsyncConnection) -> None:
        await ledger.void_pending(conn, client_id="void:v", pending_id=pending_id, now=clock.now())

    await db.transaction(void)
    await db.transaction(void)  # the same void, retried: no error, nothing more released

    async def available(conn: AsyncConnection) -> int:
        return (await ledger.get_balance(conn, account_id=books.sim)).available

    assert await db.transaction(available) == 3_000

    async def post(conn: AsyncConnection) -> None:
        await ledger.post_pending(conn, client_id="post:v", pending_id=pending_id, now=clock.now())

    with pytest.raises(PendingNotOpen):
        await db.transaction(post)


async def test_an_expired_hold_cannot_be_posted_and_is_released(
    db: Database, books: Books, clock: FixedClock
) -> None:
    await topup(db, books, clock, "topup:e", 2_000)

    async def hold(conn: AsyncConnection) -> int:
        postings = rules.transfer(books.sim, books.revenue, hkd(2_000))
        journal = await ledger.hold(
            conn,
            client_id="hold:e",
            postings=postings,
            now=clock.now(),
            expires_at=clock.now() + timedelta(minutes=15),
        )
        return journal.id

    pending_id = await db.transaction(hold)
    clock.advance(timedelta(minutes=15))

    async def post(conn: AsyncConnection) -> None:
        await ledger.post_pending(conn, client_id="post:e", pending_id=pending_id, now=clock.now())

    with pytest.raises(PendingExpired):
        await db.transaction(post)

    async def expire(conn: AsyncConnection) -> int:
        return await ledger.expire_pending(conn, now=clock.now())

    assert await db.transaction(expire) == 1
    assert await db.transaction(expire) == 0  # idempotent

    async def available(conn: AsyncConnection) -> int:
        return (await ledger.get_balance(conn, account_id=books.sim)).available

    assert await db.transaction(available) == 2_000


async def test_reverse_a_journal_once(db: Database, books: Books, clock: FixedClock) -> None:
    journal_id = await topup(db, books, clock, "topup:r", 4_000)

    async def reverse(client_id: str) -> int:
        async def run(conn: AsyncConnection) -> int:
            journal = await ledger.reverse_journal(
                conn, client_id=client_id, journal_id=journal_id, now=clock.now()
            )
            return journal.id

        return await db.transaction(run)

    reversal = await reverse("reverse:r")
    assert await balance(db, books.sim) == 0
    assert await balance(db, books.clearing) == 0
    assert await reverse("reverse:r") == reversal  # retried
    with pytest.raises(AlreadyReversed):
        await reverse("reverse:r:again")


async def test_reversal_cannot_break_a_floor(db: Database, books: Books, clock: FixedClock) -> None:
    journal_id = await topup(db, books, clock, "topup:spent", 1_000)

    async def spend(conn: AsyncConnection) -> None:
        await ledger.post_journal(
            conn,
            client_id="fee:spent",
            postings=rules.retention_fee(
                sim_balance=books.sim, revenue=books.revenue, fee=hkd(800)
            ),
            now=clock.now(),
        )

    await db.transaction(spend)

    async def reverse(conn: AsyncConnection) -> None:
        await ledger.reverse_journal(
            conn, client_id="reverse:spent", journal_id=journal_id, now=clock.now()
        )

    with pytest.raises(InsufficientFunds):
        await db.transaction(reverse)


async def test_history_pages_newest_first(db: Database, books: Books, clock: FixedClock) -> None:
    for n in range(5):
        clock.advance(timedelta(minutes=1))
        await topup(db, books, clock, f"topup:page:{n}", 100 + n)

    async def pages(conn: AsyncConnection) -> list[list[int]]:
        seen: list[list[int]] = []
        before = None
        while True:
            page = await ledger.history(conn, account_id=books.sim, limit=2, before=before)
            seen.append([line.amount for line in page.lines])
            if page.next_before is None:
                return seen
            before = page.next_before

    assert await db.transaction(pages) == [[-104, -103], [-102, -101], [-100]]


async def test_hot_account_balance_is_the_sum_of_its_slots(
    db: Database, books: Books, clock: FixedClock
) -> None:
    for n in range(20):
        await topup(db, books, clock, f"topup:hot:{n}", 100)
    assert await balance(db, books.clearing) == 2_000

    async def account_slots(conn: AsyncConnection) -> int:
        account = await ledger.get_account(conn, account_id=books.clearing)
        assert account is not None
        return account.hot_slots

    assert await db.transaction(account_slots) == 4


async def test_reopening_an_account_is_idempotent_but_not_a_redefinition(
    db: Database, clock: FixedClock
) -> None:
    async def open_twice(conn: AsyncConnection) -> None:
        first = await ledger.open_account(conn, spec=chart.sim_balance(9, HK), now=clock.now())
        again = await ledger.open_account(conn, spec=chart.sim_balance(9, HK), now=clock.now())
        assert first == again
        with pytest.raises(AccountConflict):
            await ledger.open_account(
                conn, spec=replace(chart.sim_balance(9, HK), currency="CNY"), now=clock.now()
            )

    await db.transaction(open_twice)


async def test_invalid_journals_write_nothing(
    db: Database, books: Books, clock: FixedClock
) -> None:
    async def post(conn: AsyncConnection) -> None:
        await ledger.post_journal(
            conn,
            client_id="unbalanced",
            postings=[Posting.debit(books.clearing, hkd(100)), Posting.credit(books.sim, hkd(99))],
            now=clock.now(),
        )

    with pytest.raises(InvalidJournal):
        await db.transaction(post)
    assert await balance(db, books.sim) == 0
