"""Several processes post thousands of journals over a few hot accounts at once.

Every journal credits or debits SIMs (one locked row each, floor zero) against hot
accounts (slot rows). Processes also replay their own journals and race each other on
shared client ids. Afterwards every balance must equal the sum of the journals the workers
saw succeed, each shared id must exist once, no floor may be broken, and no serialization
failure or deadlock may have reached a caller.
"""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger.checks import check_books
from simkeep.ledger.model import AccountSpec, AccountType, InsufficientFunds, Posting
from simkeep.settings import load_settings

WORKERS = 4
JOURNALS_PER_WORKER = 500
SIMS = 12
CCY = "HKD"


@dataclass(frozen=True)
class Accounts:
    clearing: int
    revenue: int
    floats: tuple[int, ...]
    sims: tuple[int, ...]


@dataclass(frozen=True)
class WorkerResult:
    posted: dict[str, tuple[Posting, ...]]
    refused: int
    replays: int
    replays_matched: int


async def _open(url: str) -> Accounts:
    db = Database.from_settings(load_settings(database_url=url))
    now = SystemClock().now()

    async def open_all(conn: AsyncConnection) -> Accounts:
        async def one(spec: AccountSpec) -> int:
            return (await ledger.open_account(conn, spec=spec, now=now)).id

        return Accounts(
            clearing=await one(AccountSpec("c", "clearing", CCY, AccountType.ASSET, hot_slots=8)),
            revenue=await one(AccountSpec("r", "revenue", CCY, AccountType.INCOME, hot_slots=8)),
            floats=(
                await one(chart.agent_float(1, CCY, credit_limit=20_000)),
                await one(chart.agent_float(2, CCY, credit_limit=20_000)),
            ),
            sims=tuple([await one(chart.sim_balance(n, CCY)) for n in range(SIMS)]),
        )

    try:
        return await db.transaction(open_all)
    finally:
        await db.dispose()


def _journal(rng: random.Random, accounts: Accounts) -> tuple[Posting, ...]:
    sim = rng.choice(accounts.sims)
    amount = rng.randint(1, 2_000)
    kind = rng.random()
    if kind < 0.5:  # online top-up: the provider's clearing account is hot
        debit, credit = accounts.clearing, sim
    elif kind < 0.8:  # a fee: may meet the SIM's floor
        debit, credit = sim, accounts.revenue
    else:  # an outlet top-up: may meet the agent's credit limit
        debit, credit = rng.choice(accounts.floats), sim
    return (Posting(debit, amount, CCY), Posting(credit, -amount, CCY))


async def _work(url: str, worker: int, accounts: Accounts) -> WorkerResult:
    db = Database.from_settings(load_settings(database_url=url, db_pool_size=2))
    clock = SystemClock()
    rng = random.Random(worker)
    posted: dict[str, tuple[Posting, ...]] = {}
    refused = replays = matched = 0
    shared_rng = random.Random(12345)  # every worker draws the same shared journals

    async def post(client_id: str, postings: tuple[Posting, ...]) -> int | None:
        async def run(conn: AsyncConnection) -> int:
            journal = await ledger.post_journal(
                conn, client_id=client_id, postings=postings, now=clock.now()
            )
            return journal.id

        try:
            return await db.transaction(run)
        except InsufficientFunds:
            return None

    try:
        for n in range(JOURNALS_PER_WORKER):
            if n % 10 == 0:
                client_id = f"shared:{n}"
                amount = shared_rng.randint(1, 500)
                postings = (
                    Posting(accounts.clearing, amount, CCY),
                    Posting(accounts.sims[n % SIMS], -amount, CCY),
                )
            else:
                client_id = f"w{worker}:{n}"
                postings = _journal(rng, accounts)
            journal_id = await post(client_id, postings)
            if journal_id is None:
                refused += 1
                continue
            posted[client_id] = postings
            if n % 7 == 0:  # a client retrying after a lost reply
                replays += 1
                matched += await post(client_id, postings) == journal_id
    finally:
        await db.dispose()
    return WorkerResult(posted, refused, replays, matched)


def _run_worker(url: str, worker: int, accounts: Accounts) -> WorkerResult:
    return asyncio.run(_work(url, worker, accounts))


@pytest.mark.slow
async def test_concurrent_processes_lose_nothing(database_url: str) -> None:
    accounts = await _open(database_url)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(WORKERS, mp_context=get_context("spawn")) as pool:
        results = await asyncio.gather(
            *[
                loop.run_in_executor(pool, _run_worker, database_url, w, accounts)
                for w in range(WORKERS)
            ]
        )

    journals: dict[str, tuple[Posting, ...]] = {}
    for result in results:
        for client_id, postings in result.posted.items():
            assert journals.setdefault(client_id, postings) == postings
        assert result.replays > 0
        assert result.replays_matched == result.replays
    expected: dict[int, int] = {}
    for postings in journals.values():
        for p in postings:
            expected[p.account_id] = expected.get(p.account_id, 0) + p.amount
    assert len(journals) > WORKERS * JOURNALS_PER_WORKER // 2
    assert sum(r.refused for r in results) > 0  # floors were really met, and held

    db = Database.from_settings(load_settings(database_url=database_url))
    try:

        async def verify(conn: AsyncConnection) -> None:
            report = await check_books(conn)
            assert report.ok, report.problems
            assert report.journals == len(journals)
            for account_id, raw in expected.items():
                account = await ledger.get_account(conn, account_id=account_id)
                assert account is not None
                balance = await ledger.get_balance(conn, account_id=account_id)
                assert balance.posted == raw * account.type.normal_sign
                if account.min_balance is not None:
                    assert balance.posted >= account.min_balance

        await db.transaction(verify)
    finally:
        await db.dispose()
