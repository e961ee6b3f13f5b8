"""The embedded default's payment providers: both simulators, and our adapters wired to them.

Design overview
---------------
``EmbeddedProviders.build`` makes the merchant key pair (kept in ``keys_dir``), an Alipay
and a WeChat Pay simulator that know it, and one ASGI app that serves both under
``/_sim/alipay`` and ``/_sim/wechatpay`` for the payer's browser. Our adapters know the
simulators by their public URLs (the payer is redirected to the same gateway URL the server
calls, as with the real Alipay) but reach them in-process (no socket), exactly as they would
reach the real gateways over HTTPS. The simulators deliver their notifications to our notify
endpoints at ``public_url`` over real HTTP, as the providers do. ``tick`` sends whatever
notification retries are due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

from simkeep.clock import Clock
from simkeep.payments.model import PaymentProviderAdapter, Provider
from simkeep.payments.providers.alipay import AlipayAdapter, AlipayConfig
from simkeep.payments.providers.wechatpay import WeChatPayAdapter, WeChatPayConfig
from simkeep.payments.signing import KeyPair
from simkeep.settings import Settings
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_routes import alipay_router
from simkeep.simulators.wechatpay import WeChatPaySimulator
from simkeep.simulators.wechatpay_routes import wechatpay_router

ALIPAY_APP_ID, ALIPAY_SELLER_ID = "2021000000000001", "2088000000000001"
WECHAT_MCHID, WECHAT_APPID = "1900000109", "wxd678efh567hg6787"
WECHAT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
WECHAT_APIV3_KEY = "simkeep-embedded-apiv3-key-0001"[:32].ljust(32, "0")


@dataclass
class EmbeddedProviders:
    app: FastAPI
    alipay: AlipaySimulator
    wechatpay: WeChatPaySimulator
    adapters: dict[Provider, PaymentProviderAdapter]
    http: httpx.AsyncClient

    @classmethod
    def build(cls, settings: Settings, clock: Clock) -> EmbeddedProviders:
        keys = _merchant_keys(Path(settings.keys_dir))
        public = settings.public_url.rstrip("/")
        alipay = AlipaySimulator(
            app_id=ALIPAY_APP_ID,
            seller_id=ALIPAY_SELLER_ID,
            merchant_public_key_pem=keys.public_pem,
            clock=clock,
            base_url=f"{public}/_sim/alipay",
            key_dir=Path(settings.keys_dir) / "alipay",
        )
        wechatpay = WeChatPaySimulator(
            mchid=WECHAT_MCHID,
            appid=WECHAT_APPID,
            merchant_public_key_pem=keys.public_pem,
            merchant_serial_no=WECHAT_SERIAL,
            apiv3_key=WECHAT_APIV3_KEY,
            clock=clock,
            public_base_url=f"{public}/_sim/wechatpay",
        )
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.include_router(alipay_router(alipay), prefix="/alipay")
        app.include_router(wechatpay_router(wechatpay), prefix="/wechatpay")
        in_process = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        in_process.mount("/_sim", app)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=in_process))
        adapters: dict[Provider, PaymentProviderAdapter] = {
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


def _merchant_keys(directory: Path) -> KeyPair:
    """The merchant's key pair for the simulators, made once and kept."""
    private, public = directory / "merchant_private_key.pem", directory / "merchant_public_key.pem"
    if private.exists() and public.exists():
        return KeyPair(private.read_bytes(), public.read_bytes())
    keys = KeyPair.generate()
    directory.mkdir(parents=True, exist_ok=True)
    private.write_bytes(keys.private_pem)
    private.chmod(0o600)
    public.write_bytes(keys.public_pem)
    return keys
