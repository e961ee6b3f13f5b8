"""The ways to pay: who collects the money (``Provider``), how the payer reaches them
(``Channel``), and the registry that says what each provider is (``PROVIDERS``).

Design overview
---------------
Orders record both (``topups``), the payment adapters act on them (``payments``), pages and
the API offer them. They sit below those packages so that an order can name its way to pay
without the order's package depending on the payments package, which depends on orders.

The registry is data: one ``ProviderSpec`` per provider says whether a payer picks it at
checkout, the currencies it charges in, the channels it offers (on a phone, then on a
desktop), whether the payer pushes the money with a reference (FPS: money that matches no
order goes to review, never guessed), and its name. The ledger opens one clearing account
per provider and currency from it (``ledger.chart``); checkout, crediting, expiry, polling,
the inbox and receipts read it and name no provider. Adding a provider is a row here, an
adapter (``payments/providers``) and a simulator (``simulators``).

A provider's name is a message of the catalogs (``names.po``, context ``provider``), and
``provider_name`` reads it in the reader's language for pages, receipts (HTML and PDF) and
the API alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from gettext import NullTranslations
from typing import Literal


class Provider(StrEnum):
    """Who collected an order's money: a payment provider online, an outlet's counter (from
    the agent's float), or a voucher sold earlier."""

    ALIPAY = "alipay"
    WECHATPAY = "wechatpay"
    FPS = "fps"
    ALIPAYHK = "alipayhk"
    WECHATPAY_HK = "wechatpay_hk"
    UNIONPAY = "unionpay"
    OUTLET = "outlet"
    VOUCHER = "voucher"


class Channel(StrEnum):
    """How the payer reaches the provider's cashier."""

    QR = "qr"  # a code that a phone's wallet or banking app scans
    PAGE = "page"  # a desktop cashier: a redirect, or a form posted to the gateway
    WAP = "wap"  # a phone's cashier or app hand-off (Alipay wap.pay, WeChat H5, …)
    AUTO = "auto"  # charged through the subscriber's payment agreement (auto keep-alive)
    COUNTER = "counter"  # paid in cash or by card at an outlet's counter
    VOUCHER = "voucher"  # a voucher's PIN, redeemed


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What one provider is, as data."""

    provider: Provider
    name: str  # the catalogs' message id (context "provider"), in English
    currencies: tuple[str, ...]  # what it charges in
    phone: tuple[Channel, ...] = ()  # the channels offered on a phone, best first
    desktop: tuple[Channel, ...] = ()  # … and elsewhere
    online: bool = True  # a payer picks it at checkout
    push: bool = False  # the payer pushes the money with a reference (a transfer)

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(dict.fromkeys((*self.phone, *self.desktop)))


PROVIDERS: dict[Provider, ProviderSpec] = {
    spec.provider: spec
    for spec in (
        ProviderSpec(Provider.ALIPAY, "Alipay", ("CNY",), (Channel.WAP,), (Channel.QR,)),
        ProviderSpec(Provider.WECHATPAY, "WeChat Pay", ("CNY",), (Channel.WAP,), (Channel.QR,)),
        ProviderSpec(Provider.FPS, "FPS", ("HKD",), (), (Channel.QR,), push=True),
        ProviderSpec(Provider.ALIPAYHK, "AlipayHK", ("HKD",), (Channel.WAP,), (Channel.QR,)),
        ProviderSpec(
            Provider.WECHATPAY_HK, "WeChat Pay HK", ("HKD",), (Channel.WAP,), (Channel.QR,)
        ),
        ProviderSpec(
            Provider.UNIONPAY,
            "Bank card (UnionPay)",
            ("CNY", "HKD"),
            (Channel.WAP,),
            (Channel.PAGE,),
        ),
        ProviderSpec(Provider.OUTLET, "Outlet counter", ("HKD", "CNY"), online=False),
        ProviderSpec(Provider.VOUCHER, "Voucher", ("HKD", "CNY"), online=False),
    )
}
ONLINE_PROVIDERS = tuple(p for p, spec in PROVIDERS.items() if spec.online)
OnlineProvider = Literal[  # the same, as a type for the API's schemas
    Provider.ALIPAY,
    Provider.WECHATPAY,
    Provider.FPS,
    Provider.ALIPAYHK,
    Provider.WECHATPAY_HK,
    Provider.UNIONPAY,
]


AgreementProvider = Literal[Provider.ALIPAY, Provider.WECHATPAY]  # payment agreements (代扣)


def provider_name(provider: Provider, translations: NullTranslations) -> str:
    """The provider's name in the language of ``translations`` (a locale's catalog)."""
    return translations.pgettext("provider", PROVIDERS[provider].name)
