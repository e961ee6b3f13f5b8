"""How pages write money, times, numbers and QR codes for people, per locale.

Design overview
---------------
``filters(locale, translations)`` returns the Jinja filters of one locale's environment, so
a template writes ``{{ amount|money }}`` and gets ``HK$50.00`` or ``¥100.00`` as that
locale writes them (babel), ``{{ plan|name }}`` the name of a row of data
(``simkeep.names``) and ``{{ order.provider|provider }}`` a payment provider's name (from
the catalog, ``payment_methods.provider_name``) in the locale's language. Times are stored
in UTC and always shown in Hong Kong time. Phone numbers are shown in international format
(``+852 9201 0037``), never broken across two lines. ``qr_svg`` draws a payment QR code as
inline SVG with ``segno``, so the page needs no image request and no script.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from gettext import NullTranslations
from typing import Any

import phonenumbers
import segno
from babel.dates import format_skeleton
from markupsafe import Markup

from simkeep.clock import HONG_KONG, in_hong_kong
from simkeep.money import Money, format_rate
from simkeep.names import Named
from simkeep.payment_methods import Provider, provider_name


def filters(locale: str, translations: NullTranslations) -> dict[str, Callable[..., Any]]:
    """The formatting filters of one locale, whose catalog is ``translations``."""

    def money(amount: Money) -> str:
        return amount.format(locale)

    def hk_date(instant: datetime) -> str:
        return str(format_skeleton("yMMMd", in_hong_kong(instant), tzinfo=HONG_KONG, locale=locale))

    def day(value: date) -> str:
        return str(format_skeleton("yMMMd", value, locale=locale))

    def money_of(minor: int, currency: str) -> str:
        return Money(minor, currency).format(locale)

    def hk_datetime(instant: datetime) -> str:
        local = in_hong_kong(instant)
        clock = format_skeleton("Hm", local, tzinfo=HONG_KONG, locale=locale)
        return f"{hk_date(instant)} {clock}"

    def rate(value: Decimal) -> str:
        return format_rate(value, locale)

    def name(named: Named) -> str:
        return named.names.pick(locale)

    def provider(code: str) -> str:
        return provider_name(Provider(code), translations)

    return {
        "money": money,
        "name": name,
        "provider": provider,
        "hk_date": hk_date,
        "day": day,
        "money_of": money_of,
        "hk_datetime": hk_datetime,
        "rate": rate,
        "phone": phone,
    }


def phone(e164: str) -> Markup:
    """``+85292010037`` → ``+852 9201 0037``, kept on one line."""
    try:
        text = phonenumbers.format_number(
            phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        text = e164
    return Markup('<span class="tel">{}</span>').format(text)


def qr_svg(payload: str, *, title: str) -> Markup:
    """A QR code of ``payload`` as inline SVG, sized by CSS."""
    out = io.BytesIO()
    segno.make(payload, error="m").save(
        out,
        kind="svg",
        scale=4,
        border=2,
        xmldecl=False,
        title=title,
        svgclass="qr",
        lineclass=None,
        omitsize=True,
    )
    return Markup(out.getvalue().decode())  # noqa: S704 - SVG made by segno; the title is escaped
