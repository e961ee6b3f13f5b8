"""Guessing PINs is limited per number, per account and per address, each attempt counted by
one statement before its PIN is checked (``vouchers.statements``): fifty at once get exactly
the limit checked; a right PIN gives its attempt back, and the counters count failures."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.money import Money
from simkeep.promotions.model import SalesChannel
from simkeep.sims.model import Sim
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import PinLimits, PinRefused, TooManyAttempts, VoucherError
from tests.factories import issue_sim
from tests.integration.voucher_world import KEY, balance, outstanding, shop, sold_cards

HK100 = Money(10_000, "HKD")
LIMITS = PinLimits()
WRONG = "0000 0000 0000 0000"


def anyone(address: str = "203.0.113.9", subscriber_id: int | None = None) -> vouchers.Redeemer:
    return vouchers.Redeemer(subscriber_id=subscriber_id, address=address, via=SalesChannel.API)


async def sims(db: Database, clock: FixedClock, count: int) -> list[Sim]:
    return [
        await db.transaction(
            lambda conn, n=n: issue_sim(conn, n=n, plan="HK-VALID", now=clock.now())
        )
        for n in range(1, count + 1)
    ]


async def redeem(
    db: Database,
    clock: FixedClock,
    pin: str,
    holder: Sim,
    redeemer: vouchers.Redeemer,
    limits: PinLimits = LIMITS,
) -> vouchers.Redemption:
    number = holder.hk_number.e164
    return await vouchers.redeem_voucher(
        db,
        pin=pin,
        number=number,
        confirm_number=number,
        redeemer=redeemer,
        key=KEY,
        limits=limits,
        now=clock.now(),
    )


async def outcomes(calls: list) -> list[str]:  # type: ignore[type-arg]
    """Each call's code: ``ok`` or the refusal's."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    codes = []
    for result in results:
        if isinstance(result, VoucherError):
            codes.append(result.code)
        elif isinstance(result, BaseException):
            raise result
        else:
            codes.append("ok")
    return codes


async def test_fifty_wrong_pins_at_once_for_one_number_get_five_checks(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    card = (await sold_cards(db, where, face=HK100, count=1, now=clock.now()))[0]
    (holder,) = await sims(db, clock, 1)
    calls = [redeem(db, clock, WRONG, holder, anyone(f"198.51.100.{i}")) for i in range(50)]
    codes = await outcomes(calls)
    assert codes.count("pin_refused") == 5
    assert codes.count("too_many_attempts") == 45
    with pytest.raises(TooManyAttempts):  # not even checked
        await redeem(db, clock, card.pin, holder, anyone("192.0.2.1"))


async def test_fifty_redemptions_of_one_pin_at_once_credit_once(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    card = (await sold_cards(db, where, face=HK100, count=1, now=clock.now()))[0]
    (holder,) = await sims(db, clock, 1)
    roomy = PinLimits(per_number=100, per_address=100)
    calls = [redeem(db, clock, card.pin, holder, anyone(), roomy) for _ in range(50)]
    codes = await outcomes(calls)
    assert codes.count("ok") == 1
    assert codes.count("pin_refused") == 49
    assert await balance(db, chart.sim_balance(holder.id, "HKD").code) == 10_000
    assert await balance(db, outstanding("HKD")) == 0


async def test_a_locked_number_refuses_even_the_right_pin_until_its_window_ends(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    card = (await sold_cards(db, where, face=HK100, count=1, now=clock.now()))[0]
    (holder,) = await sims(db, clock, 1)
    for i in range(5):
        with pytest.raises(PinRefused):
            await redeem(db, clock, WRONG, holder, anyone(f"198.51.100.{i}"))
    with pytest.raises(TooManyAttempts) as locked:
        await redeem(db, clock, card.pin, holder, anyone("192.0.2.1"))
    assert locked.value.retry_at == clock.now() + timedelta(hours=24)
    clock.advance(timedelta(hours=24))
    done = await redeem(db, clock, card.pin, holder, anyone("192.0.2.1"))
    assert done.serial == card.serial


async def test_a_right_pin_gives_its_attempt_back(db: Database, clock: FixedClock) -> None:
    where = await shop(db, now=clock.now())
    cards = await sold_cards(db, where, face=HK100, count=2, now=clock.now())
    (holder,) = await sims(db, clock, 1)
    for i in range(4):
        with pytest.raises(PinRefused):
            await redeem(db, clock, WRONG, holder, anyone(f"198.51.100.{i}"))
    await redeem(db, clock, cards[0].pin, holder, anyone("192.0.2.1"))
    await redeem(db, clock, cards[1].pin, holder, anyone("192.0.2.2"))  # still within five
    with pytest.raises(PinRefused):
        await redeem(db, clock, WRONG, holder, anyone("192.0.2.3"))  # the fifth failure
    with pytest.raises(TooManyAttempts):
        await redeem(db, clock, WRONG, holder, anyone("192.0.2.4"))


async def test_an_account_tries_ten_wrong_pins_a_day_over_any_numbers(
    db: Database, clock: FixedClock
) -> None:
    await shop(db, now=clock.now())
    holders = await sims(db, clock, 11)
    for i, holder in enumerate(holders[:10]):
        with pytest.raises(PinRefused):
            await redeem(db, clock, WRONG, holder, anyone(f"198.51.100.{i}", subscriber_id=7))
    with pytest.raises(TooManyAttempts) as locked:
        await redeem(db, clock, WRONG, holders[10], anyone("192.0.2.1", subscriber_id=7))
    assert locked.value.retry_at == clock.now() + timedelta(hours=24)
    with pytest.raises(PinRefused):  # another account, another address: not limited
        await redeem(db, clock, WRONG, holders[10], anyone("192.0.2.1", subscriber_id=8))


async def test_an_address_tries_twenty_wrong_pins_an_hour(db: Database, clock: FixedClock) -> None:
    await shop(db, now=clock.now())
    holders = await sims(db, clock, 21)
    for holder in holders[:20]:
        with pytest.raises(PinRefused):
            await redeem(db, clock, WRONG, holder, anyone())
    with pytest.raises(TooManyAttempts) as locked:
        await redeem(db, clock, WRONG, holders[20], anyone())
    assert locked.value.retry_at == clock.now() + timedelta(hours=1)
    clock.advance(timedelta(hours=1))
    with pytest.raises(PinRefused):
        await redeem(db, clock, WRONG, holders[20], anyone())


async def test_fifty_wrong_pins_at_once_from_one_account_get_ten_checks(
    db: Database, clock: FixedClock
) -> None:
    await shop(db, now=clock.now())
    holders = await sims(db, clock, 50)
    calls = [
        redeem(db, clock, WRONG, holder, anyone(f"198.51.100.{i}", subscriber_id=7))
        for i, holder in enumerate(holders)
    ]
    codes = await outcomes(calls)
    assert codes.count("pin_refused") == 10
    assert codes.count("too_many_attempts") == 40


async def test_twins_with_one_key_get_the_one_redemption(db: Database, clock: FixedClock) -> None:
    where = await shop(db, now=clock.now())
    card = (await sold_cards(db, where, face=HK100, count=1, now=clock.now()))[0]
    (holder,) = await sims(db, clock, 1)
    twin = vouchers.Redeemer(
        subscriber_id=7, address="192.0.2.1", via=SalesChannel.API, idempotency_key="twin-0001"
    )
    roomy = PinLimits(per_number=100, per_account=100, per_address=100)
    results = await asyncio.gather(
        *(redeem(db, clock, card.pin, holder, twin, roomy) for _ in range(10))
    )
    assert len({done.order.order_no for done in results}) == 1
    assert sum(not done.replayed for done in results) == 1
    assert await balance(db, chart.sim_balance(holder.id, "HKD").code) == 10_000
