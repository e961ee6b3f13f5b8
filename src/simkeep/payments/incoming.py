"""Money the payer pushed with a reference (FPS): matched to its order, or kept for review.

Design overview
---------------
A push payment is not a trade we opened and the provider closes: the payer's bank sends
money to our account with whatever reference the payer's app carried, and the receiving
bank reports it. So the reference is a claim, not a key. ``take`` keeps every verified
report once (one row per bank transaction, unique by provider and its id, so a report
delivered again adds nothing), then credits the order whose number the reference is —
only for exactly the order's amount and currency, and only if the order has not been paid
already. Anything else is never guessed: no reference, an unknown one, another amount, or a
second payment for a paid order stays ``review``, and the money is booked from the
provider's clearing account to "payments received, in review" so the books hold it. A
payment that polling the bank credited first (same bank transaction on the order) is
matched, not a second payment.

Staff then decide (``assign``): one conditional update takes the payment out of review
(two people deciding at once: one wins), the money goes back through the clearing account
and the order is credited as if it had matched, in one transaction with the audit entry.
A payment to be sent back stays in review for the refunds (a transfer to the payer's
account as the bank reported it, kept here).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments import tables as t
from simkeep.payments.model import VerifiedNotification
from simkeep.staff import audit
from simkeep.topups import service as topups
from simkeep.topups.crediting import AmountMismatch, UnknownOrder
from simkeep.topups.model import TopupError

DECISION_CHARS = 500
REFERENCE_CHARS = 64


class IncomingState(StrEnum):
    MATCHED = "matched"  # credited its order at once
    REVIEW = "review"  # waiting for staff
    ASSIGNED = "assigned"  # staff gave it to an order, which it credited


class Reason(StrEnum):
    """Why a payment is in review."""

    NO_REFERENCE = "no_reference"
    UNKNOWN_ORDER = "unknown_order"
    AMOUNT_MISMATCH = "amount_mismatch"
    ALREADY_PAID = "already_paid"


class NotInReview(TopupError):
    code = "not_in_review"


class OrderPaidAlready(TopupError):
    code = "order_paid_already"


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    id: int
    provider: Provider
    provider_trade_no: str
    reference: str
    amount: Money
    payer_account: str | None
    order_no: str | None
    state: IncomingState
    reason: Reason | None
    received_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision: str | None


async def take(conn: AsyncConnection, notice: VerifiedNotification, now: datetime) -> str:
    """Keep a verified push payment and credit its order, or put it in review. Returns the
    inbox status: ``credited``, ``review``, or ``duplicate`` (reported before)."""
    reference = notice.out_trade_no.strip()[:REFERENCE_CHARS]
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    taken = await conn.execute(
        insert(t.incoming)
        .values(
            provider=notice.provider.value,
            provider_trade_no=notice.provider_trade_no,
            reference=reference,
            amount_minor=notice.amount.minor,
            currency=notice.amount.currency,
            payer_account=notice.payer_account,
            state=IncomingState.REVIEW.value,
            received_at=now,
        )
        .on_conflict_do_nothing()
        .returning(t.incoming.c.id)
    )
    payment_id = taken.scalar_one_or_none()
    if payment_id is None:
        return "duplicate"
    reason = await _credit(conn, notice, reference.upper(), now)
    if not isinstance(reason, Reason):
        await conn.execute(
            update(t.incoming)
            .where(t.incoming.c.id == payment_id)
            .values(state=IncomingState.MATCHED.value, order_no=reference.upper())
        )
        return reason
    await ledger.post_journal(
        conn,
        client_id=f"incoming:{notice.provider.value}:{notice.provider_trade_no}",
        postings=rules.unmatched_payment(
            **await _accounts(conn, notice.provider, notice.amount.currency),
            amount=notice.amount,
        ),
        now=now,
        description=f"{notice.provider.value} payment {notice.provider_trade_no} in review",
        metadata={"reference": reference, "reason": reason.value},
    )
    await conn.execute(
        update(t.incoming).where(t.incoming.c.id == payment_id).values(reason=reason.value)
    )
    return "review"


async def _credit(
    conn: AsyncConnection, notice: VerifiedNotification, order_no: str, now: datetime
) -> Reason | str:
    """Why the payment goes to review, or the inbox status of its credit: ``credited``, or
    ``duplicate`` when polling the bank credited this very payment first."""
    if not order_no:
        return Reason.NO_REFERENCE
    try:
        result = await topups.credit_paid_order(
            conn,
            order_no=order_no,
            paid=notice.amount,
            provider_trade_no=notice.provider_trade_no,
            now=now,
            provider=notice.provider,
        )
    except UnknownOrder:
        return Reason.UNKNOWN_ORDER
    except AmountMismatch:
        return Reason.AMOUNT_MISMATCH
    if result.credited_now:
        return "credited"
    if result.order.provider_trade_no == notice.provider_trade_no:
        return "duplicate"
    return Reason.ALREADY_PAID


async def _accounts(conn: AsyncConnection, provider: Provider, currency: str) -> dict[str, int]:
    codes = {
        "clearing": chart.provider_clearing_code(provider.value, currency),
        "unmatched": chart.system_code(System.UNMATCHED_PAYMENTS, currency),
    }
    ids = await ledger.account_ids(conn, codes=list(codes.values()))
    if missing := [code for code in codes.values() if code not in ids]:
        raise TopupError(f"the books have no account {', '.join(missing)}")
    return {name: ids[code] for name, code in codes.items()}


async def assign(
    conn: AsyncConnection,
    *,
    payment_id: int,
    order_no: str,
    note: str,
    actor: audit.Actor,
    now: datetime,
) -> IncomingPayment:
    """Give a payment in review to the order it was meant for, which it credits. Refused
    (and nothing changes) unless the payment is in review, and the order is unpaid, of its
    provider, for exactly its amount and currency."""
    order_no = order_no.strip().upper()
    taken = await conn.execute(
        update(t.incoming)
        .where(t.incoming.c.id == payment_id, t.incoming.c.state == IncomingState.REVIEW.value)
        .values(
            state=IncomingState.ASSIGNED.value,
            order_no=order_no,
            decided_by=actor.staff_id,
            decided_at=now,
            decision=note.strip()[:DECISION_CHARS],
        )
        .returning(*t.incoming.c)
    )
    row = taken.one_or_none()
    if row is None:
        raise NotInReview(f"payment {payment_id} is not in review")
    payment = _payment(row._mapping)
    await ledger.post_journal(
        conn,
        client_id=f"incoming-assigned:{payment.provider.value}:{payment.provider_trade_no}",
        postings=rules.unmatched_assigned(
            **await _accounts(conn, payment.provider, payment.amount.currency),
            amount=payment.amount,
        ),
        now=now,
        description=f"{payment.provider.value} payment {payment.provider_trade_no} to {order_no}",
        metadata={"order_no": order_no},
    )
    result = await topups.credit_paid_order(
        conn,
        order_no=order_no,
        paid=payment.amount,
        provider_trade_no=payment.provider_trade_no,
        now=now,
        provider=payment.provider,
    )
    if not result.credited_now:
        raise OrderPaidAlready(f"order {order_no} was paid already")
    await audit.record(
        conn,
        actor=actor,
        action="incoming_payment.assign",
        target=audit.Target("incoming_payment", payment.id),
        before={"state": IncomingState.REVIEW.value, "reference": payment.reference},
        after={"state": payment.state.value, "order_no": order_no, "note": payment.decision},
        now=now,
    )
    return payment


async def in_review(conn: AsyncConnection, *, limit: int = 200) -> list[IncomingPayment]:
    """The payments waiting for staff, oldest first."""
    rows = await conn.execute(
        select(t.incoming)
        .where(t.incoming.c.state == IncomingState.REVIEW.value)
        .order_by(t.incoming.c.id)
        .limit(limit)
    )
    return [_payment(row._mapping) for row in rows]


async def for_order(conn: AsyncConnection, *, order_no: str) -> list[IncomingPayment]:
    """Every pushed payment given to an order, as the bank reported it (a refund needs it)."""
    rows = await conn.execute(
        select(t.incoming).where(t.incoming.c.order_no == order_no).order_by(t.incoming.c.id)
    )
    return [_payment(row._mapping) for row in rows]


def _payment(m: Any) -> IncomingPayment:
    return IncomingPayment(
        id=m["id"],
        provider=Provider(m["provider"]),
        provider_trade_no=m["provider_trade_no"],
        reference=m["reference"],
        amount=Money(m["amount_minor"], m["currency"]),
        payer_account=m["payer_account"],
        order_no=m["order_no"],
        state=IncomingState(m["state"]),
        reason=Reason(m["reason"]) if m["reason"] else None,
        received_at=m["received_at"],
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
        decision=m["decision"],
    )
