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
from datetime import timedelta
from pathlib import Path

import pytest

from simkeep.money import Money
from simkeep.payments.model import ProviderError
from simkeep.payments.signing import KeyPair
from simkeep.reconciliation.bill import BillNotReady, BillRow, RowKind
from tests.e2e.bill_world import (
    AT_17,
    DAY,
    LAST_SECOND,
    MORNING_AFTER,
    Kit,
    paid_and_partly_refunded,
    paid_around_midnight,
    paid_silently,
    planted_in_the_next_bill,
    recorded,
    spoilt_bills_refused,
    the_next_days_row,
)
from tests.e2e.fps_world import (
    PREFIX,
    PROXY,
    World,
    adapter_for,
    bank_dir,
    bank_world,
    merchant_keys,
    world,
)

__all__ = ["bank_dir", "merchant_keys", "world"]  # fixtures used here

FIRST, LATE, EARLY = "T202611250000000001", "T202611250000000002", "T202611260000000003"
REFUND_NO = "F2611250001"
PAYER = "012:+852-9***1234"


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


KIT = Kit(
    PREFIX,
    "HKD",
    _pushed,
    first=FIRST,
    late=LATE,
    early=EARLY,
    refund_no=REFUND_NO,
    payer_account=PAYER,
)


async def _a_day_of_transfers(world: World) -> str:
    """The kits' day (``bill_world.a_day``), with HK$9.99 carrying another order's number
    and HK$1.00 carrying none at 18:00."""
    first = await paid_and_partly_refunded(world, KIT)
    world.clock.set(AT_17 + timedelta(hours=1))
    await _pushed(world, "T202611250000000099", 999)
    await _pushed(world, "T202611250000000098", 100, carried="")
    await paid_around_midnight(world, KIT)
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
    await the_next_days_row(world, KIT)
    statement = json.loads(world.sim.bills.statement(DAY + timedelta(days=1)))
    assert statement["opening_balance"] == 12345 - 2345 + 999 + 100 + 50000
    assert statement["closing_balance"] == statement["opening_balance"] + 8800


async def test_the_banks_charge_on_a_credit_is_its_fee(
    merchant_keys: KeyPair, bank_dir: Path
) -> None:
    async with bank_world(merchant_keys, bank_dir, fee_minor=150) as charged:
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
    await planted_in_the_next_bill(world, KIT)
    spoilt = {"bad_digest": "SHA-256", "bad_totals": "summary says 5 credits"}
    await spoilt_bills_refused(world.adapter, KIT.hooks(world), spoilt)
    assert len((await world.adapter.bill(DAY)).rows) == 6


async def test_a_transfer_settled_silently_is_in_the_statement_and_never_told(world: World) -> None:
    assert (await paid_silently(world, KIT)).fee == Money(0, "HKD")


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
