"""A replay of an ``Idempotency-Key`` returns the first order exactly as it was, through the
API, even after the facts it was placed on have changed: the operator set a new rate, the
SIM was suspended, even recycled. A new key meets the new facts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sims.model import SimState
from simkeep.topups import service as topups
from tests.e2e.api_world import Api
from tests.factories import set_sim_state


def hk50(api: Api) -> dict[str, Any]:
    """HK$50 for the HKD SIM, paid in yuan with Alipay at the price shown: ¥46.00."""
    number = api.hk_sim.hk_number.e164
    return {
        "number": number,
        "confirm_number": number,
        "amount": {"minor": 5000, "currency": "HKD"},
        "pay_currency": "CNY",
        "expected_pay": {"minor": 4600, "currency": "CNY"},
        "provider": "alipay",
        "channel": "page",
    }


async def test_a_replay_returns_the_first_order_whatever_changed_since(api: Api) -> None:
    auth = await api.signup("+85261238001")
    first = await api.order(auth, "key-replay-facts-01", **hk50(api))
    assert first.status_code == 201, first.text

    async def new_rate(conn: AsyncConnection) -> None:
        await topups.set_fx_rate(
            conn,
            base="HKD",
            quote_currency="CNY",
            rate=Decimal("0.95"),
            source="operator",
            now=api.clock.now(),
        )

    await api.db.transaction(new_rate)
    replay = await api.order(auth, "key-replay-facts-01", **hk50(api))
    assert (replay.status_code, replay.json()) == (201, first.json())
    fresh = await api.order(auth, "key-replay-facts-02", **hk50(api))
    assert fresh.json()["error"]["code"] == "quote_changed"  # HK$50 costs ¥47.50 now

    for state in (SimState.SUSPENDED, SimState.RECYCLED):
        await api.db.transaction(
            lambda conn, state=state: set_sim_state(conn, sim_id=api.hk_sim.id, state=state)
        )
        replay = await api.order(auth, "key-replay-facts-01", **hk50(api))
        assert (replay.status_code, replay.json()) == (201, first.json()), state
    fresh = await api.order(auth, "key-replay-facts-03", **hk50(api))
    assert fresh.json()["error"]["code"] == "number_not_eligible"
    history = (await api.http.get("/api/v1/topups", headers=auth)).json()
    assert [order["order_no"] for order in history["orders"]] == [first.json()["order_no"]]
