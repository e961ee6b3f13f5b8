"""The PIN limits are settings: with ``SIMKEEP_VOUCHER_FAILURES_PER_ADDRESS=2`` the third
wrong PIN from one address is refused for a while (429) though neither number nor account
has reached its own limit; with the default (20) it would be checked like the first two."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simkeep.clock import FixedClock
from simkeep.db import Database
from tests.e2e.api_world import Api
from tests.e2e.world import running_world

WRONG = "0000 0000 0000 0000"


@pytest.fixture
async def strict(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Api]:
    async with running_world(
        Api,
        database_url=database_url,
        db=db,
        clock=clock,
        tmp_path=tmp_path,
        voucher_failures_per_address=2,
    ) as world:
        yield world


async def test_the_address_limit_is_the_setting(strict: Api) -> None:
    auth = await strict.signup("+85261234567")
    numbers = [
        strict.hk_sim.hk_number.e164,
        strict.cn_sim.hk_number.e164,
        strict.hk_sim.cn_number.e164,
    ]
    statuses = []
    for n, number in enumerate(numbers):
        body = {"pin": WRONG, "number": number, "confirm_number": number}
        headers = {**auth, "Idempotency-Key": f"limit-{n:04d}"}
        answer = await strict.http.post("/api/v1/vouchers/redeem", json=body, headers=headers)
        statuses.append((answer.status_code, answer.json()["error"]["code"]))
    assert statuses == [
        (422, "pin_refused"),
        (422, "pin_refused"),
        (429, "too_many_attempts"),
    ]
