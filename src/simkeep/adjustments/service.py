"""Manual balance adjustments: entered by one member of staff, decided by another
(docs/staff.md, "Adjustments").

Design overview
---------------
* ``enter_adjustment`` checks what was typed (``model``: a signed amount in the SIM's
  currency, a reason), refuses a debit the SIM's spendable balance cannot cover now, and
  writes a ``pending`` adjustment with its audit entry (``adjustment.enter``) in one
  transaction. The form carries a one-time key: the same form sent twice is one adjustment
  (a unique key per member; a race between the two is answered with the first).
* ``approve`` and ``reject`` refuse the maker (``model.check_checker``; the table's CHECK
  refuses it too), then move the adjustment out of ``pending`` by one conditional update:
  of many decisions at once one wins and the rest are told it was decided already. An
  approval then posts one journal, ``adjustment:<id>`` (``ledger.rules.balance_adjustment``:
  the SIM's balance against the adjustments expense account); a debit the balance cannot
  cover is refused by the ledger's floor and the whole transaction — decision, journal,
  audit entry — is rolled back. Each decision is in the audit log (``adjustment.approve``,
  ``adjustment.reject``) in its own transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.adjustments import queries
from simkeep.adjustments import tables as t
from simkeep.adjustments.model import (
    Adjustment,
    AdjustmentDecided,
    AdjustmentError,
    AdjustmentState,
    BelowZero,
    UnknownAdjustment,
    UnknownSim,
    check_adjustable,
    check_checker,
    check_key,
    check_note,
    check_reason,
    parse_amount,
)
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.model import InsufficientFunds
from simkeep.money import Money
from simkeep.sims import service as sims
from simkeep.sims.model import Sim
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Target
from simkeep.statements import INTEGRITY_ERRORS

__all__ = ["Decision", "approve", "enter_adjustment", "reject", "spendable"]


class Decision(Protocol):
    """``approve`` or ``reject``: what another member of staff decides about an adjustment."""

    async def __call__(
        self, conn: AsyncConnection, *, adjustment_id: int, actor: Actor, note: str, now: datetime
    ) -> Adjustment: ...


async def enter_adjustment(
    db: Database,
    *,
    sim_id: int,
    amount: str,
    reason: str,
    key: str,
    actor: Actor,
    now: datetime,
) -> Adjustment:
    """Enter an adjustment of the SIM's balance (``amount`` in major units with its sign),
    pending until another member of staff decides."""
    if actor.staff_id is None:
        raise AdjustmentError("a member of staff signed in enters an adjustment")
    maker = actor.staff_id
    key = check_key(key)

    async def enter(conn: AsyncConnection) -> Adjustment:
        earlier = await queries.by_key(conn, made_by=maker, key=key)
        if earlier is not None:
            return earlier
        sim = await _sim(conn, sim_id)
        check_adjustable(sim.state)
        money = parse_amount(amount, sim.home_currency)
        text = check_reason(reason)
        if money.minor < 0:
            can_give = await spendable(conn, sim_id=sim.id, currency=money.currency)
            if can_give < -money:
                raise BelowZero("the SIM's balance does not hold this much to take off")
        inserted = await conn.scalar(
            t.adjustments.insert()
            .values(
                sim_id=sim.id,
                amount_minor=money.minor,
                currency=money.currency,
                reason=text,
                state=AdjustmentState.PENDING.value,
                made_by=maker,
                made_key=key,
                made_at=now,
            )
            .returning(t.adjustments.c.id)
        )
        entered = await _get(conn, int(inserted))
        await _audit(conn, None, entered, actor, "adjustment.enter", now)
        return entered

    try:
        return await db.transaction(enter)
    except INTEGRITY_ERRORS:  # the same form, sent twice at once: the other one went in
        found = await db.read(lambda conn: queries.by_key(conn, made_by=maker, key=key))
        if found is None:
            raise
        return found


async def approve(
    conn: AsyncConnection, *, adjustment_id: int, actor: Actor, note: str, now: datetime
) -> Adjustment:
    """Approve another member's adjustment: its journal moves the SIM's balance."""
    before = await _decide(conn, adjustment_id, AdjustmentState.APPROVED, actor, note, now)
    sim = await _sim(conn, before.sim_id)
    check_adjustable(sim.state)
    journal_id = await _post(conn, before, now)
    await conn.execute(
        update(t.adjustments).where(t.adjustments.c.id == before.id).values(journal_id=journal_id)
    )
    approved = await _get(conn, before.id)
    await _audit(conn, before, approved, actor, "adjustment.approve", now)
    return approved


async def reject(
    conn: AsyncConnection, *, adjustment_id: int, actor: Actor, note: str, now: datetime
) -> Adjustment:
    """Reject another member's adjustment: nothing moves."""
    before = await _decide(conn, adjustment_id, AdjustmentState.REJECTED, actor, note, now)
    rejected = await _get(conn, before.id)
    await _audit(conn, before, rejected, actor, "adjustment.reject", now)
    return rejected


async def spendable(conn: AsyncConnection, *, sim_id: int, currency: str) -> Money:
    """What the SIM's balance can give up now (holds counted)."""
    (balance,) = await _accounts(conn, [chart.sim_balance(sim_id, currency).code])
    return (await ledger.get_balance(conn, account_id=balance)).available_money()


async def _decide(
    conn: AsyncConnection,
    adjustment_id: int,
    target: AdjustmentState,
    actor: Actor,
    note: str,
    now: datetime,
) -> Adjustment:
    """Move a pending adjustment to ``target`` by one conditional update, refusing its maker;
    returns it as it was before."""
    adjustment = await queries.get_adjustment(conn, adjustment_id=adjustment_id)
    if adjustment is None:
        raise UnknownAdjustment(f"no adjustment {adjustment_id}")
    check_checker(adjustment, actor.staff_id)
    c = t.adjustments.c
    moved = await conn.execute(
        update(t.adjustments)
        .where(c.id == adjustment_id, c.state == AdjustmentState.PENDING.value)
        .values(
            state=target.value,
            decided_by=actor.staff_id,
            decided_at=now,
            decision_note=check_note(note),
        )
    )
    if moved.rowcount != 1:
        raise AdjustmentDecided(f"adjustment {adjustment_id} was decided already")
    return adjustment


async def _post(conn: AsyncConnection, adjustment: Adjustment, now: datetime) -> int:
    """The approved adjustment's journal; the ledger's floor refuses a debit below zero."""
    currency = adjustment.amount.currency
    balance, expense = await _accounts(
        conn,
        [
            chart.sim_balance(adjustment.sim_id, currency).code,
            chart.system_code(System.ADJUSTMENTS, currency),
        ],
    )
    try:
        journal = await ledger.post_journal(
            conn,
            client_id=f"adjustment:{adjustment.id}",
            postings=rules.balance_adjustment(
                sim_balance=balance, adjustments=expense, amount=adjustment.amount
            ),
            now=now,
            description=f"Adjustment {adjustment.id}: {adjustment.reason[:100]}",
            metadata={"adjustment_id": str(adjustment.id)},
        )
    except InsufficientFunds as error:
        raise BelowZero("the SIM's balance does not hold this much to take off") from error
    return journal.id


async def _accounts(conn: AsyncConnection, codes: list[str]) -> list[int]:
    found = await ledger.account_ids(conn, codes=codes)
    if missing := [code for code in codes if code not in found]:
        raise AdjustmentError(f"the books have no account {', '.join(missing)}")
    return [found[code] for code in codes]


async def _sim(conn: AsyncConnection, sim_id: int) -> Sim:
    sim = await sims.get_sim(conn, sim_id=sim_id)
    if sim is None:
        raise UnknownSim(f"no SIM {sim_id}")
    return sim


async def _get(conn: AsyncConnection, adjustment_id: int) -> Adjustment:
    adjustment = await queries.get_adjustment(conn, adjustment_id=adjustment_id)
    assert adjustment is not None
    return adjustment


async def _audit(
    conn: AsyncConnection,
    before: Adjustment | None,
    after: Adjustment,
    actor: Actor,
    action: str,
    now: datetime,
) -> None:
    await audit.record(
        conn,
        actor=actor,
        action=action,
        target=Target("adjustment", after.id),
        before=before.audit_view() if before else None,
        after=after.audit_view(),
        now=now,
    )
