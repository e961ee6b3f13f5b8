"""UnionPay's gateway for the end-to-end tests: our adapter against our simulator (ASGI, no
network), built as the embedded default builds them from keys kept in one folder, with a
fake notify endpoint; the consume form posted as the payer's browser posts it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel
from simkeep.payments.model import PaymentRequest, RawNotification
from simkeep.payments.providers.unionpay import UnionPayAdapter
from simkeep.simulators.delivery import Reply
from simkeep.simulators.unionpay import UnionPaySimulator
from simkeep.simulators.unionpay_routes import router
from simkeep.simulators.unionpay_setup import build_simulator, simulator_adapter

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOST = "http://simkeep.test"
PREFIX = "/_sim/unionpay"
NOTIFY_URL = "https://merchant.test/api/v1/payments/unionpay/notify"
RETURN_URL = "https://merchant.test/topups/T202611250000000001"
ORDER_NO = "T202611250000000001"


@dataclass
class Merchant:
    """A fake notify endpoint: records every delivery and answers ``status``."""

    status: int = 200
    received: list[RawNotification] = field(default_factory=list)

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        assert url == NOTIFY_URL
        assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
        self.received.append(RawNotification(headers=dict(headers), body=body))
        return Reply(self.status, b"ok" if self.status == 200 else b"")


@dataclass
class World:
    sim: UnionPaySimulator
    adapter: UnionPayAdapter
    client: httpx.AsyncClient
    clock: FixedClock
    merchant: Merchant
    keys_dir: Path


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
async def world(keys_dir: Path) -> AsyncIterator[World]:
    clock, merchant = FixedClock(START), Merchant()
    sim = build_simulator(keys_dir, clock, base_url=HOST + PREFIX, deliver=merchant)
    app = FastAPI()
    app.include_router(router(sim), prefix=PREFIX)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        adapter = simulator_adapter(
            keys_dir, clock, base_url=HOST + PREFIX, http=client, notify_url=NOTIFY_URL
        )
        yield World(sim, adapter, client, clock, merchant, keys_dir)


def payment_request(otn: str = ORDER_NO, *, amount: Money | None = None) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=otn,
        amount=amount or Money(1234, "CNY"),
        subject="中港卡充值",
        channel=Channel.PAGE,
        notify_url=NOTIFY_URL,
        return_url=RETURN_URL,
        expires_at=START + timedelta(minutes=15),
    )


async def open_cashier(world: World, request: PaymentRequest | None = None) -> str:
    """Post the consume form as the payer's browser does; the cashier page's URL."""
    start = await world.adapter.start(request or payment_request())
    assert start.redirect_url == f"{HOST}{PREFIX}/frontTransReq.do"
    assert start.form is not None
    opened = await world.client.post(start.redirect_url, data=dict(start.form))
    assert opened.status_code == 303
    return str(opened.headers["location"])
