"""UnionPay refunds (退货), both halves over HTTP: our adapter's ``refund`` and
``query_refund`` against the simulator's ``backTransReq.do`` and ``queryTrans.do`` — a full
refund paid back later and notified, partial refunds up to what the consume charged, the
same refund number asked again (one after the other and all at once) paying once, the
gateway's refusals with their codes, and answers that UnionPay did not sign."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from simkeep.money import Money
from simkeep.payments.model import (
    ProviderError,
    RefundNotification,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from simkeep.payments.providers.unionpay_signing import parse_form
from simkeep.simulators.unionpay_refunds import REFUND_SECONDS
from simkeep.simulators.unionpay_setup import simulator_adapter
from simkeep.simulators.unionpay_trades import SimTrade
from tests.e2e.unionpay_world import (
    HOST,
    NOTIFY_URL,
    ORDER_NO,
    PREFIX,
    START,
    World,
    keys_dir,
    open_cashier,
    payment_request,
    world,
)

__all__ = ["keys_dir", "world"]  # fixtures used here

REFUND_NO = "F261125A1B2C3D4E5F6"
LATER = timedelta(seconds=REFUND_SECONDS)


async def _paid(world: World, otn: str = ORDER_NO, amount: Money | None = None) -> str:
    """A consume paid by the test hook; its ``queryId``."""
    await open_cashier(world, payment_request(otn, amount=amount))
    paid = await world.client.post(f"{PREFIX}/pay/{otn}")
    assert paid.json()["state"] == "PAID"
    trade = await world.adapter.query(otn)
    assert trade.status is TradeStatus.PAID
    assert trade.provider_trade_no is not None
    return trade.provider_trade_no


def _refund(
    number: str = REFUND_NO,
    minor: int = 1234,
    *,
    currency: str = "CNY",
    trade_no: str | None = None,
    otn: str = ORDER_NO,
) -> RefundRequest:
    return RefundRequest(
        out_trade_no=otn,
        out_refund_no=number,
        amount=Money(minor, currency),
        total=Money(1234, "CNY"),
        reason="wrong number",
        provider_trade_no=trade_no,
    )


def _consume(world: World, otn: str = ORDER_NO) -> SimTrade:
    return world.sim.by_order(otn)


async def test_a_full_refund_is_taken_paid_back_later_and_notified(world: World) -> None:
    query_id = await _paid(world)
    world.merchant.received.clear()
    taken = await world.adapter.refund(_refund(trade_no=query_id))
    assert (taken.status, taken.amount) == (RefundStatus.PROCESSING, Money(1234, "CNY"))
    assert taken.provider_refund_no
    assert (await world.adapter.query_refund(_refund())).status is RefundStatus.PROCESSING
    assert world.sim.next_due() == START + LATER
    await world.sim.deliver_due(START + LATER)
    [raw] = world.merchant.received
    notified = parse_form(raw.body)
    assert (notified["txnType"], notified["orderId"]) == ("04", REFUND_NO)
    assert (notified["origQryId"], notified["txnAmt"]) == (query_id, "1234")
    told = world.adapter.verify_notification(raw, now=START + LATER)
    assert isinstance(told, RefundNotification)
    assert (told.refund.out_refund_no, told.refund.status) == (REFUND_NO, RefundStatus.SUCCEEDED)
    assert told.refund.amount == Money(1234, "CNY")
    world.clock.advance(LATER)
    done = await world.adapter.query_refund(_refund())
    assert (done.status, done.amount) == (RefundStatus.SUCCEEDED, Money(1234, "CNY"))
    assert (done.provider_refund_no, done.refunded_at) == (taken.provider_refund_no, START + LATER)
    assert _consume(world).refunded == 1234
    assert (await world.adapter.query(ORDER_NO)).status is TradeStatus.PAID  # as at UnionPay
    nothing_left = await world.adapter.refund(_refund("F261125000000000002", 1, trade_no=query_id))
    assert nothing_left.status is RefundStatus.FAILED
    assert (nothing_left.reason or "").startswith("33 ")


async def test_the_consume_is_found_by_query_when_its_query_id_was_not_kept(world: World) -> None:
    query_id = await _paid(world)
    taken = await world.adapter.refund(_refund(minor=234))
    assert taken.status is RefundStatus.PROCESSING
    [refund] = world.sim.refund_book.refunds.values()
    assert (refund.orig_query_id, refund.txn_time) == (query_id, "20261125000000")


async def test_partial_refunds_stop_at_what_the_consume_charged(world: World) -> None:
    query_id = await _paid(world)
    first = await world.adapter.refund(_refund("F261125000000000001", 500, trade_no=query_id))
    second = await world.adapter.refund(_refund("F261125000000000002", 500, trade_no=query_id))
    assert [first.status, second.status] == [RefundStatus.PROCESSING] * 2
    assert first.provider_refund_no != second.provider_refund_no
    third = await world.adapter.refund(_refund("F261125000000000003", 235, trade_no=query_id))
    assert third.status is RefundStatus.FAILED
    assert (third.reason or "").startswith("33 ")
    assert _consume(world).refunded == 1000
    last = await world.adapter.refund(_refund("F261125000000000004", 234, trade_no=query_id))
    assert last.status is RefundStatus.PROCESSING
    assert _consume(world).refunded == 1234
    unknown = await world.adapter.query_refund(_refund("F261125000000000003"))
    assert (unknown.status, unknown.reason) == (RefundStatus.FAILED, "unknown")


async def test_the_same_refund_number_again_pays_once(world: World) -> None:
    query_id = await _paid(world)
    first = await world.adapter.refund(_refund(minor=600, trade_no=query_id))
    again = await world.adapter.refund(_refund(minor=600, trade_no=query_id))
    assert again == first
    world.clock.advance(LATER)
    await world.sim.deliver_due()
    after = await world.adapter.refund(_refund(minor=600, trade_no=query_id))
    assert (after.status, after.provider_refund_no) == (
        RefundStatus.SUCCEEDED,
        first.provider_refund_no,
    )
    assert _consume(world).refunded == 600
    assert len(world.sim.refund_book.refunds) == 1
    assert len([r for r in world.merchant.received if b"txnType=04" in r.body]) == 1


async def test_ten_at_once_with_one_number_pay_once(world: World) -> None:
    query_id = await _paid(world)
    asks = [world.adapter.refund(_refund(minor=700, trade_no=query_id)) for _ in range(10)]
    answers = await asyncio.gather(*asks)
    assert len(set(answers)) == 1
    assert answers[0].status is RefundStatus.PROCESSING
    assert answers[0].amount == Money(700, "CNY")
    assert _consume(world).refunded == 700
    assert len(world.sim.refund_book.refunds) == 1


async def test_an_unpaid_or_unknown_consume_is_not_refunded(world: World) -> None:
    await open_cashier(world)
    unpaid_query_id = _consume(world).query_id
    refused = await world.adapter.refund(_refund(trade_no=unpaid_query_id))
    assert refused.status is RefundStatus.FAILED
    assert (refused.reason or "").startswith("35 ")
    asked = await world.adapter.refund(_refund("F261125000000000002"))  # found by query
    assert asked.status is RefundStatus.FAILED
    unknown = await world.adapter.refund(_refund("F261125000000000003", trade_no="1" * 21))
    assert (unknown.reason or "").startswith("35 ")
    assert world.sim.refund_book.refunds == {}
    assert _consume(world).refunded == 0


@pytest.mark.parametrize(
    ("minor", "currency", "code"), [(0, "CNY", "10"), (-5, "CNY", "10"), (100, "HKD", "36")]
)
async def test_a_wrong_amount_or_currency_is_refused_with_its_code(
    world: World, minor: int, currency: str, code: str
) -> None:
    query_id = await _paid(world)
    refused = await world.adapter.refund(_refund(minor=minor, currency=currency, trade_no=query_id))
    assert refused.status is RefundStatus.FAILED
    assert (refused.reason or "").startswith(f"{code} ")
    assert _consume(world).refunded == 0


def _tampered(world: World, change: Callable[[bytes], bytes], status: int = 200) -> World:
    """The same world, but every answer of the gateway passes through ``change``."""

    class Tampering(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            answer = await world.client.send(request)
            return httpx.Response(status, content=change(answer.content))

    client = httpx.AsyncClient(transport=Tampering(), base_url=HOST)
    adapter = simulator_adapter(
        world.keys_dir, world.clock, base_url=HOST + PREFIX, http=client, notify_url=NOTIFY_URL
    )
    return World(world.sim, adapter, client, world.clock, world.merchant, world.keys_dir)


def _refusal_made_success(body: bytes) -> bytes:
    return body.replace(b"respCode=33", b"respCode=00").replace(b"RespCode=05", b"RespCode=00")


@pytest.mark.parametrize(
    ("change", "status", "match"),
    [
        (_refusal_made_success, 200, "bad_signature"),
        (lambda body: body.replace(b"signature=", b"signaturX="), 200, "malformed"),
        (lambda body: body, 502, "HTTP 502"),
    ],
)
async def test_an_answer_unionpay_did_not_sign_is_not_believed(
    world: World, change: Callable[[bytes], bytes], status: int, match: str
) -> None:
    query_id = await _paid(world)
    await world.adapter.refund(_refund(minor=1000, trade_no=query_id))
    fooled = _tampered(world, change, status)
    too_much = _refund("F261125000000000002", 1000, trade_no=query_id)  # refused: 33
    with pytest.raises(ProviderError, match=match):
        await fooled.adapter.refund(too_much)
    with pytest.raises(ProviderError, match=match):
        await fooled.adapter.query_refund(_refund())
    await fooled.client.aclose()
    assert _consume(world).refunded == 1000
