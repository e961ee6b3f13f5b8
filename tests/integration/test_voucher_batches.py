"""Making voucher batches (``vouchers.service.create_batch``): serials in sequence with a check
digit, PINs of 16 digits unique and kept only as keyed digests — nowhere in the database in
plain form — a PIN drawn twice is drawn again, the audit log records the batch without PINs;
blocking stops the unsold vouchers only; the look-up tells a voucher's story."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from datetime import date, timedelta
from itertools import chain, repeat

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.promotions.model import SalesChannel
from simkeep.sims.model import luhn_complete
from simkeep.staff import audit
from simkeep.staff.audit import CLI
from simkeep.vouchers import batches
from simkeep.vouchers import service as vouchers
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import (
    InvalidBatch,
    PinLimits,
    PinRefused,
    VoucherState,
    expiry_instant,
)
from tests.factories import issue_sim
from tests.integration.voucher_world import EXPIRES, KEY, printed, sell_in_sale, shop

HK100 = Money(10_000, "HKD")


async def create(db: Database, clock: FixedClock, count: int = 3) -> vouchers.GeneratedBatch:
    return await vouchers.create_batch(
        db, face=HK100, count=count, expires_on=EXPIRES, key=KEY, actor=CLI, now=clock.now()
    )


async def every_value(db: Database) -> str:
    """Every value in every table of the database, as one text."""

    async def dump(conn: AsyncConnection) -> str:
        schema = MetaData()
        await conn.run_sync(lambda sync: schema.reflect(sync))
        texts = []
        for table in schema.sorted_tables:
            for row in await conn.execute(select(table)):
                texts.append(repr(tuple(row)))
        return "\n".join(texts)

    return await db.transaction(dump)


async def test_a_batch_prints_each_pin_once_and_keeps_only_digests(
    db: Database, clock: FixedClock
) -> None:
    made = await create(db, clock, count=1_500)  # two chunks
    batch, cards = made.batch, made.printed
    assert batch.batch_no == f"VB{batch.id:06d}"
    assert batch.exported_at == clock.now()
    assert (batch.face, batch.count, batch.expires_on) == (HK100, 1_500, EXPIRES)
    assert [card.serial for card in cards[:2]] == [
        luhn_complete(f"{batch.id:05d}000000"),
        luhn_complete(f"{batch.id:05d}000001"),
    ]
    assert len({card.serial for card in cards}) == 1_500
    assert all(len(card.pin) == 16 and card.pin.isdigit() for card in cards)
    assert len({card.pin for card in cards}) == 1_500

    async def digests(conn: AsyncConnection) -> dict[str, str]:
        rows = await conn.execute(select(t.vouchers.c.serial, t.vouchers.c.pin_digest))
        return {str(serial): str(digest) for serial, digest in rows.all()}

    stored = await db.transaction(digests)
    first = cards[0]
    assert stored[first.serial] == hmac.new(KEY, first.pin.encode(), hashlib.sha256).hexdigest()
    everything = await every_value(db)
    assert not [card.pin for card in cards[:50] if card.pin in everything]


async def test_no_table_holds_a_pin_after_its_sale_and_redemption(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    cards = await printed(db, face=HK100, count=2, now=clock.now())
    await sell_in_sale(db, where, [cards[0].serial], clock.now())
    holder = await db.transaction(
        lambda conn: issue_sim(conn, n=1, plan="HK-VALID", now=clock.now())
    )
    number = holder.hk_number.e164
    redeemer = vouchers.Redeemer(subscriber_id=None, address="192.0.2.1", via=SalesChannel.WEB)
    for pin in (cards[0].pin, cards[1].pin):  # one redeemed, one refused
        with contextlib.suppress(PinRefused):
            await vouchers.redeem_voucher(
                db,
                pin=pin,
                number=number,
                confirm_number=None,
                redeemer=redeemer,
                key=KEY,
                limits=PinLimits(),
                now=clock.now(),
            )
    everything = await every_value(db)
    assert cards[0].serial in everything
    assert cards[0].pin not in everything
    assert cards[1].pin not in everything


async def test_a_pin_drawn_twice_is_drawn_again(db: Database, clock: FixedClock) -> None:
    twice = chain(repeat("1234567812345678", 2), (f"{n:016d}" for n in range(1, 100)))
    made = await db.transaction(
        lambda conn: batches.generate_batch(
            conn,
            face=HK100,
            count=3,
            expires_on=EXPIRES,
            created_by=None,
            key=KEY,
            now=clock.now(),
            draw=lambda: next(twice),
        )
    )
    pins = [card.pin for card in made.printed]
    assert len(set(pins)) == 3
    assert "1234567812345678" in pins
    again = chain(["1234567812345678"], (f"{n:016d}" for n in range(500, 600)))
    other = await db.transaction(
        lambda conn: batches.generate_batch(
            conn,
            face=HK100,
            count=1,
            expires_on=EXPIRES,
            created_by=None,
            key=KEY,
            now=clock.now(),
            draw=lambda: next(again),
        )
    )
    assert other.printed[0].pin == f"{500:016d}"  # the taken PIN was drawn again


async def test_the_audit_log_records_the_batch_without_pins(
    db: Database, clock: FixedClock
) -> None:
    made = await create(db, clock)
    entries = await db.transaction(lambda conn: audit.entries(conn, action="voucher_batch.create"))
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.origin, entry.target.id) == ("cli", made.batch.batch_no)
    assert entry.after == {
        "face_minor": 10_000,
        "currency": "HKD",
        "count": 3,
        "expires_on": "2027-12-31",
    }
    assert not any(card.pin in repr(entry) for card in made.printed)


@pytest.mark.parametrize(
    ("face", "count", "expires_on", "field"),
    [
        (Money(7_000, "HKD"), 10, EXPIRES, "face"),
        (HK100, 0, EXPIRES, "count"),
        (HK100, 100_001, EXPIRES, "count"),
        (HK100, 10, date(2026, 11, 25), "expires"),  # today in Hong Kong
        (HK100, 10, date(2040, 1, 1), "expires"),
    ],
)
async def test_a_batch_the_operator_cannot_mean_is_refused_and_nothing_is_written(
    db: Database, clock: FixedClock, face: Money, count: int, expires_on: date, field: str
) -> None:
    with pytest.raises(InvalidBatch) as refused:
        await vouchers.create_batch(
            db, face=face, count=count, expires_on=expires_on, key=KEY, actor=CLI, now=clock.now()
        )
    assert refused.value.field == field
    listed = await db.transaction(lambda conn: vouchers.list_batches(conn))
    assert listed == []


async def test_blocking_a_batch_stops_its_unsold_vouchers_only(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    made = await create(db, clock)
    await sell_in_sale(db, where, [made.printed[0].serial], clock.now())
    blocked = await vouchers.block_batch(db, batch_id=made.batch.id, actor=CLI, now=clock.now())
    assert blocked == 2
    listed = await db.transaction(lambda conn: vouchers.list_batches(conn))
    assert listed == [(made.batch, {VoucherState.SOLD: 1, VoucherState.BLOCKED: 2})]
    entries = await db.transaction(lambda conn: audit.entries(conn, action="voucher_batch.block"))
    assert [entry.after for entry in entries] == [{"blocked": 2}]
    with pytest.raises(vouchers.UnknownBatch):
        await vouchers.block_batch(db, batch_id=made.batch.id + 1, actor=CLI, now=clock.now())


async def test_the_look_up_tells_when_a_voucher_was_sold_and_for_whom_it_was_redeemed(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    card = (await printed(db, face=HK100, count=1, now=clock.now()))[0]
    sold_at = clock.now()
    await sell_in_sale(db, where, [card.serial], sold_at)
    holder = await db.transaction(
        lambda conn: issue_sim(conn, n=1, plan="HK-VALID", now=clock.now())
    )
    clock.advance(timedelta(hours=2))
    redeemer = vouchers.Redeemer(subscriber_id=None, address="192.0.2.1", via=SalesChannel.WEB)
    done = await vouchers.redeem_voucher(
        db,
        pin=card.pin,
        number=holder.hk_number.e164,
        confirm_number=None,
        redeemer=redeemer,
        key=KEY,
        limits=PinLimits(),
        now=clock.now(),
    )
    view = await db.transaction(lambda conn: vouchers.look_up(conn, serial=card.serial))
    assert view is not None
    assert (view.state, view.sold_at, view.redeemed_at) == ("redeemed", sold_at, clock.now())
    assert view.order_no == done.order.order_no
    assert view.redeemed_for == holder.hk_number.masked()
    assert view.expires_at == expiry_instant(EXPIRES)
