"""What the end-to-end tests of the providers' daily bills share: the test hooks that plant
differences in a simulator's next bills, the checks every provider's bill must pass, and the
day the Hong Kong kits' bills are told on.

Each ``test_bills_<provider>.py`` builds its provider's world (``tests.e2e.<provider>_world``:
our adapter, the simulator over ASGI, a ``FixedClock``, a fake notify endpoint) and hands
this module what differs. ``BillHooks`` speaks a simulator's ``/bills/differences``, and
what is planted through it is checked alike for every provider: a trade's amount shifted and
a trade the merchant never made (``shifted_and_stranger``), a bill spoilt on purpose refused
(``spoilt_bills_refused``), what the hooks cannot plant refused (``planting_refused``).

The Alipay+, FPS and UnionPay bills are tested on the same day, 2026-11-25 (Hong Kong's and
Beijing's alike, both UTC+8), told by ``a_day`` with a ``Kit`` — how the kit pays an order
through its test hook, in which currency, under which numbers: 123.45 paid at 17:00 and
23.45 of it refunded; 500.00 paid at 23:59:59, its notification refused until after
midnight; 88.00 paid at 00:00:01 the next day.

``recorded`` keeps what a client sends; ``Tampering`` changes an answer after it was signed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import (
    PaymentProviderAdapter,
    RawNotification,
    RefundRequest,
    TradeStatus,
)
from simkeep.reconciliation.bill import BillRefused, BillRow, RowKind

DAY = date(2026, 11, 25)
AT_17 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 17:00 in Hong Kong and Beijing
LAST_SECOND = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)  # 23:59:59
NEXT_DAY = datetime(2026, 11, 25, 16, 0, 1, tzinfo=UTC)  # 00:00:01 on the 26th
MORNING_AFTER = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 on the 26th
RETRIED = NEXT_DAY + timedelta(minutes=3)  # by when every kit has sent a refused notice again


class Merchant(Protocol):
    """A kit's fake notify endpoint."""

    status: Any  # what it answers: set to 500, it refuses every notification
    received: list[RawNotification]


class Simulator(Protocol):
    async def deliver_due(self, now: datetime | None = None) -> None: ...

    def records(self) -> list[dict[str, Any]]: ...


class World(Protocol):
    """What the day's story needs of a kit's world."""

    @property
    def sim(self) -> Simulator: ...

    @property
    def adapter(self) -> PaymentProviderAdapter: ...

    @property
    def client(self) -> httpx.AsyncClient: ...

    @property
    def clock(self) -> FixedClock: ...

    @property
    def merchant(self) -> Merchant: ...


@dataclass(frozen=True)
class BillHooks:
    """A simulator's ``/bills/differences`` over HTTP (``prefix``: where it is mounted)."""

    client: httpx.AsyncClient
    prefix: str

    async def plant(self, kind: str, **params: str | int) -> httpx.Response:
        url = f"{self.prefix}/bills/differences"
        return await self.client.post(url, params={"kind": kind, **params})

    async def clear(self) -> None:
        cleared = await self.client.delete(f"{self.prefix}/bills/differences")
        assert cleared.status_code == 200, cleared.text


@dataclass(frozen=True)
class Kit:
    """What a Hong Kong kit's bill tests tell ``DAY`` with."""

    prefix: str  # where its simulator is mounted
    currency: str
    pay: Callable[..., Awaitable[str]]  # (world, order_no, minor, *, outcome): its trade number
    first: str  # paid at 17:00, then partly refunded
    late: str  # paid at 23:59:59
    early: str  # paid at 00:00:01 the next day
    refund_no: str
    payer_account: str | None = None  # where a refund goes back to (FPS)
    mark: Callable[[str], bytes] = str.encode  # how a notification names its order

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    def hooks(self, world: World) -> BillHooks:
        return BillHooks(world.client, self.prefix)


async def a_day(world: World, kit: Kit) -> str:
    """The whole day's story; the first payment's trade number."""
    first = await paid_and_partly_refunded(world, kit)
    await paid_around_midnight(world, kit)
    return first


async def paid_and_partly_refunded(world: World, kit: Kit) -> str:
    """123.45 paid at 17:00 and 23.45 of it refunded; the payment's trade number."""
    world.clock.set(AT_17)
    first = await kit.pay(world, kit.first, 12345)
    refund = RefundRequest(
        out_trade_no=kit.first,
        out_refund_no=kit.refund_no,
        amount=kit.money(2345),
        total=kit.money(12345),
        reason="wrong number",
        provider_trade_no=first,
        payer_account=kit.payer_account,
    )
    assert (await world.adapter.refund(refund)).provider_refund_no
    return str(first)


async def paid_around_midnight(world: World, kit: Kit) -> None:
    """500.00 paid at 23:59:59, its notification not taken before midnight; 88.00 paid at
    00:00:01 the next day."""
    world.clock.set(LAST_SECOND)
    answers = world.merchant.status
    world.merchant.status = 500
    await kit.pay(world, kit.late, 50000)
    world.clock.set(RETRIED)
    world.merchant.status = answers
    await world.sim.deliver_due()
    late = [raw for raw in world.merchant.received if kit.mark(kit.late) in raw.body]
    assert len(late) == 2  # at 23:59:59, refused; again after midnight, taken
    world.clock.set(NEXT_DAY)
    await kit.pay(world, kit.early, 8800)


async def the_next_days_row(world: World, kit: Kit) -> BillRow:
    """The next day's bill, a morning later: only the payment made at 00:00:01."""
    world.clock.set(MORNING_AFTER + timedelta(days=1))
    [row] = (await world.adapter.bill(DAY + timedelta(days=1))).rows
    assert (row.order_no, row.at) == (kit.early, NEXT_DAY)
    return row


def fees_recorded(world: World, kit: Kit, *, fee: int, fee_back: int) -> None:
    """The simulator's records of the first payment: its fee and the refund's share of it."""
    records = {record["out_trade_no"]: record for record in world.sim.records()}
    assert records[kit.first]["fee_minor"] == fee
    assert records[kit.first]["refunds"] == [
        {"refund_no": kit.refund_no, "amount_minor": 2345, "fee_refunded_minor": fee_back}
    ]


async def planted_in_the_next_bill(world: World, kit: Kit) -> BillRow:
    """The late payment shifted by 100 minor units and a payment the merchant never made
    (66.60, never told of), planted before the day is over, both in the bill: that
    payment's row."""
    world.clock.set(LAST_SECOND - timedelta(hours=1))
    stranger = await shifted_and_stranger(kit.hooks(world), kit.late, amount="66.60")
    world.clock.set(MORNING_AFTER)
    bill = await world.adapter.bill(DAY)
    paid = {row.order_no: row for row in bill.rows if row.kind is RowKind.PAY}
    assert paid[kit.late].amount == kit.money(50100)  # shifted by 100
    assert paid[stranger].amount == kit.money(6660)
    assert (await world.adapter.query(stranger)).status is TradeStatus.PAID
    assert not [raw for raw in world.merchant.received if stranger.encode() in raw.body]
    return paid[stranger]


async def paid_silently(world: World, kit: Kit) -> BillRow:
    """10.00 paid at 17:00 and the merchant never told, even a day later: the bill's row."""
    world.clock.set(AT_17)
    await kit.pay(world, kit.first, 1000, outcome="silent")
    await world.sim.deliver_due(AT_17 + timedelta(days=1))
    assert world.merchant.received == []
    assert (await world.adapter.query(kit.first)).status is TradeStatus.PAID
    world.clock.set(MORNING_AFTER)
    [row] = (await world.adapter.bill(DAY)).rows
    assert (row.order_no, row.amount) == (kit.first, kit.money(1000))
    return row


async def shifted_and_stranger(
    hooks: BillHooks, out_trade_no: str, *, amount: str, shift: int | None = None
) -> str:
    """Plant ``out_trade_no``'s amount shifted (by 100 unless ``shift``) and a trade of
    ``amount`` the merchant never made; that trade's order number."""
    shifted = await hooks.plant(
        "amount_mismatch", out_trade_no=out_trade_no, **({} if shift is None else {"shift": shift})
    )
    planted = await hooks.plant("provider_only", amount=amount)
    assert (shifted.status_code, planted.status_code) == (200, 200), (shifted.text, planted.text)
    return str(planted.json()["out_trade_no"])


async def spoilt_bills_refused(
    adapter: PaymentProviderAdapter,
    hooks: BillHooks,
    spoilt: Mapping[str, str],
    *,
    day: date = DAY,
) -> None:
    """Each kind of damage in ``spoilt``, planted alone, has ``day``'s bill refused for its
    reason; then the damage is cleared."""
    for kind, reason in spoilt.items():
        await hooks.clear()
        assert (await hooks.plant(kind)).status_code == 200
        with pytest.raises(BillRefused, match=reason):
            await adapter.bill(day)
    await hooks.clear()


async def planting_refused(
    hooks: BillHooks, *, cannot: str | None = None, unknown_status: int = 400
) -> dict[str, httpx.Response]:
    """The hooks refuse what they cannot plant: a trade they do not know (``unknown_status``),
    a payment of nothing or less, a kind there is not, and the kind the bills have no room
    for (``cannot``). The refusals, by what was asked."""
    refused = {
        "unknown": await hooks.plant("amount_mismatch", out_trade_no="NOPE0001"),
        "nothing": await hooks.plant("provider_only", amount="0"),
        "negative": await hooks.plant("provider_only", amount="-1"),
    }
    assert refused["unknown"].status_code == unknown_status
    assert [refused[name].status_code for name in ("nothing", "negative")] == [400, 400]
    if cannot is not None:
        refused["cannot"] = await hooks.plant(cannot)
        assert refused["cannot"].status_code == 400
    assert (await hooks.plant("everything")).status_code == 422
    return refused


def recorded(client: httpx.AsyncClient) -> list[httpx.Request]:
    """Every request ``client`` sends from now on, in order."""
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    client.event_hooks["request"].append(keep)
    return sent


class Tampering(httpx.AsyncBaseTransport):
    """The road to the simulator through ``client``, where every answer has ``old`` changed
    to ``new`` after it was signed."""

    def __init__(self, client: httpx.AsyncClient, old: bytes, new: bytes) -> None:
        self.client, self.old, self.new = client, old, new

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = await self.client.send(request)
        headers = {k: v for k, v in answer.headers.items() if k != "content-length"}
        content = answer.content.replace(self.old, self.new)
        return httpx.Response(answer.status_code, headers=headers, content=content)
