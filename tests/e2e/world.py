"""The world of the end-to-end tests: the real app (embedded simulators, no worker loop) on
a seeded database of each kind — the books, an FX rate, an HKD SIM, a CNY SIM and a
recycled one — with an HTTP client. Notifications cannot arrive (the public URL leads
nowhere), so a payment is credited by the poll of the provider, as the worker would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.app import create_app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.payments import service as payments
from simkeep.settings import load_settings
from simkeep.sims.model import Sim, SimState
from tests.e2e.test_app import serve
from tests.factories import issue_sim, seed_books


@dataclass
class World:
    app: FastAPI
    http: httpx.AsyncClient
    db: Database
    clock: FixedClock
    hk_sim: Sim  # HKD, HK-VALID
    cn_sim: Sim  # CNY, CN-KEEP
    recycled: Sim

    async def poll(self) -> int:
        """What the worker does: ask the providers about unpaid orders."""
        self.clock.advance(timedelta(seconds=31))
        adapters = self.app.state.payment_adapters
        return await payments.poll_unpaid(self.db, adapters=adapters, now=self.clock.now())


W = TypeVar("W", bound="World")


@asynccontextmanager
async def running_world(
    kind: type[W],
    *,
    database_url: str,
    db: Database,
    clock: FixedClock,
    tmp_path: Path,
    hk_state: SimState = SimState.ACTIVE,
    **overrides: Any,
) -> AsyncIterator[W]:
    async def setup(conn: AsyncConnection) -> tuple[Sim, Sim, Sim]:
        now = clock.now()
        await seed_books(conn, now=now)
        return (
            await issue_sim(conn, n=1, plan="HK-VALID", now=now, state=hk_state),
            await issue_sim(conn, n=2, plan="CN-KEEP", now=now),
            await issue_sim(conn, n=3, plan="HK-KEEP", now=now, state=SimState.RECYCLED),
        )

    hk_sim, cn_sim, recycled = await db.transaction(setup)
    settings = load_settings(
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:9",
        environment="test",
        **overrides,
    )
    app = create_app(settings, db=db, clock=clock)
    async with serve(app) as http:
        yield kind(app, http, db, clock, hk_sim, cn_sim, recycled)
