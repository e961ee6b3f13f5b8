"""AlipayHK through Alipay+ (AMS) for the end-to-end tests: our adapter against our
simulator (ASGI, no network), built from kept keys as the embedded default builds them, with
a notify endpoint answered by our own adapter; payments made through the test hook."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel
from simkeep.payments.model import NotificationRejected, PaymentRequest, RawNotification
from simkeep.payments.providers.alipayplus import AlipayPlusAdapter
from simkeep.simulators.alipayplus import AlipayPlusSimulator
from simkeep.simulators.alipayplus_routes import router
from simkeep.simulators.alipayplus_setup import build_simulator, simulator_adapter
from simkeep.simulators.delivery import Reply

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOST = "http://simkeep.test"
PREFIX = "/_sim/alipayhk"
NOTIFY_URL = "https://merchant.test/api/v1/payments/alipayhk/notify"
BACK = "https://merchant.test/topups/TOPUP_000001"


@dataclass
class Merchant:
    """Our notify endpoint in miniature: our adapter verifies, and answers as it would."""

    adapter: AlipayPlusAdapter | None = None
    clock: FixedClock | None = None
    status: int | None = None  # set: answer this status with no body instead
    received: list[RawNotification] = field(default_factory=list)

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        assert url == NOTIFY_URL
        raw = RawNotification(headers=dict(headers), body=body)
        self.received.append(raw)
        if self.status is not None:
            return Reply(self.status)
        assert self.adapter is not None
        assert self.clock is not None
        try:
            self.adapter.verify_notification(raw, now=self.clock.now())
        except NotificationRejected:
            ack = self.adapter.acknowledge(False)
        else:
            ack = self.adapter.acknowledge(True)
        return Reply(ack.status, ack.body)


@dataclass
class World:
    sim: AlipayPlusSimulator
    adapter: AlipayPlusAdapter
    client: httpx.AsyncClient
    clock: FixedClock
    merchant: Merchant

    def adapter_with(
        self, *, http: httpx.AsyncClient | None = None, **changes: object
    ) -> AlipayPlusAdapter:
        """Our adapter with other settings, or reaching Alipay+ through another client."""
        config = replace(self.adapter._config, **changes)  # type: ignore[arg-type]
        return AlipayPlusAdapter(config=config, http=http or self.client, clock=self.clock)


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
async def world(keys_dir: Path) -> AsyncIterator[World]:
    clock, merchant = FixedClock(START), Merchant()
    sim = build_simulator(keys_dir, clock, base_url=HOST + PREFIX, deliver=merchant)
    app = FastAPI()
    app.include_router(router(sim), prefix=PREFIX)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as client:
        adapter = simulator_adapter(keys_dir, clock, base_url=HOST + PREFIX, http=client)
        merchant.adapter, merchant.clock = adapter, clock
        yield World(sim, adapter, client, clock, merchant)


def payment_request(
    otn: str = "TOPUP_000001", *, channel: Channel = Channel.WAP, minor: int = 12345
) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=otn,
        amount=Money(minor, "HKD"),
        subject="中港卡充值 HK$123.45",
        channel=channel,
        notify_url=NOTIFY_URL,
        return_url=BACK,
        expires_at=START + timedelta(minutes=15),
    )


async def pay_hook(world: World, otn: str, outcome: str = "success") -> httpx.Response:
    return await world.client.post(f"{PREFIX}/pay/{otn}", params={"outcome": outcome})


async def paid(world: World, otn: str = "TOPUP_000001") -> None:
    await world.adapter.start(payment_request(otn))
    assert (await pay_hook(world, otn)).json()["paymentStatus"] == "SUCCESS"
