"""The API world for end-to-end tests: the real app (embedded simulators, no worker loop) on
a seeded database of each kind, an HTTP client, and helpers to sign up, order and poll."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.db import Database
from tests.e2e.world import World, running_world
from tests.factories import last_code

PASSWORD = "correct horse 42"


@dataclass
class Api(World):
    """The world seen through the API: bearer tokens, JSON."""

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


@pytest.fixture
async def api(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Api]:
    async with running_world(
        Api, database_url=database_url, db=db, clock=clock, tmp_path=tmp_path
    ) as world:
        yield world


def cn100(number: str) -> dict[str, Any]:
    """The body of a ¥100 top-up of ``number`` (typed twice), paid by WeChat Pay's QR."""
    return {
        "number": number,
        "confirm_number": number,
        "amount": {"minor": 10000, "currency": "CNY"},
        "pay_currency": "CNY",
        "provider": "wechatpay",
        "channel": "qr",
    }
