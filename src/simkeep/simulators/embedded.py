"""The embedded default's payment providers: both simulators, and our adapters wired to them.

Design overview
---------------
``EmbeddedProviders.build`` takes the merchant key pair and both platform key pairs from
``keys_dir`` (``simulators.keys``: made by the first process to start, read by the rest),
builds an Alipay and a WeChat Pay simulator that know the merchant, and one ASGI app that
serves both under ``/_sim/alipay`` and ``/_sim/wechatpay`` for the payer's browser. Our
adapters know the simulators by their public URLs (the payer is redirected to the same
gateway URL the server calls, as with the real Alipay) but reach them in-process (no
socket), exactly as they would reach the real gateways over HTTPS. The simulators deliver
their notifications to our notify endpoints at ``public_url`` over real HTTP, as the
providers do — or, given ``notify`` (the demo data, made with no server running), hand each
one as it arrived to ``notify`` with the adapter that verifies it, and pass its answer
back. ``tick`` sends whatever notification retries are due.

The embedded default runs as one worker process. Processes built on the same ``keys_dir``
are the same merchant and the same providers (same keys, same WeChat Pay key id), so a
signature made in one verifies in any other; but the simulators' trades and pending
notifications live in each process's memory and are not shared, so with several workers a
payer's cashier page, payment, query or close could reach a process that never saw the
trade.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI

from simkeep.clock import Clock
from simkeep.payment_methods import Provider
from simkeep.payments.model import Acknowledgement, PaymentProviderAdapter, RawNotification
from simkeep.payments.providers.alipay import AlipayAdapter, AlipayConfig
from simkeep.payments.providers.wechatpay import WeChatPayAdapter, WeChatPayConfig
from simkeep.settings import Settings
from simkeep.simulators import alipay as alipay_simulator
from simkeep.simulators import wechatpay as wechatpay_simulator
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_routes import alipay_router
from simkeep.simulators.keys import kept_key_pair
from simkeep.simulators.wechatpay import WeChatPaySimulator
from simkeep.simulators.wechatpay_routes import wechatpay_router

ALIPAY_APP_ID, ALIPAY_SELLER_ID = "2021000000000001", "2088000000000001"
WECHAT_MCHID, WECHAT_APPID = "1900000109", "wxd678efh567hg6787"
WECHAT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
WECHAT_APIV3_KEY = "simkeep-embedded-apiv3-key-0001"[:32].ljust(32, "0")

# Our notify endpoint without HTTP: a notification as it arrived, and the adapter that
# verifies it, to the answer the provider reads.
Notify = Callable[[PaymentProviderAdapter, RawNotification], Awaitable[Acknowledgement]]


@dataclass(frozen=True, slots=True)
class _HandedOver:
    """The simulators' deliveries handed to ``notify`` in-process, as the notify endpoint
    would receive them."""

    notify: Notify
    adapters: Mapping[Provider, PaymentProviderAdapter]

    async def alipay(self, url: str, form: Mapping[str, str]) -> str:
        raw = RawNotification(headers={}, body=urlencode(dict(form)).encode())
        answer = await self.notify(self.adapters[Provider.ALIPAY], raw)
        return answer.body.decode()

    async def wechatpay(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        raw = RawNotification(headers=dict(headers), body=body)
        return (await self.notify(self.adapters[Provider.WECHATPAY], raw)).status


@dataclass
class EmbeddedProviders:
    app: FastAPI
    alipay: AlipaySimulator
    wechatpay: WeChatPaySimulator
    adapters: dict[Provider, PaymentProviderAdapter]
    http: httpx.AsyncClient

    @classmethod
    def build(
        cls, settings: Settings, clock: Clock, *, notify: Notify | None = None
    ) -> EmbeddedProviders:
        keys_dir = Path(settings.keys_dir)
        keys = kept_key_pair(keys_dir, "merchant")
        public = settings.public_url.rstrip("/")
        adapters: dict[Provider, PaymentProviderAdapter] = {}  # filled below
        handed = _HandedOver(notify, adapters) if notify is not None else None
        alipay = AlipaySimulator(
            app_id=ALIPAY_APP_ID,
            seller_id=ALIPAY_SELLER_ID,
            merchant_public_key_pem=keys.public_pem,
            clock=clock,
            base_url=f"{public}/_sim/alipay",
            key_dir=keys_dir / "alipay",
            deliver=handed.alipay if handed else alipay_simulator.http_deliver,
        )
        wechatpay = WeChatPaySimulator(
            mchid=WECHAT_MCHID,
            appid=WECHAT_APPID,
            merchant_public_key_pem=keys.public_pem,
            merchant_serial_no=WECHAT_SERIAL,
            apiv3_key=WECHAT_APIV3_KEY,
            clock=clock,
            public_base_url=f"{public}/_sim/wechatpay",
            key_dir=keys_dir / "wechatpay",
            deliver=handed.wechatpay if handed else wechatpay_simulator.http_deliver,
        )
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.include_router(alipay_router(alipay), prefix="/alipay")
        app.include_router(wechatpay_router(wechatpay), prefix="/wechatpay")
        in_process = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        in_process.mount("/_sim", app)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=in_process))
        adapters |= {
            Provider.ALIPAY: AlipayAdapter(
                config=AlipayConfig(
                    app_id=ALIPAY_APP_ID,
                    seller_id=ALIPAY_SELLER_ID,
                    app_private_key_pem=keys.private_pem,
                    alipay_public_key_pem=alipay.public_key_pem,
                    gateway_url=f"{public}/_sim/alipay/gateway.do",
                ),
                http=http,
                clock=clock,
            ),
            Provider.WECHATPAY: WeChatPayAdapter(
                config=WeChatPayConfig(
                    mchid=WECHAT_MCHID,
                    appid=WECHAT_APPID,
                    merchant_private_key_pem=keys.private_pem,
                    merchant_serial_no=WECHAT_SERIAL,
                    apiv3_key=WECHAT_APIV3_KEY,
                    platform_public_key_pem=wechatpay.platform_keys.public_pem,
                    platform_public_key_id=wechatpay.public_key_id,
                    base_url=f"{public}/_sim/wechatpay",
                ),
                client=http,
                clock=clock,
            ),
        }
        return cls(app, alipay, wechatpay, adapters, http)

    async def tick(self, now: datetime) -> None:
        """Send the notification (re)tries that are due."""
        await self.alipay.deliver_pending(now)
        await self.wechatpay.deliver_due(now=now)

    async def close(self) -> None:
        await self.http.aclose()
