"""The Alipay world of the end-to-end tests: our adapter against our simulator over HTTP
(ASGITransport, no network), with ``python-alipay-sdk`` beside them as an independent oracle.

A fake merchant endpoint is the simulator's ``deliver`` callable: it verifies each
notification with the adapter and answers what the adapter would (or a scripted answer, or
what the payments service answers when one is plugged in). Time is a ``FixedClock``;
retries are driven with ``deliver_pending``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from alipay import AliPay
from fastapi import FastAPI

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel
from simkeep.payments.model import (
    NotificationRejected,
    PaymentRequest,
    RawNotification,
    VerifiedNotification,
)
from simkeep.payments.providers.alipay import AlipayAdapter, AlipayConfig
from simkeep.payments.signing import KeyPair
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_routes import alipay_router

START = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"
BASE = "http://alipay.sim/_sim/alipay"
MERCHANT = KeyPair.generate()
SUBJECT = "中港卡充值 ¥100 {SIM}"
NOTIFY_URL = "https://shop.example/notify/alipay"


@dataclass
class FakeMerchant:
    """The merchant's notify_url: verifies with the adapter, answers like the adapter would."""

    clock: FixedClock
    adapter: AlipayAdapter | None = None
    notify_url: str = NOTIFY_URL
    service: Callable[[RawNotification], Awaitable[str]] | None = None  # the real inbox
    script: list[str] = field(default_factory=list)  # answers to give first, in order
    received: list[dict[str, str]] = field(default_factory=list)
    verified: list[VerifiedNotification] = field(default_factory=list)
    rejected: list[NotificationRejected] = field(default_factory=list)

    async def deliver(self, url: str, form: dict[str, str]) -> str:
        assert url == self.notify_url
        assert self.adapter is not None
        self.received.append(dict(form))
        raw = RawNotification(headers={}, body=urlencode(form).encode())
        try:
            self.verified.append(self.adapter.verify_notification(raw, now=self.clock.now()))
        except NotificationRejected as rejected:
            self.rejected.append(rejected)
            return self.adapter.acknowledge(False).body.decode()
        if self.service is not None:
            return await self.service(raw)
        answer = self.adapter.acknowledge(True).body.decode()
        return self.script.pop(0) if self.script else answer


@dataclass
class World:
    clock: FixedClock
    sim: AlipaySimulator
    merchant: FakeMerchant
    adapter: AlipayAdapter
    http: httpx.AsyncClient
    sdk: AliPay
    config: AlipayConfig  # the adapter's, for another adapter on another road to the simulator
    transport: httpx.AsyncBaseTransport  # that road: the simulator's ASGI app


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FixedClock(START)
    merchant = FakeMerchant(clock=clock)
    sim = AlipaySimulator(
        app_id=APP_ID,
        seller_id=SELLER_ID,
        merchant_public_key_pem=MERCHANT.public_pem,
        clock=clock,
        base_url=BASE,
        deliver=merchant.deliver,
    )
    app = FastAPI()
    app.include_router(alipay_router(sim), prefix="/_sim/alipay")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://alipay.sim") as http:
        config = AlipayConfig(
            app_id=APP_ID,
            seller_id=SELLER_ID,
            app_private_key_pem=MERCHANT.private_pem,
            alipay_public_key_pem=sim.public_key_pem,
            gateway_url=f"{BASE}/gateway.do",
        )
        merchant.adapter = AlipayAdapter(config=config, http=http, clock=clock)
        sdk = AliPay(
            appid=APP_ID,
            app_private_key_string=MERCHANT.private_pem.decode(),
            alipay_public_key_string=sim.public_key_pem.decode(),
        )
        yield World(clock, sim, merchant, merchant.adapter, http, sdk, config, transport)


def order(out_trade_no: str, channel: Channel = Channel.QR) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=out_trade_no,
        amount=Money(10000, "CNY"),
        subject=SUBJECT,
        channel=channel,
        notify_url=NOTIFY_URL,
        return_url="https://shop.example/topups/done",
        expires_at=START + timedelta(minutes=15),
    )


async def pay(world: World, out_trade_no: str, outcome: str = "success") -> httpx.Response:
    return await world.http.post(f"{BASE}/pay/{out_trade_no}", params={"outcome": outcome})


Change = Callable[[int, str], tuple[int, str]]  # (status, body) as sent → as received


@dataclass
class Rewrite(httpx.AsyncBaseTransport):
    """The road to the simulator, with each answer changed on its way back."""

    inner: httpx.AsyncBaseTransport
    change: Change

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        status, text = self.change(response.status_code, (await response.aread()).decode())
        headers = {"content-type": "application/json;charset=utf-8"}
        return httpx.Response(status, headers=headers, content=text.encode())


@asynccontextmanager
async def adapter_via(world: World, change: Change) -> AsyncIterator[AlipayAdapter]:
    """Another adapter of the same merchant, whose answers come back through ``change``."""
    transport = Rewrite(world.transport, change)
    async with httpx.AsyncClient(transport=transport, base_url="http://alipay.sim") as http:
        yield AlipayAdapter(config=world.config, http=http, clock=world.clock)
