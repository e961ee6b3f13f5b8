"""Agents' floats and commission: the accounts, deposits by maker and checker, credit limits.

Design overview
---------------
* Each agent has, per currency it sells in, a float (``agent:<id>:float:<ccy>``, a
  liability: the prepaid value the operator owes it, drawn down by every sale, never below
  minus the agent's credit limit) and commission payable (``agent:<id>:commission:<ccy>``).
  ``float_accounts`` returns both for a sale or a deposit, opening them in the caller's
  transaction when missing. Opening locks the agent's row, as a change of credit limit does,
  so a float is never opened with a limit that was just replaced.
* A deposit is entered by an operator (``pending``) and approved or rejected by another
  one: ``approve_deposit`` moves it with ``UPDATE … WHERE state = 'pending'`` before it
  books anything, so of two approvals one books (``rules.float_deposit``, client id
  ``float_deposit:<id>``, the journal's id kept on the deposit) and the other is refused;
  the maker is refused as checker here and by the table's CHECK. Each step is written to
  the audit log in its own transaction.
* ``set_credit_limit`` changes the agent's limit and the floor of each of its floats in one
  transaction (audited); the ledger refuses a floor above a float's balance, and the whole
  change with it.
* Paying commission out to the agent (``rules.commission_payout``) is not built yet: what
  is owed is shown (``books``), not paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import CURRENCIES, System
from simkeep.ledger.model import LedgerError
from simkeep.money import Money
from simkeep.outlets import tables as t
from simkeep.outlets.float_model import (
    DepositNotPending,
    DepositState,
    FloatBelowLimit,
    ReferenceUsed,
    check_checker,
    check_credit_limit,
    check_currency_sold,
    check_deposit,
    check_maker,
    check_reason,
    commission_for,
    floor_of,
    sources,
)
from simkeep.outlets.float_queries import (
    AgentBook,
    AgentSummary,
    FloatDeposit,
    agent_books,
    agent_outlets,
    books,
    deposits,
    get_deposit,
    overview,
)
from simkeep.outlets.model import UnknownAgent
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Target
from simkeep.statements import INTEGRITY_ERRORS

__all__ = [
    "AgentBook",
    "AgentSummary",
    "FloatAccounts",
    "FloatDeposit",
    "agent_books",
    "agent_outlets",
    "approve_deposit",
    "books",
    "commission_for",
    "deposits",
    "enter_deposit",
    "float_accounts",
    "get_deposit",
    "overview",
    "reject_deposit",
    "set_credit_limit",
]


@dataclass(frozen=True, slots=True)
class FloatAccounts:
    float_id: int
    commission_id: int


async def float_accounts(
    conn: AsyncConnection, *, agent_id: int, currency: str, now: datetime
) -> FloatAccounts:
    """The agent's float and commission accounts in ``currency``, opened in the caller's
    transaction if missing."""
    check_currency_sold(currency)
    codes = _codes(agent_id, currency)
    found = await ledger.account_ids(conn, codes=codes)
    if len(found) == len(codes):
        return FloatAccounts(found[codes[0]], found[codes[1]])
    limit = await _locked_credit_limit(conn, agent_id)
    opened = await ledger.open_account(
        conn, spec=chart.agent_float(agent_id, currency, limit), now=now
    )
    commission = await ledger.open_account(
        conn, spec=chart.agent_commission(agent_id, currency), now=now
    )
    return FloatAccounts(opened.id, commission.id)


def _codes(agent_id: int, currency: str) -> list[str]:
    return [
        chart.agent_float(agent_id, currency).code,
        chart.agent_commission(agent_id, currency).code,
    ]


async def _locked_credit_limit(conn: AsyncConnection, agent_id: int) -> int:
    """The agent's credit limit, its row locked until the transaction ends (PostgreSQL;
    SQLite has one writer)."""
    query = select(t.agents.c.credit_limit_minor).where(t.agents.c.id == agent_id).with_for_update()
    limit = (await conn.execute(query)).scalar()
    if limit is None:
        raise UnknownAgent(f"no agent {agent_id}")
    return int(limit)


async def enter_deposit(
    db: Database, *, agent_id: int, amount: Money, reference: str, actor: Actor, now: datetime
) -> FloatDeposit:
    """A maker enters an agent's payment into its float: pending until another approves."""
    amount, reference = check_deposit(amount, reference)
    values = {
        "agent_id": agent_id,
        "amount_minor": amount.minor,
        "currency": amount.currency,
        "reference": reference,
        "state": DepositState.PENDING.value,
        "made_by": check_maker(actor.staff_id),
        "made_at": now,
    }

    async def enter(conn: AsyncConnection) -> FloatDeposit:
        await _locked_credit_limit(conn, agent_id)  # the agent exists, and stays
        try:
            inserted = await conn.execute(
                t.float_deposits.insert().values(**values).returning(t.float_deposits.c.id)
            )
        except INTEGRITY_ERRORS as error:
            raise ReferenceUsed(
                f"the bank reference {reference!r} is on another deposit of this agent"
            ) from error
        deposit = await get_deposit(conn, deposit_id=int(inserted.scalar_one()))
        await _audit(conn, "float_deposit.enter", deposit, None, actor, now)
        return deposit

    return await db.transaction(enter)


async def approve_deposit(
    db: Database, *, deposit_id: int, actor: Actor, now: datetime
) -> FloatDeposit:
    """A checker who is not the maker approves a pending deposit: the float is credited."""

    async def approve(conn: AsyncConnection) -> FloatDeposit:
        before = await _move(conn, deposit_id, DepositState.APPROVED, actor, now, None)
        accounts = await float_accounts(
            conn, agent_id=before.agent_id, currency=before.amount.currency, now=now
        )
        bank = await _system_account(conn, System.BANK, before.amount.currency)
        journal = await ledger.post_journal(
            conn,
            client_id=f"float_deposit:{deposit_id}",
            postings=rules.float_deposit(
                bank=bank, agent_float=accounts.float_id, amount=before.amount
            ),
            now=now,
            description=f"float deposit {before.reference}",
            metadata={"deposit_id": str(deposit_id), "agent_id": str(before.agent_id)},
        )
        await conn.execute(
            update(t.float_deposits)
            .where(t.float_deposits.c.id == deposit_id)
            .values(journal_id=journal.id)
        )
        after = await get_deposit(conn, deposit_id=deposit_id)
        await _audit(conn, "float_deposit.approve", after, before, actor, now)
        return after

    return await db.transaction(approve)


async def reject_deposit(
    db: Database, *, deposit_id: int, reason: str, actor: Actor, now: datetime
) -> FloatDeposit:
    """A checker who is not the maker rejects a pending deposit, saying why: nothing booked."""
    why = check_reason(reason)

    async def reject(conn: AsyncConnection) -> FloatDeposit:
        before = await _move(conn, deposit_id, DepositState.REJECTED, actor, now, why)
        after = await get_deposit(conn, deposit_id=deposit_id)
        await _audit(conn, "float_deposit.reject", after, before, actor, now)
        return after

    return await db.transaction(reject)


async def _move(
    conn: AsyncConnection,
    deposit_id: int,
    target: DepositState,
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> FloatDeposit:
    """Move a pending deposit to ``target`` by a conditional update; the deposit before."""
    before = await get_deposit(conn, deposit_id=deposit_id)
    checker = check_checker(made_by=before.made_by, checker=actor.staff_id)
    c = t.float_deposits.c
    moved = await conn.execute(
        update(t.float_deposits)
        .where(c.id == deposit_id, c.state.in_(sources(target)))
        .values(state=target.value, checked_by=checker, checked_at=now, reason=reason)
    )
    if moved.rowcount != 1:
        raise DepositNotPending(f"deposit {deposit_id} was approved or rejected already")
    return before


async def set_credit_limit(
    db: Database, *, agent_id: int, credit_limit_minor: int, actor: Actor, now: datetime
) -> None:
    """Change how far below zero each of the agent's floats may go (audited); refused if a
    float is below the new floor already."""
    limit = check_credit_limit(credit_limit_minor)

    async def change(conn: AsyncConnection) -> None:
        before = await _locked_credit_limit(conn, agent_id)
        await conn.execute(
            update(t.agents).where(t.agents.c.id == agent_id).values(credit_limit_minor=limit)
        )
        codes = [chart.agent_float(agent_id, currency).code for currency in CURRENCIES]
        for code, account_id in (await ledger.account_ids(conn, codes=codes)).items():
            try:
                await ledger.set_floor(conn, account_id=account_id, min_balance=floor_of(limit))
            except LedgerError as error:
                currency = code.rsplit(":", 1)[-1]
                raise FloatBelowLimit(
                    f"the {currency} float is below what the new limit allows"
                ) from error
        await audit.record(
            conn,
            actor=actor,
            action="agent.credit_limit",
            target=Target("agent", agent_id),
            before={"credit_limit_minor": before},
            after={"credit_limit_minor": limit},
            now=now,
        )

    await db.transaction(change)


async def _system_account(conn: AsyncConnection, purpose: System, currency: str) -> int:
    code = chart.system_code(purpose, currency)
    return (await ledger.account_ids(conn, codes=[code]))[code]


async def _audit(
    conn: AsyncConnection,
    action: str,
    deposit: FloatDeposit,
    before: FloatDeposit | None,
    actor: Actor,
    now: datetime,
) -> None:
    await audit.record(
        conn,
        actor=actor,
        action=action,
        target=Target("float_deposit", deposit.id),
        before=None if before is None else _snapshot(before),
        after=_snapshot(deposit),
        now=now,
    )


def _snapshot(deposit: FloatDeposit) -> dict[str, Any]:
    """A deposit as the audit log keeps it."""
    return {
        "agent_id": deposit.agent_id,
        "amount_minor": deposit.amount.minor,
        "currency": deposit.amount.currency,
        "reference": deposit.reference,
        "state": deposit.state.value,
        "made_by": deposit.made_by,
        "checked_by": deposit.checked_by,
        "journal_id": deposit.journal_id,
        "reason": deposit.reason,
    }
