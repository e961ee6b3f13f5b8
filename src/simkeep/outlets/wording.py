"""An outlet's kind and services in words, in the reader's language: one text for the pages
and the API (docs/outlets.md).

Design overview
---------------
The words are messages of the catalogs with the context ``outlet`` (``outlets.po``), read
through ``i18n.translations`` so that the API writes them without the web package. A
district's name is data (``districts``), read with ``Names.pick``.
"""

from __future__ import annotations

from simkeep.i18n import translations
from simkeep.outlets.model import OutletKind, Service

KIND_TEXT = {  # message ids (context "outlet"), in English
    OutletKind.OPERATOR_SHOP: "Operator's shop",
    OutletKind.CONVENIENCE_STORE: "Convenience store",
    OutletKind.MALL_KIOSK: "Mall kiosk",
}
SERVICE_TEXT = {
    Service.CASH: "Cash top-up",
    Service.CARD: "Card top-up",
    Service.VOUCHER_SALE: "Sells vouchers",
}


def kind_name(kind: OutletKind, locale: str) -> str:
    """The kind of outlet as a reader of ``locale`` reads it."""
    return translations(locale).pgettext("outlet", KIND_TEXT[kind])


def service_name(service: Service, locale: str) -> str:
    """A service of an outlet as a reader of ``locale`` reads it."""
    return translations(locale).pgettext("outlet", SERVICE_TEXT[service])
