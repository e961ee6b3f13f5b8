"""FPS's bill — the receiving bank's daily statement of our account — both halves over HTTP:
our adapter's ``bill`` asks the simulated bank's signed statement API for a Hong Kong day
and reads what comes back: the transfers received that day (those carrying a wrong
reference or none too), the payouts that paid payers back, the bank's charges, the balances
the day opened and closed with; a transfer settled at 23:59:59 in its day though its
webhook came after midnight, one at 00:00:01 in the next; checked against the SHA-256 the
bank vouches for; and the differences the test hooks plant."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import ProviderError, RefundRequest
from simkeep.payments.providers.fps import FpsAdapter
from simkeep.payments.signing import KeyPair
from simkeep.reconciliation.bill import BillNotReady, BillRefused, BillRow, RowKind
from simkeep.simulators.fps import FpsBankSimulator
from simkeep.simulators.fps_routes import router
from tests.e2e.fps_world import (
    CLIENT,
    HOST,
    NAME,
    PREFIX,
    PROXY,
    Merchant,
    World,
    adapter_for,
    bank_dir,
    config,
    merchant_keys,
    recorded,
    world,
)

__all__ = ["bank_dir", "merchant_keys", "world"]  # fixtures used here

DAY = date(2026, 11, 25)
FIRST, LATE, EARLY = "T202611250000000001", "T202611250000000002", "T202611260000000003"
REFUND_NO = "F2611250001"
PAYER = "012:+852-9***1234"
AT_17 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 17:00 in Hong Kong
LAST_SECOND = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Hong Kong
NEXT_DAY = datetime(2026, 11, 25, 16, 0, 1, tzinfo=UTC)  # 00:00:01 on the 26th
MORNING_AFTER = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 on the 26th


async def _pushed(
    world: World,
    reference: str,
    minor: int,
    *,
    carried: str | None = None,
    outcome: str = "success",
) -> str:
    """A transfer of ``minor`` cents pushed now with ``reference``; its FPS reference."""
    params: dict[str, str | int] = {"outcome": outcome, "amount_minor": minor}
    if carried is not None:
        params["reference"] = carried
    paid = await world.client.post(f"{PREFIX}/pay/{reference}", params=params)
    assert paid.json()["state"] == "SETTLED", paid.text
    return str(paid.json()["fps_txn_id"])


async def _a_day_of_transfers(world: World) -> str:
    """HK$123.45 received at 17:00 and HK$23.45 of it paid back; HK$9.99 with another
    order's number and HK$1.00 with none at 18:00; HK$500.00 at 23:59:59, its webhook taken
    only after midnight; HK$88.00 at 00:00:01 the next day."""
    world.clock.set(AT_17)
    first = await _pushed(world, FIRST, 12345)
    refund = RefundRequest(
        out_trade_no=FIRST,
        out_refund_no=REFUND_NO,
        amount=Money(2345, "HKD"),
        total=Money(12345, "HKD"),
        reason="wrong number",
        provider_trade_no=first,
        payer_account=PAYER,
    )
    assert (await world.adapter.refund(refund)).provider_refund_no
    world.clock.set(AT_17 + timedelta(hours=1))
    await _pushed(world, "T202611250000000099", 999)
    await _pushed(world, "T202611250000000098", 100, carried="")
    world.clock.set(LAST_SECOND)
    world.merchant.status = 500
    await _pushed(world, LATE, 50000)
    world.clock.set(NEXT_DAY + timedelta(minutes=1))
    world.merchant.status = 200
    await world.sim.deliver_due()
    late = [raw for raw in world.merchant.received if LATE.encode() in raw.body]
    assert len(late) == 2  # at 23:59:59, refused; again after midnight, taken
    world.clock.set(NEXT_DAY)
    await _pushed(world, EARLY, 8800)
    return first


async def test_the_days_statement_holds_what_came_in_and_what_went_out(world: World) -> None:
    first = await _a_day_of_transfers(world)
    world.clock.set(MORNING_AFTER)
    bill = await world.adapter.bill(DAY)
    [payout] = world.sim.payouts.payouts.values()
    by_reference = {t.reference: t for t in world.sim.transfers.values()}
    assert bill.day == DAY
    zero = Money(0, "HKD")
    assert list(bill.rows) == [
        BillRow(RowKind.PAY, FIRST, "", first, Money(12345, "HKD"), zero, AT_17),
        BillRow(
            RowKind.REFUND,
            FIRST,
            REFUND_NO,
            payout.fps_txn_id or "",
            Money(2345, "HKD"),
            zero,
            AT_17,
        ),
        *(
            BillRow(
                RowKind.PAY,
                reference,
                "",
                by_reference[reference].fps_txn_id,
                Money(minor, "HKD"),
                zero,
                AT_17 + timedelta(hours=1),
            )
            for reference, minor in (("T202611250000000099", 999), ("", 100))
        ),
        BillRow(
            RowKind.PAY,
            LATE,
            "",
            by_reference[LATE].fps_txn_id,
            Money(50000, "HKD"),
            zero,
            LAST_SECOND,
        ),
    ]
    world.clock.set(MORNING_AFTER + timedelta(days=1))
    [next_day] = (await world.adapter.bill(DAY + timedelta(days=1))).rows
    assert (next_day.order_no, next_day.at) == (EARLY, NEXT_DAY)
    statement = json.loads(world.sim.bills.statement(DAY + timedelta(days=1)))
    assert statement["opening_balance"] == 12345 - 2345 + 999 + 100 + 50000
    assert statement["closing_balance"] == statement["opening_balance"] + 8800


async def test_the_banks_charge_on_a_credit_is_its_fee(
    merchant_keys: KeyPair, bank_dir: Path
) -> None:
    async with _charging_bank(merchant_keys, bank_dir, fee_minor=150) as charged:
        await _pushed(charged, FIRST, 12345)
        charged.clock.set(MORNING_AFTER)
        [row] = (await charged.adapter.bill(DAY)).rows
        assert (row.amount, row.fee) == (Money(12345, "HKD"), Money(150, "HKD"))
        statement = json.loads(charged.sim.bills.statement(DAY))
        assert (statement["summary"]["charges"], statement["closing_balance"]) == (150, 12195)
        assert charged.sim.records()[0]["fee_minor"] == 150


async def test_no_statement_before_the_day_is_over(world: World) -> None:
    await _a_day_of_transfers(world)
    world.clock.set(LAST_SECOND)
    with pytest.raises(BillNotReady):
        await world.adapter.bill(DAY)


async def test_planted_differences_show_in_the_next_statements(world: World) -> None:
    await _a_day_of_transfers(world)
    world.clock.set(LAST_SECOND - timedelta(hours=1))
    hook = f"{PREFIX}/bills/differences"
    planted = await world.client.post(
        hook, params={"kind": "amount_mismatch", "out_trade_no": LATE}
    )
    assert planted.status_code == 200, planted.text
    only = await world.client.post(hook, params={"kind": "provider_only", "amount": "66.60"})
    stranger = only.json()["out_trade_no"]
    world.clock.set(MORNING_AFTER)
    rows = {row.order_no: row for row in (await world.adapter.bill(DAY)).rows if row.kind == "pay"}
    assert rows[LATE].amount == Money(50100, "HKD")  # shifted by 100 cents
    assert rows[stranger].amount == Money(6660, "HKD")
    assert not [raw for raw in world.merchant.received if stranger.encode() in raw.body]
    for kind, reason in (("bad_digest", "SHA-256"), ("bad_totals", "summary says 5 credits")):
        await world.client.delete(hook)
        assert (await world.client.post(hook, params={"kind": kind})).status_code == 200
        with pytest.raises(BillRefused, match=reason):
            await world.adapter.bill(DAY)
    await world.client.delete(hook)
    assert len((await world.adapter.bill(DAY)).rows) == 6


async def test_a_transfer_settled_silently_is_in_the_statement_and_never_told(world: World) -> None:
    world.clock.set(AT_17)
    await _pushed(world, FIRST, 1000, outcome="silent")
    await world.sim.deliver_due(AT_17 + timedelta(days=1))
    assert world.merchant.received == []
    world.clock.set(MORNING_AFTER)
    [row] = (await world.adapter.bill(DAY)).rows
    assert (row.order_no, row.amount) == (FIRST, Money(1000, "HKD"))


async def test_the_statement_api_is_signed_both_ways(world: World) -> None:
    await _a_day_of_transfers(world)
    world.clock.set(MORNING_AFTER)
    unsigned = await world.client.get(f"{PREFIX}/v1/fps/statements", params={"date": "2026-11-25"})
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, "unknown_client")
    with pytest.raises(ProviderError, match="401"):
        await adapter_for(world, keys=KeyPair.generate()).bill(DAY)  # not our key
    with pytest.raises(ProviderError, match="bad_signature"):
        await adapter_for(world, bank_public_pem=KeyPair.generate().public_pem).bill(DAY)
    sent = recorded(world.client)
    await world.adapter.bill(DAY)
    [request] = sent
    assert (request.url.path, request.url.params["date"]) == (
        f"{PREFIX}/v1/fps/statements",
        "2026-11-25",
    )
    answer = world.sim.bills.answer("2026-11-25")
    assert answer["file_name"] == f"STMT-{PROXY}-20261125.json"
    assert base64.b64decode(answer["content"]) == world.sim.bills.statement(DAY)


@asynccontextmanager
async def _charging_bank(
    merchant_keys: KeyPair, bank_dir: Path, *, fee_minor: int
) -> AsyncIterator[World]:
    """A world whose bank charges ``fee_minor`` on every credit it receives."""
    clock, merchant = FixedClock(AT_17), Merchant()
    sim = FpsBankSimulator(
        proxy_id=PROXY,
        merchant_name=NAME,
        client_id=CLIENT,
        merchant_public_key_pem=merchant_keys.public_pem,
        notify_url=merchant.url,
        clock=clock,
        key_dir=bank_dir,
        deliver=merchant,
        fee_minor=fee_minor,
    )
    app = FastAPI()
    app.include_router(router(sim), prefix=PREFIX)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as client:
        adapter = FpsAdapter(
            config=config(merchant_keys, sim.bank_keys.public_pem), client=client, clock=clock
        )
        yield World(sim, adapter, client, clock, merchant, merchant_keys, app)
