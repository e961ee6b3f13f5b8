"""The demo's counter history: three days of closed shifts of ``clerk.mk`` at the agent's
Mong Kok shop, with cash and card top-ups and a voucher sale, all made through the
counter's own services, so the agent's pages and the Z-reports have real figures.

Design overview
---------------
Runs after the agents' people and floats exist (``demo.agents``) and before the demo
vouchers (``demo.vouchers``), which leave ``clerk.mk`` a shift open today. A ``FixedClock``
walks the three days before today: each day a shift opens at nine with HK$1,000 in the
drawer, the day's sales are made with fixed idempotency keys (``demo-counter-…``) at their
times, and the shift closes at seven with the cash counted — once exactly, once HK$20
short, once HK$10 over. The vouchers sold come from a small batch made for the purpose
(its PINs are not kept: the cards are history). Seeding again finds the first day's first
sale by its key and changes nothing. A device token for the POS API is not seeded: issue
one with ``simkeep pos add-device --username clerk.mk --label Till`` (it is shown once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from simkeep.clock import HONG_KONG, FixedClock, in_hong_kong
from simkeep.counter import service as counter
from simkeep.counter.model import IdPolicy, Payer, Payment, TopUp, VoucherSale
from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.staff.service import StaffMember
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import pin_key

CLERK = "clerk.mk"
OPENING_MINOR = 100_000  # HK$1,000 in the drawer
OPENS, CLOSES = time(9, 0), time(19, 0)
COUNTED_OFF = (0, -2_000, 1_000)  # the count against the expected cash, day by day
CASH, CARD = Payer(Payment.CASH), Payer(Payment.CARD, "DEMO-TERM-01")


@dataclass(frozen=True)
class DemoSale:
    at: time  # Hong Kong time of day
    customer: int  # index into the numbers handed in
    whole: int  # whole Hong Kong dollars; 0: the day's vouchers
    payer: Payer


DAY = (
    DemoSale(time(10, 15), 0, 100, CASH),
    DemoSale(time(12, 40), 1, 300, CARD),
    DemoSale(time(15, 5), 2, 50, CASH),
    DemoSale(time(17, 20), 3, 0, CASH),
)


async def ensure_demo_counter(
    db: Database, *, numbers: Sequence[str], now: datetime, secret_key: str
) -> int:
    """Three days of ``clerk.mk``'s shifts (made once); how many sales they hold."""
    clerk = await db.read(lambda conn: staff.find_member(conn, username=CLERK))
    if clerk is None or await counter.find_sale(db, clerk=clerk, key=_key(3, 0)) is not None:
        return 0
    today = in_hong_kong(now).date()
    clock = FixedClock(datetime.combine(today - timedelta(days=4), OPENS, tzinfo=HONG_KONG))
    serials = await _vouchers(db, clock.now(), secret_key)
    made = 0
    try:
        for days_ago, off in zip((3, 2, 1), COUNTED_OFF, strict=True):
            day = today - timedelta(days=days_ago)
            clock.set(datetime.combine(day, OPENS, tzinfo=HONG_KONG))
            shift = await counter.open_shift(
                db, clerk=clerk, opening_minor=OPENING_MINOR, actor=CLI, now=clock.now()
            )
            for index, sale in enumerate(DAY):
                clock.set(datetime.combine(day, sale.at, tzinfo=HONG_KONG))
                await _sell(db, clerk, days_ago, index, sale, numbers, serials, clock.now())
                made += 1
            clock.set(datetime.combine(day, CLOSES, tzinfo=HONG_KONG))
            await _close(db, clerk, shift.id, off, clock.now())
    except Refusal:
        return made  # a counter that cannot sell (no float): the demo goes on without it
    return made


async def _sell(
    db: Database,
    clerk: StaffMember,
    days_ago: int,
    index: int,
    sale: DemoSale,
    numbers: Sequence[str],
    serials: list[str],
    now: datetime,
) -> None:
    key = _key(days_ago, index)
    if sale.whole == 0:
        pair = tuple(serials[2 * (3 - days_ago) : 2 * (4 - days_ago)])
        request = VoucherSale(key=key, serials=pair, payer=sale.payer)
        await counter.sell_vouchers(db, clerk=clerk, device_id=None, request=request, now=now)
        return
    top_up = TopUp(
        key=key, number=numbers[sale.customer], amount_minor=sale.whole * 100, payer=sale.payer
    )
    await counter.top_up(
        db, clerk=clerk, device_id=None, request=top_up, policy=IdPolicy(), now=now
    )


async def _close(
    db: Database, clerk: StaffMember, shift_id: int, off_minor: int, now: datetime
) -> None:
    report = await counter.shift_report(db, shift_id=shift_id, viewer=clerk)
    assert report is not None  # the clerk's own shift
    counted = report.expected_cash + Money(off_minor, report.shift.currency)
    await counter.close_shift(
        db, clerk=clerk, shift_id=shift_id, counted_minor=counted.minor, actor=CLI, now=now
    )


async def _vouchers(db: Database, now: datetime, secret_key: str) -> list[str]:
    """Six HK$50 vouchers for the counter's history: two sold each day."""
    made = await vouchers.create_batch(
        db,
        face=Money(5_000, "HKD"),
        count=6,
        expires_on=in_hong_kong(now).date() + timedelta(days=365),
        key=pin_key(secret_key),
        actor=CLI,
        now=now,
    )
    return [card.serial for card in made.printed]


def _key(days_ago: int, index: int) -> str:
    return f"demo-counter-{days_ago}-{index}"
