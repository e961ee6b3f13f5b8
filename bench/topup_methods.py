"""The ways to pay the top-up scenario measures, and the providers' paid notifications for
them, signed by the bench client as the providers sign them.

Design overview
---------------
A ``Method`` is what differs between providers in one top-up: what the order asks for
(provider, channel, the currency paid in), where the provider's notification goes, the
answer that means "taken", and how the client signs that notification (``Signer``). Two are
measured: Alipay WAP (CNY; the server signs the cashier link itself) and WeChat Pay HK QR
(HKD, the v3 global API: the server places a Native order with the provider first, and the
notification is the v3 envelope, its payment AES-256-GCM-encrypted under the APIv3 key and
the platform's ``Wechatpay-*`` signature over the body, valid for ±300 s).

``signers`` builds, from the server's ``keys_dir``, the simulators the embedded default
builds (so the same platform keys and merchants), with their notifications handed over
in-process instead of posted: each ``Signer`` makes a trade paid in its simulator and keeps
the notification exactly as the provider would post it (headers and body), then forgets the
trade. Building them also makes every kept key before any server starts, so the server's
workers find the keys and never race to make them.

Each SIM is topped up by 100 in its home currency (HKD or CNY), so a method has two prices:
the one in its own currency and the other's converted at the bench's locked rate
(``RATES``, seeded before the runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol
from urllib.parse import urlencode

from simkeep.clock import SystemClock
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import Acknowledgement, PaymentProviderAdapter, RawNotification
from simkeep.settings import Settings
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_trades import SimTrade as AlipayTrade
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.simulators.wechatpay_global import WeChatPayGlobalSimulator
from simkeep.simulators.wechatpay_trades import SimTrade as WeChatPayTrade
from simkeep.topups.model import FxRate

RATES = {("HKD", "CNY"): Decimal("0.92"), ("CNY", "HKD"): Decimal("1.087")}  # locked, by bench
TOPUP_MINOR = 10_000  # 100 in the SIM's home currency
SUBJECT = "中港卡充值"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True, slots=True)
class Notification:
    """A paid notification as the provider posts it: header lines for ``Connection.request``
    and the raw body."""

    headers: str
    body: bytes

    @classmethod
    def of(cls, headers: Mapping[str, str], body: bytes) -> Notification:
        return cls("".join(f"{name}: {value}\r\n" for name, value in headers.items()), body)


class Signer(Protocol):
    async def paid(self, order_no: str, price: Money, serial: int) -> Notification:
        """The provider's notification that the payer paid ``price`` for ``order_no``."""
        ...


@dataclass(frozen=True)
class Method:
    """One provider and channel, as a subscriber on a phone picks them."""

    provider: Provider
    channel: Channel
    pay_currency: str
    taken: tuple[int, bytes]  # the notify answer (status, body) that means "taken"

    @property
    def label(self) -> str:
        return f"{self.provider.value} {self.channel.value}"

    @property
    def notify_path(self) -> str:
        return f"/api/v1/payments/{self.provider.value}/notify"

    def prices(self) -> tuple[Money, ...]:
        """What a bench top-up can cost: 100 of either home currency, in ``pay_currency``."""
        return tuple(
            _converted(Money(TOPUP_MINOR, home), self.pay_currency) for home in ("CNY", "HKD")
        )


ALIPAY_WAP = Method(Provider.ALIPAY, Channel.WAP, "CNY", (200, b"success"))
WECHATPAY_HK_QR = Method(Provider.WECHATPAY_HK, Channel.QR, "HKD", (204, b""))
METHODS = (ALIPAY_WAP, WECHATPAY_HK_QR)


def _converted(amount: Money, currency: str) -> Money:
    if amount.currency == currency:
        return amount
    return FxRate(amount.currency, currency, RATES[amount.currency, currency]).convert(amount)


@dataclass
class AlipaySigner:
    """Alipay's ``trade_status_sync``: RSA2 over the sorted form, posted as a form."""

    alipay: AlipaySimulator
    notify_path: str

    async def paid(self, order_no: str, price: Money, serial: int) -> Notification:
        alipay = self.alipay
        alipay.trades[order_no] = AlipayTrade(
            out_trade_no=order_no,
            trade_no=f"2026{serial:024d}",
            amount=price,
            subject=SUBJECT,
            notify_url=self.notify_path,
            return_url="",
            created_at=SystemClock().now(),
            opened=True,
        )
        alipay.pay(order_no)
        form = alipay.deliveries.pop().form
        del alipay.trades[order_no]
        return Notification.of(FORM, urlencode(form).encode())


@dataclass
class WeChatPayHkSigner:
    """WeChat Pay HK's ``TRANSACTION.SUCCESS``: the v3 envelope, handed over as posted."""

    platform: WeChatPayGlobalSimulator
    notify_path: str
    handed: list[RawNotification] = field(default_factory=list)

    async def paid(self, order_no: str, price: Money, serial: int) -> Notification:
        platform = self.platform
        platform.trades[order_no] = WeChatPayTrade(
            out_trade_no=order_no,
            trade_type="NATIVE",
            description=SUBJECT,
            total=price.minor,
            currency=price.currency,
            notify_url=self.notify_path,
            time_expire=None,
        )
        await platform.pay(order_no, success=True)  # its notifier hands it over at once
        platform.deliveries.clear()
        del platform.trades[order_no]
        raw = self.handed.pop()
        return Notification.of(raw.headers, raw.body)


async def signers(settings: Settings) -> dict[Provider, Signer]:
    """A signer per method, on the simulators of the merchant kept in ``settings.keys_dir``."""
    handed: list[RawNotification] = []

    async def take(adapter: PaymentProviderAdapter, raw: RawNotification) -> Acknowledgement:
        handed.append(raw)
        return adapter.acknowledge(True)

    providers = EmbeddedProviders.build(settings, SystemClock(), notify=take)
    await providers.close()  # only its HTTP client; signing needs none
    platform = providers.others[Provider.WECHATPAY_HK]
    assert isinstance(platform, WeChatPayGlobalSimulator)
    return {
        Provider.ALIPAY: AlipaySigner(providers.alipay, ALIPAY_WAP.notify_path),
        Provider.WECHATPAY_HK: WeChatPayHkSigner(platform, WECHATPAY_HK_QR.notify_path, handed),
    }
