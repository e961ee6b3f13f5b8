"""The payment providers of the embedded default and of the simulators' own process: both
simulators, and our adapters wired to them.

Design overview
---------------
``build_simulators`` makes every provider's simulator (``Simulators``: Alipay and WeChat Pay
with their payment agreements, and every kit) for the merchant whose key pair is kept in
``keys_dir``, with their own platform keys kept there too (``simulators.keys``: made by the
first process to start, read by the rest), and — given ``simulator_records`` — their records
read back from that directory (``simulators.records``); ``simulators_app`` serves them under
``/alipay``, ``/wechatpay`` and ``/<provider>``, saving the records before each answer when
they are kept. ``simulator_adapters`` builds our adapters for simulators at a base URL from
those same kept keys, so any process on the same ``keys_dir`` is the same merchant and
verifies the same providers.

``EmbeddedProviders.build`` (the embedded default: one process) mounts the simulators under
``/_sim`` for the payer's browser, and our adapters know them by their public URLs (the
payer is redirected to the same gateway URL the server calls, as with the real Alipay) but
reach them in-process (no socket), exactly as they would reach the real gateways over
HTTPS. The simulators deliver their notifications to our notify endpoints at
``public_url`` over real HTTP, as the providers do — or, given ``notify`` (the demo data,
made with no server running), hand each one as it arrived to ``notify`` with the adapter
that verifies it, and pass its answer back. ``tick`` sends whatever notification retries
are due, and ``close`` saves the records once more. Without ``simulator_records`` the
simulators' trades live in that process's memory only.

With several processes (web apps and workers beside each other), the simulators run in a
process of their own (``simulators.server``, ``simkeep simulators serve``) at
``SIMKEEP_SIMULATORS_URL``, and ``remote_simulators`` gives every other process adapters
that reach them there over HTTP.
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
from simkeep.payments.gateways import TIMEOUT, Gateways
from simkeep.payments.model import Acknowledgement, PaymentProviderAdapter, RawNotification
from simkeep.payments.providers.alipay import AlipayConfig
from simkeep.payments.providers.alipay_agreements import AlipayAgreementAdapter
from simkeep.payments.providers.wechatpay import WeChatPayConfig
from simkeep.payments.providers.wechatpay_papay import WeChatPapayAdapter
from simkeep.payments.service import CheckoutUrls
from simkeep.settings import Settings
from simkeep.simulators import alipay_trades as alipay_simulator
from simkeep.simulators import wechatpay_trades as wechatpay_simulator
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_agreements import AlipayAgreements, alipay_agreements_router
from simkeep.simulators.alipay_routes import alipay_router
from simkeep.simulators.delivery import Deliver, Reply, http_deliver
from simkeep.simulators.keys import kept_key_pair, public_key_id
from simkeep.simulators.kits import KITS, Simulated
from simkeep.simulators.records import Kept, KeptRecords, SavingRecords
from simkeep.simulators.wechatpay import WeChatPaySimulator
from simkeep.simulators.wechatpay_papay import WeChatPapay, wechatpay_papay_router
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

    def to(self, provider: Provider) -> Deliver:
        """A kit's deliveries, handed to ``notify`` with ``provider``'s adapter."""

        async def deliver(url: str, headers: Mapping[str, str], body: bytes) -> Reply:
            raw = RawNotification(headers=dict(headers), body=body)
            answer = await self.notify(self.adapters[provider], raw)
            return Reply(answer.status, answer.body)

        return deliver


@dataclass
class Simulators:
    """Every provider's simulator in one process, and where their records are kept (none:
    in memory only)."""

    alipay: AlipaySimulator
    wechatpay: WeChatPaySimulator
    agreements: AlipayAgreements  # Alipay's 商家扣款, beside its gateway
    papay: WeChatPapay  # WeChat Pay's 委托代扣
    others: dict[Provider, Simulated]  # the kits' simulators
    records: KeptRecords | None = None

    def books(self) -> dict[str, dict[str, Kept]]:
        """What each provider's records file holds: its simulators, by part."""
        kits: dict[str, dict[str, Kept]] = {
            provider.value: {"gateway": simulator} for provider, simulator in self.others.items()
        }
        return kits | {
            Provider.ALIPAY.value: {"gateway": self.alipay, "agreements": self.agreements},
            Provider.WECHATPAY.value: {"gateway": self.wechatpay, "papay": self.papay},
        }

    async def deliver_due(self, now: datetime | None = None) -> None:
        """Send the notification (re)tries that are due, and save what they changed."""
        await self.alipay.deliver_pending(now)
        await self.wechatpay.deliver_due(now=now)
        for simulator in self.others.values():
            await simulator.deliver_due(now=now)
        self.save()

    def save(self) -> None:
        """Write the records that changed, when they are kept."""
        if self.records is not None:
            self.records.save()


@dataclass
class EmbeddedProviders:
    app: FastAPI
    simulators: Simulators
    adapters: dict[Provider, PaymentProviderAdapter]
    http: httpx.AsyncClient

    @property
    def alipay(self) -> AlipaySimulator:
        return self.simulators.alipay

    @property
    def wechatpay(self) -> WeChatPaySimulator:
        return self.simulators.wechatpay

    @property
    def others(self) -> dict[Provider, Simulated]:
        return self.simulators.others

    @classmethod
    def build(
        cls, settings: Settings, clock: Clock, *, notify: Notify | None = None
    ) -> EmbeddedProviders:
        public = settings.public_url.rstrip("/")
        adapters: dict[Provider, PaymentProviderAdapter] = {}  # filled below
        handed = _HandedOver(notify, adapters) if notify is not None else None
        simulators = build_simulators(
            settings,
            clock,
            base_url=f"{public}/_sim",
            deliver_alipay=handed.alipay if handed else alipay_simulator.http_deliver,
            deliver_wechatpay=handed.wechatpay if handed else wechatpay_simulator.http_deliver,
            deliver=handed.to if handed else lambda provider: http_deliver,
        )
        app = simulators_app(simulators)
        in_process = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        in_process.mount("/_sim", app)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=in_process))
        adapters |= simulator_adapters(settings, clock, base_url=f"{public}/_sim", http=http)
        return cls(app, simulators, adapters, http)

    async def tick(self, now: datetime) -> None:
        """Send the notification (re)tries that are due."""
        await self.simulators.deliver_due(now)

    async def close(self) -> None:
        self.simulators.save()
        await self.http.aclose()


def build_simulators(
    settings: Settings,
    clock: Clock,
    *,
    base_url: str,
    deliver_alipay: alipay_simulator.Deliver,
    deliver_wechatpay: wechatpay_simulator.Deliver,
    deliver: Callable[[Provider], Deliver],
    time_scale: float = 1.0,
) -> Simulators:
    """Every simulator for the merchant kept in ``keys_dir``, served at ``base_url``
    (``…/alipay``, ``…/wechatpay``, ``…/<provider>``), their keys kept there too; given
    ``simulator_records``, their records are kept in that directory and read back now
    (``records.RecordsUnreadable`` when a file cannot be)."""
    alipay, wechatpay = _mainland(
        settings,
        clock,
        base_url=base_url,
        deliver_alipay=deliver_alipay,
        deliver_wechatpay=deliver_wechatpay,
        time_scale=time_scale,
    )
    others = build_kits(settings, clock, base_url=base_url, deliver=deliver, time_scale=time_scale)
    simulators = Simulators(
        alipay, wechatpay, AlipayAgreements(alipay), WeChatPapay(wechatpay), others
    )
    if settings.simulator_records:
        simulators.records = KeptRecords(Path(settings.simulator_records), simulators.books())
        simulators.records.load()
    return simulators


def _mainland(
    settings: Settings,
    clock: Clock,
    *,
    base_url: str,
    deliver_alipay: alipay_simulator.Deliver,
    deliver_wechatpay: wechatpay_simulator.Deliver,
    time_scale: float,
) -> tuple[AlipaySimulator, WeChatPaySimulator]:
    """The Alipay and WeChat Pay simulators, at ``…/alipay`` and ``…/wechatpay``."""
    keys_dir = Path(settings.keys_dir)
    merchant = kept_key_pair(keys_dir, "merchant")
    alipay = AlipaySimulator(
        app_id=ALIPAY_APP_ID,
        seller_id=ALIPAY_SELLER_ID,
        merchant_public_key_pem=merchant.public_pem,
        clock=clock,
        base_url=f"{base_url}/alipay",
        key_dir=keys_dir / "alipay",
        deliver=deliver_alipay,
        time_scale=time_scale,
    )
    wechatpay = WeChatPaySimulator(
        mchid=WECHAT_MCHID,
        appid=WECHAT_APPID,
        merchant_public_key_pem=merchant.public_pem,
        merchant_serial_no=WECHAT_SERIAL,
        apiv3_key=WECHAT_APIV3_KEY,
        clock=clock,
        public_base_url=f"{base_url}/wechatpay",
        key_dir=keys_dir / "wechatpay",
        deliver=deliver_wechatpay,
        time_scale=time_scale,
    )
    return alipay, wechatpay


def build_kits(
    settings: Settings,
    clock: Clock,
    *,
    base_url: str,
    deliver: Callable[[Provider], Deliver],
    time_scale: float = 1.0,
) -> dict[Provider, Simulated]:
    """Every kit's simulator for the merchant kept in ``keys_dir``, served at
    ``base_url/<provider>``, each delivering through ``deliver(provider)``; one whose merchant
    registers its webhook once is given the merchant's notify URL (``settings.public_url``)."""
    urls = CheckoutUrls(settings.public_url)
    built = {}
    for kit in KITS:
        simulator = kit.build(
            Path(settings.keys_dir),
            clock,
            base_url=f"{base_url}/{kit.name}",
            deliver=deliver(kit.provider),
            time_scale=time_scale,
        )
        if kit.registered_webhook:
            simulator.notify_url = urls.notify(kit.provider)
        built[kit.provider] = simulator
    return built


def simulators_app(simulators: Simulators) -> FastAPI:
    """The simulators over HTTP: Alipay and WeChat Pay under ``/alipay`` and ``/wechatpay``,
    each with its payment agreements (Alipay 商家扣款, WeChat Pay 委托代扣), and every kit
    under ``/<provider>``; their kept records saved before each answer."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    for kit in KITS:
        app.include_router(kit.router(simulators.others[kit.provider]), prefix=f"/{kit.name}")
    app.include_router(alipay_router(simulators.alipay), prefix="/alipay")
    app.include_router(alipay_agreements_router(simulators.agreements), prefix="/alipay")
    app.include_router(wechatpay_router(simulators.wechatpay), prefix="/wechatpay")
    app.include_router(wechatpay_papay_router(simulators.papay), prefix="/wechatpay")
    if simulators.records is not None:
        app.add_middleware(SavingRecords, records=simulators.records)
    return app


def simulator_adapters(
    settings: Settings, clock: Clock, *, base_url: str, http: httpx.AsyncClient
) -> dict[Provider, PaymentProviderAdapter]:
    """Our adapters for the simulators at ``base_url``, reached through ``http``. The keys
    are those the simulators keep in ``keys_dir``, so this works in any process."""
    keys_dir = Path(settings.keys_dir)
    merchant = kept_key_pair(keys_dir, "merchant")
    alipay_public = kept_key_pair(keys_dir / "alipay", "alipay").public_pem
    wechatpay_public = kept_key_pair(keys_dir / "wechatpay", "wechatpay").public_pem
    kits = {
        kit.provider: kit.adapter(keys_dir, clock, base_url=f"{base_url}/{kit.name}", http=http)
        for kit in KITS
    }
    return kits | {
        Provider.ALIPAY: AlipayAgreementAdapter(
            config=AlipayConfig(
                app_id=ALIPAY_APP_ID,
                seller_id=ALIPAY_SELLER_ID,
                app_private_key_pem=merchant.private_pem,
                alipay_public_key_pem=alipay_public,
                gateway_url=f"{base_url}/alipay/gateway.do",
            ),
            http=http,
            clock=clock,
        ),
        Provider.WECHATPAY: WeChatPapayAdapter(
            config=WeChatPayConfig(
                mchid=WECHAT_MCHID,
                appid=WECHAT_APPID,
                merchant_private_key_pem=merchant.private_pem,
                merchant_serial_no=WECHAT_SERIAL,
                apiv3_key=WECHAT_APIV3_KEY,
                platform_public_key_pem=wechatpay_public,
                platform_public_key_id=public_key_id(wechatpay_public),
                base_url=f"{base_url}/wechatpay",
            ),
            client=http,
            clock=clock,
        ),
    }


def remote_simulators(settings: Settings, clock: Clock) -> Gateways:
    """Adapters for the simulators served by another process at ``simulators_url``
    (``simkeep simulators serve``), over real HTTP as to the real gateways."""
    http = httpx.AsyncClient(timeout=TIMEOUT)
    base_url = f"{settings.simulators_url.rstrip('/')}/_sim"
    return Gateways(simulator_adapters(settings, clock, base_url=base_url, http=http), http)
