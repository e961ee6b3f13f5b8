"""A refund's journals (docs/ledger.md, "Refunds").

Design overview
---------------
Each step of a refund is one journal, idempotent by its client id:

* asked — ``refund-hold:<no>``, a hold of what it takes from the SIM's balance, so that the
  balance cannot be spent while staff decide (voided when they decide);
* approved — ``refund:<no>``, the money leaves the SIM: owed to the payer in the currency
  paid (``refunds_payable``), the used bonus back to the promotion expense
  (``rules.refund_approved``);
* paid — ``refund-paid:<no>``, the provider paid it back out of its clearing account
  (``rules.refund_paid``); or, for a top-up made at an outlet, it is paid to the agent's
  float, which pays the payer at its counter, and the agent's commission on it goes back
  (``rules.outlet_refund_paid``);
* failed — ``refund-failed:<no>`` reverses ``refund:<no>``: the money is back on the SIM.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.model import InsufficientFunds
from simkeep.money import Money
from simkeep.outlets import floats
from simkeep.refunds.model import Amounts, NothingToRefund, RefundError


async def _ids(conn: AsyncConnection, codes: list[str]) -> list[int]:
    found = await ledger.account_ids(conn, codes=codes)
    if missing := [code for code in codes if code not in found]:
        raise RefundError(f"the books have no account {', '.join(missing)}")
    return [found[code] for code in codes]


async def spendable(conn: AsyncConnection, *, sim_id: int, currency: str) -> Money:
    """What the SIM's balance can spend now (holds counted)."""
    (balance,) = await _ids(conn, [chart.sim_balance(sim_id, currency).code])
    return (await ledger.get_balance(conn, account_id=balance)).available_money()


async def hold(
    conn: AsyncConnection, *, refund_no: str, sim_id: int, taken: Money, now: datetime
) -> int:
    """Hold what the refund takes on the SIM's balance; returns the hold's journal id."""
    balance, payable = await _ids(
        conn,
        [
            chart.sim_balance(sim_id, taken.currency).code,
            chart.system_code(System.REFUNDS_PAYABLE, taken.currency),
        ],
    )
    try:
        journal = await ledger.hold(
            conn,
            client_id=f"refund-hold:{refund_no}",
            postings=rules.transfer(balance, payable, taken),
            now=now,
            description=f"Refund {refund_no} asked",
            metadata={"refund_no": refund_no},
        )
    except InsufficientFunds as error:
        raise NothingToRefund("the SIM's balance no longer holds this amount") from error
    return journal.id


async def release(conn: AsyncConnection, *, refund_no: str, hold_id: int, now: datetime) -> None:
    await ledger.void_pending(
        conn, client_id=f"refund-release:{refund_no}", pending_id=hold_id, now=now
    )


async def approve(
    conn: AsyncConnection, *, refund_no: str, sim_id: int, amounts: Amounts, now: datetime
) -> None:
    """The refund leaves the SIM: owed to the payer, the used bonus deducted."""
    credit_currency, pay_currency = amounts.taken.currency, amounts.pay.currency
    codes = [
        chart.sim_balance(sim_id, credit_currency).code,
        chart.system_code(System.REFUNDS_PAYABLE, pay_currency),
        chart.system_code(System.PROMOTION_EXPENSE, credit_currency),
    ]
    if cross := credit_currency != pay_currency:
        codes += [
            chart.system_code(System.FX_POSITION, credit_currency),
            chart.system_code(System.FX_POSITION, pay_currency),
        ]
    ids = await _ids(conn, codes)
    try:
        await ledger.post_journal(
            conn,
            client_id=f"refund:{refund_no}",
            postings=rules.refund_approved(
                sim_balance=ids[0],
                refunds_payable=ids[1],
                promotion_expense=ids[2],
                taken=amounts.taken,
                deducted=amounts.deducted,
                owed=amounts.pay,
                fx=(ids[3], ids[4]) if cross else None,
            ),
            now=now,
            description=f"Refund {refund_no} approved",
            metadata={"refund_no": refund_no},
        )
    except InsufficientFunds as error:
        raise NothingToRefund("the SIM's balance no longer holds this amount") from error


async def paid(
    conn: AsyncConnection, *, refund_no: str, provider: str, amount: Money, now: datetime
) -> None:
    """The provider paid the refund back out of its clearing account."""
    payable, clearing = await _ids(
        conn,
        [
            chart.system_code(System.REFUNDS_PAYABLE, amount.currency),
            chart.provider_clearing_code(provider, amount.currency),
        ],
    )
    await ledger.post_journal(
        conn,
        client_id=f"refund-paid:{refund_no}",
        postings=rules.refund_paid(refunds_payable=payable, paid_from=clearing, amount=amount),
        now=now,
        description=f"Refund {refund_no} paid by {provider}",
        metadata={"refund_no": refund_no},
    )


async def paid_to_float(
    conn: AsyncConnection,
    *,
    refund_no: str,
    agent_id: int,
    amount: Money,
    commission: Money,
    now: datetime,
) -> None:
    """The refund of an outlet top-up is paid to its agent's float; the commission earned on
    it goes back."""
    accounts = await floats.float_accounts(
        conn, agent_id=agent_id, currency=amount.currency, now=now
    )
    payable, expense = await _ids(
        conn,
        [
            chart.system_code(System.REFUNDS_PAYABLE, amount.currency),
            chart.system_code(System.COMMISSION_EXPENSE, amount.currency),
        ],
    )
    await ledger.post_journal(
        conn,
        client_id=f"refund-paid:{refund_no}",
        postings=rules.outlet_refund_paid(
            refunds_payable=payable,
            agent_float=accounts.float_id,
            commission_payable=accounts.commission_id,
            commission_expense=expense,
            amount=amount,
            commission=commission,
        ),
        now=now,
        description=f"Refund {refund_no} paid to the float of agent {agent_id}",
        metadata={"refund_no": refund_no, "agent_id": str(agent_id)},
    )


async def undo(conn: AsyncConnection, *, refund_no: str, now: datetime) -> None:
    """The provider refused the refund for good: its money goes back on the SIM."""
    journal = await ledger.get_journal_by_client_id(conn, client_id=f"refund:{refund_no}")
    if journal is None:
        raise RefundError(f"refund {refund_no} was never approved in the books")
    await ledger.reverse_journal(
        conn,
        client_id=f"refund-failed:{refund_no}",
        journal_id=journal.id,
        now=now,
        description=f"Refund {refund_no} failed: back on the SIM",
    )
