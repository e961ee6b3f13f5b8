"""The real payment gateways: our adapters built from the merchant credentials in settings.

Design overview
---------------
When the simulators are off, ``real_adapters`` reads each configured provider's key files
once at start and builds its adapter on one shared HTTPS client (timeouts set; the providers
answer in well under a second). A provider without credentials is simply not offered; a half
configured one was refused by ``Settings`` already. The same adapters talk to the simulators
in the embedded default (``simulators/embedded.py``) — only the URLs and keys differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from simkeep.clock import Clock
from simkeep.payment_methods import Provider
from simkeep.payments.model import PaymentProviderAdapter
from simkeep.payments.providers import alipayplus, fps, unionpay, wechatpay_global
from simkeep.payments.providers.alipay import AlipayConfig
from simkeep.payments.providers.alipay_agreements import AlipayAgreementAdapter
from simkeep.payments.providers.wechatpay import WeChatPayConfig
from simkeep.payments.providers.wechatpay_papay import WeChatPapayAdapter
from simkeep.payments.signing import key_file
from simkeep.settings import Settings

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# The providers whose adapter builds itself from settings: each its own ``real_adapter``.
REAL: dict[Provider, Callable[[Settings, Clock, httpx.AsyncClient], PaymentProviderAdapter]] = {
    Provider.FPS: fps.real_adapter,
    Provider.UNIONPAY: unionpay.real_adapter,
    Provider.ALIPAYHK: alipayplus.real_adapter,
    Provider.WECHATPAY_HK: wechatpay_global.real_adapter,
}


@dataclass
class Gateways:
    adapters: dict[Provider, PaymentProviderAdapter]
    http: httpx.AsyncClient

    async def close(self) -> None:
        await self.http.aclose()


def real_adapters(settings: Settings, clock: Clock) -> Gateways:
    """Adapters for every provider whose real credentials are configured."""
    http = httpx.AsyncClient(timeout=TIMEOUT)
    adapters: dict[Provider, PaymentProviderAdapter] = {}
    if settings.provider_configured("alipay"):
        adapters[Provider.ALIPAY] = AlipayAgreementAdapter(
            config=AlipayConfig(
                app_id=settings.alipay_app_id,
                seller_id=settings.alipay_seller_id,
                app_private_key_pem=key_file(settings.alipay_private_key_file),
                alipay_public_key_pem=key_file(settings.alipay_public_key_file),
                gateway_url=settings.alipay_gateway_url,
            ),
            http=http,
            clock=clock,
        )
    if settings.provider_configured("wechatpay"):
        adapters[Provider.WECHATPAY] = WeChatPapayAdapter(
            config=WeChatPayConfig(
                mchid=settings.wechatpay_mchid,
                appid=settings.wechatpay_appid,
                merchant_private_key_pem=key_file(settings.wechatpay_private_key_file),
                merchant_serial_no=settings.wechatpay_serial_no,
                apiv3_key=settings.wechatpay_apiv3_key,
                platform_public_key_pem=key_file(settings.wechatpay_public_key_file),
                platform_public_key_id=settings.wechatpay_public_key_id,
                base_url=settings.wechatpay_base_url,
            ),
            client=http,
            clock=clock,
        )
    for provider, build in REAL.items():
        if settings.provider_configured(provider.value):
            adapters[provider] = build(settings, clock, http)
    return Gateways(adapters, http)
