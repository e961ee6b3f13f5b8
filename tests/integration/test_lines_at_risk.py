"""The lines at risk on the operator's pages, on SQLite and PostgreSQL: which SIMs the daily
run moves on in the next 14 days, on which Hong Kong day and why, one query per state over
the SIMs (a validity ending, a monthly fee the balance cannot cover, grace or suspension
ending), soonest first and a page at a time; and the counts of the overview."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.retention import at_risk
from simkeep.retention.at_risk import start_of
from simkeep.sims import tables as st
from simkeep.sims.model import SimState
from simkeep.topups import service as topups
from simkeep.topups.model import OrderRequest
from tests.factories import issue_sim, seed_books

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 12:00 on 25 November in Hong Kong
TODAY = date(2026, 11, 25)


async def fund(conn: AsyncConnection, number: str, credit: Money, n: int) -> None:
    request = OrderRequest.of(
        subscriber_id=7,
        idempotency_key=f"fund-{n:04d}",
        number=number,
        confirm_number=number,
        credit=credit,
        pay_currency=credit.currency,
        provider=Provider.ALIPAY,
        channel=Channel.QR,
    )
    order = await topups.create_order(conn, request=request, now=NOW)
    await topups.credit_paid_order(
        conn, order_no=order.order_no, paid=order.pay, provider_trade_no=f"t{n}", now=NOW
    )


async def world(conn: AsyncConnection) -> dict[str, int]:
    """SIMs at risk and not, by name."""
    await seed_books(conn, now=NOW)
    ids: dict[str, int] = {}

    async def sim(name: str, n: int, plan: str, **values: object) -> None:
        made = await issue_sim(conn, n=n, plan=plan, now=NOW - timedelta(days=100))
        ids[name] = made.id
        if values:
            await conn.execute(update(st.sims).where(st.sims.c.id == made.id).values(**values))

    hk_evening = start_of(TODAY) + timedelta(hours=20)
    await sim("validity_in_5", 1, "HK-VALID", validity_until=hk_evening + timedelta(days=5))
    await sim("validity_in_14", 2, "HK-VALID", validity_until=hk_evening + timedelta(days=13))
    await sim("validity_in_15", 3, "HK-VALID", validity_until=hk_evening + timedelta(days=14))
    await sim("fee_in_3_unpaid", 4, "CN-KEEP", billing_day=28, next_fee_on=date(2026, 11, 28))
    await sim("fee_in_3_paid", 5, "CN-KEEP", billing_day=28, next_fee_on=date(2026, 11, 28))
    await sim("fee_in_20", 6, "CN-KEEP", billing_day=15, next_fee_on=date(2026, 12, 15))
    grace = SimState.GRACE.value
    await sim("grace_left_10", 7, "HK-KEEP", state=grace, state_since=NOW - timedelta(days=20))
    await sim("grace_left_20", 8, "HK-KEEP", state=grace, state_since=NOW - timedelta(days=10))
    suspended = SimState.SUSPENDED.value
    await sim("susp_left_1", 9, "HK-KEEP", state=suspended, state_since=NOW - timedelta(days=59))
    await sim("recycled", 10, "HK-KEEP", state=SimState.RECYCLED.value)
    await fund(conn, "+8613900050265", Money(5000, "CNY"), 5)  # SIM 5's Mainland number
    return ids


async def test_each_state_lists_what_the_run_moves_on_within_14_days(
    db: Database, clock: FixedClock
) -> None:
    ids = await db.transaction(world)
    names = {sim_id: name for name, sim_id in ids.items()}

    async def read(conn: AsyncConnection) -> dict[SimState, list[tuple[str, date, str, str]]]:
        return {
            state: [
                (names[line.sim_id], line.leaves_on, line.moves_to.value, line.reason)
                for line in await at_risk.at_risk(conn, state=state, today=TODAY)
            ]
            for state in at_risk.AT_RISK_STATES
        }

    found = await db.read(read)

    assert found[SimState.ACTIVE] == [
        ("fee_in_3_unpaid", date(2026, 11, 28), "grace", "fee_unpaid"),
        ("validity_in_5", date(2026, 12, 1), "grace", "validity_ended"),
        ("validity_in_14", date(2026, 12, 9), "grace", "validity_ended"),
    ]
    assert found[SimState.GRACE] == [
        ("grace_left_10", date(2026, 12, 5), "suspended", "grace_over")
    ]
    assert found[SimState.SUSPENDED] == [
        ("susp_left_1", date(2026, 11, 26), "recycled", "suspension_over")
    ]
    counts = await db.read(lambda conn: at_risk.at_risk_counts(conn, today=TODAY))
    assert counts == {SimState.ACTIVE: 3, SimState.GRACE: 1, SimState.SUSPENDED: 1}
    by_state = await db.read(at_risk.sims_by_state)
    assert by_state == {
        SimState.ACTIVE: 6,
        SimState.GRACE: 2,
        SimState.SUSPENDED: 1,
        SimState.RECYCLED: 1,
    }


async def test_numbers_are_masked_and_pages_follow_each_other(
    db: Database, clock: FixedClock
) -> None:
    await db.transaction(world)

    async def page(offset: int) -> list[at_risk.AtRisk]:
        return await db.read(
            lambda conn: at_risk.at_risk(
                conn, state=SimState.ACTIVE, today=TODAY, offset=offset, limit=2
            )
        )

    first, second = await page(0), await page(2)

    assert [line.leaves_on for line in first + second] == [
        date(2026, 11, 28),
        date(2026, 12, 1),
        date(2026, 12, 9),
    ]
    assert all("*" in line.hk_number and "*" in line.cn_number for line in first + second)
    assert first[0].cn_number.startswith("+86 1")
    assert first[0].hk_number.startswith("+852 9")
