"""The ways to pay: who collects the money (``Provider``) and how the payer reaches them
(``Channel``).

Design overview
---------------
Orders record both (``topups``), the payment adapters act on them (``payments``), pages and
the API offer them. They sit below those packages so that an order can name its way to pay
without the order's package depending on the payments package, which depends on orders.
"""

from __future__ import annotations

from enum import StrEnum


class Provider(StrEnum):
    ALIPAY = "alipay"
    WECHATPAY = "wechatpay"


class Channel(StrEnum):
    """How the payer reaches the provider's cashier."""

    QR = "qr"  # Alipay precreate, WeChat Native: show a QR code
    PAGE = "page"  # Alipay page.pay: desktop redirect
    WAP = "wap"  # Alipay wap.pay, WeChat H5: mobile redirect
