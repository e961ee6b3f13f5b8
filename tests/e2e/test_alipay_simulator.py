"""Alipay end to end: our adapter against our simulator over HTTP (ASGITransport, no network),
and ``python-alipay-sdk`` as an independent oracle for both halves of the protocol — in the
world of ``tests.e2e.alipay_world``.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from alipay.exceptions import AliPayValidationError

from simkeep.money import Money
from simkeep.payment_methods import Channel
from simkeep.payments.model import ProviderError, TradeStatus
from simkeep.payments.providers.alipay import AlipayAdapter, AlipayConfig
from simkeep.payments.providers.alipay_gateway import AlipayError
from simkeep.payments.providers.alipay_signing import beijing_time
from simkeep.payments.signing import KeyPair
from simkeep.simulators.alipay_trades import AlipayFault
from tests.e2e.alipay_world import (
    APP_ID,
    BASE,
    MERCHANT,
    SELLER_ID,
    START,
    SUBJECT,
    World,
    order,
    pay,
    world,
)

__all__ = ["world"]  # the shared fixture: imported so that pytest finds it here


async def test_qr_payment_is_notified_verified_and_queried_as_paid(world: World) -> None:
    start = await world.adapter.start(order("TOPUP_000001"))
    assert start.qr_payload == f"{BASE}/cashier/TOPUP_000001"
    before = await world.adapter.query("TOPUP_000001")
    assert before.status is TradeStatus.UNPAID  # ACQ.TRADE_NOT_EXIST until scanned

    assert (await pay(world, "TOPUP_000001")).json()["trade_status"] == "TRADE_SUCCESS"

    [notice] = world.merchant.verified
    assert (notice.out_trade_no, notice.status, notice.amount) == (
        "TOPUP_000001",
        TradeStatus.PAID,
        Money(10000, "CNY"),
    )
    assert notice.notification_id == world.merchant.received[0]["notify_id"]
    assert world.merchant.received[0]["subject"] == SUBJECT
    after = await world.adapter.query("TOPUP_000001")
    assert (after.status, after.amount, after.paid_at) == (
        TradeStatus.PAID,
        Money(10000, "CNY"),
        START,
    )
    assert after.provider_trade_no == notice.provider_trade_no
    [delivery] = world.sim.deliveries
    assert (delivery.attempts, delivery.acknowledged, delivery.next_due) == (1, True, None)


async def test_closing_an_unpaid_trade(world: World) -> None:
    await world.adapter.start(order("TOPUP_000002"))
    await world.adapter.close("TOPUP_000002")  # never scanned: TRADE_NOT_EXIST is fine
    page = await world.http.get(f"{BASE}/cashier/TOPUP_000002")
    assert "¥100.00" in page.text
    assert "123456" in page.text
    assert (await world.adapter.query("TOPUP_000002")).status is TradeStatus.UNPAID

    await world.adapter.close("TOPUP_000002")

    assert (await world.adapter.query("TOPUP_000002")).status is TradeStatus.CLOSED
    assert (await pay(world, "TOPUP_000002")).status_code == 409
    await world.adapter.close("TOPUP_000002")  # closed already: Alipay refuses, the query tells


async def test_a_paid_trade_cannot_be_closed(world: World) -> None:
    await world.adapter.start(order("TOPUP_000003"))
    assert (await pay(world, "TOPUP_000003")).status_code == 200

    with pytest.raises(AlipayError) as error:
        await world.adapter.close("TOPUP_000003")

    assert error.value.sub_code == "ACQ.TRADE_STATUS_ERROR"
    assert (await world.adapter.query("TOPUP_000003")).status is TradeStatus.PAID


async def test_a_trade_alipay_closed_at_its_time_expire_needs_no_close(world: World) -> None:
    start = await world.adapter.start(order("TOPUP_000004"))
    assert start.qr_payload is not None
    assert (await world.http.get(start.qr_payload)).status_code == 200  # scanned, not paid
    world.clock.advance(timedelta(minutes=16))

    await world.adapter.close("TOPUP_000004")

    assert (await world.adapter.query("TOPUP_000004")).status is TradeStatus.CLOSED


@pytest.mark.parametrize("channel", [Channel.QR, Channel.WAP])
async def test_an_unpaid_trade_is_closed_after_its_time_expire(
    world: World, channel: Channel
) -> None:
    start = await world.adapter.start(order("TOPUP_000017", channel))
    cashier = start.qr_payload or start.redirect_url
    assert cashier is not None
    assert (await world.http.get(cashier)).status_code == 200  # the payer opens it, waits
    world.clock.advance(timedelta(minutes=15))  # time_expire, 00:45:00 Beijing time
    assert (await world.adapter.query("TOPUP_000017")).status is TradeStatus.UNPAID

    world.clock.advance(timedelta(seconds=1))

    assert (await world.adapter.query("TOPUP_000017")).status is TradeStatus.CLOSED
    query = sdk_request(world, "alipay.trade.query", {"out_trade_no": "TOPUP_000017"})
    assert '"trade_status":"TRADE_CLOSED"' in await post_form(world, query)
    again = await world.http.get(f"{BASE}/cashier/TOPUP_000017")
    assert again.status_code == 409
    assert "Trade closed" in again.text
    submit = await world.http.post(
        f"{BASE}/cashier/TOPUP_000017", data={"action": "pay", "password": "123456"}
    )
    assert submit.status_code == 409
    assert (await pay(world, "TOPUP_000017")).status_code == 409
    assert world.merchant.received == []


async def test_a_trade_paid_before_its_time_expire_stays_paid(world: World) -> None:
    await world.adapter.start(order("TOPUP_000018"))
    world.clock.advance(timedelta(minutes=15))
    assert (await pay(world, "TOPUP_000018")).json()["trade_status"] == "TRADE_SUCCESS"

    world.clock.advance(timedelta(hours=1))

    assert (await world.adapter.query("TOPUP_000018")).status is TradeStatus.PAID


@pytest.mark.parametrize("fault", [AlipayFault.TAMPERED_AMOUNT, AlipayFault.BAD_SIGNATURE])
async def test_forged_notifications_are_rejected_and_retried(
    world: World, fault: AlipayFault
) -> None:
    world.sim.faults.add(fault)
    await world.adapter.start(order("TOPUP_000003"))
    await pay(world, "TOPUP_000003")

    assert world.merchant.verified == []
    assert [r.code for r in world.merchant.rejected] == ["bad_signature"]
    if fault is AlipayFault.TAMPERED_AMOUNT:
        assert world.merchant.received[0]["total_amount"] == "200.00"
    [delivery] = world.sim.deliveries
    assert delivery.answers == ["fail"]
    assert delivery.next_due == START + timedelta(minutes=4)


async def test_retries_follow_the_scaled_schedule_until_success(world: World) -> None:
    world.sim.time_scale = 0.5
    world.merchant.script = ["fail", "oops", "success"]
    await world.adapter.start(order("TOPUP_000004"))
    await pay(world, "TOPUP_000004")  # attempt 1, immediately: "fail"

    assert await world.sim.deliver_pending(START + timedelta(minutes=2) - timedelta(seconds=1)) == 0
    assert await world.sim.deliver_pending(START + timedelta(minutes=2)) == 1  # "oops"
    assert await world.sim.deliver_pending(START + timedelta(minutes=7)) == 1  # "success"
    assert await world.sim.deliver_pending(START + timedelta(days=3)) == 0

    [delivery] = world.sim.deliveries
    assert delivery.answers == ["fail", "oops", "success"]
    assert len({notice["notify_id"] for notice in world.merchant.received}) == 1


async def test_an_unanswered_notification_is_sent_eight_times_in_about_25_hours(
    world: World,
) -> None:
    world.merchant.script = ["no"] * 20
    await world.adapter.start(order("TOPUP_000005"))
    await pay(world, "TOPUP_000005")
    for minutes in (4, 14, 24, 84, 204, 564, 1464):
        due = START + timedelta(minutes=minutes)
        assert await world.sim.deliver_pending(due - timedelta(seconds=1)) == 0
        assert await world.sim.deliver_pending(due) == 1
    assert await world.sim.deliver_pending(START + timedelta(days=30)) == 0
    assert len(world.merchant.received) == 8


async def test_duplicate_fault_delivers_twice_with_one_notify_id(world: World) -> None:
    world.sim.faults.add(AlipayFault.DUPLICATE)
    await world.adapter.start(order("TOPUP_000006"))
    await pay(world, "TOPUP_000006")
    first, second = world.merchant.verified
    assert first.notification_id == second.notification_id
    assert first.out_trade_no == second.out_trade_no == "TOPUP_000006"


async def test_dropped_notification_leaves_query_as_the_way_to_learn(world: World) -> None:
    world.sim.faults.add(AlipayFault.DROP)
    await world.adapter.start(order("TOPUP_000007"))
    await pay(world, "TOPUP_000007")
    assert world.merchant.received == []
    assert (await world.adapter.query("TOPUP_000007")).status is TradeStatus.PAID


async def test_failed_payment_closes_the_trade(world: World) -> None:
    await world.adapter.start(order("TOPUP_000008"))
    assert (await pay(world, "TOPUP_000008", "fail")).json()["trade_status"] == "TRADE_CLOSED"
    assert (await world.adapter.query("TOPUP_000008")).status is TradeStatus.CLOSED
    assert world.merchant.received == []


@pytest.mark.parametrize("channel", [Channel.PAGE, Channel.WAP])
async def test_page_payment_through_the_cashier(world: World, channel: Channel) -> None:
    start = await world.adapter.start(order("TOPUP_000009", channel))
    assert start.redirect_url is not None
    cashier = await world.http.get(start.redirect_url)
    assert cashier.status_code == 200
    assert "¥100.00" in cashier.text
    assert "中港卡充值" in cashier.text
    action = f"{BASE}/cashier/TOPUP_000009"
    refused = await world.http.post(action, data={"action": "pay", "password": ""})
    assert refused.status_code == 400
    cancelled = await world.http.post(action, data={"action": "cancel"})
    assert "cancelled" in cancelled.text
    assert (await world.adapter.query("TOPUP_000009")).status is TradeStatus.UNPAID

    paid = await world.http.post(action, data={"action": "pay", "password": "123456"})

    assert paid.status_code == 303
    back = dict(parse_qsl(urlsplit(paid.headers["location"]).query))
    assert back["method"] == "alipay.trade.page.pay.return"
    assert world.sdk.verify(back, back.pop("sign"))
    assert world.merchant.verified[0].status is TradeStatus.PAID


async def test_a_request_signed_with_another_key_is_refused(world: World) -> None:
    stranger = AlipayConfig(
        app_id=APP_ID,
        seller_id=SELLER_ID,
        app_private_key_pem=KeyPair.generate().private_pem,
        alipay_public_key_pem=world.sim.public_key_pem,
        gateway_url=f"{BASE}/gateway.do",
    )
    adapter = AlipayAdapter(config=stranger, http=world.http, clock=world.clock)
    with pytest.raises(AlipayError) as error:
        await adapter.query("TOPUP_000010")
    assert error.value.sub_code == "isv.invalid-signature"


async def test_a_response_signed_by_another_platform_key_is_refused(world: World) -> None:
    config = AlipayConfig(
        app_id=APP_ID,
        seller_id=SELLER_ID,
        app_private_key_pem=MERCHANT.private_pem,
        alipay_public_key_pem=KeyPair.generate().public_pem,
        gateway_url=f"{BASE}/gateway.do",
    )
    adapter = AlipayAdapter(config=config, http=world.http, clock=world.clock)
    with pytest.raises(ProviderError, match="signature does not verify"):
        await adapter.start(order("TOPUP_000011"))


# --- python-alipay-sdk as an independent oracle ------------------------------------------


def sdk_request(world: World, method: str, biz: dict[str, str]) -> str:
    data = world.sdk.build_body(method, biz)
    data["timestamp"] = beijing_time(world.clock.now())  # the SDK uses naive datetime.now()
    return world.sdk.sign_data(data)


async def post_form(world: World, body: str) -> str:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = await world.http.post(f"{BASE}/gateway.do", content=body, headers=headers)
    return response.text


async def test_sdk_verifies_simulator_notifications_and_rejects_tampered_ones(
    world: World,
) -> None:
    await world.adapter.start(order("TOPUP_000012"))
    await pay(world, "TOPUP_000012")
    data = dict(world.merchant.received[0])
    signature = data.pop("sign")  # verify() drops sign_type itself, but not sign
    assert world.sdk.verify(dict(data), signature)
    assert not world.sdk.verify({**data, "total_amount": "1.00"}, signature)


async def test_simulator_accepts_sdk_signed_requests_and_sdk_verifies_the_answers(
    world: World,
) -> None:
    precreate = sdk_request(
        world,
        "alipay.trade.precreate",
        {"out_trade_no": "TOPUP_000013", "total_amount": "100.00", "subject": SUBJECT},
    )
    raw_text = await post_form(world, precreate)
    answer = world.sdk._verify_and_return_sync_response(raw_text, "alipay_trade_precreate_response")
    assert answer["qr_code"] == f"{BASE}/cashier/TOPUP_000013"
    await pay(world, "TOPUP_000013")

    query = sdk_request(world, "alipay.trade.query", {"out_trade_no": "TOPUP_000013"})
    raw_text = await post_form(world, query)
    answer = world.sdk._verify_and_return_sync_response(raw_text, "alipay_trade_query_response")
    assert (answer["code"], answer["trade_status"], answer["total_amount"]) == (
        "10000",
        "TRADE_SUCCESS",
        "100.00",
    )


async def test_sdk_rejects_a_tampered_sync_response_and_simulator_a_tampered_request(
    world: World,
) -> None:
    query = sdk_request(world, "alipay.trade.query", {"out_trade_no": "TOPUP_000014"})
    raw_text = await post_form(world, query)
    assert '"sub_code":"ACQ.TRADE_NOT_EXIST"' in raw_text
    genuine = world.sdk._verify_and_return_sync_response(raw_text, "alipay_trade_query_response")
    assert genuine["code"] == "40004"
    tampered = raw_text.replace("ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_NOT_EXIS_")
    with pytest.raises(AliPayValidationError):
        world.sdk._verify_and_return_sync_response(tampered, "alipay_trade_query_response")

    forged = query.replace("TOPUP_000014", "TOPUP_000015")
    raw_text = await post_form(world, forged)
    assert '"sub_code":"isv.invalid-signature"' in raw_text


async def test_simulator_refuses_a_utc_timestamp(world: World) -> None:
    data = world.sdk.build_body("alipay.trade.query", {"out_trade_no": "TOPUP_000016"})
    data["timestamp"] = world.clock.now().strftime("%Y-%m-%d %H:%M:%S")  # UTC, 8 h off
    raw_text = await post_form(world, world.sdk.sign_data(data))
    assert '"sub_code":"isv.invalid-timestamp"' in raw_text
