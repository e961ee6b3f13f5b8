"""AlipayHK through Alipay+ (AMS), both halves over HTTP: our adapter against our simulator
(ASGI, no network), built from kept keys as the embedded default builds them; the cashier a
payer clicks through; notifications answered by our own adapter, their retries and faults."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel
from simkeep.payments.model import (
    CurrencyNotSupported,
    NotificationRejected,
    ProviderError,
    TradeStatus,
)
from simkeep.payments.providers.alipayplus import AlipayPlusConfig
from simkeep.payments.providers.alipayplus_signing import ams_time, signed_headers
from simkeep.payments.signing import KeyPair, load_private_key
from simkeep.simulators.alipayplus import accepted
from simkeep.simulators.alipayplus_setup import CLIENT_ID, build_simulator, simulator_adapter
from simkeep.simulators.delivery import Reply
from simkeep.simulators.keys import kept_key_pair
from tests.e2e.alipayplus_world import (
    BACK,
    HOST,
    NOTIFY_URL,
    PREFIX,
    START,
    Merchant,
    World,
    keys_dir,
    paid,
    pay_hook,
    payment_request,
    world,
)

__all__ = ["keys_dir", "world"]  # fixtures used here


async def test_a_phone_is_sent_to_the_cashier_and_the_payment_waits(world: World) -> None:
    start = await world.adapter.start(payment_request())
    payment = world.sim.payments["TOPUP_000001"]
    assert start.redirect_url == f"{HOST}{PREFIX}/cashier/{payment.payment_id}"
    assert (payment.amount, payment.currency, payment.terminal_type) == (12345, "HKD", "WAP")
    assert payment.expires_at == START + timedelta(minutes=15)
    assert payment.redirect_url == BACK
    trade = await world.adapter.query("TOPUP_000001")
    assert (trade.status, trade.amount) == (TradeStatus.UNPAID, Money(12345, "HKD"))
    assert trade.provider_trade_no == payment.payment_id


async def test_a_desktop_shows_the_order_code_which_opens_the_same_cashier(world: World) -> None:
    start = await world.adapter.start(payment_request(channel=Channel.QR))
    payment_id = world.sim.payments["TOPUP_000001"].payment_id
    assert start.qr_payload == f"{HOST}{PREFIX}/cashier/{payment_id}?qr=1"
    page = await world.client.get(start.qr_payload)
    assert page.status_code == 200
    assert "HK$123.45" in page.text
    assert "<script" not in page.text


async def test_a_payer_logs_in_and_pays_with_the_six_digit_password(world: World) -> None:
    start = await world.adapter.start(payment_request())
    assert start.redirect_url is not None
    page = await world.client.get(start.redirect_url)
    assert "buyer@alipayhk.test" in page.text
    assert 'name="account"' in page.text
    unknown = await world.client.post(
        start.redirect_url, data={"action": "login", "account": "who@alipayhk.test"}
    )
    assert unknown.status_code == 400
    login = await world.client.post(
        start.redirect_url, data={"action": "login", "account": "buyer@alipayhk.test"}
    )
    assert 'type="password"' in login.text
    assert "123456" in login.text
    wrong = {"action": "pay", "account": "buyer@alipayhk.test", "password": "654321"}
    assert (await world.client.post(start.redirect_url, data=wrong)).status_code == 400
    assert world.merchant.received == []
    paid = await world.client.post(start.redirect_url, data=wrong | {"password": "123456"})
    assert paid.status_code == 303
    assert paid.headers["location"] == BACK
    [raw] = world.merchant.received
    verified = world.adapter.verify_notification(raw, now=world.clock.now())
    assert (verified.status, verified.amount) == (TradeStatus.PAID, Money(12345, "HKD"))
    trade = await world.adapter.query("TOPUP_000001")
    assert (trade.status, trade.paid_at) == (TradeStatus.PAID, START)
    assert trade.provider_trade_no == verified.provider_trade_no
    assert world.sim.records() == [
        {
            "out_trade_no": "TOPUP_000001",
            "paid": True,
            "state": "SUCCESS",
            "amount_minor": 12345,
            "currency": "HKD",
            "attempts": 1,
            "acknowledged": True,
            "fee_minor": 148,  # 1.2 % of HK$123.45, rounded half up
            "refunded_minor": 0,
            "refunds": [],
        }
    ]


async def test_an_account_without_balance_is_declined_and_that_is_notified(world: World) -> None:
    start = await world.adapter.start(payment_request(channel=Channel.QR))
    assert start.qr_payload is not None
    form = {"action": "pay", "account": "empty@alipayhk.test", "password": "123456", "qr": "1"}
    declined = await world.client.post(start.qr_payload.split("?")[0], data=form)
    assert declined.status_code == 200
    assert "Declined" in declined.text
    [raw] = world.merchant.received
    verified = world.adapter.verify_notification(raw, now=world.clock.now())
    assert verified.status is TradeStatus.FAILED
    assert (await world.adapter.query("TOPUP_000001")).status is TradeStatus.FAILED
    assert (await pay_hook(world, "TOPUP_000001")).status_code == 400  # final: no second try


async def test_the_test_hook_pays_or_declines(world: World) -> None:
    await world.adapter.start(payment_request("TOPUP_000001"))
    await world.adapter.start(payment_request("TOPUP_000002"))
    assert (await pay_hook(world, "TOPUP_000002", "fail")).json()["paymentStatus"] == "FAIL"
    assert (await pay_hook(world, "TOPUP_000001")).json()["paymentStatus"] == "SUCCESS"
    assert (await pay_hook(world, "TOPUP_000001")).status_code == 400  # paid once only
    assert (await pay_hook(world, "TOPUP_000001", "maybe")).status_code == 400
    statuses = [(await world.adapter.query(n)).status for n in ("TOPUP_000001", "TOPUP_000002")]
    assert statuses == [TradeStatus.PAID, TradeStatus.FAILED]


async def test_a_cancelled_payment_cannot_be_paid(world: World) -> None:
    start = await world.adapter.start(payment_request())
    await world.adapter.close("TOPUP_000001")
    assert (await world.adapter.query("TOPUP_000001")).status is TradeStatus.CLOSED
    assert (await pay_hook(world, "TOPUP_000001")).status_code == 400
    assert start.redirect_url is not None
    assert 'type="email"' not in (await world.client.get(start.redirect_url)).text
    await world.adapter.close("TOPUP_000001")  # again: nothing to do
    assert world.merchant.received == []


async def test_an_expired_payment_cannot_be_paid_and_its_failure_is_notified(
    world: World,
) -> None:
    await world.adapter.start(payment_request())
    world.clock.advance(timedelta(minutes=15, seconds=1))
    assert (await pay_hook(world, "TOPUP_000001")).status_code == 400
    assert (await world.adapter.query("TOPUP_000001")).status is TradeStatus.FAILED
    await world.sim.deliver_due()
    [raw] = world.merchant.received
    assert json.loads(raw.body)["result"]["resultCode"] == "ORDER_IS_CLOSED"
    await world.adapter.close("TOPUP_000001")  # closed already: no cancel needed
    assert world.sim.cancel("TOPUP_000001").state == "CANCELLED"  # and a cancel still works


async def test_close_never_cancels_a_paid_payment_which_would_refund_it(world: World) -> None:
    await paid(world)
    await paid(world, "TOPUP_000002")
    with pytest.raises(ProviderError, match="refund"):
        await world.adapter.close("TOPUP_000001")
    assert world.sim.payments["TOPUP_000001"].state == "SUCCESS"
    # The simulator refunds on cancel, as AMS does, until 00:15 the next day in Hong Kong.
    world.clock.set(datetime(2026, 11, 25, 16, 14, tzinfo=UTC))
    assert world.sim.cancel("TOPUP_000001").state == "CANCELLED"
    assert (await world.adapter.query("TOPUP_000001")).status is TradeStatus.CLOSED
    world.clock.set(datetime(2026, 11, 25, 16, 15, tzinfo=UTC))
    with pytest.raises(Exception, match="cancellable period"):
        world.sim.cancel("TOPUP_000002")


async def test_an_unknown_payment_is_unpaid_and_needs_no_cancel(world: World) -> None:
    assert (await world.adapter.query("NEVER_CREATED")).status is TradeStatus.UNPAID
    await world.adapter.close("NEVER_CREATED")
    assert world.sim.payments == {}


async def test_the_same_request_id_repeats_its_answer_or_is_refused(world: World) -> None:
    first = await world.adapter.start(payment_request())
    assert await world.adapter.start(payment_request()) == first
    with pytest.raises(ProviderError, match="REPEAT_REQ_INCONSISTENT"):
        await world.adapter.start(payment_request(minor=100))


async def test_money_that_is_not_hkd_is_refused_before_any_call(world: World) -> None:
    with pytest.raises(CurrencyNotSupported, match="HKD"):
        await world.adapter.start(replace(payment_request(), amount=Money(12345, "CNY")))
    assert world.sim.payments == {}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"merchant_private_key_pem": KeyPair.generate().private_pem}, "INVALID_SIGNATURE"),
        ({"key_version": "9"}, "KEY_NOT_FOUND"),
    ],
)
async def test_requests_not_signed_by_the_merchant_are_refused(
    world: World, changes: dict[str, object], code: str
) -> None:
    with pytest.raises(ProviderError, match=code):
        await world.adapter_with(**changes).start(payment_request())
    assert world.sim.payments == {}


async def _signed_post(
    world: World, keys_dir: Path, *, client_id: str = CLIENT_ID, at: datetime = START
) -> str:
    """An inquiry signed by the merchant's kept key, as sent; the result code it got."""
    path = f"{PREFIX}/ams/api/v1/payments/inquiryPayment"
    body = b'{"paymentRequestId":"TOPUP_000001"}'
    headers = signed_headers(
        load_private_key(kept_key_pair(keys_dir, "merchant").private_pem),
        key_version="1",
        path=path,
        client_id=client_id,
        time_header="Request-Time",
        time=ams_time(at),
        body=body,
    )
    response = await world.client.post(path, content=body, headers=headers)
    assert response.status_code == 200
    return str(response.json()["result"]["resultCode"])


async def test_a_request_from_another_client_or_signed_too_long_ago_is_refused(
    world: World, keys_dir: Path
) -> None:
    assert await _signed_post(world, keys_dir) == "ORDER_NOT_EXIST"  # signed right: heard
    assert await _signed_post(world, keys_dir, client_id="SOMEONE_ELSE_01") == "INVALID_CLIENT"
    late = START - timedelta(minutes=5, seconds=1)
    assert await _signed_post(world, keys_dir, at=late) == "INVALID_SIGNATURE"
    assert await _signed_post(world, keys_dir, at=late + timedelta(seconds=1)) == "ORDER_NOT_EXIST"


async def test_an_answer_that_alipayplus_did_not_sign_is_not_believed(world: World) -> None:
    other = world.adapter_with(alipayplus_public_key_pem=KeyPair.generate().public_pem)
    with pytest.raises(ProviderError, match="bad_signature"):
        await other.start(payment_request())
    prefixed = world.adapter_with(gateway_url=f"{HOST}/elsewhere{PREFIX}")
    with pytest.raises(ProviderError, match="HTTP 404"):
        await prefixed.query("TOPUP_000001")


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("tampered_amount", "bad_signature"),
        ("bad_signature", "bad_signature"),
        ("stale_timestamp", "stale"),
    ],
)
async def test_faulty_notifications_are_refused_and_retried(
    world: World, fault: str, code: str
) -> None:
    setattr(world.sim.faults, fault, True)
    await paid(world)
    [raw] = world.merchant.received
    with pytest.raises(NotificationRejected) as caught:
        world.adapter.verify_notification(raw, now=world.clock.now())
    assert caught.value.code == code
    assert world.sim.records()[0]["acknowledged"] is False
    assert world.sim.next_due() == START + timedelta(minutes=2)


async def test_a_tampered_amount_is_another_amount_in_the_body(world: World) -> None:
    world.sim.faults.tampered_amount = True
    await paid(world)
    [raw] = world.merchant.received
    assert json.loads(raw.body)["paymentAmount"] == {"currency": "HKD", "value": "123"}


async def test_a_replay_six_minutes_later_is_stale(world: World) -> None:
    await paid(world)
    [raw] = world.merchant.received
    with pytest.raises(NotificationRejected) as caught:
        world.adapter.verify_notification(raw, now=START + timedelta(minutes=6))
    assert caught.value.code == "stale"


async def test_a_notification_for_another_client_id_is_refused(world: World) -> None:
    await paid(world)
    other = world.adapter_with(client_id="5J5Y3P2N3Z0HK0999")
    with pytest.raises(NotificationRejected) as caught:
        other.verify_notification(world.merchant.received[0], now=world.clock.now())
    assert caught.value.code == "wrong_merchant"


def test_only_the_fixed_success_result_is_taken() -> None:
    ok = b'{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}'
    assert accepted(Reply(200, ok))
    assert not accepted(Reply(500, ok))
    assert not accepted(Reply(200, b"success"))
    assert not accepted(Reply(200, b'{"result":{"resultCode":"SUCCESS","resultStatus":"F"}}'))
    assert not accepted(Reply(0))


async def test_retries_follow_the_ams_schedule_until_the_success_result(world: World) -> None:
    world.merchant.status = 200  # a 200 without the SUCCESS result is not taken
    await paid(world)
    await world.sim.deliver_due(now=START + timedelta(seconds=119))
    assert len(world.merchant.received) == 1
    await world.sim.deliver_due(now=START + timedelta(minutes=2))
    assert len(world.merchant.received) == 2
    world.merchant.status = None  # our adapter answers from now on
    world.clock.set(START + timedelta(minutes=12))
    await world.sim.deliver_due()
    assert world.sim.next_due() is None
    assert world.sim.records()[0]["attempts"] == 3
    assert world.sim.records()[0]["acknowledged"] is True
    assert len({raw.body for raw in world.merchant.received}) == 1
    assert len({raw.headers["Request-Time"] for raw in world.merchant.received}) == 3


async def test_an_unanswered_notification_is_given_up_after_eight_attempts(world: World) -> None:
    world.merchant.status = 500
    await paid(world)
    sent = []
    while (due := world.sim.next_due()) is not None:
        sent.append(due - START)
        await world.sim.deliver_due(now=due)
    assert len(world.merchant.received) == 8
    minutes = [2, 12, 22, 82, 202, 562, 1462]  # after the first, at once
    assert sent == [timedelta(minutes=m) for m in minutes]


async def test_time_scale_shrinks_the_schedule(keys_dir: Path) -> None:
    clock, merchant = FixedClock(START), Merchant(status=500)
    sim = build_simulator(keys_dir, clock, base_url=HOST, deliver=merchant, time_scale=0.01)
    payment = {
        "productCode": "CASHIER_PAYMENT",
        "paymentRequestId": "TOPUP_000001",
        "order": {"orderDescription": "top-up", "orderAmount": {"currency": "HKD", "value": "100"}},
        "paymentAmount": {"currency": "HKD", "value": "100"},
        "paymentMethod": {"paymentMethodType": "ALIPAY_HK"},
        "paymentNotifyUrl": NOTIFY_URL,
        "env": {"terminalType": "WAP"},
    }
    sim.create_payment(payment)
    sim.pay("TOPUP_000001", account="buyer@alipayhk.test", password="123456")
    await sim.deliver_due()
    assert sim.next_due() == START + timedelta(seconds=1.2)
    assert sim.payments["TOPUP_000001"].expires_at == START + timedelta(minutes=14)


async def test_the_duplicate_fault_delivers_twice_and_drop_delivers_nothing(world: World) -> None:
    world.sim.faults.duplicate = True
    await paid(world, "TOPUP_000001")
    bodies = [raw.body for raw in world.merchant.received]
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    world.sim.faults.duplicate, world.sim.faults.drop = False, True
    await paid(world, "TOPUP_000002")
    assert len(world.merchant.received) == 2
    assert world.sim.next_due() is None
    assert [r["attempts"] for r in world.sim.records()] == [1, 0]


async def test_every_process_on_the_same_keys_is_the_same_merchant(
    world: World, keys_dir: Path
) -> None:
    await paid(world)
    async with httpx.AsyncClient() as http:
        again = simulator_adapter(keys_dir, world.clock, base_url=HOST + PREFIX, http=http)
    verified = again.verify_notification(world.merchant.received[0], now=world.clock.now())
    assert verified.merchant_id == CLIENT_ID
    assert isinstance(again._config, AlipayPlusConfig)
