"""FPS's world for end-to-end tests: our adapter against the simulated payer's app and
receiving bank over ASGI (no network), a fake notify endpoint that records every webhook,
and the helpers that start and pay an order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
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
from simkeep.payments.providers.fps import FpsAdapter, FpsConfig
from simkeep.payments.signing import KeyPair
from simkeep.simulators.delivery import Reply
from simkeep.simulators.fps import FEE_MINOR, FpsBankSimulator
from simkeep.simulators.fps_routes import router, scan_path

PROXY, NAME, CLIENT = "7654321", "SIMKEEP DEMO LTD", "SIMKEEP-FPS-TEST"
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOST = "http://simkeep.test"
PREFIX = "/_sim/fps"
NOTIFY_URL = "https://merchant.test/api/v1/payments/fps/notify"
OTN = "T202611250000000042"
TAKEN = b'{"received":true}'


@dataclass
class Merchant:
    """A fake notify endpoint: records every webhook and answers ``status`` and ``body``."""

    status: int = 200
    body: bytes = TAKEN
    url: str = NOTIFY_URL
    received: list[RawNotification] = field(default_factory=list)

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        assert url == self.url
        self.received.append(RawNotification(headers=dict(headers), body=body))
        return Reply(self.status, self.body)


@dataclass
class World:
    sim: FpsBankSimulator
    adapter: FpsAdapter
    client: httpx.AsyncClient
    clock: FixedClock
    merchant: Merchant
    merchant_keys: KeyPair
    app: FastAPI


@pytest.fixture(scope="module")
def merchant_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the simulated bank keeps its key pair: made once for the module."""
    return tmp_path_factory.mktemp("fps_bank")


def config(keys: KeyPair, bank_public_pem: bytes) -> FpsConfig:
    """Our adapter's settings: ``keys`` our key pair, ``bank_public_pem`` the bank we trust."""
    return FpsConfig(
        proxy_id=PROXY,
        merchant_name=NAME,
        bank_client_id=CLIENT,
        merchant_private_key_pem=keys.private_pem,
        bank_public_key_pem=bank_public_pem,
        bank_api_url=HOST + PREFIX,
    )


def adapter_for(
    world: World,
    *,
    keys: KeyPair | None = None,
    bank_public_pem: bytes | None = None,
    client: httpx.AsyncClient | None = None,
) -> FpsAdapter:
    """Another adapter beside ``world``'s: other keys of ours, another bank, another client."""
    return FpsAdapter(
        config=config(
            keys or world.merchant_keys, bank_public_pem or world.sim.bank_keys.public_pem
        ),
        client=client or world.client,
        clock=world.clock,
    )


@pytest.fixture
async def world(merchant_keys: KeyPair, bank_dir: Path) -> AsyncIterator[World]:
    async with bank_world(merchant_keys, bank_dir) as built:
        yield built


@asynccontextmanager
async def bank_world(
    merchant_keys: KeyPair, bank_dir: Path, *, fee_minor: int = FEE_MINOR
) -> AsyncIterator[World]:
    """A world whose bank charges ``fee_minor`` on every credit it receives."""
    clock, merchant = FixedClock(START), Merchant()
    sim = FpsBankSimulator(
        proxy_id=PROXY,
        merchant_name=NAME,
        client_id=CLIENT,
        merchant_public_key_pem=merchant_keys.public_pem,
        notify_url=NOTIFY_URL,
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


def payment_request(otn: str = OTN, *, minor: int = 12345, currency: str = "HKD") -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=otn,
        amount=Money(minor, currency),
        subject="中港卡增值 HK$123.45",
        channel=Channel.QR,
        notify_url=NOTIFY_URL,
        return_url=None,
        expires_at=START + timedelta(minutes=15),
    )


async def scanned(world: World, otn: str = OTN, minor: int = 12345) -> httpx.Response:
    """The payer's app page after scanning the order's QR code (a PENDING transfer)."""
    start = await world.adapter.start(payment_request(otn, minor=minor))
    assert start.qr_payload is not None
    page = await world.client.get(PREFIX + scan_path(otn, start.qr_payload))
    assert page.status_code == 200, page.text
    return page
