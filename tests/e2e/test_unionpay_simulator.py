"""UnionPay's online gateway, both halves over HTTP: our adapter against our simulator (ASGI,
no network), built as the embedded default builds them, from keys kept in one folder — the
browser's consume form, the cashier a person clicks through, queries, and notifications on
their retry schedule with injected faults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import (
    NotificationRejected,
    ProviderError,
    TradeStatus,
)
from simkeep.payments.providers.unionpay import UnionPayAdapter, UnionPayConfig
from simkeep.simulators.delivery import Reply
from simkeep.simulators.keys import kept_key_pair
from simkeep.simulators.unionpay_pki import kept_pki
from simkeep.simulators.unionpay_routes import router
from simkeep.simulators.unionpay_setup import (
    MER_ID,
    MERCHANT_CERT_ID,
    build_simulator,
    simulator_adapter,
)
from simkeep.simulators.unionpay_trades import accepted
from tests.e2e.unionpay_world import (
    HOST,
    ORDER_NO,
    PREFIX,
    RETURN_URL,
    START,
    Merchant,
    World,
    keys_dir,
    open_cashier,
    payment_request,
    world,
)

__all__ = ["keys_dir", "world"]  # fixtures used here

GOOD, DECLINED, SMS = "6216 6100 0000 0000 016", "6216610000000000024", "6216610000000000032"


async def _pay(world: World, cashier: str, card: str = GOOD, password: str = "123456") -> str:
    response = await world.client.post(cashier, data={"card_no": card, "password": password})
    return f"{response.status_code} {response.text}"


async def test_a_card_pays_on_the_cashier_and_the_notification_verifies(world: World) -> None:
    cashier = await open_cashier(world)
    page = (await world.client.get(cashier)).text
    assert "¥12.34" in page
    assert "6216 6100 0000 0000 016" in page
    assert "123456" in page
    assert "<script" not in page
    assert (await world.adapter.query(ORDER_NO)).status is TradeStatus.UNPAID
    paid = await _pay(world, cashier)
    assert paid.startswith("200")
    assert "支付成功" in paid
    assert "6216****0016" in paid
    assert f'href="{RETURN_URL}"' in paid
    [raw] = world.merchant.received
    verified = world.adapter.verify_notification(raw, now=world.clock.now())
    assert (verified.out_trade_no, verified.amount) == (ORDER_NO, Money(1234, "CNY"))
    assert verified.payer_account == "6216****0016"
    assert verified.paid_at == START
    trade = await world.adapter.query(ORDER_NO)
    assert (trade.status, trade.amount) == (TradeStatus.PAID, Money(1234, "CNY"))
    assert (trade.provider_trade_no, trade.paid_at) == (verified.provider_trade_no, START)
    assert world.sim.records() == [
        {
            "out_trade_no": ORDER_NO,
            "paid": True,
            "state": "PAID",
            "amount_minor": 1234,
            "currency": "CNY",
            "attempts": 1,
            "acknowledged": True,
            "fee_minor": 7,  # 0.55 % of ¥12.34, rounded half up
            "refunded_minor": 0,
            "refunds": [],
        }
    ]
    assert (await _pay(world, cashier)).startswith("400")  # paid once only
    again = await world.client.post(f"{PREFIX}/pay/{ORDER_NO}", params={"outcome": "success"})
    assert again.status_code == 400
    assert len(world.merchant.received) == 1


async def test_a_declined_card_leaves_the_trade_unpaid_and_another_card_pays(
    world: World,
) -> None:
    cashier = await open_cashier(world)
    declined = await _pay(world, cashier, DECLINED)
    assert declined.startswith("200")
    assert "(51)" in declined
    assert 'name="card_no"' in declined
    assert world.merchant.received == []
    assert (await world.adapter.query(ORDER_NO)).status is TradeStatus.UNPAID
    assert (await _pay(world, cashier)).startswith("200")
    assert (await world.adapter.query(ORDER_NO)).status is TradeStatus.PAID


async def test_a_card_that_asks_an_sms_code_pays_once_the_code_is_right(world: World) -> None:
    cashier = await open_cashier(world)
    asked = await _pay(world, cashier, SMS)
    assert "111111" in asked
    assert 'name="sms_code"' in asked
    wrong = await world.client.post(f"{cashier}/sms", data={"sms_code": "000000"})
    assert wrong.status_code == 400
    assert world.merchant.received == []
    right = await world.client.post(f"{cashier}/sms", data={"sms_code": "111111"})
    assert right.status_code == 200
    assert "6216****0032" in right.text
    assert world.adapter.verify_notification(world.merchant.received[0], now=START).amount.minor
    assert (await world.adapter.query(ORDER_NO)).status is TradeStatus.PAID


async def test_a_wrong_password_or_card_number_pays_nothing(world: World) -> None:
    cashier = await open_cashier(world)
    assert (await _pay(world, cashier, password="654321")).startswith("400")
    not_luhn = await _pay(world, cashier, "6216610000000000017")
    assert not_luhn.startswith("400")
    assert "卡号有误" in not_luhn
    assert (await _pay(world, cashier, "4111111111111111")).startswith("400")  # unknown card
    sms_first = await world.client.post(f"{cashier}/sms", data={"sms_code": "111111"})
    assert sms_first.status_code == 400
    assert world.merchant.received == []
    assert world.sim.records()[0]["state"] == "AWAITING"


async def test_no_payment_is_taken_after_pay_timeout(world: World) -> None:
    cashier = await open_cashier(world)
    world.clock.advance(timedelta(minutes=15, seconds=1))
    late = await _pay(world, cashier)
    assert late.startswith("400")
    assert "超时" in late
    hook = await world.client.post(f"{PREFIX}/pay/{ORDER_NO}", params={"outcome": "success"})
    assert hook.status_code == 400
    assert world.merchant.received == []
    assert (await world.adapter.query(ORDER_NO)).status is TradeStatus.UNPAID
    assert world.sim.records()[0]["state"] == "EXPIRED"
    await world.adapter.close(ORDER_NO)  # nothing to ask: the gateway refuses by itself
    start = await world.adapter.start(payment_request("T202611250000000002"))
    assert start.form is not None
    expired = await world.client.post(start.redirect_url or "", data=dict(start.form))
    assert expired.status_code == 400
    assert "39" in expired.text


async def test_the_gateway_refuses_a_tampered_or_foreign_form(world: World) -> None:
    start = await world.adapter.start(payment_request())
    assert start.form is not None
    assert start.redirect_url is not None
    for change in ({"txnAmt": "1"}, {"certId": "1"}, {"merId": "777290058119999"}):
        form = {**start.form, **change}
        refused = await world.client.post(start.redirect_url, data=form)
        assert refused.status_code == 400
    assert world.sim.trades == {}
    hook = await world.client.post(f"{PREFIX}/pay/{ORDER_NO}")
    assert hook.status_code == 404


@pytest.mark.parametrize(
    ("mer_id", "cert_id"), [(MER_ID, "1"), ("777290058119999", MERCHANT_CERT_ID)]
)
async def test_the_gateway_knows_the_merchant_and_its_certificate(
    world: World, mer_id: str, cert_id: str
) -> None:
    pki = kept_pki(world.keys_dir / "unionpay", now=START)
    config = UnionPayConfig(
        mer_id=mer_id,
        merchant_private_key_pem=kept_key_pair(world.keys_dir, "merchant").private_pem,
        cert_id=cert_id,
        root_cert_pem=pki.root_pem,
        middle_cert_pem=pki.middle_pem,
        gateway_url=HOST + PREFIX,
    )
    stranger = UnionPayAdapter(config=config, http=world.client, clock=world.clock)
    start = await stranger.start(payment_request())
    refused = await world.client.post(start.redirect_url or "", data=dict(start.form or {}))
    assert refused.status_code == 400
    assert world.sim.trades == {}
    with pytest.raises(ProviderError, match="refused the query"):
        await stranger.query(ORDER_NO)


async def test_queries_tell_paid_unpaid_and_unknown_trades_apart(world: World) -> None:
    assert (await world.adapter.query("T202611250000000009")).status is TradeStatus.UNPAID
    assert world.sim.trades == {}
    await open_cashier(world, payment_request(amount=Money(5000, "HKD")))
    assert (await world.adapter.query(ORDER_NO)).status is TradeStatus.UNPAID
    hook = await world.client.post(f"{PREFIX}/pay/{ORDER_NO}", params={"outcome": "fail"})
    assert hook.json()["state"] == "DECLINED"
    assert (await world.adapter.query(ORDER_NO)).status is TradeStatus.UNPAID
    await world.client.post(f"{PREFIX}/pay/{ORDER_NO}", params={"outcome": "success"})
    trade = await world.adapter.query(ORDER_NO)
    assert (trade.status, trade.amount) == (TradeStatus.PAID, Money(5000, "HKD"))
    # Another process on the same keys is the same merchant and trusts the same UnionPay.
    twin = simulator_adapter(world.keys_dir, world.clock, base_url=HOST + PREFIX, http=world.client)
    assert (await twin.query(ORDER_NO)).status is TradeStatus.PAID


async def test_the_notifier_retries_on_its_schedule_until_answered_200(world: World) -> None:
    world.merchant.status = 500
    await open_cashier(world)
    await world.client.post(f"{PREFIX}/pay/{ORDER_NO}")
    assert len(world.merchant.received) == 1
    assert world.sim.next_due() == START + timedelta(seconds=60)
    await world.sim.deliver_due(START + timedelta(seconds=59))
    assert len(world.merchant.received) == 1
    await world.sim.deliver_due(START + timedelta(seconds=60))
    assert len(world.merchant.received) == 2
    world.merchant.status = 200
    await world.sim.deliver_due(START + timedelta(seconds=60 + 119))
    assert len(world.merchant.received) == 2
    await world.sim.deliver_due(START + timedelta(seconds=180))
    await world.sim.deliver_due(START + timedelta(days=1))
    assert len(world.merchant.received) == 3
    assert world.sim.next_due() is None
    ids = {
        world.adapter.verify_notification(r, now=START).notification_id
        for r in world.merchant.received
    }
    assert len(ids) == 1  # every attempt is the same notification, signed afresh
    [record] = world.sim.records()
    assert (record["attempts"], record["acknowledged"]) == (3, True)


async def test_a_scaled_schedule_and_the_protocols_idea_of_taken(keys_dir: Path) -> None:
    clock, merchant = FixedClock(START), Merchant(status=204)
    sim = build_simulator(keys_dir, clock, base_url=HOST, deliver=merchant, time_scale=0.5)
    app = FastAPI()
    app.include_router(router(sim))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        adapter = simulator_adapter(keys_dir, clock, base_url=HOST, http=client)
        start = await adapter.start(payment_request())
        await client.post(start.redirect_url or "", data=dict(start.form or {}))
        await client.post(f"/pay/{ORDER_NO}")
    await sim.deliver_due(START + timedelta(seconds=30))
    assert len(merchant.received) == 2  # 204 is not UnionPay's 200: sent again after 30 s
    assert accepted(Reply(200, b"ok"))
    assert not accepted(Reply(204))
    assert not accepted(Reply(0))


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("bad_signature", "bad_signature"),
        ("tampered_amount", "bad_signature"),
        ("stale_timestamp", "stale"),
        ("self_signed_cert", "bad_certificate"),
    ],
)
async def test_faulty_notifications_are_refused_by_the_adapter(
    world: World, fault: str, code: str
) -> None:
    setattr(world.sim.faults, fault, True)
    await open_cashier(world)
    await world.client.post(f"{PREFIX}/pay/{ORDER_NO}")
    [raw] = world.merchant.received
    with pytest.raises(NotificationRejected) as caught:
        world.adapter.verify_notification(raw, now=world.clock.now())
    assert caught.value.code == code


async def test_dropped_and_duplicated_notifications(world: World) -> None:
    world.sim.faults.drop = True
    await open_cashier(world)
    await world.client.post(f"{PREFIX}/pay/{ORDER_NO}")
    await world.sim.deliver_due(START + timedelta(days=1))
    assert world.merchant.received == []
    [record] = world.sim.records()
    assert (record["paid"], record["attempts"], record["acknowledged"]) == (True, 0, False)
    world.sim.faults.drop, world.sim.faults.duplicate = False, True
    await open_cashier(world, payment_request("T202611250000000002"))
    await world.client.post(f"{PREFIX}/pay/T202611250000000002")
    first, second = world.merchant.received
    ids = [world.adapter.verify_notification(r, now=START).notification_id for r in (first, second)]
    assert ids[0] == ids[1]


async def test_a_query_answer_from_an_untrusted_unionpay_is_refused(
    world: World, tmp_path: Path
) -> None:
    other = kept_pki(tmp_path, now=START)
    config = UnionPayConfig(
        mer_id=MER_ID,
        merchant_private_key_pem=kept_key_pair(world.keys_dir, "merchant").private_pem,
        cert_id=MERCHANT_CERT_ID,
        root_cert_pem=other.root_pem,
        middle_cert_pem=other.middle_pem,
        gateway_url=HOST + PREFIX,
    )
    fooled = UnionPayAdapter(config=config, http=world.client, clock=world.clock)
    await open_cashier(world)
    with pytest.raises(ProviderError, match="bad_certificate"):
        await fooled.query(ORDER_NO)
