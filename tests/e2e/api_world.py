"""The API world for end-to-end tests: the real app (embedded simulators, no worker loop) on
a seeded database of each kind, an HTTP client, and helpers to sign up, order and poll."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from simkeep.app import create_app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.payments import service as payments
from simkeep.settings import load_settings
from simkeep.sims.model import Sim, SimState
from tests.e2e.test_app import serve
from tests.factories import issue_sim, last_code, seed_books

PASSWORD = "correct horse 42"


@dataclass
class Api:
    app: FastAPI
    http: httpx.AsyncClient
    db: Database
    clock: FixedClock
    hk_sim: Sim  # HKD, HK-VALID
    cn_sim: Sim  # CNY, CN-KEEP
    recycled: Sim

    async def signup(self, phone: str) -> dict[str, str]:
        """Register ``phone`` and return its bearer header."""
        sent = await self.http.post(
            "/api/v1/auth/codes", json={"phone": phone, "purpose": "register"}
        )
        assert sent.status_code == 202, sent.text
        code = await last_code(self.db, phone)
        registered = await self.http.post(
            "/api/v1/auth/register",
            json={"phone": phone, "code": code, "password": PASSWORD},
        )
        assert registered.status_code == 201, registered.text
        return {"Authorization": f"Bearer {registered.json()['token']}"}

    async def login(self, phone: str) -> dict[str, str]:
        """Log ``phone`` in again and return its bearer header."""
        response = await self.http.post(
            "/api/v1/auth/login", json={"phone": phone, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    async def order(self, auth: dict[str, str], key: str, **body: Any) -> httpx.Response:
        return await self.http.post(
            "/api/v1/topups", json=body, headers={**auth, "Idempotency-Key": key}
        )

    async def poll(self) -> int:
        self.clock.advance(timedelta(seconds=31))
        adapters = self.app.state.payment_adapters
        return await payments.poll_unpaid(self.db, adapters=adapters, now=self.clock.now())


@pytest.fixture
async def api(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Api]:
    async def setup(conn: Any) -> tuple[Sim, Sim, Sim]:
        now = clock.now()
        await seed_books(conn, now=now)
        return (
            await issue_sim(conn, n=1, plan="HK-VALID", now=now),
            await issue_sim(conn, n=2, plan="CN-KEEP", now=now),
            await issue_sim(conn, n=3, plan="HK-KEEP", now=now, state=SimState.RECYCLED),
        )

    hk_sim, cn_sim, recycled = await db.transaction(setup)
    settings = load_settings(
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:9",  # notifications cannot arrive: polling credits
    )
    app = create_app(settings, db=db, clock=clock)
    async with serve(app) as http:
        yield Api(app, http, db, clock, hk_sim, cn_sim, recycled)
