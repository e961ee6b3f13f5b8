"""Selling vouchers at a counter (``vouchers.service.quote_sale``, ``sell``,
``vouchers_of_sale``): the quote refuses what cannot be sold, a sale moves all its vouchers
or none, and the books hold a sold voucher as a liability paid from the agent's float."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.money import Money
from simkeep.vouchers import service as vouchers
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import (
    DuplicateSerial,
    MixedCurrencies,
    NoVouchers,
    SoldVoucher,
    TooManyVouchers,
    UnknownVoucher,
    VoucherError,
    VoucherExpired,
    VoucherNotForSale,
    expiry_instant,
    serial_of,
)
from tests.integration.voucher_world import (
    EXPIRES,
    balance,
    outstanding,
    printed,
    sale,
    sell_in_sale,
    shop,
)

HK100 = Money(10_000, "HKD")
COMMISSION = Money(200, "HKD")  # 2 % of HK$100


async def quote(db: Database, serials: list[str], clock: FixedClock) -> Money:
    return await db.transaction(
        lambda conn: vouchers.quote_sale(conn, serials=serials, now=clock.now())
    )


async def states(db: Database, serials: list[str]) -> dict[str, str]:
    async def read(conn: AsyncConnection) -> dict[str, str]:
        rows = await conn.execute(
            select(t.vouchers.c.serial, t.vouchers.c.state).where(t.vouchers.c.serial.in_(serials))
        )
        return {str(serial): str(state) for serial, state in rows.all()}

    return await db.transaction(read)


async def test_a_sale_of_hk100_takes_the_float_and_owes_the_voucher(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    cards = await printed(db, face=HK100, count=3, now=clock.now())
    serials = [card.serial for card in cards[:1]]
    assert await quote(db, serials, clock) == HK100

    sold = await sell_in_sale(db, where, serials, clock.now())

    assert sold == [SoldVoucher(serials[0], HK100, expiry_instant(EXPIRES))]
    assert await states(db, [c.serial for c in cards]) == {
        cards[0].serial: "sold",
        cards[1].serial: "generated",
        cards[2].serial: "generated",
    }
    float_code = chart.agent_float(where.agent_id, "HKD").code
    payable_code = chart.agent_commission(where.agent_id, "HKD").code
    assert await balance(db, float_code) == 1_000_000 - 10_000
    assert await balance(db, outstanding("HKD")) == 10_000
    assert await balance(db, payable_code) == 200
    assert await balance(db, chart.system_code(chart.System.COMMISSION_EXPENSE, "HKD")) == 200


async def test_the_receipt_lists_the_vouchers_of_its_sale(db: Database, clock: FixedClock) -> None:
    where = await shop(db, now=clock.now())
    cards = await printed(db, face=HK100, count=4, now=clock.now())
    await sell_in_sale(db, where, [cards[3].serial, cards[1].serial], clock.now(), key="a")
    await sell_in_sale(db, where, [cards[0].serial], clock.now(), key="b")

    async def read(conn: AsyncConnection) -> list[str]:
        sale_id = (
            await conn.execute(
                select(t.vouchers.c.sale_id).where(t.vouchers.c.serial == cards[1].serial)
            )
        ).scalar_one()
        return [s.serial for s in await vouchers.vouchers_of_sale(conn, sale_id=sale_id)]

    assert await db.transaction(read) == sorted([cards[1].serial, cards[3].serial])
    assert await balance(db, outstanding("HKD")) == 30_000


async def test_a_sale_is_all_its_vouchers_or_none(db: Database, clock: FixedClock) -> None:
    where = await shop(db, now=clock.now())
    cards = await printed(db, face=HK100, count=2, now=clock.now())
    await sell_in_sale(db, where, [cards[1].serial], clock.now(), key="first")

    async def sell_both(conn: AsyncConnection) -> None:
        sale_id = await sale(
            conn,
            where,
            key="second",
            amount=Money(20_000, "HKD"),
            commission=COMMISSION,
            now=clock.now(),
        )
        await vouchers.sell(
            conn,
            serials=[cards[0].serial, cards[1].serial],
            sale_id=sale_id,
            agent_id=where.agent_id,
            commission=COMMISSION,
            now=clock.now(),
        )

    with pytest.raises(VoucherNotForSale, match=cards[1].serial):
        await db.transaction(sell_both)
    assert (await states(db, [cards[0].serial]))[cards[0].serial] == "generated"
    assert await balance(db, outstanding("HKD")) == 10_000


@pytest.mark.parametrize(
    ("pick", "error"),
    [
        (lambda c: [], NoVouchers),
        (lambda c: [c[0].serial, c[0].serial], DuplicateSerial),
        (lambda c: [serial_of(999, n) for n in range(1, 52)], TooManyVouchers),
        (lambda c: [serial_of(999, 1)], UnknownVoucher),
        (lambda c: ["123456789012"], UnknownVoucher),  # a wrong check digit
        (lambda c: [c[0].serial, c[2].serial], MixedCurrencies),
    ],
)
async def test_the_quote_refuses_what_cannot_be_sold(
    db: Database, clock: FixedClock, pick, error: type[VoucherError]
) -> None:
    await shop(db, now=clock.now())
    cards = await printed(db, face=HK100, count=2, now=clock.now())
    cards += await printed(db, face=Money(5_000, "CNY"), count=1, now=clock.now())
    with pytest.raises(error):
        await quote(db, pick(cards), clock)


async def test_a_voucher_sold_or_expired_is_not_for_sale(db: Database, clock: FixedClock) -> None:
    where = await shop(db, now=clock.now())
    cards = await printed(db, face=HK100, count=2, now=clock.now())
    await sell_in_sale(db, where, [cards[0].serial], clock.now())
    with pytest.raises(VoucherNotForSale):
        await quote(db, [cards[0].serial], clock)
    clock.set(expiry_instant(EXPIRES) + timedelta(seconds=1))
    with pytest.raises(VoucherExpired):
        await quote(db, [cards[1].serial], clock)
    with pytest.raises(VoucherExpired):
        await sell_in_sale(db, where, [cards[1].serial], clock.now(), key="late")
