"""WeChat Pay v3, both halves over HTTP: our adapter against our simulator (ASGI, no network),
and the ``wechatpayv3`` SDK as an independent oracle for the simulator's signatures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.async_ import AsyncWeChatPay
from wechatpayv3.async_ import WeChatPayType as AsyncPayType

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel
from simkeep.payments.model import (
    CurrencyNotSupported,
    NotificationRejected,
    PaymentRequest,
    ProviderError,
    TradeStatus,
)
from simkeep.payments.providers.wechatpay import (
    WeChatPayAdapter,
)
from simkeep.payments.signing import KeyPair
from simkeep.simulators.wechatpay import WeChatPaySimulator
from simkeep.simulators.wechatpay_routes import wechatpay_router
from tests.e2e.wechatpay_worlds import APIV3_KEY, HOST, MAINLAND, START, Merchant, mainland_world
from tests.e2e.wechatpay_worlds import MainlandWorld as World
from tests.e2e.wechatpay_worlds import mainland_simulator as _simulator

MCHID, APPID, SERIAL = MAINLAND.mchid, MAINLAND.appid, MAINLAND.serial
PREFIX, NOTIFY_URL = MAINLAND.prefix, MAINLAND.notify_url


@pytest.fixture(scope="module")
def merchant_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
async def world(merchant_keys: KeyPair) -> AsyncIterator[World]:
    async with mainland_world(merchant_keys) as world:
        yield world


def _request(otn: str = "TOPUP_000001", *, channel: Channel = Channel.QR) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=otn,
        amount=Money(1234, "CNY"),
        subject="中港卡充值 ¥12.34",
        channel=channel,
        notify_url=NOTIFY_URL,
        return_url=None,
        expires_at=START + timedelta(minutes=15),
    )


async def _paid(world: World, otn: str = "TOPUP_000001") -> None:
    await world.adapter.start(_request(otn))
    response = await world.client.post(f"{PREFIX}/pay/{otn}", params={"outcome": "success"})
    assert response.json()["trade_state"] == "SUCCESS"


async def test_a_native_order_returns_a_code_url_and_stays_unpaid(world: World) -> None:
    start = await world.adapter.start(_request())
    assert start.qr_payload is not None
    assert start.qr_payload.startswith("weixin://wxpay/bizpayurl?pr=")
    trade = await world.adapter.query("TOPUP_000001")
    assert (trade.status, trade.amount) == (TradeStatus.UNPAID, Money(1234, "CNY"))
    assert world.sim.trades["TOPUP_000001"].time_expire == START + timedelta(minutes=15)


async def test_an_h5_order_leads_to_a_cashier_where_a_password_pays(world: World) -> None:
    start = await world.adapter.start(_request(channel=Channel.WAP))
    assert start.redirect_url == f"{HOST}{PREFIX}/cashier/TOPUP_000001"
    page = await world.client.get(start.redirect_url)
    assert "¥12.34" in page.text
    assert 'type="password"' in page.text
    assert "123456" in page.text
    refused = await world.client.post(start.redirect_url, data={"action": "pay", "password": ""})
    assert refused.status_code == 400
    assert world.merchant.received == []
    paid = await world.client.post(start.redirect_url, data={"action": "pay", "password": "9"})
    assert "支付成功" in paid.text
    assert (await world.adapter.query("TOPUP_000001")).status is TradeStatus.PAID


async def test_an_h5_payer_is_sent_back_to_the_merchants_page(world: World) -> None:
    back = "https://merchant.test/topups/TOPUP_000001"
    start = await world.adapter.start(replace(_request(channel=Channel.WAP), return_url=back))
    assert start.redirect_url == (
        f"{HOST}{PREFIX}/cashier/TOPUP_000001"
        "?redirect_url=https%3A%2F%2Fmerchant.test%2Ftopups%2FTOPUP_000001"
    )
    assert (await world.client.get(start.redirect_url)).status_code == 200
    paid = await world.client.post(start.redirect_url, data={"action": "pay", "password": "9"})
    assert paid.status_code == 303
    assert paid.headers["location"] == back
    assert (await world.adapter.query("TOPUP_000001")).status is TradeStatus.PAID

    # Only to the merchant's own site (WeChat Pay checks the registered H5 domain).
    await world.adapter.start(_request("TOPUP_000002", channel=Channel.WAP))
    foreign = f"{HOST}{PREFIX}/cashier/TOPUP_000002?redirect_url=https%3A%2F%2Fevil.example%2F"
    assert (await world.client.get(foreign)).status_code == 400
    refused = await world.client.post(foreign, data={"action": "pay", "password": "9"})
    assert refused.status_code == 400
    assert (await world.adapter.query("TOPUP_000002")).status is TradeStatus.UNPAID


async def test_a_paid_trade_is_notified_and_the_adapter_verifies_it(world: World) -> None:
    await _paid(world)
    [raw] = world.merchant.received
    verified = world.adapter.verify_notification(raw, now=world.clock.now())
    assert (verified.out_trade_no, verified.status) == ("TOPUP_000001", TradeStatus.PAID)
    assert verified.amount == Money(1234, "CNY")
    assert (verified.merchant_id, verified.app_id) == (MCHID, APPID)
    trade = await world.adapter.query("TOPUP_000001")
    assert trade.status is TradeStatus.PAID
    assert trade.provider_trade_no == verified.provider_trade_no
    assert trade.paid_at == START


async def test_a_closed_trade_cannot_be_paid(world: World) -> None:
    await world.adapter.start(_request())
    await world.adapter.close("TOPUP_000001")
    assert (await world.adapter.query("TOPUP_000001")).status is TradeStatus.CLOSED
    response = await world.client.post(f"{PREFIX}/pay/TOPUP_000001")
    assert response.status_code == 400
    assert world.merchant.received == []


async def test_a_failed_payment_is_failed_and_not_notified(world: World) -> None:
    await world.adapter.start(_request())
    await world.client.post(f"{PREFIX}/pay/TOPUP_000001", params={"outcome": "fail"})
    assert (await world.adapter.query("TOPUP_000001")).status is TradeStatus.FAILED
    assert world.merchant.received == []


async def test_an_unknown_trade_is_unpaid_and_needs_no_closing(world: World) -> None:
    assert (await world.adapter.query("NEVER_CREATED")).status is TradeStatus.UNPAID
    await world.adapter.close("NEVER_CREATED")  # its start failed: nothing to close
    assert world.sim.trades == {}


async def test_money_that_is_not_cny_is_refused_before_any_call(world: World) -> None:
    with pytest.raises(CurrencyNotSupported, match="CNY"):
        await world.adapter.start(replace(_request(), amount=Money(1234, "HKD")))
    assert world.sim.trades == {}


async def test_requests_signed_with_another_key_or_too_late_get_sign_error(world: World) -> None:
    forged = replace(world.config, merchant_private_key_pem=KeyPair.generate().private_pem)
    adapter = WeChatPayAdapter(config=forged, client=world.client, clock=world.clock)
    with pytest.raises(ProviderError, match="401 SIGN_ERROR"):
        await adapter.start(_request())
    late = FixedClock(START + timedelta(seconds=301))
    adapter = WeChatPayAdapter(config=world.config, client=world.client, clock=late)
    with pytest.raises(ProviderError, match="401 SIGN_ERROR"):
        await adapter.query("TOPUP_000001")


async def test_an_answer_signed_under_another_key_id_is_not_believed(world: World) -> None:
    other = replace(world.config, platform_public_key_id="PUB_KEY_ID_SOMEONE_ELSE")
    adapter = WeChatPayAdapter(config=other, client=world.client, clock=world.clock)
    with pytest.raises(ProviderError, match="unknown_serial"):
        await adapter.start(_request())


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("tampered_amount", "bad_signature"),
        ("bad_signature", "bad_signature"),
        ("signtest", "bad_signature"),
        ("stale_timestamp", "stale"),
    ],
)
async def test_faulty_notifications_are_rejected(world: World, fault: str, code: str) -> None:
    setattr(world.sim.faults, fault, True)
    await _paid(world)
    [raw] = world.merchant.received
    with pytest.raises(NotificationRejected) as caught:
        world.adapter.verify_notification(raw, now=world.clock.now())
    assert caught.value.code == code


async def test_a_replay_six_minutes_later_is_stale(world: World) -> None:
    await _paid(world)
    [raw] = world.merchant.received
    with pytest.raises(NotificationRejected) as caught:
        world.adapter.verify_notification(raw, now=START + timedelta(minutes=6))
    assert caught.value.code == "stale"


async def test_a_notification_for_another_merchant_is_rejected(world: World) -> None:
    await _paid(world)
    other = replace(world.config, mchid="1900000999")
    adapter = WeChatPayAdapter(config=other, client=world.client, clock=world.clock)
    with pytest.raises(NotificationRejected) as caught:
        adapter.verify_notification(world.merchant.received[0], now=world.clock.now())
    assert caught.value.code == "wrong_merchant"


async def test_retries_follow_the_schedule_and_stop_after_a_204(world: World) -> None:
    world.merchant.status = 500
    await _paid(world)
    assert len(world.merchant.received) == 1
    assert await world.sim.deliver_due(now=START + timedelta(seconds=14)) == 0
    assert await world.sim.deliver_due(now=START + timedelta(seconds=15)) == 1
    world.merchant.status = 204
    world.clock.set(START + timedelta(seconds=30))
    assert await world.sim.deliver_due() == 1
    assert world.sim.next_due() is None
    assert await world.sim.deliver_due(now=START + timedelta(days=2)) == 0
    bodies = {raw.body for raw in world.merchant.received}
    assert len(world.merchant.received) == 3
    assert len(bodies) == 1
    retried = world.adapter.verify_notification(world.merchant.received[-1], now=world.clock.now())
    assert retried.out_trade_no == "TOPUP_000001"


async def test_an_unanswered_notification_is_given_up_after_sixteen_attempts(
    world: World,
) -> None:
    world.merchant.status = 500
    await _paid(world)
    while (due := world.sim.next_due()) is not None:
        await world.sim.deliver_due(now=due)
    assert len(world.merchant.received) == 16
    assert world.sim.deliveries[0].next_at - START == timedelta(hours=24, minutes=4)


async def test_the_duplicate_fault_delivers_twice_and_drop_delivers_nothing(world: World) -> None:
    world.sim.faults.duplicate = True
    await _paid(world, "TOPUP_000001")
    ids = [json.loads(raw.body)["id"] for raw in world.merchant.received]
    assert len(ids) == 2
    assert ids[0] == ids[1]
    world.sim.faults.duplicate, world.sim.faults.drop = False, True
    await _paid(world, "TOPUP_000002")
    assert len(world.merchant.received) == 2
    assert world.sim.next_due() is None


def _sdk(keys: KeyPair, sim: WeChatPaySimulator) -> WeChatPay:
    """The SDK in public-key mode: its ``__init__`` makes no network call."""
    return WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=MCHID,
        private_key=keys.private_pem.decode(),
        cert_serial_no=SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        notify_url=NOTIFY_URL,
        public_key=sim.platform_keys.public_pem.decode(),
        public_key_id=sim.public_key_id,
    )


async def test_the_sdk_accepts_and_decrypts_a_simulator_notification(
    world: World, merchant_keys: KeyPair
) -> None:
    await _paid(world)
    [raw] = world.merchant.received
    sdk = _sdk(merchant_keys, world.sim)
    result = sdk.callback(dict(raw.headers), raw.body)
    ours = world.adapter.verify_notification(raw, now=world.clock.now())
    assert result is not None
    assert result["resource"] == ours.raw["resource"]
    assert result["resource"]["amount"]["total"] == 1234
    tampered = raw.body.replace(b'"summary":"', b'"summary":"X')
    assert tampered != raw.body
    assert sdk.callback(dict(raw.headers), tampered) is None


async def test_the_async_sdk_places_a_native_order_at_the_simulator(
    merchant_keys: KeyPair,
) -> None:
    # The SDK stamps its Authorization with time.time(), so the simulator runs on real time.
    clock, merchant = FixedClock(datetime.now(UTC)), Merchant()
    sim = _simulator(merchant_keys, clock, merchant)
    app = FastAPI()
    app.include_router(wechatpay_router(sim))  # the SDK signs paths from /v3/, so no prefix
    sdk = AsyncWeChatPay(
        wechatpay_type=AsyncPayType.NATIVE,
        mchid=MCHID,
        private_key=merchant_keys.private_pem.decode(),
        cert_serial_no=SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        notify_url=NOTIFY_URL,
        public_key=sim.platform_keys.public_pem.decode(),
        public_key_id=sim.public_key_id,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        sdk._core._client = client  # its gateway host is a private attribute of _core
        sdk._core._gate_way = HOST
        code, text = await sdk.pay(
            description="中港卡充值",
            out_trade_no="TOPUP_SDK_01",
            amount={"total": 500},
            pay_type=AsyncPayType.NATIVE,
        )
        assert code == 200
        assert json.loads(text)["code_url"].startswith("weixin://")
        code, _ = await sdk.close(out_trade_no="TOPUP_SDK_01")
        assert code == 204
    assert sim.trades["TOPUP_SDK_01"].state == "CLOSED"


async def test_the_notifier_loop_sends_retries_as_they_fall_due(world: World) -> None:
    world.merchant.status = 500
    await _paid(world)
    world.clock.advance(timedelta(seconds=15))
    world.merchant.arrived.clear()
    stop = asyncio.Event()
    loop = asyncio.create_task(world.sim.run_notifier(stop=stop, poll_seconds=0.01))
    await asyncio.wait_for(world.merchant.arrived.wait(), timeout=5)
    stop.set()
    await loop
    assert len(world.merchant.received) == 2
    assert world.sim.next_due() == START + timedelta(seconds=30)
