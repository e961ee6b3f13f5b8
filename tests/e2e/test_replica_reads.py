"""Read-your-writes through the app, on a primary and its streaming replica: with
``SIMKEEP_REPLICA_URLS`` set and the replica's replay paused, a subscriber who has just
placed a top-up sees it in their history at once — in the API and on the page — because
their session remembered where the primary was after the write, while the replica stays
in the pool for everyone else (which reader goes where: ``tests/integration/test_read_pool``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simkeep.clock import FixedClock
from simkeep.db import Database
from tests.e2e.api_world import Api, cn100
from tests.e2e.world import running_world
from tests.replicated import Pair


@pytest.fixture
async def api(
    pair: Pair, primary_db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Api]:
    async with running_world(
        Api,
        database_url=pair.primary.url,
        db=primary_db,
        clock=clock,
        tmp_path=tmp_path,
        replica_urls=pair.replica.url,
        replica_max_lag_seconds=60,  # behind, yet kept: only read-your-writes sends reads away
    ) as world:
        yield world


async def replica_taken(api: Api, pair: Pair) -> None:
    await pair.caught_up()
    reads = api.app.state.services.reads
    async with asyncio.timeout(20):
        while not reads.replicas[0].in_pool:  # noqa: ASYNC110 - the app's watcher decides
            await asyncio.sleep(0.1)


async def test_a_subscriber_sees_their_new_top_up_while_the_replica_is_behind(
    api: Api, pair: Pair
) -> None:
    payer = await api.signup("+85261234567")
    other = await api.signup("+85261234568")
    await replica_taken(api, pair)
    await pair.pause()

    created = await api.order(payer, "key-cn100-0001", **cn100(api.cn_sim.cn_number.e164))
    assert created.status_code == 201, created.text
    order_no = created.json()["order_no"]

    mine = await api.http.get("/api/v1/topups", headers=payer)
    assert [order["order_no"] for order in mine.json()["orders"]] == [order_no]
    token = payer["Authorization"].removeprefix("Bearer ")
    api.http.cookies.set("simkeep_session", token)
    page = await api.http.get("/topups")
    api.http.cookies.clear()
    assert page.status_code == 200
    assert order_no in page.text

    theirs = await api.http.get("/api/v1/topups", headers=other)
    assert theirs.json()["orders"] == []
    assert api.app.state.services.reads.replicas[0].in_pool  # behind, and still in the pool

    await pair.resume()
    await pair.caught_up()
    again = await api.http.get("/api/v1/topups", headers=payer)
    assert [order["order_no"] for order in again.json()["orders"]] == [order_no]
