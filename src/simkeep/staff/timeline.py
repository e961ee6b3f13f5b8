"""A SIM's story on the console: the card and what is on it, who holds it, and one timeline
of everything that happened to it, newest first, a page at a time (docs/staff.md).

Design overview
---------------
* ``sim_story`` is one read: the SIM with its two numbers and plan, its money balance,
  bonus money and what refunds hold of the balance, the accounts that hold it (their phones
  in full: a support person finds a caller by them) and one page of the timeline.
* The timeline merges sources, each read by the domain that owns it where it has a read
  module — orders (``topups.queries``), journals on the SIM's accounts (``ledger.queries``),
  refunds (``refunds.queries``), adjustments (``adjustments.queries``) — and here for the
  rest: payment notifications of its orders, its state changes, the SMS sent to its numbers
  (six-digit codes hidden: a one-time code is not staff's to read), keep-alive charges and
  usage batches. Every source reads by the SIM through an index (migration 0024 added the
  missing ones) and returns at most a page and one more, ordered by its own (time, id).
* Entries are ordered by (time, source, id), newest first; the merge sorts the sources'
  answers in Python and keeps a page. The cursor of the next page is the last entry's
  (time, source, id), and each source is given the keyset that matches its place against
  it (``keyset.older_than``): a source ranked below the cursor's still has the cursor's
  instant to show, one ranked above only earlier ones. Entries that share an instant are so
  never lost nor shown twice between pages.
* The entries, their sources and the cursor are ``timeline_entries``'; the sources' reads
  are ``timeline_sources``'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import queries as ledger
from simkeep.money import Money
from simkeep.sims import holdings, plans
from simkeep.sims import service as sims
from simkeep.sims.model import Plan, Sim
from simkeep.staff.timeline_entries import Cursor, Entry
from simkeep.staff.timeline_sources import SOURCES
from simkeep.subscribers import service as subscribers

PAGE = 25


@dataclass(frozen=True, slots=True)
class Holding:
    phone: str  # the account's login number, E.164
    linked_at: datetime


@dataclass(frozen=True, slots=True)
class SimStory:
    sim: Sim
    plan: Plan
    balance: Money
    bonus: Money
    held: Money  # of the balance, held by refunds waiting for a decision
    holders: list[Holding]
    entries: list[Entry]
    older: Cursor | None  # the next page's cursor, if there is more


async def sim_story(db: Database, *, sim_id: int, cursor: Cursor | None) -> SimStory | None:
    """The SIM's page: the card, its money, its holders and one page of its timeline
    (``cursor``: where the previous page ended); None for an unknown SIM."""

    async def read(conn: AsyncConnection) -> SimStory | None:
        sim = await sims.get_sim(conn, sim_id=sim_id)
        if sim is None:
            return None
        plan = await plans.get_plan(conn, code=sim.plan_code)
        assert plan is not None  # a SIM's plan_code references its plan
        balance, held = await _money(conn, chart.sim_balance(sim.id, sim.home_currency).code)
        bonus, _ = await _money(conn, chart.sim_bonus(sim.id, sim.home_currency).code)
        entries, older = await _timeline(conn, sim, cursor)
        return SimStory(
            sim, plan, balance, bonus, held, await _holders(conn, sim.id), entries, older
        )

    return await db.read(read)


async def _timeline(
    conn: AsyncConnection, sim: Sim, cursor: Cursor | None
) -> tuple[list[Entry], Cursor | None]:
    entries: list[Entry] = []
    for source, read in SOURCES.items():
        keyset = cursor.keyset_for(source) if cursor else None
        entries += await read(conn, sim, keyset, PAGE + 1)
    entries.sort(key=lambda entry: entry.cursor, reverse=True)
    page = entries[:PAGE]
    return page, page[-1].cursor if len(entries) > PAGE else None


async def _money(conn: AsyncConnection, code: str) -> tuple[Money, Money]:
    """An account's posted balance and what holds take of it."""
    account = await ledger.get_account_by_code(conn, code=code)
    currency = code.rsplit(":", 1)[-1]
    if account is None:
        return Money(0, currency), Money(0, currency)
    balance = await ledger.get_balance(conn, account_id=account.id)
    return balance.money(), Money(balance.pending_out, currency)


async def _holders(conn: AsyncConnection, sim_id: int) -> list[Holding]:
    held_by = await holdings.holders(conn, sim_id=sim_id)
    phones = await subscribers.phones(conn, subscriber_ids=[h.subscriber_id for h in held_by])
    return [Holding(phones[h.subscriber_id], h.linked_at) for h in held_by]
