"""The ways to pay: who collects the money (``Provider``) and how the payer reaches them
(``Channel``).

Design overview
---------------
Orders record both (``topups``), the payment adapters act on them (``payments``), pages and
the API offer them. They sit below those packages so that an order can name its way to pay
without the order's package depending on the payments package, which depends on orders.

A provider's name is the program's word, not data: it is a message of the catalogs
(``names.po``, context ``provider``), and ``provider_name`` reads it in the reader's language
for pages, receipts (HTML and PDF) and the API alike.
"""

from __future__ import annotations

from enum import StrEnum
from gettext import NullTranslations
from typing import Literal


class Provider(StrEnum):
    """Who collected an order's money: a payment provider online, an outlet's counter (from
    the agent's float), or a voucher sold earlier."""

    ALIPAY = "alipay"
    WECHATPAY = "wechatpay"
    OUTLET = "outlet"
    VOUCHER = "voucher"


ONLINE_PROVIDERS = (Provider.ALIPAY, Provider.WECHATPAY)  # what a payer chooses to pay with
OnlineProvider = Literal[Provider.ALIPAY, Provider.WECHATPAY]  # the same, as a type for the API

PROVIDER_NAMES = {  # the catalogs' message ids (context "provider"), in English
    Provider.ALIPAY: "Alipay",
    Provider.WECHATPAY: "WeChat Pay",
    Provider.OUTLET: "Outlet counter",
    Provider.VOUCHER: "Voucher",
}


def provider_name(provider: Provider, translations: NullTranslations) -> str:
    """The provider's name in the language of ``translations`` (a locale's catalog)."""
    return translations.pgettext("provider", PROVIDER_NAMES[provider])


class Channel(StrEnum):
    """How the payer reaches the provider's cashier."""

    QR = "qr"  # Alipay precreate, WeChat Native: show a QR code
    PAGE = "page"  # Alipay page.pay: desktop redirect
    WAP = "wap"  # Alipay wap.pay, WeChat H5: mobile redirect
    AUTO = "auto"  # charged through the subscriber's payment agreement (auto keep-alive)
    COUNTER = "counter"  # paid in cash or by card at an outlet's counter
    VOUCHER = "voucher"  # a voucher's PIN, redeemed
