"""WeChat Pay v3 test worlds: our adapter against our simulator over ASGI (no network), for
the Mainland API and WeChat Pay HK's global one — shared by their end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

import httpx
from fastapi import APIRouter, FastAPI

from simkeep.clock import FixedClock
from simkeep.payments.model import RawNotification
from simkeep.payments.providers.wechatpay import WeChatPayAdapter, WeChatPayConfig
from simkeep.payments.providers.wechatpay_global import WeChatPayGlobalAdapter
from simkeep.payments.signing import KeyPair
from simkeep.simulators.delivery import Reply
from simkeep.simulators.wechatpay import WeChatPayPlatform, WeChatPaySimulator
from simkeep.simulators.wechatpay_global import WeChatPayGlobalSimulator
from simkeep.simulators.wechatpay_global_routes import router as global_router
from simkeep.simulators.wechatpay_routes import wechatpay_router

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOST = "http://simkeep.test"
APIV3_KEY = "0123456789abcdef0123456789ABCDEF"


@dataclass(frozen=True)
class Account:
    """The merchant's account at one API, where its simulator is mounted and whom it notifies."""

    mchid: str
    appid: str
    serial: str
    prefix: str
    notify_url: str


MAINLAND = Account(
    mchid="1900000109",
    appid="wxd678efh567hg6787",
    serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    prefix="/_sim/wechatpay",
    notify_url="https://merchant.test/notify/wechatpay",
)
HK = Account(
    mchid="1900006811",
    appid="wx5f3a9c2e8b7d4a61",
    serial="6B2E1A5F0C3D9E8B7A6F5E4D3C2B1A0F9E8D7C6B",
    prefix="/_sim/wechatpay_hk",
    notify_url="https://merchant.test/notify/wechatpay_hk",
)


@dataclass
class Inbox:
    """A fake notify endpoint: records every delivery (it must come to ``url``) and answers
    ``status``."""

    url: str
    status: int = 204
    received: list[RawNotification] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        assert url == self.url
        self.received.append(RawNotification(headers=dict(headers), body=body))
        self.arrived.set()
        return self.status


@dataclass
class Merchant(Inbox):
    """The Mainland simulator's kind of endpoint: answers a bare status."""

    url: str = MAINLAND.notify_url

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        return self.take(url, headers, body)


@dataclass
class ReplyingMerchant(Inbox):
    """The generic delivery's kind (the global simulator's): answers a ``Reply``."""

    url: str = HK.notify_url

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        status = self.take(url, headers, body)
        return Reply(status, b"" if status == 204 else b'{"code":"FAIL"}')


Sim = TypeVar("Sim", bound=WeChatPayPlatform)
Adapter = TypeVar("Adapter", bound=WeChatPayAdapter)


@dataclass
class World(Generic[Sim, Adapter]):
    sim: Sim
    adapter: Adapter
    config: WeChatPayConfig
    client: httpx.AsyncClient
    clock: FixedClock
    merchant: Inbox


MainlandWorld = World[WeChatPaySimulator, WeChatPayAdapter]
HKWorld = World[WeChatPayGlobalSimulator, WeChatPayGlobalAdapter]


def mainland_simulator(keys: KeyPair, clock: FixedClock, merchant: Merchant) -> WeChatPaySimulator:
    return WeChatPaySimulator(
        mchid=MAINLAND.mchid,
        appid=MAINLAND.appid,
        merchant_public_key_pem=keys.public_pem,
        merchant_serial_no=MAINLAND.serial,
        apiv3_key=APIV3_KEY,
        clock=clock,
        public_base_url=HOST + MAINLAND.prefix,
        deliver=merchant,
    )


def hk_simulator(
    keys: KeyPair, clock: FixedClock, merchant: ReplyingMerchant, *, time_scale: float = 1.0
) -> WeChatPayGlobalSimulator:
    return WeChatPayGlobalSimulator(
        mchid=HK.mchid,
        appid=HK.appid,
        merchant_public_key_pem=keys.public_pem,
        merchant_serial_no=HK.serial,
        apiv3_key=APIV3_KEY,
        clock=clock,
        public_base_url=HOST + HK.prefix,
        deliver=merchant,
        time_scale=time_scale,
    )


def adapter_config(keys: KeyPair, sim: WeChatPayPlatform, merchant: Account) -> WeChatPayConfig:
    """Our side of ``merchant``, trusting ``sim``'s platform key, calling it where mounted."""
    return WeChatPayConfig(
        mchid=merchant.mchid,
        appid=merchant.appid,
        merchant_private_key_pem=keys.private_pem,
        merchant_serial_no=merchant.serial,
        apiv3_key=APIV3_KEY,
        platform_public_key_pem=sim.platform_keys.public_pem,
        platform_public_key_id=sim.public_key_id,
        base_url=HOST + merchant.prefix,
    )


@asynccontextmanager
async def mainland_world(
    keys: KeyPair,
) -> AsyncIterator[MainlandWorld]:
    """Our Mainland adapter against the Mainland simulator, on a clock stopped at ``START``."""
    clock, merchant = FixedClock(START), Merchant()
    sim = mainland_simulator(keys, clock, merchant)
    async with _served(wechatpay_router(sim), MAINLAND) as client:
        config = adapter_config(keys, sim, MAINLAND)
        adapter = WeChatPayAdapter(config=config, client=client, clock=clock)
        yield World(sim, adapter, config, client, clock, merchant)


@asynccontextmanager
async def hk_world(keys: KeyPair) -> AsyncIterator[HKWorld]:
    """Our WeChat Pay HK adapter against the global simulator, on a clock stopped at ``START``."""
    clock, merchant = FixedClock(START), ReplyingMerchant()
    sim = hk_simulator(keys, clock, merchant)
    async with _served(global_router(sim), HK) as client:
        config = adapter_config(keys, sim, HK)
        adapter = WeChatPayGlobalAdapter(config=config, client=client, clock=clock)
        yield World(sim, adapter, config, client, clock, merchant)


@asynccontextmanager
async def _served(router: APIRouter, merchant: Account) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router, prefix=merchant.prefix)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        yield client
