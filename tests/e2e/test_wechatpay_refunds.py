"""WeChat Pay v3 refunds, both halves over HTTP: our adapter asks our simulator to pay back
trades, on the Mainland API and on WeChat Pay HK's global one; the ``wechatpayv3`` SDK checks
the simulator's ``REFUND.SUCCESS`` notifications."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from wechatpayv3 import WeChatPay, WeChatPayType

from simkeep.clock import in_shanghai
from simkeep.money import Money
from simkeep.payment_methods import Channel
from simkeep.payments.model import (
    PaymentRequest,
    ProviderError,
    ProviderRefund,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from simkeep.payments.providers.wechatpay_api import MAINLAND as MAINLAND_API
from simkeep.payments.signing import KeyPair
from tests.e2e.wechatpay_worlds import (
    APIV3_KEY,
    HK,
    MAINLAND,
    START,
    Account,
    World,
    hk_world,
    mainland_world,
)

OTN = "TOPUP_RF_0001"
LATER = timedelta(seconds=60)  # when the simulator's refunds succeed (time scale 1)

AnyWorld = World[Any, Any]


@pytest.fixture(scope="module")
def merchant_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(params=["mainland", "hk"])
async def world(request: pytest.FixtureRequest, merchant_keys: KeyPair) -> AsyncIterator[AnyWorld]:
    worlds = {"mainland": mainland_world, "hk": hk_world}
    async with worlds[request.param](merchant_keys) as world:
        yield world


def _account(world: AnyWorld) -> Account:
    return MAINLAND if world.adapter.api is MAINLAND_API else HK


def _money(world: AnyWorld, minor: int) -> Money:
    return Money(minor, world.adapter.api.currency)


async def _paid(world: AnyWorld, otn: str = OTN, *, total: int = 1000, wallet: str = "") -> None:
    """A QR trade of ``total``, paid (from a wallet in the trade's currency unless said)."""
    await world.adapter.start(
        PaymentRequest(
            out_trade_no=otn,
            amount=_money(world, total),
            subject="中港卡充值",
            channel=Channel.QR,
            notify_url=_account(world).notify_url,
            return_url=None,
            expires_at=START + timedelta(minutes=15),
        )
    )
    params = {"outcome": "success", "wallet": wallet or world.adapter.api.currency}
    answer = await world.client.post(f"{_account(world).prefix}/pay/{otn}", params=params)
    assert answer.json()["trade_state"] == "SUCCESS"


def _refused(refund: ProviderRefund, code: str) -> None:
    """``refund`` was refused for good, with WeChat Pay's ``code``."""
    assert refund.status is RefundStatus.FAILED
    assert (refund.reason or "").startswith(f"{code}: ")


def _refund(
    world: AnyWorld, number: str, minor: int, *, otn: str = OTN, total: int = 1000
) -> RefundRequest:
    return RefundRequest(
        out_trade_no=otn,
        out_refund_no=number,
        amount=_money(world, minor),
        total=_money(world, total),
        reason="wrong_number",
    )


async def test_a_full_refund_is_processing_then_succeeds_and_the_trade_stays_paid(
    world: AnyWorld,
) -> None:
    await _paid(world)
    asked = await world.adapter.refund(_refund(world, "F261125FULL01", 1000))
    assert (asked.status, asked.amount) == (RefundStatus.PROCESSING, _money(world, 1000))
    assert asked.provider_refund_no
    trade = world.sim.trades[OTN]
    assert (trade.state, trade.refunded) == ("REFUND", 1000)
    queried = await world.adapter.query_refund(_refund(world, "F261125FULL01", 1000))
    assert queried.status is RefundStatus.PROCESSING

    world.clock.advance(LATER)
    done = await world.adapter.query_refund(_refund(world, "F261125FULL01", 1000))
    assert (done.status, done.amount) == (RefundStatus.SUCCEEDED, _money(world, 1000))
    assert done.provider_refund_no == asked.provider_refund_no
    assert done.refunded_at == START + LATER
    # A refunded trade was paid all the same (its trade_state is REFUND).
    paid = await world.adapter.query(OTN)
    assert (paid.status, paid.amount) == (TradeStatus.PAID, _money(world, 1000))
    # Nothing is left to pay back.
    again = await world.adapter.refund(_refund(world, "F261125FULL02", 1))
    _refused(again, "INVALID_REQUEST")
    assert world.sim.trades[OTN].refunded == 1000


async def test_partial_refunds_never_come_to_more_than_the_trade(world: AnyWorld) -> None:
    await _paid(world)
    first = await world.adapter.refund(_refund(world, "F261125PART01", 300))
    second = await world.adapter.refund(_refund(world, "F261125PART02", 500))
    assert {first.status, second.status} == {RefundStatus.PROCESSING}
    assert first.provider_refund_no != second.provider_refund_no
    too_much = await world.adapter.refund(_refund(world, "F261125PART03", 201))
    _refused(too_much, "INVALID_REQUEST")
    assert world.sim.trades[OTN].refunded == 800
    assert set(world.sim.refunds) == {"F261125PART01", "F261125PART02"}
    rest = await world.adapter.refund(_refund(world, "F261125PART03", 200))
    assert rest.status is RefundStatus.PROCESSING  # refused before, so asked again as new
    assert world.sim.trades[OTN].refunded == 1000


async def test_one_refund_number_pays_once_however_often_it_is_asked(world: AnyWorld) -> None:
    await _paid(world)
    request = _refund(world, "F261125ONCE01", 300)
    first = await world.adapter.refund(request)
    again = await world.adapter.refund(request)
    together = await asyncio.gather(*(world.adapter.refund(request) for _ in range(10)))
    assert {r.provider_refund_no for r in [first, again, *together]} == {first.provider_refund_no}
    assert {r.status for r in together} == {RefundStatus.PROCESSING}
    assert world.sim.trades[OTN].refunded == 300
    assert list(world.sim.refunds) == ["F261125ONCE01"]

    world.clock.advance(LATER)  # made: asking again still answers with it, pays nothing more
    made = await world.adapter.refund(request)
    assert (made.status, made.provider_refund_no) == (
        RefundStatus.SUCCEEDED,
        first.provider_refund_no,
    )
    other_terms = await world.adapter.refund(replace(request, amount=_money(world, 400)))
    _refused(other_terms, "INVALID_REQUEST")
    assert world.sim.trades[OTN].refunded == 300


async def test_a_refund_nobody_asked_for_is_unknown(world: AnyWorld) -> None:
    await _paid(world)
    unknown = await world.adapter.query_refund(_refund(world, "F261125NONE01", 300))
    assert (unknown.status, unknown.reason) == (RefundStatus.FAILED, "unknown")
    assert world.sim.trades[OTN].refunded == 0


async def test_a_trade_that_was_not_paid_is_not_refunded(world: AnyWorld) -> None:
    await _paid(world, "TOPUP_RF_PAID")
    await world.adapter.start(
        PaymentRequest(
            out_trade_no=OTN,
            amount=_money(world, 1000),
            subject="中港卡充值",
            channel=Channel.QR,
            notify_url=_account(world).notify_url,
            return_url=None,
            expires_at=START + timedelta(minutes=15),
        )
    )
    unpaid = await world.adapter.refund(_refund(world, "F261125UNPD01", 1000))
    await world.adapter.close(OTN)
    closed = await world.adapter.refund(_refund(world, "F261125UNPD02", 1000))
    unknown = await world.adapter.refund(_refund(world, "F261125UNPD03", 1000, otn="NEVER_MADE"))
    for refused in (unpaid, closed, unknown):
        _refused(refused, "RESOURCE_NOT_EXISTS")
    assert world.sim.refunds == {}
    assert world.sim.trades[OTN].state == "CLOSED"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": "other currency"}, "PARAM_ERROR"),
        ({"amount": 0}, "PARAM_ERROR"),
        ({"amount": -100}, "PARAM_ERROR"),
        ({"total": 999}, "INVALID_REQUEST"),
    ],
)
async def test_a_refund_of_nothing_or_in_another_currency_is_refused(
    world: AnyWorld, change: dict[str, Any], code: str
) -> None:
    await _paid(world)
    request = _refund(world, "F261125BAD001", 100)
    if change.get("amount") == "other currency":
        other = "HKD" if world.adapter.api.currency == "CNY" else "CNY"
        request = replace(request, amount=Money(100, other))
    elif "amount" in change:
        request = replace(request, amount=_money(world, change["amount"]))
    else:
        request = replace(request, total=_money(world, change["total"]))
    refused = await world.adapter.refund(request)
    _refused(refused, code)
    assert world.sim.trades[OTN].refunded == 0


async def test_a_refund_the_account_cannot_fund_is_refused_until_it_can(world: AnyWorld) -> None:
    await _paid(world)
    world.sim.refund_funds = 299
    request = _refund(world, "F261125FUND01", 300)
    refused = await world.adapter.refund(request)
    _refused(refused, "NOT_ENOUGH")
    assert world.sim.trades[OTN].refunded == 0
    world.sim.refund_funds = 1000  # WeChat Pay asks for the same number to be asked again
    assert (await world.adapter.refund(request)).status is RefundStatus.PROCESSING
    assert (world.sim.refund_funds, world.sim.trades[OTN].refunded) == (700, 300)


def _forwarding(world: AnyWorld, change: Any) -> httpx.AsyncClient:
    """A client whose answers come from the simulator, then pass through ``change``."""

    async def send(request: httpx.Request) -> httpx.Response:
        answer = await world.client.send(request)
        return change(answer)

    return httpx.AsyncClient(transport=httpx.MockTransport(send))


def _answer(answer: httpx.Response, *, body: bytes | None = None, signed: bool = True) -> Any:
    headers = {
        name: value
        for name, value in answer.headers.items()
        if name.lower() != "content-length" and (signed or not name.lower().startswith("wechatpay"))
    }
    content = answer.content if body is None else body
    return httpx.Response(answer.status_code, headers=headers, content=content)


def _tampered(answer: httpx.Response) -> httpx.Response:
    return _answer(answer, body=answer.content.replace(b'"refund":300', b'"refund":30'))


def _unsigned(answer: httpx.Response) -> httpx.Response:
    return _answer(answer, signed=False)


def _server_error(answer: httpx.Response) -> httpx.Response:
    return httpx.Response(500, json={"code": "SYSTEM_ERROR", "message": "系统错误"})


def _unreachable(answer: httpx.Response) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize("change", [_tampered, _unsigned, _server_error, _unreachable])
async def test_an_answer_that_does_not_verify_is_not_believed(world: AnyWorld, change: Any) -> None:
    await _paid(world)
    adapter = type(world.adapter)(
        config=world.config, client=_forwarding(world, change), clock=world.clock
    )
    request = _refund(world, "F261125SIGN01", 300)
    with pytest.raises(ProviderError):
        await adapter.refund(request)
    with pytest.raises(ProviderError):
        await adapter.query_refund(request)
    # Asked again under the same number, the refund is the one already made, if any.
    assert (await world.adapter.refund(request)).status is RefundStatus.PROCESSING
    assert world.sim.trades[OTN].refunded == 300


async def test_an_unsigned_refusal_is_not_taken_for_a_failed_refund(world: AnyWorld) -> None:
    await _paid(world)
    too_much = _refund(world, "F261125SIGN02", 1001)
    adapter = type(world.adapter)(
        config=world.config, client=_forwarding(world, _unsigned), clock=world.clock
    )
    with pytest.raises(ProviderError):  # anyone could have said it: ask again, never re-number
        await adapter.refund(too_much)
    with pytest.raises(ProviderError):
        await adapter.query_refund(too_much)
    assert (await world.adapter.refund(too_much)).status is RefundStatus.FAILED


def _sdk(keys: KeyPair, world: AnyWorld) -> WeChatPay:
    """The SDK in public-key mode, as an oracle for notifications (no network call)."""
    account = _account(world)
    return WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=account.mchid,
        private_key=keys.private_pem.decode(),
        cert_serial_no=account.serial,
        appid=account.appid,
        apiv3_key=APIV3_KEY,
        notify_url=account.notify_url,
        public_key=world.sim.platform_keys.public_pem.decode(),
        public_key_id=world.sim.public_key_id,
    )


async def test_a_refund_that_succeeds_is_notified_where_it_asked(
    world: AnyWorld, merchant_keys: KeyPair
) -> None:
    await _paid(world)
    await world.adapter.refund(_refund(world, "F261125SILENT", 100))  # names no notify_url
    account = _account(world)
    order: dict[str, Any] = {
        "out_trade_no": OTN,
        "out_refund_no": "F261125NOTIFY",
        "notify_url": account.notify_url,
        "amount": {"refund": 300, "total": 1000, "currency": world.adapter.api.currency},
    }
    if world.adapter.api.merchant_in_refunds:
        order |= {"mchid": account.mchid, "appid": account.appid}
    refund = world.sim.create_refund(order)
    assert await world.sim.deliver_due(now=START + LATER - timedelta(seconds=1)) == 0
    assert len(world.merchant.received) == 1  # the payment's notification only

    world.clock.advance(LATER)
    assert await world.sim.deliver_due() == 1
    raw = world.merchant.received[-1]
    event = json.loads(raw.body)
    assert (event["event_type"], event["resource"]["original_type"]) == ("REFUND.SUCCESS", "refund")
    notified = _sdk(merchant_keys, world).callback(dict(raw.headers), raw.body)
    assert notified is not None
    assert notified["resource"] == {
        "mchid": account.mchid,
        "transaction_id": world.sim.trades[OTN].transaction_id,
        "out_trade_no": OTN,
        world.adapter.api.refund_id: refund.refund_id,
        "out_refund_no": "F261125NOTIFY",
        "refund_status": "SUCCESS",
        "success_time": in_shanghai(START + LATER).isoformat(timespec="seconds"),
        "user_received_account": "支付用户零钱",
        "amount": {"total": 1000, "refund": 300, "payer_total": 1000, "payer_refund": 300}
        | _named_currencies(world),
    }
    assert [r["attempts"] for r in world.sim.records()] == [1]  # the payment's, untouched
    assert world.sim.next_due() is None


def _named_currencies(world: AnyWorld) -> dict[str, str]:
    """The global API names a notification's currencies (the payer's wallet: HKD here)."""
    api = world.adapter.api
    return {} if api.implied_currency else {"currency": "HKD", "payer_currency": "HKD"}


async def test_a_mainland_wallet_gets_back_its_share_in_yuan(merchant_keys: KeyPair) -> None:
    async with hk_world(merchant_keys) as world:
        await _paid(world, total=1000, wallet="CNY")  # 1000 HKD cents at 0.92: ¥9.20
        for n, part in enumerate((333, 333, 334)):
            await world.adapter.refund(_refund(world, f"F261125CNY{n:03d}", part))
        shares = [refund.payer_refund for refund in world.sim.refunds.values()]
    assert shares == [306, 307, 307]
    assert sum(shares) == world.sim.trades[OTN].payer_total == 920
