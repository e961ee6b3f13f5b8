"""A random walk through the ledger, checked against a model after every step.

Hypothesis posts, retries with the same id, reuses ids for other content, holds, posts
(in full or in part), voids, lets holds expire and reverses journals, on SQLite and on
PostgreSQL. After every step every balance must equal the model's and ``check_books``
must find nothing wrong.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger.checks import check_books
from simkeep.ledger.model import (
    AccountSpec,
    AccountType,
    AlreadyReversed,
    InsufficientFunds,
    JournalConflict,
    PendingExpired,
    PendingNotOpen,
    Posting,
)
from simkeep.settings import load_settings
from tests.conftest import START, empty_database

T = TypeVar("T")
CCY = "HKD"


@dataclass
class ModelAccount:
    id: int
    sign: int
    floor: int | None
    posted: int = 0
    pending_out: int = 0
    pending_in: int = 0


@dataclass
class ModelJournal:
    client_id: str
    postings: tuple[Posting, ...]
    db_id: int
    reverses: int | None = None
    reversed: bool = False


@dataclass
class ModelHold:
    db_id: int
    postings: tuple[Posting, ...]
    expires_at: datetime | None
    open: bool = True


@dataclass
class Model:
    accounts: dict[int, ModelAccount] = field(default_factory=dict)
    journals: dict[str, ModelJournal] = field(default_factory=dict)
    holds: list[ModelHold] = field(default_factory=list)

    def effects(self, postings: tuple[Posting, ...]) -> dict[int, int]:
        out: dict[int, int] = {}
        for p in postings:
            out[p.account_id] = (
                out.get(p.account_id, 0) + p.amount * self.accounts[p.account_id].sign
            )
        return out

    def fits(self, posted: dict[int, int], held: dict[int, int] | None = None) -> bool:
        for account_id, account in self.accounts.items():
            if account.floor is None:
                continue
            new_posted = account.posted + posted.get(account_id, 0)
            new_out = account.pending_out + (held or {}).get(account_id, 0)
            if new_posted - new_out < account.floor:
                return False
        return True


def _hold_outgoing(
    model: Model, postings: tuple[Posting, ...]
) -> tuple[dict[int, int], dict[int, int]]:
    out: dict[int, int] = {}
    incoming: dict[int, int] = {}
    for p in postings:
        delta = p.amount * model.accounts[p.account_id].sign
        out[p.account_id] = out.get(p.account_id, 0) + max(-delta, 0)
        incoming[p.account_id] = incoming.get(p.account_id, 0) + max(delta, 0)
    return out, incoming


class LedgerMachine(RuleBasedStateMachine):
    journals = Bundle("journals")
    holds = Bundle("holds")

    def __init__(self, url: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = Database.from_settings(load_settings(database_url=url))
        self.clock = FixedClock(START)
        self.model = Model()
        self.counter = 0

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def tx(self, fn):  # type: ignore[no-untyped-def]
        return self.run(self.db.transaction(fn))

    def teardown(self) -> None:
        self.run(self.db.dispose())
        self.loop.close()

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}:{self.counter}"

    @initialize()
    def open_accounts(self) -> None:
        specs = [
            AccountSpec("clearing", "clearing", CCY, AccountType.ASSET, hot_slots=4),
            AccountSpec("revenue", "revenue", CCY, AccountType.INCOME, hot_slots=4),
            chart.sim_balance(1, CCY),
            chart.sim_balance(2, CCY),
            chart.agent_float(3, CCY, credit_limit=1_000),
        ]

        async def open_all(conn: AsyncConnection) -> None:
            for spec in specs:
                account = await ledger.open_account(conn, spec=spec, now=self.clock.now())
                self.model.accounts[account.id] = ModelAccount(
                    account.id, spec.type.normal_sign, spec.min_balance
                )

        self.tx(open_all)

    def account_ids(self) -> list[int]:
        return sorted(self.model.accounts)

    @rule(
        target=journals, src=st.integers(0, 4), dst=st.integers(0, 4), amount=st.integers(1, 3_000)
    )
    def post(self, src: int, dst: int, amount: int) -> str:
        ids = self.account_ids()
        debit, credit = ids[src], ids[(dst if dst != src else src + 1) % len(ids)]
        postings = (Posting(debit, amount, CCY), Posting(credit, -amount, CCY))
        client_id = self.next_id("post")
        fits = self.model.fits(self.model.effects(postings))
        try:
            journal = self.tx(
                lambda conn: ledger.post_journal(
                    conn, client_id=client_id, postings=postings, now=self.clock.now()
                )
            )
        except InsufficientFunds:
            assert not fits
            return "none"
        assert fits
        self.apply_posted(postings)
        self.model.journals[client_id] = ModelJournal(client_id, postings, journal.id)
        return client_id

    def apply_posted(self, postings: tuple[Posting, ...]) -> None:
        for account_id, delta in self.model.effects(postings).items():
            self.model.accounts[account_id].posted += delta

    @rule(client_id=journals)
    def retry_same(self, client_id: str) -> None:
        if client_id == "none":
            return
        original = self.model.journals[client_id]
        reverses = original.reverses

        async def again(conn: AsyncConnection) -> int:
            if reverses is not None:
                journal = await ledger.reverse_journal(
                    conn, client_id=client_id, journal_id=reverses, now=self.clock.now()
                )
            else:
                journal = await ledger.post_journal(
                    conn, client_id=client_id, postings=original.postings, now=self.clock.now()
                )
            return journal.id

        assert self.tx(again) == original.db_id  # the first journal, nothing posted twice

    @rule(client_id=journals, extra=st.integers(1, 50))
    def reuse_for_other_content(self, client_id: str, extra: int) -> None:
        if client_id == "none":
            return
        original = self.model.journals[client_id]
        debit = next(p for p in original.postings if p.amount > 0)
        credit = next(p for p in original.postings if p.amount < 0)
        other = (  # the same accounts, a larger amount: other content under the same id
            Posting(debit.account_id, debit.amount + extra, CCY),
            Posting(credit.account_id, credit.amount - extra, CCY),
        )
        try:
            self.tx(
                lambda conn: ledger.post_journal(
                    conn, client_id=client_id, postings=other, now=self.clock.now()
                )
            )
        except JournalConflict:
            return
        raise AssertionError("a reused id with other content was accepted")

    @rule(target=journals, client_id=journals)
    def reverse(self, client_id: str) -> str:
        if client_id == "none":
            return "none"
        original = self.model.journals[client_id]
        mirror = tuple(Posting(p.account_id, -p.amount, p.currency) for p in original.postings)
        new_id = self.next_id("reverse")
        fits = self.model.fits(self.model.effects(mirror))
        try:
            journal = self.tx(
                lambda conn: ledger.reverse_journal(
                    conn, client_id=new_id, journal_id=original.db_id, now=self.clock.now()
                )
            )
        except AlreadyReversed:
            assert original.reversed
            return "none"
        except InsufficientFunds:
            assert not original.reversed
            assert not fits
            return "none"
        assert not original.reversed
        assert fits
        original.reversed = True
        self.apply_posted(mirror)
        self.model.journals[new_id] = ModelJournal(new_id, mirror, journal.id, original.db_id)
        return new_id

    @rule(
        target=holds,
        src=st.integers(0, 4),
        dst=st.integers(0, 4),
        amount=st.integers(1, 3_000),
        expires=st.one_of(st.none(), st.integers(1, 30)),
    )
    def hold(self, src: int, dst: int, amount: int, expires: int | None) -> ModelHold | None:
        ids = self.account_ids()
        debit, credit = ids[src], ids[(dst if dst != src else src + 1) % len(ids)]
        postings = (Posting(debit, amount, CCY), Posting(credit, -amount, CCY))
        out, incoming = _hold_outgoing(self.model, postings)
        fits = self.model.fits({}, out)
        expires_at = None if expires is None else self.clock.now() + timedelta(minutes=expires)
        try:
            journal = self.tx(
                lambda conn: ledger.hold(
                    conn,
                    client_id=self.next_id("hold"),
                    postings=postings,
                    now=self.clock.now(),
                    expires_at=expires_at,
                )
            )
        except InsufficientFunds:
            assert not fits
            return None
        assert fits
        for account_id in out:
            self.model.accounts[account_id].pending_out += out[account_id]
            self.model.accounts[account_id].pending_in += incoming[account_id]
        held = ModelHold(journal.id, postings, expires_at)
        self.model.holds.append(held)
        return held

    def release(self, held: ModelHold) -> None:
        out, incoming = _hold_outgoing(self.model, held.postings)
        for account_id in out:
            self.model.accounts[account_id].pending_out -= out[account_id]
            self.model.accounts[account_id].pending_in -= incoming[account_id]
        held.open = False

    @rule(held=consumes(holds), part=st.integers(1, 100))
    def post_hold(self, held: ModelHold | None, part: int) -> None:
        if held is None:
            return
        a, b = held.postings
        amount = max(1, a.amount * part // 100)
        postings = (Posting(a.account_id, amount, CCY), Posting(b.account_id, -amount, CCY))
        try:
            self.tx(
                lambda conn: ledger.post_pending(
                    conn,
                    client_id=self.next_id("posthold"),
                    pending_id=held.db_id,
                    postings=postings,
                    now=self.clock.now(),
                )
            )
        except (PendingExpired, PendingNotOpen):
            assert not held.open or held.expires_at is not None
            return
        assert held.open
        self.release(held)
        self.apply_posted(postings)

    @rule(held=consumes(holds))
    def void_hold(self, held: ModelHold | None) -> None:
        if held is None:
            return
        try:
            self.tx(
                lambda conn: ledger.void_pending(
                    conn,
                    client_id=self.next_id("void"),
                    pending_id=held.db_id,
                    now=self.clock.now(),
                )
            )
        except PendingNotOpen:
            assert not held.open
            return
        assert held.open
        self.release(held)

    @rule(minutes=st.integers(1, 40))
    def time_passes_and_holds_expire(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        expired = self.tx(lambda conn: ledger.expire_pending(conn, now=self.clock.now()))
        due = [
            held
            for held in self.model.holds
            if held.open and held.expires_at is not None and held.expires_at <= self.clock.now()
        ]
        assert expired == len(due)
        for held in due:
            self.release(held)

    @invariant()
    def balances_match_the_model(self) -> None:
        if not self.model.accounts:
            return

        async def read(conn: AsyncConnection) -> None:
            for account_id, expected in self.model.accounts.items():
                b = await ledger.get_balance(conn, account_id=account_id)
                assert b.posted == expected.posted, (account_id, b, expected)
                assert b.pending_out == expected.pending_out, (account_id, b, expected)
                assert b.pending_in == expected.pending_in, (account_id, b, expected)
                if expected.floor is not None:
                    assert b.available >= expected.floor
            report = await check_books(conn)
            assert report.ok, report.problems

        self.tx(read)


def _fresh_sqlite(template: Path, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "walk.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(template, path)
    return f"sqlite:///{path}"


WALK = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_random_walk_on_sqlite(sqlite_template: Path, tmp_path: Path) -> None:
    def machine() -> LedgerMachine:
        return LedgerMachine(_fresh_sqlite(sqlite_template, tmp_path / "walk"))

    run_state_machine_as_test(machine, settings=WALK)


def test_random_walk_on_postgresql(postgres_url: str) -> None:
    def machine() -> LedgerMachine:
        empty_database(postgres_url)
        return LedgerMachine(postgres_url)

    run_state_machine_as_test(machine, settings=WALK)
