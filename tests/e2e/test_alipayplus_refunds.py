"""AlipayHK (Alipay+) refunds, both halves over HTTP: our adapter's ``refund`` and
``query_refund`` against the simulator's ``payments/refund`` and ``payments/inquiryRefund``
— a full refund, partial refunds up to what the payment charged, the same
``refundRequestId`` asked again (one after the other and all at once) paying once, AMS's
refusals with their codes, and answers that Alipay+ did not sign."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from simkeep.money import Money
from simkeep.payments.model import (
    ProviderError,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from simkeep.payments.signing import KeyPair
from simkeep.simulators.alipayplus_payments import SimPayment
from tests.e2e.alipayplus_world import (
    HOST,
    START,
    World,
    keys_dir,
    paid,
    pay_hook,
    payment_request,
    world,
)

__all__ = ["keys_dir", "world"]  # fixtures used here

ORDER = "TOPUP_000001"
REFUND_NO = "F261125A1B2C3D4E5F6"


def _refund(
    number: str = REFUND_NO,
    minor: int = 12345,
    *,
    currency: str = "HKD",
    otn: str = ORDER,
    payment_id: str | None = None,
) -> RefundRequest:
    return RefundRequest(
        out_trade_no=otn,
        out_refund_no=number,
        amount=Money(minor, currency),
        total=Money(12345, "HKD"),
        reason="wrong number",
        provider_trade_no=payment_id,
    )


def _payment(world: World, otn: str = ORDER) -> SimPayment:
    return world.sim.payments[otn]


async def test_a_full_refund_is_paid_back_and_the_payment_stays_paid(world: World) -> None:
    await paid(world)
    payment_id = _payment(world).payment_id
    done = await world.adapter.refund(_refund(payment_id=payment_id))
    assert (done.status, done.amount) == (RefundStatus.SUCCEEDED, Money(12345, "HKD"))
    assert done.provider_refund_no
    assert done.refunded_at == START
    asked = await world.adapter.query_refund(_refund())
    assert asked == done
    assert _payment(world).refunded == 12345
    assert (await world.adapter.query(ORDER)).status is TradeStatus.PAID  # as in AMS
    with pytest.raises(Exception, match="refunds"):  # a cancel would refund it again
        world.sim.cancel(ORDER)
    more = await world.adapter.refund(_refund("F261125000000000002", 1))
    assert more.status is RefundStatus.FAILED
    assert (more.reason or "").startswith("REFUND_AMOUNT_EXCEED ")


async def test_partial_refunds_stop_at_what_the_payment_charged(world: World) -> None:
    await paid(world)
    first = await world.adapter.refund(_refund("F261125000000000001", 5000))
    second = await world.adapter.refund(_refund("F261125000000000002", 5000))
    assert [first.status, second.status] == [RefundStatus.SUCCEEDED] * 2
    assert first.provider_refund_no != second.provider_refund_no
    third = await world.adapter.refund(_refund("F261125000000000003", 2346))
    assert third.status is RefundStatus.FAILED
    assert (third.reason or "").startswith("REFUND_AMOUNT_EXCEED ")
    assert _payment(world).refunded == 10000
    never_made = await world.adapter.query_refund(_refund("F261125000000000003"))
    assert (never_made.status, never_made.reason) == (RefundStatus.FAILED, "unknown")
    rest = await world.adapter.refund(_refund("F261125000000000004", 2345))
    assert rest.status is RefundStatus.SUCCEEDED
    assert _payment(world).refunded == 12345


async def test_the_same_refund_request_id_again_pays_once(world: World) -> None:
    await paid(world)
    first = await world.adapter.refund(_refund(minor=6000))
    again = await world.adapter.refund(_refund(minor=6000))
    assert again == first
    assert _payment(world).refunded == 6000
    with pytest.raises(ProviderError, match="REPEAT_REQ_INCONSISTENT"):
        await world.adapter.refund(_refund(minor=7000))
    assert _payment(world).refunded == 6000
    assert len(world.sim.refund_desk.refunds) == 1


async def test_ten_at_once_with_one_refund_request_id_pay_once(world: World) -> None:
    await paid(world)
    answers = await asyncio.gather(*(world.adapter.refund(_refund(minor=700)) for _ in range(10)))
    assert len(set(answers)) == 1
    assert (answers[0].status, answers[0].amount) == (RefundStatus.SUCCEEDED, Money(700, "HKD"))
    assert _payment(world).refunded == 700
    assert len(world.sim.refund_desk.refunds) == 1


async def test_a_refund_never_asked_is_unknown(world: World) -> None:
    unknown = await world.adapter.query_refund(_refund())
    assert (unknown.status, unknown.reason) == (RefundStatus.FAILED, "unknown")


async def test_an_unpaid_declined_or_unknown_payment_is_not_refunded(world: World) -> None:
    await world.adapter.start(payment_request(ORDER))
    unpaid = await world.adapter.refund(_refund())
    assert (unpaid.reason or "").startswith("ORDER_STATUS_INVALID ")
    await world.adapter.start(payment_request("TOPUP_000002"))
    await pay_hook(world, "TOPUP_000002", "fail")
    declined = await world.adapter.refund(_refund("F261125000000000002", otn="TOPUP_000002"))
    assert (declined.reason or "").startswith("ORDER_STATUS_INVALID ")
    unknown = await world.adapter.refund(_refund("F261125000000000003", otn="NEVER_CREATED"))
    assert (unknown.reason or "").startswith("ORDER_NOT_EXIST ")
    foreign = await world.adapter.refund(_refund("F261125000000000004", payment_id="1" * 32))
    assert (foreign.reason or "").startswith("ORDER_NOT_EXIST ")
    assert world.sim.refund_desk.refunds == {}
    assert {p.refunded for p in world.sim.payments.values()} == {0}


@pytest.mark.parametrize(
    ("minor", "currency", "code"),
    [
        (0, "HKD", "PARAM_ILLEGAL"),
        (-5, "HKD", "PARAM_ILLEGAL"),
        (100, "CNY", "CURRENCY_NOT_SUPPORT"),
    ],
)
async def test_a_wrong_amount_or_currency_is_refused_with_its_code(
    world: World, minor: int, currency: str, code: str
) -> None:
    await paid(world)
    refused = await world.adapter.refund(_refund(minor=minor, currency=currency))
    assert refused.status is RefundStatus.FAILED
    assert (refused.reason or "").startswith(f"{code} ")
    assert _payment(world).refunded == 0


def _tampered(world: World, change: Callable[[httpx.Response], httpx.Response]) -> World:
    """The same world, but every answer of Alipay+ passes through ``change``."""

    class Tampering(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return change(await world.client.send(request))

    client = httpx.AsyncClient(transport=Tampering(), base_url=HOST)
    return World(world.sim, world.adapter_with(http=client), client, world.clock, world.merchant)


def _refusal_made_success(answer: httpx.Response) -> httpx.Response:
    body = answer.content.replace(b'"resultStatus":"F"', b'"resultStatus":"S"')
    return httpx.Response(200, headers=answer.headers, content=body)


def _unsigned(answer: httpx.Response) -> httpx.Response:
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "signature"}
    return httpx.Response(200, headers=headers, content=answer.content)


def _gateway_error(answer: httpx.Response) -> httpx.Response:
    return httpx.Response(502, content=b"bad gateway")


@pytest.mark.parametrize(
    ("change", "match"),
    [(_refusal_made_success, "bad_signature"), (_unsigned, "malformed"), (_gateway_error, "502")],
)
async def test_an_answer_alipayplus_did_not_sign_is_not_believed(
    world: World, change: Callable[[httpx.Response], httpx.Response], match: str
) -> None:
    await paid(world)
    await world.adapter.refund(_refund(minor=10000))
    fooled = _tampered(world, change)
    too_much = _refund("F261125000000000002", 10000)  # refused: REFUND_AMOUNT_EXCEED
    with pytest.raises(ProviderError, match=match):
        await fooled.adapter.refund(too_much)
    with pytest.raises(ProviderError, match=match):
        await fooled.adapter.query_refund(_refund("F261125000000000003"))  # REFUND_NOT_EXIST
    await fooled.client.aclose()
    assert _payment(world).refunded == 10000
    other_key = world.adapter_with(alipayplus_public_key_pem=KeyPair.generate().public_pem)
    with pytest.raises(ProviderError, match="bad_signature"):
        await other_key.query_refund(_refund())
