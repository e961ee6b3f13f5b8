"""WeChat Pay HK on the v3 global API, both halves over HTTP: our adapter against our
simulator (ASGI, no network); the ``wechatpayv3`` SDK and notifications built here with
``cryptography`` alone as oracles independent of our signing code."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.async_ import AsyncWeChatPay
from wechatpayv3.async_ import WeChatPayType as AsyncPayType
from wechatpayv3.async_.type import RequestType

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import (
    CurrencyNotSupported,
    NotificationRejected,
    PaymentRequest,
    ProviderError,
    RawNotification,
    TradeStatus,
)
from simkeep.payments.providers.wechatpay import WeChatPayConfig
from simkeep.payments.providers.wechatpay_global import WeChatPayGlobalAdapter, real_adapter
from simkeep.payments.signing import KeyPair
from simkeep.settings import Settings
from simkeep.simulators.delivery import Reply
from simkeep.simulators.wechatpay_global import WeChatPayGlobalSimulator, accepted
from simkeep.simulators.wechatpay_global_routes import router
from simkeep.simulators.wechatpay_global_setup import build_simulator, simulator_adapter
from tests.e2e.wechatpay_worlds import APIV3_KEY, HK, HOST, START, hk_world
from tests.e2e.wechatpay_worlds import HKWorld as World
from tests.e2e.wechatpay_worlds import ReplyingMerchant as Merchant
from tests.e2e.wechatpay_worlds import hk_simulator as _simulator

MCHID, APPID, SERIAL = HK.mchid, HK.appid, HK.serial
PREFIX, NOTIFY_URL = HK.prefix, HK.notify_url
OTN = "TOPUP_HK_0001"


@pytest.fixture(scope="module")
def merchant_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
async def world(merchant_keys: KeyPair) -> AsyncIterator[World]:
    async with hk_world(merchant_keys) as world:
        yield world


def _request(otn: str = OTN, *, channel: Channel = Channel.QR) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=otn,
        amount=Money(1234, "HKD"),
        subject="中港卡增值 HK$12.34",
        channel=channel,
        notify_url=NOTIFY_URL,
        return_url=None,
        expires_at=START + timedelta(minutes=15),
    )


async def _paid(world: World, otn: str = OTN, *, wallet: str = "HKD") -> None:
    await world.adapter.start(_request(otn))
    answer = await world.client.post(
        f"{PREFIX}/pay/{otn}", params={"outcome": "success", "wallet": wallet}
    )
    assert answer.json()["trade_state"] == "SUCCESS"


async def test_a_native_order_is_placed_in_hkd_on_the_global_api(world: World) -> None:
    start = await world.adapter.start(_request())
    assert start.qr_payload is not None
    assert start.qr_payload.startswith("weixin://wxpay/bizpayurl?pr=")
    trade = world.sim.trades[OTN]
    assert (trade.trade_type, trade.total, trade.currency) == ("NATIVE", 1234, "HKD")
    assert trade.time_expire == START + timedelta(minutes=15)
    queried = await world.adapter.query(OTN)
    assert (queried.status, queried.amount) == (TradeStatus.UNPAID, Money(1234, "HKD"))
    assert world.adapter.provider is Provider.WECHATPAY_HK
    assert world.adapter.currencies == frozenset({"HKD"})


async def test_yuan_is_refused_before_any_call(world: World) -> None:
    with pytest.raises(CurrencyNotSupported, match="HKD"):
        await world.adapter.start(replace(_request(), amount=Money(1234, "CNY")))
    assert world.sim.trades == {}


async def test_an_h5_payer_picks_a_mainland_wallet_and_pays_in_yuan(world: World) -> None:
    start = await world.adapter.start(_request(channel=Channel.WAP))
    assert start.redirect_url == f"{HOST}{PREFIX}/cashier/{OTN}"
    assert world.sim.trades[OTN].trade_type == "MWEB"
    page = await world.client.get(start.redirect_url)
    assert "微信支付 WeChat Pay HK" in page.text
    assert "HK$12.34" in page.text
    assert "¥11.35" in page.text  # 1234 × 0.92 = 1135.28 fen
    assert '<select name="wallet">' in page.text
    assert "123456" in page.text
    assert "<script" not in page.text
    refused = await world.client.post(start.redirect_url, data={"action": "pay", "password": ""})
    assert refused.status_code == 400
    form = {"action": "pay", "password": "123456", "wallet": "CNY"}
    paid = await world.client.post(start.redirect_url, data=form)
    assert "支付成功" in paid.text
    [raw] = world.merchant.received
    verified = world.adapter.verify_notification(raw, now=world.clock.now())
    assert verified.amount == Money(1234, "HKD")
    resource: Any = verified.raw["resource"]
    assert resource["amount"] == {
        "total": 1234,
        "currency": "HKD",
        "payer_total": 1135,
        "payer_currency": "CNY",
        "exchange_rate": {"type": "SETTLEMENT_RATE", "rate": 92_000_000},
    }
    queried = await world.adapter.query(OTN)
    assert (queried.status, queried.amount) == (TradeStatus.PAID, Money(1234, "HKD"))
    assert queried.provider_trade_no == verified.provider_trade_no == resource["id"]
    assert queried.paid_at == START


async def test_a_wallet_the_api_does_not_know_is_refused(world: World) -> None:
    await world.adapter.start(_request())
    answer = await world.client.post(f"{PREFIX}/pay/{OTN}", params={"wallet": "USD"})
    assert answer.status_code == 400
    assert world.sim.trades[OTN].state == "NOTPAY"


async def test_unsaid_wallets_are_sometimes_hong_kong_and_sometimes_mainland(
    world: World,
) -> None:
    for n in range(12):
        await world.adapter.start(_request(f"TOPUP_HK_{n:04d}"))
        await world.client.post(f"{PREFIX}/pay/TOPUP_HK_{n:04d}")
    payers = {trade.payer_currency for trade in world.sim.trades.values()}
    assert payers == {"HKD", "CNY"}
    for raw in world.merchant.received:
        verified = world.adapter.verify_notification(raw, now=world.clock.now())
        assert verified.amount == Money(1234, "HKD")


async def test_a_closed_trade_cannot_be_paid(world: World) -> None:
    await world.adapter.start(_request())
    await world.adapter.close(OTN)
    assert (await world.adapter.query(OTN)).status is TradeStatus.CLOSED
    assert (await world.client.post(f"{PREFIX}/pay/{OTN}")).status_code == 400
    assert world.merchant.received == []


async def test_a_failed_payment_is_failed_and_not_notified(world: World) -> None:
    await world.adapter.start(_request())
    await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "fail"})
    assert (await world.adapter.query(OTN)).status is TradeStatus.FAILED
    assert world.merchant.received == []
    await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})
    assert (await world.adapter.query(OTN)).status is TradeStatus.PAID


async def test_an_unknown_trade_is_unpaid_and_needs_no_closing(world: World) -> None:
    assert (await world.adapter.query("NEVER_CREATED")).status is TradeStatus.UNPAID
    await world.adapter.close("NEVER_CREATED")
    assert world.sim.trades == {}


async def test_requests_signed_with_another_key_or_too_late_get_sign_error(world: World) -> None:
    forged = replace(world.config, merchant_private_key_pem=KeyPair.generate().private_pem)
    adapter = WeChatPayGlobalAdapter(config=forged, client=world.client, clock=world.clock)
    with pytest.raises(ProviderError, match="401 SIGN_ERROR"):
        await adapter.start(_request())
    assert world.sim.trades == {}
    late = FixedClock(START + timedelta(seconds=301))
    adapter = WeChatPayGlobalAdapter(config=world.config, client=world.client, clock=late)
    with pytest.raises(ProviderError, match="401 SIGN_ERROR"):
        await adapter.query(OTN)
    other = replace(world.config, platform_public_key_id="PUB_KEY_ID_SOMEONE_ELSE")
    adapter = WeChatPayGlobalAdapter(config=other, client=world.client, clock=world.clock)
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


async def test_a_signtest_probe_is_known_for_one_whatever_else_it_carries(world: World) -> None:
    world.sim.faults.signtest = world.sim.faults.stale_timestamp = True
    await _paid(world)
    [raw] = world.merchant.received
    with pytest.raises(NotificationRejected) as caught:
        world.adapter.verify_notification(raw, now=world.clock.now())
    assert (caught.value.code, str(caught.value)) == (
        "bad_signature",
        "a WECHATPAY/SIGNTEST/ probe never verifies",
    )


async def test_a_replay_six_minutes_later_is_stale(world: World) -> None:
    await _paid(world)
    [raw] = world.merchant.received
    world.adapter.verify_notification(raw, now=START + timedelta(minutes=4))
    with pytest.raises(NotificationRejected) as caught:
        world.adapter.verify_notification(raw, now=START + timedelta(minutes=6))
    assert caught.value.code == "stale"


@pytest.mark.parametrize("other", [{"mchid": "1900000999"}, {"appid": "wx0000000000000000"}])
async def test_a_notification_for_another_merchant_is_rejected(
    world: World, other: dict[str, str]
) -> None:
    await _paid(world)
    adapter = WeChatPayGlobalAdapter(
        config=replace(world.config, **other), client=world.client, clock=world.clock
    )
    with pytest.raises(NotificationRejected) as caught:
        adapter.verify_notification(world.merchant.received[0], now=world.clock.now())
    assert caught.value.code == "wrong_merchant"


async def test_retries_follow_the_v3_schedule_and_records_tell_the_story(world: World) -> None:
    world.merchant.status = 500
    await _paid(world)
    await world.adapter.start(_request("TOPUP_HK_UNPAID"))
    assert await world.sim.deliver_due(now=START + timedelta(seconds=14)) == 0
    assert await world.sim.deliver_due(now=START + timedelta(seconds=15)) == 1
    unanswered = {r["out_trade_no"]: r for r in world.sim.records()}[OTN]
    assert (unanswered["attempts"], unanswered["acknowledged"]) == (2, False)
    world.merchant.status = 204
    world.clock.set(START + timedelta(seconds=30))
    assert await world.sim.deliver_due() == 1
    assert world.sim.next_due() is None
    assert len({raw.body for raw in world.merchant.received}) == 1
    assert world.sim.records() == [
        {
            "out_trade_no": OTN,
            "paid": True,
            "state": "SUCCESS",
            "amount_minor": 1234,
            "currency": "HKD",
            "attempts": 3,
            "acknowledged": True,
            "fee_minor": 12,  # 1 % of HK$12.34, to the cent
            "refunded_minor": 0,
            "refunds": [],
        },
        {
            "out_trade_no": "TOPUP_HK_UNPAID",
            "paid": False,
            "state": "NOTPAY",
            "amount_minor": 1234,
            "currency": "HKD",
            "attempts": 0,
            "acknowledged": False,
            "fee_minor": 0,
            "refunded_minor": 0,
            "refunds": [],
        },
    ]


async def test_the_time_scale_shortens_the_schedule(merchant_keys: KeyPair) -> None:
    sim = _simulator(merchant_keys, FixedClock(START), Merchant(status=500), time_scale=0.1)
    order = _order_body("native")
    sim.create_trade(kind="native", order=order)
    await sim.pay(OTN, success=True)
    assert sim.next_due() == START + timedelta(seconds=1.5)


def test_accepted_means_200_or_204_whatever_the_body() -> None:
    assert accepted(Reply(204))
    assert accepted(Reply(200, b"anything"))
    assert not accepted(Reply(400, b'{"code":"FAIL"}'))
    assert not accepted(Reply(500))
    assert not accepted(Reply(0))
    assert WeChatPayGlobalSimulator.accepted(Reply(204))


async def test_the_duplicate_fault_delivers_twice_and_drop_delivers_nothing(world: World) -> None:
    world.sim.faults.duplicate = True
    await _paid(world, "TOPUP_HK_0001")
    ids = [json.loads(raw.body)["id"] for raw in world.merchant.received]
    assert len(ids) == 2
    assert ids[0] == ids[1]
    world.sim.faults.duplicate, world.sim.faults.drop = False, True
    await _paid(world, "TOPUP_HK_0002")
    assert len(world.merchant.received) == 2
    assert world.sim.next_due() is None


# Notifications built here from cryptography's primitives alone, not our signing module.


def _hand_signed(
    platform: KeyPair,
    payment: Mapping[str, Any] | None,
    *,
    key_id: str,
    timestamp: int,
    apiv3_key: str = APIV3_KEY,
    body: bytes | None = None,
) -> RawNotification:
    if body is None:
        nonce = "r4Nd0mN0nc3x"
        ciphertext = AESGCM(apiv3_key.encode()).encrypt(
            nonce.encode(), json.dumps(payment).encode(), b"transaction"
        )
        event = {
            "id": "EV-hand-built-0001",
            "event_type": "TRANSACTION.SUCCESS",
            "resource_type": "encrypt-resource",
            "resource": {
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "nonce": nonce,
                "associated_data": "transaction",
                "original_type": "transaction",
            },
        }
        body = json.dumps(event).encode()
    key = serialization.load_pem_private_key(platform.private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    message = f"{timestamp}\nHANDNONCE\n".encode() + body + b"\n"
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": "HANDNONCE",
        "Wechatpay-Signature": base64.b64encode(signature).decode(),
        "Wechatpay-Serial": key_id,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return RawNotification(headers=headers, body=body)


def _payment(**changes: Any) -> dict[str, Any]:
    payment = {
        "id": "4200000000002026112500000001",
        "mchid": MCHID,
        "appid": APPID,
        "out_trade_no": OTN,
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "success_time": "2026-11-25T17:00:00+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {
            "total": 1234,
            "currency": "HKD",
            "payer_total": 1135,
            "payer_currency": "CNY",
            "exchange_rate": {"type": "SETTLEMENT_RATE", "rate": 92_000_000},
        },
    }
    return payment | changes


def _verify(world: World, raw: RawNotification) -> Any:
    return world.adapter.verify_notification(raw, now=START)


async def test_a_hand_built_notification_verifies_and_gives_the_merchants_hkd(
    world: World,
) -> None:
    raw = _hand_signed(
        world.sim.platform_keys,
        _payment(),
        key_id=world.sim.public_key_id,
        timestamp=int(START.timestamp()),
    )
    verified = _verify(world, raw)
    assert verified.provider is Provider.WECHATPAY_HK
    assert verified.amount == Money(1234, "HKD")
    assert verified.provider_trade_no == "4200000000002026112500000001"
    assert verified.paid_at == START
    assert (verified.merchant_id, verified.app_id) == (MCHID, APPID)


@pytest.mark.parametrize(
    ("payment", "apiv3_key", "code"),
    [
        (
            _payment(amount={"total": 1234, "payer_total": 1135, "payer_currency": "CNY"}),
            None,
            "malformed",
        ),
        (_payment(amount={"total": 12.34, "currency": "HKD"}), None, "malformed"),
        (_payment(amount={"total": "1234", "currency": "HKD"}), None, "malformed"),
        (_payment(id=None, transaction_id="4200000000002026112500000001"), None, "malformed"),
        (_payment(trade_state="NOTPAY"), None, "not_success"),
        (_payment(), "ffffffffffffffffffffffffffffffff", "undecryptable"),
    ],
)
async def test_malformed_notifications_are_refused(
    world: World, payment: dict[str, Any], apiv3_key: str | None, code: str
) -> None:
    raw = _hand_signed(
        world.sim.platform_keys,
        payment,
        key_id=world.sim.public_key_id,
        timestamp=int(START.timestamp()),
        apiv3_key=apiv3_key or APIV3_KEY,
    )
    with pytest.raises(NotificationRejected) as caught:
        _verify(world, raw)
    assert caught.value.code == code


async def test_a_signed_body_that_is_not_json_is_malformed(world: World) -> None:
    raw = _hand_signed(
        world.sim.platform_keys,
        None,
        key_id=world.sim.public_key_id,
        timestamp=int(START.timestamp()),
        body=b"<xml>not json</xml>",
    )
    with pytest.raises(NotificationRejected) as caught:
        _verify(world, raw)
    assert caught.value.code == "malformed"


async def test_forged_and_unsigned_notifications_are_refused(world: World) -> None:
    forged = _hand_signed(
        KeyPair.generate(),
        _payment(),
        key_id=world.sim.public_key_id,
        timestamp=int(START.timestamp()),
    )
    with pytest.raises(NotificationRejected) as caught:
        _verify(world, forged)
    assert caught.value.code == "bad_signature"
    unsigned = RawNotification(headers={}, body=forged.body)
    with pytest.raises(NotificationRejected) as caught:
        _verify(world, unsigned)
    assert caught.value.code == "malformed"


# The wechatpayv3 SDK as an oracle for the simulator's signatures, both directions.


async def test_the_sdk_accepts_and_decrypts_a_simulator_notification(
    world: World, merchant_keys: KeyPair
) -> None:
    await _paid(world, wallet="CNY")
    [raw] = world.merchant.received
    sdk = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=MCHID,
        private_key=merchant_keys.private_pem.decode(),
        cert_serial_no=SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        notify_url=NOTIFY_URL,
        public_key=world.sim.platform_keys.public_pem.decode(),
        public_key_id=world.sim.public_key_id,
    )
    result = sdk.callback(dict(raw.headers), raw.body)
    assert result is not None
    assert result["resource"]["amount"]["currency"] == "HKD"
    assert result["resource"]["amount"]["payer_currency"] == "CNY"
    assert result["resource"]["id"] == world.sim.trades[OTN].transaction_id
    tampered = raw.body.replace(b'"summary":"', b'"summary":"X')
    assert tampered != raw.body
    assert sdk.callback(dict(raw.headers), tampered) is None


def _order_body(endpoint: str, **changes: Any) -> dict[str, Any]:
    order = {
        "mchid": MCHID,
        "appid": APPID,
        "description": "中港卡增值",
        "out_trade_no": OTN,
        "notify_url": NOTIFY_URL,
        "trade_type": {"native": "NATIVE", "mweb": "MWEB"}[endpoint],
        "merchant_category_code": "4814",
        "amount": {"total": 500, "currency": "HKD"},
    }
    if endpoint == "mweb":
        order["scene_info"] = {"payer_client_ip": "203.0.113.9", "h5_info": {"type": "Wap"}}
    return order | changes


async def test_the_sdk_places_global_orders_at_the_simulators_literal_paths(
    merchant_keys: KeyPair,
) -> None:
    # The SDK stamps its Authorization with time.time(), so the simulator runs on real time.
    sim = _simulator(merchant_keys, FixedClock(datetime.now(UTC)), Merchant())
    app = FastAPI()
    app.include_router(router(sim))  # the SDK signs paths from /v3/, so no prefix
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
    core = sdk._core
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        core._client, core._gate_way = client, HOST
        path = "/v3/global/transactions/native"
        code, text = await core.request(path, RequestType.POST, _order_body("native"))
        assert code == 200  # and the SDK verified the simulator's signed answer
        assert json.loads(text)["code_url"].startswith("weixin://")
        mweb = _order_body("mweb", out_trade_no="TOPUP_HK_MWEB")
        code, text = await core.request("/v3/global/transactions/mweb", RequestType.POST, mweb)
        assert json.loads(text)["h5_url"].endswith("/cashier/TOPUP_HK_MWEB")
        bad = _order_body("native", out_trade_no="TOPUP_HK_BAD", merchant_category_code=None)
        code, text = await core.request(path, RequestType.POST, bad)
        assert (code, json.loads(text)["code"]) == (400, "PARAM_ERROR")
        yuan = _order_body("native", out_trade_no="TOPUP_HK_CNY", amount={"total": 1})
        code, _ = await core.request(path, RequestType.POST, yuan)
        assert code == 400
        query = f"/v3/global/transactions/out-trade-no/{OTN}?mchid={MCHID}"
        code, text = await core.request(query, RequestType.GET)
        assert (code, json.loads(text)["trade_state"]) == (200, "NOTPAY")
        close = f"/v3/global/transactions/out-trade-no/{OTN}/close"
        code, _ = await core.request(close, RequestType.POST, {"mchid": MCHID})
        assert code == 204
        assert (await client.post(f"{HOST}/v3/pay/transactions/native")).status_code == 404
    assert sim.trades[OTN].state == "CLOSED"
    assert "TOPUP_HK_BAD" not in sim.trades


# Our adapter's requests checked with cryptography alone, against a hand-signed answer.


async def test_the_adapter_signs_exactly_what_it_sends_and_checks_the_answer(
    merchant_keys: KeyPair,
) -> None:
    platform = KeyPair.generate()
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = b'{"code_url":"weixin://wxpay/bizpayurl?pr=hand"}'
        signed = _hand_signed(
            platform,
            None,
            key_id="PUB_KEY_ID_0000000000000000000000000001",
            timestamp=int(START.timestamp()),
            body=body,
        )
        return httpx.Response(200, content=body, headers=dict(signed.headers))

    config = WeChatPayConfig(
        mchid=MCHID,
        appid=APPID,
        merchant_private_key_pem=merchant_keys.private_pem,
        merchant_serial_no=SERIAL,
        apiv3_key=APIV3_KEY,
        platform_public_key_pem=platform.public_pem,
        platform_public_key_id="PUB_KEY_ID_0000000000000000000000000001",
        base_url="https://apihk.example",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        adapter = WeChatPayGlobalAdapter(config=config, client=client, clock=FixedClock(START))
        start = await adapter.start(_request())
    assert start.qr_payload == "weixin://wxpay/bizpayurl?pr=hand"
    [request] = seen
    assert request.url == "https://apihk.example/v3/global/transactions/native"
    order = json.loads(request.content)
    assert order["trade_type"] == "NATIVE"
    assert order["merchant_category_code"] == "4814"
    assert order["amount"] == {"total": 1234, "currency": "HKD"}
    assert order["time_expire"] == "2026-11-25T17:15:00+08:00"
    scheme, _, params = request.headers["Authorization"].partition(" ")
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    items = dict(part.split("=", 1) for part in params.split(","))
    items = {name: value.strip('"') for name, value in items.items()}
    assert (items["mchid"], items["serial_no"]) == (MCHID, SERIAL)
    message = (
        (
            f"POST\n/v3/global/transactions/native\n{items['timestamp']}\n{items['nonce_str']}\n"
        ).encode()
        + request.content
        + b"\n"
    )
    public = serialization.load_pem_public_key(merchant_keys.public_pem)
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        base64.b64decode(items["signature"]), message, padding.PKCS1v15(), hashes.SHA256()
    )


# The wiring: simulator and adapter from one keys directory, and the real adapter.


async def test_processes_on_one_keys_dir_are_one_merchant_and_one_platform(
    tmp_path: Path,
) -> None:
    clock, merchant = FixedClock(START), Merchant()
    base_url = f"{HOST}/_sim/wechatpay_hk"
    sim = build_simulator(tmp_path, clock, base_url=base_url, deliver=merchant, time_scale=0.5)
    assert (tmp_path / "wechatpay_hk" / "wechatpay_hk_private_key.pem").exists()
    app = FastAPI()
    app.include_router(router(sim), prefix="/_sim/wechatpay_hk")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        adapter = simulator_adapter(tmp_path, clock, base_url=base_url, http=client)
        await adapter.start(_request(channel=Channel.WAP))
        await client.post(f"/_sim/wechatpay_hk/pay/{OTN}", params={"wallet": "HKD"})
        other = simulator_adapter(tmp_path, clock, base_url=base_url, http=client)
        verified = other.verify_notification(merchant.received[0], now=START)
    assert verified.amount == Money(1234, "HKD")
    assert verified.out_trade_no == OTN


def test_the_real_adapter_is_built_from_the_settings(
    tmp_path: Path, merchant_keys: KeyPair
) -> None:
    (tmp_path / "merchant.pem").write_bytes(merchant_keys.private_pem)
    (tmp_path / "platform.pem").write_bytes(KeyPair.generate().public_pem)
    settings = Settings(
        wechatpay_hk_mchid=MCHID,
        wechatpay_hk_appid=APPID,
        wechatpay_hk_private_key_file=str(tmp_path / "merchant.pem"),
        wechatpay_hk_serial_no=SERIAL,
        wechatpay_hk_apiv3_key=APIV3_KEY,
        wechatpay_hk_public_key_file=str(tmp_path / "platform.pem"),
        wechatpay_hk_public_key_id="PUB_KEY_ID_0000000000000000000000000001",
    )
    adapter = real_adapter(settings, FixedClock(START), httpx.AsyncClient())
    assert adapter.provider is Provider.WECHATPAY_HK
    assert adapter._config.base_url == "https://apihk.mch.weixin.qq.com"
    missing = settings.model_copy(update={"wechatpay_hk_public_key_file": str(tmp_path / "no")})
    with pytest.raises(ValueError, match="cannot read"):
        real_adapter(missing, FixedClock(START), httpx.AsyncClient())
