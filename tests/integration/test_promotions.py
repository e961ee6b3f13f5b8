"""Promotions through a top-up's life, on both databases: shown by the quote, reserved by the
order, granted once by the credit (buckets, bonus money in the books, extra validity, the
SMS), given back when the order expires unpaid, and expired by the job — the books checked
after each story.

Worked example: the SIM's first top-up, HK$200 by WeChat Pay while "first top-up +10%"
(HK$20 bonus money for 90 days) and "WeChat Pay this month: +20 minutes" run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.buckets import tables as bt
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.names import Names
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.promotions import granting
from simkeep.promotions import service as promotions
from simkeep.promotions import tables as pt
from simkeep.promotions.model import Benefit, BenefitKind, Conditions, Promotion, PromotionState
from simkeep.receipts.service import ReceiptSigning, receipt_for_order, receipt_pdf
from simkeep.sims import service as sims
from simkeep.sims.model import Sim
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest
from tests.e2e.test_languages import pdf_text
from tests.factories import issue_sim, seed_books

SUBSCRIBER = 7


async def setup(db: Database, clock: FixedClock, *, plan: str = "HK-VALID") -> Sim:
    async def run(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        return await issue_sim(
            conn, n=1, plan=plan, now=clock.now(), validity_until=clock.now() + timedelta(10)
        )

    return await db.transaction(run)


async def create(
    db: Database,
    clock: FixedClock,
    code: str,
    *benefits: Benefit,
    budget: int | None = None,
    cap: int | None = None,
    stackable: bool = False,
    priority: int = 10,
    **conditions: object,
) -> Promotion:
    return await db.transaction(
        lambda conn: promotions.create_promotion(
            conn,
            code=code,
            names=Names(f"{code} 繁", f"{code} 简", f"{code} en"),
            priority=priority,
            stackable=stackable,
            conditions=Conditions(**conditions),  # type: ignore[arg-type]
            benefits=benefits,
            budget=budget,
            per_sim_cap=cap,
            now=clock.now(),
        )
    )


async def demo_two(db: Database, clock: FixedClock) -> tuple[Promotion, Promotion]:
    first = await create(
        db, clock, "FIRST10", Benefit(BenefitKind.PERCENT, 10, None, 90), first_topup=True, cap=1
    )
    minutes = await create(
        db,
        clock,
        "WECHAT20",
        Benefit(BenefitKind.VOICE, 20, None, 30),
        provider=Provider.WECHATPAY,
        stackable=True,
        budget=100,
    )
    return first, minutes


async def order(
    db: Database, sim: Sim, clock: FixedClock, key: str, *, credit: int = 20_000
) -> Order:
    number = sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=SUBSCRIBER,
        idempotency_key=key,
        number=number,
        confirm_number=number,
        credit=Money(credit, "HKD"),
        pay_currency="HKD",
        provider=Provider.WECHATPAY,
        channel=Channel.QR,
    )
    return await db.transaction(
        lambda conn: topups.create_order(conn, request=request, now=clock.now())
    )


async def credit(db: Database, placed: Order, clock: FixedClock) -> bool:
    result = await db.transaction(
        lambda conn: topups.credit_paid_order(
            conn, order_no=placed.order_no, paid=placed.pay, provider_trade_no="t", now=clock.now()
        )
    )
    return result.credited_now


async def used(db: Database, promotion: Promotion) -> tuple[int, int]:
    """The promotion's grants taken in all, and by SIM 1's counter."""

    async def read(conn: AsyncConnection) -> tuple[int, int]:
        found = await promotions.get_promotion(conn, promotion_id=promotion.id)
        assert found is not None
        per_sim = await conn.scalar(
            select(func.coalesce(func.sum(pt.sim_uses.c.used), 0)).where(
                pt.sim_uses.c.promotion_id == promotion.id
            )
        )
        return found.used, int(per_sim or 0)

    return await db.transaction(read)


async def bonus(db: Database, sim: Sim) -> Money:
    async def read(conn: AsyncConnection) -> Money:
        account = await ledger.get_account_by_code(conn, code=chart.sim_bonus(sim.id, "HKD").code)
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).money()

    return await db.transaction(read)


async def buckets(db: Database, sim: Sim) -> list[tuple[str, int, int]]:
    c = bt.buckets.c
    query = select(c.kind, c.granted, c.remaining).where(c.sim_id == sim.id).order_by(c.kind)
    return [tuple(row) for row in await db.transaction(lambda conn: conn.execute(query))]  # type: ignore[misc]


async def books_ok(db: Database) -> None:
    report = await db.transaction(ledger.check_books)
    assert report.ok, report


async def test_the_quote_shows_what_applies(db: Database, clock: FixedClock) -> None:
    sim = await setup(db, clock)
    await demo_two(db, clock)

    async def quote(provider: Provider | None) -> list[str]:
        priced = await db.transaction(
            lambda conn: topups.quote_topup(
                conn,
                number=sim.hk_number.e164,
                amount_minor=20_000,
                pay_currency="HKD",
                now=clock.now(),
                provider=provider,
                channel=Channel.QR,
            )
        )
        return [f"{a.names.en}:{g.kind}:{g.amount}" for a in priced.promotions for g in a.grants]

    assert await quote(Provider.WECHATPAY) == ["FIRST10 en:percent:2000", "WECHAT20 en:voice:20"]
    assert await quote(Provider.ALIPAY) == ["FIRST10 en:percent:2000"]


async def test_the_order_reserves_and_the_credit_grants_once(
    db: Database, clock: FixedClock
) -> None:
    sim = await setup(db, clock)
    first, minutes = await demo_two(db, clock)
    placed = await order(db, sim, clock, "key-00000001")
    held = await db.transaction(
        lambda conn: promotions.held_by_order(conn, order_no=placed.order_no)
    )
    assert [a.promotion_id for a in held] == [first.id, minutes.id]
    assert await used(db, first) == (1, 1)

    assert await credit(db, placed, clock)
    assert not await credit(db, placed, clock)  # a duplicate notification, a racing poll
    assert await bonus(db, sim) == Money(2_000, "HKD")
    assert await buckets(db, sim) == [("money", 2_000, 2_000), ("voice", 20, 20)]
    assert await used(db, first) == (1, 1)

    sms = await db.transaction(
        lambda conn: conn.scalar(select(outbox.c.body).order_by(outbox.c.id.desc()).limit(1))
    )
    assert "優惠「FIRST10 繁」：HK$20.00 獎賞金額，90 日內有效。" in sms  # the SIM reads zh-Hant
    await books_ok(db)

    again = await order(db, sim, clock, "key-00000002")  # no longer a first top-up
    assert [
        a.promotion_id
        for a in await db.transaction(
            lambda conn: promotions.held_by_order(conn, order_no=again.order_no)
        )
    ] == [minutes.id]


async def test_extra_validity_days_move_the_validity_with_the_top_up(
    db: Database, clock: FixedClock
) -> None:
    sim = await setup(db, clock)
    await create(db, clock, "DAYS30", Benefit(BenefitKind.VALIDITY, 30))
    placed = await order(db, sim, clock, "key-00000001", credit=5_000)  # 90 days
    await credit(db, placed, clock)
    after = await db.transaction(lambda conn: sims.get_sim(conn, sim_id=sim.id))
    assert after is not None
    assert sim.validity_until is not None
    assert after.validity_until == sim.validity_until + timedelta(days=90 + 30)


async def test_expired_unpaid_gives_back_and_a_late_payment_takes_again(
    db: Database, clock: FixedClock
) -> None:
    sim = await setup(db, clock)
    first, _ = await demo_two(db, clock)
    placed = await order(db, sim, clock, "key-00000001")
    clock.advance(timedelta(minutes=16))
    expired = await db.transaction(lambda conn: topups.expire_orders(conn, now=clock.now()))
    assert expired == [placed.order_no]
    assert await used(db, first) == (0, 0)

    assert await credit(db, placed, clock)  # paid after all: taken again, then granted
    assert await used(db, first) == (1, 1)
    assert await bonus(db, sim) == Money(2_000, "HKD")
    await books_ok(db)


async def test_a_late_payment_gets_nothing_when_the_cap_went_to_another_order(
    db: Database, clock: FixedClock
) -> None:
    sim = await setup(db, clock)
    first, _ = await demo_two(db, clock)
    late = await order(db, sim, clock, "key-00000001")
    clock.advance(timedelta(minutes=16))
    await db.transaction(lambda conn: topups.expire_orders(conn, now=clock.now()))
    second = await order(db, sim, clock, "key-00000002")  # takes the first top-up's cap
    assert await credit(db, late, clock)
    assert await credit(db, second, clock)
    assert await used(db, first) == (1, 1)
    assert await bonus(db, sim) == Money(2_000, "HKD")
    await books_ok(db)


async def test_the_expiry_job_closes_buckets_once_and_gives_back_unused_bonus(
    db: Database, clock: FixedClock
) -> None:
    sim = await setup(db, clock)
    await demo_two(db, clock)
    await credit(db, await order(db, sim, clock, "key-00000001"), clock)

    clock.advance(timedelta(days=31))  # the minutes (30 days) expire, the money (90) not yet
    assert await granting.expire_buckets(db, now=clock.now()) == 1
    assert await buckets(db, sim) == [("money", 2_000, 2_000), ("voice", 20, 0)]
    assert await bonus(db, sim) == Money(2_000, "HKD")

    clock.advance(timedelta(days=60))
    assert await granting.expire_buckets(db, now=clock.now()) == 1
    assert await granting.expire_buckets(db, now=clock.now()) == 0  # run again: nothing
    assert await bonus(db, sim) == Money(0, "HKD")
    assert await buckets(db, sim) == [("money", 2_000, 0), ("voice", 20, 0)]
    await books_ok(db)


async def test_a_paused_promotion_is_not_offered_and_resumes(
    db: Database, clock: FixedClock
) -> None:
    sim = await setup(db, clock)
    first, _ = await demo_two(db, clock)
    await db.transaction(
        lambda conn: promotions.set_state(conn, promotion_id=first.id, state=PromotionState.PAUSED)
    )
    offered = await db.transaction(
        lambda conn: promotions.on_offer(conn, now=clock.now(), sim_id=sim.id)
    )
    assert [p.code for p in offered] == ["WECHAT20"]
    await db.transaction(
        lambda conn: promotions.set_state(conn, promotion_id=first.id, state=PromotionState.ACTIVE)
    )
    offered = await db.transaction(
        lambda conn: promotions.on_offer(conn, now=clock.now(), sim_id=sim.id)
    )
    assert [p.code for p in offered] == ["WECHAT20", "FIRST10"]


async def test_racing_credits_of_one_order_grant_once(db: Database, clock: FixedClock) -> None:
    sim = await setup(db, clock)
    await demo_two(db, clock)
    placed = await order(db, sim, clock, "key-00000001")
    credited = await asyncio.gather(*(credit(db, placed, clock) for _ in range(5)))
    assert sorted(credited) == [False, False, False, False, True]
    assert await buckets(db, sim) == [("money", 2_000, 2_000), ("voice", 20, 20)]
    assert await bonus(db, sim) == Money(2_000, "HKD")
    await books_ok(db)


async def test_the_receipt_tells_what_the_top_up_was_granted(
    db: Database, clock: FixedClock
) -> None:
    sim = await setup(db, clock)
    await demo_two(db, clock)
    placed = await order(db, sim, clock, "key-00000001")
    await credit(db, placed, clock)
    signing = ReceiptSigning(b"test-key", "https://simkeep.test")
    receipt = await receipt_for_order(
        db, order_no=placed.order_no, subscriber_id=SUBSCRIBER, signing=signing
    )
    assert receipt is not None
    assert receipt.view.promotion_lines("en") == [
        "FIRST10 en: HK$20.00 bonus money for 90 days",
        "WECHAT20 en: 20 voice minutes for 30 days",
    ]
    pdf = await receipt_pdf(receipt, language="zh_Hans_CN")
    assert "WECHAT20简：20分钟通话，30天内有效" in pdf_text(pdf)
