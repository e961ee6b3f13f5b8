"""``simkeep demo seed`` leaves three refunds, made by the refund services: the Mainland
demo subscriber's wrong-number top-up of a stranger's SIM, approved by the automatic rule and
paid back in full through the WeChat Pay simulator (the order refunded, the SIM back at zero,
journals from the hold to the payment, the payer told by SMS); a request of theirs waiting on
the staff's queue, its money held on the SIM; the Hong Kong subscriber's request refused
by the demo operator with a note, in the audit log, the order credited again and nothing
held; and a counter top-up asked back by the operator for its payer, paid to the agent's
float and waiting at its counters. The books check passes, and seeding again changes
nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.demo.cashier import demo_number
from simkeep.demo.refunds import REFUSAL, WRONG_NUMBER
from simkeep.demo.service import DEMO_SUBSCRIBERS
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger.model import Balance
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Provider
from simkeep.refunds.model import Reason, RefundState
from simkeep.refunds.queries import Refund, recent_refunds, refunds_in
from simkeep.refunds.service import AUTO_RULE_NAME
from simkeep.sims import service as sims
from simkeep.staff import audit
from simkeep.staff import service as staff
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderState
from tests.integration.test_demo import books, seed, seen
from tests.integration.test_ledger_check import simkeep


async def test_the_demo_refunds_one_pays_one_waits_one_refused(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    await seed(database_url, tmp_path)
    hong_kong, mainland = [await seen(db, clock, p.phone, p.password) for p in DEMO_SUBSCRIBERS]
    made = await db.read(lambda conn: recent_refunds(conn))
    at_outlet = [refund for refund in made if refund.at_outlet]
    online = [refund for refund in made if not refund.at_outlet]
    paid, refused, waiting = sorted(online, key=lambda refund: refund.requested_at)

    assert (paid.state, paid.reason, paid.provider) == (
        RefundState.PAID,
        Reason.WRONG_NUMBER,
        Provider.WECHATPAY,
    )
    assert (paid.requested_by, paid.decided_by) == (
        f"subscriber:{mainland.subscriber_id}",
        AUTO_RULE_NAME,
    )
    assert paid.provider_refund_no  # WeChat Pay's refund_id, from its simulator
    wrong = await order(db, paid.order_no)
    stranger = await db.read(
        lambda conn: sims.find_by_number(conn, number=demo_number(WRONG_NUMBER.sim)[1])
    )
    assert stranger is not None
    assert wrong.sim_id == stranger.id
    assert stranger.id not in {account.sim.id for account in mainland.sims}
    assert (wrong.state, wrong.subscriber_id) == (OrderState.REFUNDED, mainland.subscriber_id)
    assert paid.full
    assert paid.pay == wrong.pay == Money(WRONG_NUMBER.amount * 100, "CNY")
    assert (await balance(db, wrong)).posted == 0  # all it credited went back
    assert {f"{step}:{paid.refund_no}" for step in ("refund-hold", "refund", "refund-paid")} <= (
        await journals(db)
    )
    told = [to for to, text in await sms(db) if paid.refund_no in text]
    assert told == [DEMO_SUBSCRIBERS[1].phone]  # paid back: the payer is told

    assert (waiting.state, waiting.reason) == (RefundState.REQUESTED, Reason.NOT_NEEDED)
    assert waiting.requested_by == f"subscriber:{mainland.subscriber_id}"
    assert await db.read(lambda conn: refunds_in(conn, states=[RefundState.REQUESTED])) == [waiting]
    asked = await order(db, waiting.order_no)
    assert (asked.state, asked.provider) == (OrderState.REFUND_REQUESTED, Provider.WECHATPAY_HK)
    assert (await balance(db, asked)).pending_out == waiting.taken.minor > 0  # held

    members = {member.username: member.id for member in await staff.list_staff(db)}
    assert (refused.state, refused.decision_note) == (RefundState.REFUSED, REFUSAL)
    assert refused.requested_by == f"subscriber:{hong_kong.subscriber_id}"
    assert refused.decided_by == f"staff:{members['operator']}"
    kept = await order(db, refused.order_no)
    assert (kept.state, kept.provider) == (OrderState.CREDITED, Provider.UNIONPAY)
    assert (await balance(db, kept)).pending_out == 0  # the hold released
    logged = await db.read(lambda conn: audit.entries(conn, action="refund.refuse"))
    assert [(e.target.id, e.staff_id, e.after["decision_note"]) for e in logged] == [
        (refused.refund_no, members["operator"], REFUSAL)
    ]

    [collect] = at_outlet
    assert (collect.state, collect.payout, collect.pay) == (
        RefundState.PAID,
        None,
        Money(10_000, "HKD"),
    )
    assert collect.requested_by == collect.decided_by == f"staff:{members['operator']}"
    assert (await order(db, collect.order_no)).state is OrderState.REFUNDED

    code, output = await asyncio.to_thread(simkeep, database_url, "ledger", "check")
    assert code == 0, output
    before = await everything(db)
    await seed(database_url, tmp_path)
    assert await everything(db) == before


async def order(db: Database, order_no: str) -> Order:
    found = await db.read(lambda conn: topups.get_order(conn, order_no=order_no))
    assert found is not None
    return found


async def balance(db: Database, order: Order) -> Balance:
    """The balance of the SIM the order topped up, in its currency."""
    code = chart.sim_balance(order.sim_id, order.credit.currency).code

    async def read(conn: AsyncConnection) -> Balance:
        ids = await ledger.account_ids(conn, codes=[code])
        return await ledger.get_balance(conn, account_id=ids[code])

    return await db.read(read)


async def journals(db: Database) -> set[str]:
    return (await books(db))[0]


async def sms(db: Database) -> list[tuple[str, str]]:
    """Every SMS queued: to whom, what."""

    async def read(conn: AsyncConnection) -> list[tuple[str, str]]:
        query = select(outbox.c.recipient, outbox.c.body).where(outbox.c.kind == "sms")
        return [(row[0], row[1]) for row in await conn.execute(query)]

    return await db.read(read)


async def everything(db: Database) -> tuple[list[Refund], set[str], int]:
    """The refunds, the journals and how many entries the audit log has."""
    made = await db.read(lambda conn: recent_refunds(conn))
    logged = await db.read(lambda conn: audit.entries(conn, limit=1000))
    return made, await journals(db), len(logged)
