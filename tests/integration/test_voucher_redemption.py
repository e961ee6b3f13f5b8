"""Redeeming a PIN (``vouchers.service.redeem_voucher``): a top-up credited from the vouchers'
liability, once; every PIN that cannot be used gets one answer; a currency that is not the
SIM's changes nothing; an unknown number counts no attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.promotions.model import SalesChannel
from simkeep.sims.model import Sim
from simkeep.staff.audit import CLI
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import ConfirmNumber, OrderState, UnknownNumber
from simkeep.vouchers import service as vouchers
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import (
    PinLimits,
    PinRefused,
    WrongCurrency,
    expiry_instant,
)
from tests.factories import issue_sim
from tests.integration.voucher_world import (
    EXPIRES,
    KEY,
    balance,
    outstanding,
    printed,
    shop,
    sold_cards,
)

HK100 = Money(10_000, "HKD")
LIMITS = PinLimits()
CN50 = Money(5_000, "CNY")
ANYONE = vouchers.Redeemer(subscriber_id=None, address="203.0.113.9", via=SalesChannel.WEB)


async def sim(db: Database, clock: FixedClock, n: int = 1, plan: str = "HK-VALID") -> Sim:
    return await db.transaction(lambda conn: issue_sim(conn, n=n, plan=plan, now=clock.now()))


async def redeem(
    db: Database,
    clock: FixedClock,
    pin: str,
    number: str,
    redeemer: vouchers.Redeemer = ANYONE,
    limits: PinLimits = LIMITS,
    confirm: str | None = None,
) -> vouchers.Redemption:
    return await vouchers.redeem_voucher(
        db,
        pin=pin,
        number=number,
        confirm_number=confirm,
        redeemer=redeemer,
        key=KEY,
        limits=limits,
        now=clock.now(),
    )


async def voucher_row(db: Database, serial: str) -> dict[str, object]:
    async def read(conn: AsyncConnection) -> dict[str, object]:
        row = (await conn.execute(select(t.vouchers).where(t.vouchers.c.serial == serial))).first()
        assert row is not None
        return dict(row._mapping)

    return await db.transaction(read)


async def orders(db: Database) -> int:
    async def read(conn: AsyncConnection) -> int:
        return len((await conn.execute(select(topup_tables.orders.c.id))).all())

    return await db.transaction(read)


async def test_redeeming_hk100_moves_the_liability_to_the_sim(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    card = (await sold_cards(db, where, face=HK100, count=1, now=clock.now()))[0]
    holder = await sim(db, clock)
    assert await balance(db, outstanding("HKD")) == 10_000

    clock.advance(timedelta(days=3))
    spaced = f"{card.pin[:4]} {card.pin[4:8]}-{card.pin[8:12]} {card.pin[12:]}"
    done = await redeem(db, clock, spaced, holder.hk_number.e164)

    order = done.order
    assert done.serial == card.serial
    assert not done.replayed
    assert order.state is OrderState.CREDITED
    assert (order.provider, order.channel) == (Provider.VOUCHER, Channel.VOUCHER)
    assert order.credit == HK100
    assert order.receipt_no
    assert order.validity_until == clock.now() + timedelta(days=180)
    assert await balance(db, outstanding("HKD")) == 0
    assert await balance(db, chart.sim_balance(holder.id, "HKD").code) == 10_000
    row = await voucher_row(db, card.serial)
    assert (row["state"], row["order_no"]) == ("redeemed", order.order_no)

    async def sms(conn: AsyncConnection) -> list[str]:
        rows = await conn.execute(
            select(outbox.c.body).where(outbox.c.recipient == holder.hk_number.e164)
        )
        return list(rows.scalars())

    texts = await db.transaction(sms)
    assert len(texts) == 1
    assert order.receipt_no in texts[0]


async def test_a_used_unsold_blocked_or_expired_pin_gets_one_answer(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    used, late = await sold_cards(db, where, face=HK100, count=2, now=clock.now())
    unsold = (await printed(db, face=HK100, count=1, now=clock.now()))[0]
    blocked = (await printed(db, face=HK100, count=1, now=clock.now()))[0]
    batch_id = (await voucher_row(db, blocked.serial))["batch_id"]
    await vouchers.block_batch(db, batch_id=int(str(batch_id)), actor=CLI, now=clock.now())
    holder = await sim(db, clock)
    await redeem(db, clock, used.pin, holder.hk_number.e164)
    answers = []
    for pin in (used.pin, unsold.pin, blocked.pin, "1" * 16):
        with pytest.raises(PinRefused) as refused:
            await redeem(db, clock, pin, holder.hk_number.e164)
        answers.append((refused.value.code, str(refused.value)))
    clock.set(expiry_instant(EXPIRES))
    with pytest.raises(PinRefused) as refused:
        await redeem(db, clock, late.pin, holder.hk_number.e164)
    answers.append((refused.value.code, str(refused.value)))
    assert set(answers) == {("pin_refused", "this PIN cannot be used")}
    assert await balance(db, chart.sim_balance(holder.id, "HKD").code) == 10_000


async def test_a_voucher_in_another_currency_changes_nothing(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    card = (await sold_cards(db, where, face=CN50, count=1, now=clock.now()))[0]
    holder = await sim(db, clock)
    with pytest.raises(WrongCurrency):
        await redeem(db, clock, card.pin, holder.hk_number.e164)
    assert (await voucher_row(db, card.serial))["state"] == "sold"
    assert await balance(db, outstanding("CNY")) == 5_000
    assert await balance(db, chart.sim_balance(holder.id, "HKD").code) == 0
    assert await orders(db) == 0
    mainland = await sim(db, clock, n=2, plan="CN-KEEP")
    done = await redeem(db, clock, card.pin, mainland.cn_number.e164)
    assert done.order.credit == CN50


async def test_an_unknown_number_is_refused_before_any_attempt(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    card = (await sold_cards(db, where, face=HK100, count=1, now=clock.now()))[0]
    with pytest.raises(UnknownNumber):
        await redeem(db, clock, card.pin, "+852 6999 0000")

    async def attempts(conn: AsyncConnection) -> int:
        return len((await conn.execute(select(t.attempts.c.key))).all())

    assert await db.transaction(attempts) == 0
    assert (await voucher_row(db, card.serial))["state"] == "sold"


async def test_a_signed_in_subscriber_types_a_new_number_twice(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    card = (await sold_cards(db, where, face=HK100, count=1, now=clock.now()))[0]
    holder = await sim(db, clock)
    someone = vouchers.Redeemer(subscriber_id=7, address="203.0.113.9", via=SalesChannel.WEB)
    with pytest.raises(ConfirmNumber):
        await redeem(db, clock, card.pin, holder.hk_number.e164, someone)
    done = await redeem(
        db, clock, card.pin, holder.hk_number.e164, someone, confirm=holder.hk_number.e164
    )
    assert done.order.subscriber_id == 7
