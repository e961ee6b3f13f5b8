"""WeChat Pay's daily bills end to end, for the Mainland API and WeChat Pay HK's global one:
our adapter asks the simulator over HTTP — Mainland: the trade bill's signed answer, then the
gzip download, its SHA-1 checked; HK: the statement itself, its SHA-1 in a signed header —
and reads the rows, in the worlds of ``tests.e2e.wechatpay_worlds`` (clock at 17:00 on
2026-11-25 in Beijing).

The day's story: 10.00 paid and 3.00 of it refunded, 10.00 paid at 23:59:59; until midnight
there is no bill, a day without trades has an empty one. The differences the reconciliation
tests rely on are planted over HTTP: a trade's amount shifted, a trade we never made, a trade
paid without telling us, a digest that is not the file's; the hooks refuse what they cannot
plant as WeChat Pay refuses — and a file or digest changed on its way to us is never
believed.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from simkeep.clock import SHANGHAI
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import PaymentRequest, ProviderError, RefundRequest
from simkeep.payments.providers.wechatpay_api import MAINLAND as MAINLAND_API
from simkeep.payments.providers.wechatpay_signing import STATEMENT_SHA1
from simkeep.payments.signing import KeyPair
from simkeep.reconciliation.bill import BillNotReady, BillRefused, RowKind
from simkeep.simulators.wechatpay_routes import wechatpay_router
from tests.e2e.bill_world import (
    BillHooks,
    planting_refused,
    shifted_and_stranger,
    spoilt_bills_refused,
)
from tests.e2e.wechatpay_worlds import HK, HOST, MAINLAND, Account, World, hk_world, mainland_world

AnyWorld = World[Any, Any]
DAY = date(2026, 11, 25)
MIDNIGHT = datetime(2026, 11, 26, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def merchant_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(params=["mainland", "hk"])
async def world(request: pytest.FixtureRequest, merchant_keys: KeyPair) -> AsyncIterator[AnyWorld]:
    built = mainland_world if request.param == "mainland" else hk_world
    async with built(merchant_keys) as world:
        yield world


def account(world: AnyWorld) -> Account:
    return MAINLAND if world.adapter.api is MAINLAND_API else HK


def money(world: AnyWorld, minor: int) -> Money:
    return Money(minor, world.adapter.api.currency)


async def paid(world: AnyWorld, number: str, *, outcome: str = "success") -> None:
    """A QR trade of 10.00, paid from a wallet in its own currency."""
    await world.adapter.start(
        PaymentRequest(
            out_trade_no=number,
            amount=money(world, 1000),
            subject="中港卡充值",
            channel=Channel.QR,
            notify_url=account(world).notify_url,
            return_url=None,
            expires_at=world.clock.now() + timedelta(minutes=15),
        )
    )
    params = {"outcome": outcome, "wallet": world.adapter.api.currency}
    answer = await world.client.post(f"{account(world).prefix}/pay/{number}", params=params)
    assert answer.json()["trade_state"] == "SUCCESS"


async def a_day(world: AnyWorld) -> None:
    await paid(world, "TOPUP_0001")
    refund = RefundRequest(
        out_trade_no="TOPUP_0001",
        out_refund_no="RF_0001_A",
        amount=money(world, 300),
        total=money(world, 1000),
        reason="wrong number",
    )
    await world.adapter.refund(refund)
    world.clock.set(MIDNIGHT - timedelta(seconds=1))
    await paid(world, "TOPUP_0002")


def hooks(world: AnyWorld) -> BillHooks:
    return BillHooks(world.client, account(world).prefix)


async def test_the_days_bill_comes_once_the_day_is_over(world: AnyWorld) -> None:
    await a_day(world)

    with pytest.raises(BillNotReady, match="2026-11-25"):
        await world.adapter.bill(DAY)
    world.clock.set(MIDNIGHT + timedelta(hours=10))
    bill = await world.adapter.bill(DAY)

    rate = 60 if world.adapter.provider is Provider.WECHATPAY else 100  # 0.6 % or 1.0 %
    assert bill.provider is world.adapter.provider
    assert [
        (row.kind, row.order_no, row.refund_no, row.amount, row.fee.minor) for row in bill.rows
    ] == [
        (RowKind.PAY, "TOPUP_0001", "", money(world, 1000), rate // 10),
        (RowKind.REFUND, "TOPUP_0001", "RF_0001_A", money(world, 300), (rate * 3 + 50) // 100),
        (RowKind.PAY, "TOPUP_0002", "", money(world, 1000), rate // 10),
    ]
    assert bill.rows[-1].at == MIDNIGHT - timedelta(seconds=1)
    assert bill.rows[1].trade_no == world.sim.refunds["RF_0001_A"].refund_id


async def test_a_day_without_trades_has_an_empty_bill(world: AnyWorld) -> None:
    bill = await world.adapter.bill(DAY - timedelta(days=1))

    assert (bill.day, bill.rows) == (DAY - timedelta(days=1), ())


async def test_planted_differences_are_in_the_next_bills(world: AnyWorld) -> None:
    await a_day(world)
    stranger = await shifted_and_stranger(hooks(world), "TOPUP_0002", amount="12.34", shift=-1)
    world.clock.set(MIDNIGHT + timedelta(hours=10))

    bill = await world.adapter.bill(DAY)

    assert {row.order_no: row.amount.minor for row in bill.rows if row.kind is RowKind.PAY} == {
        "TOPUP_0001": 1000,
        "TOPUP_0002": 999,
        stranger: 1234,
    }


async def test_a_digest_that_is_not_the_files_refuses_the_bill(world: AnyWorld) -> None:
    await a_day(world)
    world.clock.set(MIDNIGHT + timedelta(hours=10))

    await spoilt_bills_refused(world.adapter, hooks(world), {"bad_digest": "SHA-1"}, day=DAY)
    assert len((await world.adapter.bill(DAY)).rows) == 3


async def test_the_hooks_refuse_what_they_cannot_plant_as_wechat_pay_refuses(
    world: AnyWorld,
) -> None:
    refused = await planting_refused(hooks(world), cannot="bad_totals", unknown_status=404)

    assert {name: answer.json()["code"] for name, answer in refused.items()} == {
        "unknown": "ORDER_NOT_EXIST",
        "nothing": "PARAM_ERROR",
        "negative": "PARAM_ERROR",
        "cannot": "PARAM_ERROR",
    }


async def test_a_trade_paid_without_telling_is_in_the_bill_only(world: AnyWorld) -> None:
    await paid(world, "TOPUP_0003", outcome="silent")
    world.clock.set(MIDNIGHT + timedelta(hours=10))
    await world.sim.deliver_due()

    bill = await world.adapter.bill(DAY)

    assert world.merchant.received == []
    assert [row.order_no for row in bill.rows] == ["TOPUP_0003"]


async def test_a_bill_changed_on_its_way_is_never_believed(world: AnyWorld) -> None:
    await a_day(world)
    world.clock.set(MIDNIGHT + timedelta(hours=10))
    app = FastAPI()
    app.include_router(wechatpay_router(world.sim), prefix=account(world).prefix)
    transport = Changing(httpx.ASGITransport(app=app))

    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        adapter = type(world.adapter)(config=world.config, client=client, clock=world.clock)
        # Mainland: the unsigned download no longer has the signed hash_value's SHA-1; HK: the
        # statement's new SHA-1 header is not the one WeChat Pay signed.
        mainland = world.adapter.api is MAINLAND_API
        refused, reason = (BillRefused, "SHA-1") if mainland else (ProviderError, "signature")
        with pytest.raises(refused, match=reason):
            await adapter.bill(DAY)
    assert transport.changed


class Changing(httpx.AsyncBaseTransport):
    """The road to the simulator, where a bill's amount is raised on its way back (and an HK
    statement's digest header made to match)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.changed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        path = request.url.path
        if "/billdownload/" not in path and not path.endswith("/statements"):
            return response
        data = await response.aread()
        packed = data.startswith(b"\x1f\x8b")
        body = (gzip.decompress(data) if packed else data).replace(b"`10.00,", b"`11.00,")
        self.changed = True
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        if STATEMENT_SHA1.lower() in headers:
            headers[STATEMENT_SHA1.lower()] = hashlib.sha1(body, usedforsecurity=False).hexdigest()
        content = gzip.compress(body) if packed else body
        return httpx.Response(response.status_code, headers=headers, content=content)
