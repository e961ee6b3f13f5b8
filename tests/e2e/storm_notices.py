"""The genuine notifications of the webhook storm, and the storm itself.

``genuine`` is the notification a simulator sends for a paid trade: its own trade number,
the amount paid, signed with its key (WeChat Pay signs each attempt afresh, at the time it
is sent); a kit's is the one its simulator sent, captured (``storm_kits``). The ones that
must credit nothing are in ``storm_bad``.

``storm_of`` delivers every notification as many times as it says, shuffled (some copies
together), with a bounded number in flight, while the poll and the expiry run on the same
orders: the clock moves on after every so many answers, and each move lets the poll and the
expiry run once more.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_shanghai
from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments import tables as payment_tables
from simkeep.payments.providers.alipay_signing import yuan
from simkeep.simulators.delivery import Reply
from simkeep.simulators.kits import KIT_BY_PROVIDER
from simkeep.topups import tables as topup_tables
from tests.e2e import storm_kits
from tests.e2e.notices import alipay_fields, wechatpay_event, wechatpay_headers
from tests.e2e.storm_kits import Headers
from tests.e2e.storm_world import Placed, Storm

NOTIFY = {provider: f"/api/v1/payments/{provider.value}/notify" for provider in Provider}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MAX_COPIES = 8
IN_FLIGHT = 32
TICK_EVERY = 100  # answers between two moves of the clock
TICK = timedelta(seconds=40)
POLL_LIMIT = 8  # orders polled per move of the clock
CLOSE_LIMIT = 25  # trades closed per move of the clock


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification, delivered ``copies`` times; ``status`` is what the inbox must keep
    of every delivery (None: a genuine payment — credited once, duplicate otherwise)."""

    kind: str
    provider: Provider
    order_no: str  # the order it names
    body: bytes
    headers: Headers  # made at each delivery, from the time it is sent
    copies: int = 1
    status: str | None = None
    reason: str | None = None  # how the kept error of a rejected one starts
    acknowledged: bool = True


@dataclass(frozen=True, slots=True)
class Answer:
    notice: Notice
    status_code: int
    text: str
    applied: bool | None = None  # acknowledged payment: credited, and kept as such, by then

    @property
    def acknowledged(self) -> bool:
        provider = self.notice.provider
        if provider is Provider.ALIPAY:
            return self.status_code == 200 and self.text == "success"
        if provider in KIT_BY_PROVIDER:
            return KIT_BY_PROVIDER[provider].accepted(Reply(self.status_code, self.text.encode()))
        return self.status_code in (200, 204)


@dataclass
class Weather:
    """What the storm did besides the deliveries."""

    answers: list[Answer] = field(default_factory=list)
    ticks: int = 0
    polled_credits: int = 0
    closed: int = 0


def form(fields: dict[str, str]) -> tuple[bytes, Headers]:
    body = urlencode(fields).encode()
    return body, lambda now: FORM


def genuine(storm: Storm, order: Placed, *, copies: int) -> Notice:
    """The notification the order's simulator sends for its paid trade, ``copies`` times."""
    if order.provider in KIT_BY_PROVIDER:
        body, headers = storm_kits.genuine(storm, order)
        return Notice("genuine", order.provider, order.order_no, body, headers, copies)
    if order.provider is Provider.ALIPAY:
        trade = storm.providers.alipay.trades[order.order_no]
        assert trade.paid_at is not None
        fields = alipay_fields(
            storm.providers,
            out_trade_no=order.order_no,
            total_amount=yuan(order.pay),
            now=trade.paid_at,
            trade_no=trade.trade_no,
        )
        body, headers = form(fields)
        return Notice("genuine", order.provider, order.order_no, body, headers, copies)
    paid = storm.providers.wechatpay.trades[order.order_no]
    assert paid.success_time is not None
    event = wechatpay_event(
        storm.providers,
        out_trade_no=order.order_no,
        total=order.pay.minor,
        currency=order.pay.currency,
        now=in_shanghai(paid.success_time),
        transaction_id=paid.transaction_id,
        trade_type=paid.trade_type,
    )
    headers = signed(storm, event)
    return Notice("genuine", order.provider, order.order_no, event, headers, copies)


def signed(storm: Storm, body: bytes, *, skew: timedelta = timedelta(0)) -> Headers:
    """WeChat Pay's headers for ``body``, signed when sent (``skew`` off the clock)."""

    def headers(now: datetime) -> dict[str, str]:
        return wechatpay_headers(storm.providers, body, timestamp=int((now + skew).timestamp()))

    return headers


# --- the storm ----------------------------------------------------------------------------


class Clockwork:
    """Moves the clock on after every ``TICK_EVERY`` answers, and lets the poll and the
    expiry run once after each move (once for several moves, if they fell behind)."""

    def __init__(self, storm: Storm) -> None:
        self.storm = storm
        self.answered = 0
        self.ticks = 0
        self.over = False
        self.moved = asyncio.Condition()

    async def answer(self) -> None:
        self.answered += 1
        if self.answered % TICK_EVERY == 0:
            self.storm.clock.advance(TICK)
            async with self.moved:
                self.ticks += 1
                self.moved.notify_all()

    async def end(self) -> None:
        async with self.moved:
            self.over = True
            self.moved.notify_all()

    async def each_move(self, job: Callable[[datetime], Awaitable[int]]) -> int:
        """Run ``job`` after each move of the clock until the storm is over; the sum of what
        it returned."""
        seen, total = 0, 0
        while (seen := await self._after(seen)) is not None:
            total += await job(self.storm.clock.now())
        return total

    async def _after(self, seen: int) -> int | None:
        """The count of moves once it passes ``seen``; None when the storm is over."""
        async with self.moved:
            await self.moved.wait_for(lambda: self.ticks > seen or self.over)
            return self.ticks if self.ticks > seen else None


async def storm_of(
    storm: Storm, notices: list[Notice], rng: random.Random, *, follow: bool = True
) -> Weather:
    """Deliver every notice ``copies`` times in a shuffled order, ``IN_FLIGHT`` at a time,
    while (``follow``) the poll and the expiry run on the same orders as the clock moves
    on."""
    queue = iter(schedule(notices, rng))
    weather = Weather()
    clockwork = Clockwork(storm)
    adapters = storm.app.state.payment_adapters

    async def courier() -> None:
        for notice in queue:  # one shared queue: IN_FLIGHT couriers take turns
            weather.answers.append(await deliver(storm, notice))
            await clockwork.answer()
            # In process on SQLite a request never waits on I/O, so nothing else would run
            # until the storm is over: the poll and the expiry get their turns here.
            await asyncio.sleep(0)

    async def poll(now: datetime) -> int:
        return await payments.poll_unpaid(storm.db, adapters=adapters, now=now, limit=POLL_LIMIT)

    async def expire(now: datetime) -> int:
        return await payments.expire_unpaid(storm.db, adapters=adapters, now=now, limit=CLOSE_LIMIT)

    async def nothing(now: datetime) -> int:
        return 0

    polling = asyncio.create_task(clockwork.each_move(poll if follow else nothing))
    expiring = asyncio.create_task(clockwork.each_move(expire if follow else nothing))
    try:
        await asyncio.gather(*(courier() for _ in range(IN_FLIGHT)))
    finally:
        await clockwork.end()
        weather.polled_credits, weather.closed = await asyncio.gather(polling, expiring)
    weather.ticks = clockwork.ticks
    return weather


def schedule(notices: list[Notice], rng: random.Random) -> list[Notice]:
    """Every copy of every notice, shuffled; a notice's copies come in one to three waves,
    and the copies of a wave one after the other, so that couriers pick them up together —
    as a provider's retry lands while its first attempt is still being answered."""
    waves: list[list[Notice]] = []
    for notice in notices:
        splits = min(rng.randint(0, 2), notice.copies - 1)
        bounds = [0, *sorted(rng.sample(range(1, notice.copies), splits)), notice.copies]
        waves += [[notice] * (end - start) for start, end in itertools.pairwise(bounds)]
    rng.shuffle(waves)
    return [notice for wave in waves for notice in wave]


async def deliver(storm: Storm, notice: Notice) -> Answer:
    """POST one delivery to the notify endpoint; an acknowledged payment is checked at once:
    by the time the provider reads our acknowledgement, the order must be credited and the
    inbox must hold its credited row."""
    response = await storm.http.post(
        NOTIFY[notice.provider], content=notice.body, headers=notice.headers(storm.clock.now())
    )
    answer = Answer(notice, response.status_code, response.text)
    if answer.acknowledged and notice.status is None:
        answer = replace(answer, applied=await applied(storm, notice.order_no))
    return answer


async def applied(storm: Storm, order_no: str) -> bool:
    """The order is credited and the inbox holds the row that credited it."""
    orders, inbox = topup_tables.orders.c, payment_tables.inbox.c
    credited_rows = (
        select(func.count())
        .where(inbox.order_no == order_no, inbox.status == "credited")
        .scalar_subquery()
    )
    query = select(orders.state, credited_rows).where(orders.order_no == order_no)

    async def read(conn: AsyncConnection) -> bool:
        state, rows = (await conn.execute(query)).one()
        return bool(state == "credited" and rows == 1)

    return await storm.observer.read(read)
