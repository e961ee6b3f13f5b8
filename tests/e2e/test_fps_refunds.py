"""FPS refunds, both halves over HTTP: our adapter pays a payer back by an outgoing transfer
through the simulated receiving bank's payout API (ASGI, no network). Amounts are HKD cents:
every story starts from one payment of HK$123.45 by the payer ``012:+852-9***1234``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import (
    ProviderError,
    ProviderRefund,
    RefundRequest,
    RefundStatus,
    VerifiedNotification,
)
from simkeep.payments.providers.fps import NO_PAYER, payout_order
from simkeep.payments.providers.fps_bank import json_bytes
from simkeep.payments.signing import KeyPair
from simkeep.simulators.fps import FpsBankSimulator
from simkeep.simulators.fps_payouts import PAYOUT_SETTLE_SECONDS
from tests.e2e.bill_world import recorded
from tests.e2e.fps_world import (
    CLIENT,
    HOST,
    NAME,
    NOTIFY_URL,
    OTN,
    PREFIX,
    PROXY,
    START,
    Merchant,
    World,
    adapter_for,
    bank_dir,
    merchant_keys,
    scanned,
    world,
)

__all__ = ["bank_dir", "merchant_keys", "world"]  # fixtures used here

PAID = 12345
PAYER = "012:+852-9***1234"
PAYOUTS = f"{PREFIX}/v1/fps/payouts"


async def paid(world: World, otn: str = OTN, minor: int = PAID) -> VerifiedNotification:
    """Pay the order in the payer's app: the credit as our adapter verified the webhook."""
    await scanned(world, otn, minor)
    answer = await world.client.post(f"{PREFIX}/pay/{otn}", params={"outcome": "success"})
    assert answer.json()["state"] == "SETTLED"
    return world.adapter.verify_notification(world.merchant.received[-1], now=world.clock.now())


def refund_of(notice: VerifiedNotification, number: str, minor: int) -> RefundRequest:
    """A refund of ``minor`` cents of the payment ``notice`` told of, numbered ``number``."""
    return RefundRequest(
        out_trade_no=notice.out_trade_no,
        out_refund_no=number,
        amount=Money(minor, "HKD"),
        total=notice.amount,
        reason="wrong number",
        provider_trade_no=notice.provider_trade_no,
        payer_account=notice.payer_account,
    )


def paid_out(world: World, notice: VerifiedNotification | None = None) -> int:
    """Cents the bank sent out of our account (against one payment if given)."""
    return world.sim.payouts.paid_out_minor(notice.provider_trade_no if notice else None)


def assert_refused(refund: ProviderRefund, code: str) -> None:
    assert refund.status is RefundStatus.FAILED
    assert refund.reason is not None
    assert refund.reason.startswith(f"{code}: "), refund.reason
    assert refund.provider_refund_no is None


# --- paying back ----------------------------------------------------------------------


async def test_a_full_refund_goes_back_to_the_payer_and_settles_seconds_later(
    world: World,
) -> None:
    notice = await paid(world)
    sent = recorded(world.client)
    refund = await world.adapter.refund(refund_of(notice, "F2611250001", PAID))
    assert (refund.out_refund_no, refund.status) == ("F2611250001", RefundStatus.PROCESSING)
    assert refund.amount == Money(PAID, "HKD")
    assert str(refund.provider_refund_no).startswith("FRN20261125PAYC")
    assert refund.provider_refund_no != notice.provider_trade_no
    assert refund.refunded_at is None
    assert (sent[0].method, sent[0].url.path) == ("POST", PAYOUTS)
    assert sent[0].headers["X-Client-Id"] == CLIENT
    assert json.loads(sent[0].content) == {
        "instruction_id": "F2611250001",
        "amount": {"value": PAID, "currency": "HKD"},
        "payee": {"proxy": "+852-9***1234", "bank_code": "012"},
        "remittance_reference": f"REFUND {OTN}",
        "original_fps_txn_id": notice.provider_trade_no,
    }
    assert (paid_out(world, notice), world.sim.payouts.balance_minor) == (PAID, 0)
    world.clock.advance(timedelta(seconds=PAYOUT_SETTLE_SECONDS - 1))
    still = await world.adapter.query_refund(refund_of(notice, "F2611250001", PAID))
    assert still.status is RefundStatus.PROCESSING
    world.clock.advance(timedelta(seconds=1))
    done = await world.adapter.query_refund(refund_of(notice, "F2611250001", PAID))
    assert (done.status, done.amount) == (RefundStatus.SUCCEEDED, Money(PAID, "HKD"))
    assert done.refunded_at == START + timedelta(seconds=PAYOUT_SETTLE_SECONDS)
    assert done.provider_refund_no == refund.provider_refund_no
    more = await world.adapter.refund(refund_of(notice, "F2611250002", 1))
    assert_refused(more, "AM02")  # a fully refunded payment gives back nothing more
    assert paid_out(world, notice) == PAID


async def test_partial_refunds_add_up_to_what_the_payment_brought_in_and_no_more(
    world: World,
) -> None:
    notice = await paid(world)
    first = await world.adapter.refund(refund_of(notice, "F2611250001", 5000))
    second = await world.adapter.refund(refund_of(notice, "F2611250002", 5000))
    assert first.status is second.status is RefundStatus.PROCESSING
    assert first.provider_refund_no != second.provider_refund_no
    over = await world.adapter.refund(refund_of(notice, "F2611250003", 2346))
    assert_refused(over, "AM02")
    assert over.reason == "AM02: amount not allowed: above what is left of the original payment"
    assert paid_out(world, notice) == 10000
    again = await world.adapter.refund(refund_of(notice, "F2611250003", 2346))
    assert again == over  # a refused instruction stays refused, and pays nothing
    asked = await world.adapter.query_refund(refund_of(notice, "F2611250003", 2346))
    assert_refused(asked, "AM02")
    rest = await world.adapter.refund(refund_of(notice, "F2611250004", 2345))
    assert rest.status is RefundStatus.PROCESSING
    assert paid_out(world, notice) == PAID


async def test_the_same_refund_number_asked_again_pays_once(world: World) -> None:
    notice = await paid(world)
    first = await world.adapter.refund(refund_of(notice, "F2611250001", 5000))
    again = await world.adapter.refund(refund_of(notice, "F2611250001", 5000))
    assert again == first
    assert paid_out(world, notice) == 5000
    many = await asyncio.gather(
        *(world.adapter.refund(refund_of(notice, "F2611250002", 3000)) for _ in range(10))
    )
    assert {r.status for r in many} == {RefundStatus.PROCESSING}
    assert len({r.provider_refund_no for r in many}) == 1
    assert paid_out(world, notice) == 8000
    assert world.sim.payouts.balance_minor == PAID - 8000
    assert sorted(world.sim.payouts.payouts) == ["F2611250001", "F2611250002"]


async def test_a_refund_number_reused_for_other_details_is_an_error_not_a_failure(
    world: World,
) -> None:
    notice = await paid(world)
    await world.adapter.refund(refund_of(notice, "F2611250001", 5000))
    with pytest.raises(ProviderError, match=r"409.*DU01"):
        await world.adapter.refund(refund_of(notice, "F2611250001", 6000))
    assert paid_out(world, notice) == 5000
    kept = await world.adapter.query_refund(refund_of(notice, "F2611250001", 5000))
    assert (kept.status, kept.amount) == (RefundStatus.PROCESSING, Money(5000, "HKD"))


async def test_a_bare_proxy_is_paid_like_one_with_its_bank_code(world: World) -> None:
    notice = await paid(world)
    bare = replace(refund_of(notice, "F2611250001", 100), payer_account="+852-9***1234")
    assert (await world.adapter.refund(bare)).status is RefundStatus.PROCESSING
    assert paid_out(world) == 100


# --- asking what became of a refund ---------------------------------------------------


async def test_a_refund_number_the_bank_does_not_know_is_unknown(world: World) -> None:
    notice = await paid(world)
    unknown = await world.adapter.query_refund(refund_of(notice, "F2611259999", 100))
    assert unknown == ProviderRefund("F2611259999", RefundStatus.FAILED, reason="unknown")
    assert world.sim.payouts.payouts == {}


# --- what the bank refuses ------------------------------------------------------------


async def test_a_refund_of_an_unpaid_trade_is_refused(world: World) -> None:
    await scanned(world)  # opened in the payer's app, never paid: no credit, no payer
    unpaid = RefundRequest(
        out_trade_no=OTN,
        out_refund_no="F2611250001",
        amount=Money(PAID, "HKD"),
        total=Money(PAID, "HKD"),
        reason="wrong number",
    )
    sent = recorded(world.client)
    refund = await world.adapter.refund(unpaid)
    assert (refund.status, refund.reason) == (RefundStatus.FAILED, NO_PAYER)
    assert sent == []  # nowhere to send it: the bank is not asked
    other = await paid(world, "T202611250000000043")
    named = replace(
        refund_of(other, "F2611250002", 100),
        out_trade_no=OTN,
        provider_trade_no="FRN20261125PAYC999999999999",
    )
    assert_refused(await world.adapter.refund(named), "NOOR")
    assert paid_out(world) == 0


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"payer_account": "012:+852-9***9999"}, "AC01"),
        ({"payer_account": "004:+852-9***1234"}, "AC01"),
        ({"payer_account": "someone@example.com"}, "AC01"),
        ({"amount": Money(PAID, "CNY")}, "AM03"),
        ({"amount": Money(0, "HKD")}, "AM01"),
        ({"amount": Money(-100, "HKD")}, "AM12"),
        ({"amount": Money(PAID + 1, "HKD"), "provider_trade_no": None}, "AM04"),
    ],
)
async def test_the_bank_refuses_a_payout_it_may_not_make(
    world: World, changes: dict[str, Any], code: str
) -> None:
    notice = await paid(world)
    refund = await world.adapter.refund(replace(refund_of(notice, "F2611250001", 100), **changes))
    assert_refused(refund, code)
    assert (paid_out(world), world.sim.payouts.balance_minor) == (0, PAID)


def _bank(world: World, clock: FixedClock, *, time_scale: float = 1.0) -> FpsBankSimulator:
    """Another simulated bank for our merchant, on its own clock, delivering nowhere."""
    return FpsBankSimulator(
        proxy_id=PROXY,
        merchant_name=NAME,
        client_id=CLIENT,
        merchant_public_key_pem=world.merchant_keys.public_pem,
        notify_url=NOTIFY_URL,
        clock=clock,
        deliver=Merchant(),
        time_scale=time_scale,
    )


def _payout_body(provider_trade_no: str | None, number: str = "F2611250001") -> bytes:
    """A payout request of HK$1 to the payer, as our adapter would send it."""
    request = RefundRequest(
        out_trade_no=OTN,
        out_refund_no=number,
        amount=Money(100, "HKD"),
        total=Money(PAID, "HKD"),
        reason="wrong number",
        provider_trade_no=provider_trade_no,
        payer_account=PAYER,
    )
    return json_bytes(payout_order(request).to_json())


async def test_only_a_payer_the_bank_has_seen_paying_can_be_paid(world: World) -> None:
    bank = _bank(world, FixedClock(START))
    payout, created = bank.payouts.instruct(_payout_body(None))
    assert (created, payout.status, payout.reason_code) == (True, "RJCT", "AC01")
    credit = await bank.pay(OTN, success=True, amount_minor=PAID)
    assert bank.payouts.known_accounts == {"+852-9***1234": "012"}
    payout, _ = bank.payouts.instruct(_payout_body(credit.fps_txn_id, "F2611250002"))
    assert (payout.status, payout.reason_code) == ("ACSP", None)


# --- what the adapter believes --------------------------------------------------------


async def test_the_bank_pays_out_only_for_requests_our_key_signed(world: World) -> None:
    notice = await paid(world)
    order = json_bytes(payout_order(refund_of(notice, "F2611250001", 100)).to_json())
    bare = await world.client.post(PAYOUTS, content=order)
    assert (bare.status_code, bare.json()["error"]["code"]) == (401, "unknown_client")
    assert "X-Bank-Signature" in bare.headers
    stranger = adapter_for(world, keys=KeyPair.generate())
    with pytest.raises(ProviderError, match="401"):
        await stranger.refund(refund_of(notice, "F2611250001", 100))
    with pytest.raises(ProviderError, match="401"):
        await stranger.query_refund(refund_of(notice, "F2611250001", 100))
    assert world.sim.payouts.payouts == {}


async def test_an_answer_not_signed_by_the_bank_is_not_believed(world: World) -> None:
    notice = await paid(world)
    impostor = adapter_for(world, bank_public_pem=KeyPair.generate().public_pem)
    request = refund_of(notice, "F2611250001", 5000)
    with pytest.raises(ProviderError, match="bad_signature"):
        await impostor.refund(request)
    with pytest.raises(ProviderError, match="bad_signature"):
        await impostor.query_refund(replace(request, out_refund_no="F2611259999"))
    retried = await world.adapter.refund(request)  # asked again: the payout already made
    assert retried.status is RefundStatus.PROCESSING
    assert paid_out(world, notice) == 5000


@dataclass
class Altering(httpx.AsyncBaseTransport):
    """The bank's answers, changed on their way to us by ``alter``."""

    inner: httpx.AsyncBaseTransport
    alter: Callable[[httpx.Response, FpsBankSimulator], httpx.Response]
    sim: FpsBankSimulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return self.alter(response, self.sim)


def _answer(
    response: httpx.Response, body: bytes, *, status: int | None = None, signed: bool = True
) -> httpx.Response:
    kept = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers = kept if signed else {k: v for k, v in kept.items() if not k.startswith("x-bank")}
    return httpx.Response(status or response.status_code, headers=headers, content=body)


def _tampered(response: httpx.Response, sim: FpsBankSimulator) -> httpx.Response:
    return _answer(response, response.content.replace(b'"value":5000', b'"value":50'))


def _unsigned(response: httpx.Response, sim: FpsBankSimulator) -> httpx.Response:
    return _answer(response, response.content, signed=False)


def _about_another(response: httpx.Response, sim: FpsBankSimulator) -> httpx.Response:
    body = response.content.replace(b"F2611250001", b"F2611250002")
    return httpx.Response(response.status_code, headers=sim.sign(body), content=body)


def _unsigned_404(response: httpx.Response, sim: FpsBankSimulator) -> httpx.Response:
    body = b'{"error":{"code":"not_found","message":"no such payout"}}'
    return _answer(response, body, status=404, signed=False)


def _gateway_down(response: httpx.Response, sim: FpsBankSimulator) -> httpx.Response:
    return httpx.Response(503, content=b"upstream unavailable")


def _unreachable(response: httpx.Response, sim: FpsBankSimulator) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(
    ("alter", "refund_error", "query_error"),
    [
        (_tampered, "bad_signature", "bad_signature"),
        (_unsigned, "unsigned", "unsigned"),
        (_about_another, "about payout F2611250002", "about payout F2611250002"),
        (_unsigned_404, "answered 404", "unsigned"),  # only a signed 404 means unknown
        (_gateway_down, "503", "503"),
        (_unreachable, "could not be reached", "could not be reached"),
    ],
)
async def test_an_answer_that_cannot_be_believed_is_an_error_to_ask_again(
    world: World,
    alter: Callable[[httpx.Response, FpsBankSimulator], httpx.Response],
    refund_error: str,
    query_error: str,
) -> None:
    notice = await paid(world)
    transport = Altering(httpx.ASGITransport(app=world.app), alter, world.sim)
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        altered = adapter_for(world, client=client)
        request = refund_of(notice, "F2611250001", 5000)
        with pytest.raises(ProviderError, match=refund_error):
            await altered.refund(request)
        with pytest.raises(ProviderError, match=query_error):
            await altered.query_refund(request)
    assert paid_out(world, notice) in (0, 5000)  # sent at most once, whatever came back
    retried = await world.adapter.refund(request)
    assert (retried.status, paid_out(world, notice)) == (RefundStatus.PROCESSING, 5000)


# --- settling -------------------------------------------------------------------------


async def test_payouts_settle_on_the_simulators_time_scale(world: World) -> None:
    clock = FixedClock(START)
    fast = _bank(world, clock, time_scale=0.1)
    credit = await fast.pay(OTN, success=True, amount_minor=PAID)
    payout, _ = fast.payouts.instruct(_payout_body(credit.fps_txn_id))
    assert payout.status == "ACSP"
    clock.advance(timedelta(seconds=PAYOUT_SETTLE_SECONDS * 0.1))
    settled = fast.payouts.find("F2611250001")
    assert (settled.status, settled.settled_at) == ("ACSC", clock.now())
