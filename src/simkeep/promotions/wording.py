"""What a promotion gives, in words, in the reader's language: one text for the pages, the
API, the receipt and the SMS (docs/promotions.md).

Design overview
---------------
The words are messages of the catalogs with the context ``promotion`` (``promotions.po``), read
through ``i18n.translations`` like the SMS, so that a service writes them without the web
package. Amounts of money are written by ``Money.format`` for the reader's locale; counts are
plain integers with the locale's grouping.
"""

from __future__ import annotations

from collections.abc import Sequence

from babel.numbers import format_decimal

from simkeep.i18n import translations
from simkeep.promotions.model import Applied, Benefit, BenefitKind, Grant, Promotion

KIND_TEXT = {  # message ids (context "promotion"), in English
    BenefitKind.MONEY: "%(amount)s bonus money for %(days)s days",
    BenefitKind.PERCENT: "%(amount)s bonus money for %(days)s days",
    BenefitKind.DATA: "%(count)s MB of data for %(days)s days",
    BenefitKind.VOICE: "%(count)s voice minutes for %(days)s days",
    BenefitKind.SMS: "%(count)s SMS for %(days)s days",
    BenefitKind.VALIDITY: "%(count)s more days of validity",
}
ZONE_TEXT = {"hk": "%(benefit)s (in Hong Kong)", "mainland": "%(benefit)s (in the Mainland)"}
PERCENT_TEXT = "%(count)s%% of the top-up as bonus money for %(days)s days"
SMS_TEXT = "Promotion %(name)s: %(benefits)s."
LINE_TEXT = "%(name)s: %(benefits)s"
SEPARATOR = ", "


def _t(locale: str, message: str) -> str:
    return translations(locale).pgettext("promotion", message)


def benefit_text(grant: Grant, *, locale: str, currency: str) -> str:
    """One benefit as a reader of ``locale`` reads it: ``1,024 MB of data for 30 days``."""
    text = _t(locale, KIND_TEXT[grant.kind]) % {
        "amount": grant.money(currency).format(locale),
        "count": format_decimal(grant.amount, locale=locale),
        "days": grant.expires_days,
    }
    return _t(locale, ZONE_TEXT[grant.zone]) % {"benefit": text} if grant.zone else text


def offer_text(promotion: Promotion, *, locale: str) -> str:
    """What a promotion gives any top-up, as its list reads: ``10% of the top-up …``."""
    currency = promotion.conditions.currency or "HKD"
    return _t(locale, SEPARATOR).join(
        _percent_text(benefit, locale)
        if benefit.kind is BenefitKind.PERCENT
        else benefit_text(
            Grant(benefit.kind, benefit.amount, benefit.zone, benefit.expires_days),
            locale=locale,
            currency=currency,
        )
        for benefit in promotion.benefits
    )


def _percent_text(benefit: Benefit, locale: str) -> str:
    values = {"count": benefit.amount, "days": benefit.expires_days}
    return _t(locale, PERCENT_TEXT) % values


def benefits_text(applied: Applied, *, locale: str, currency: str) -> str:
    """Everything one promotion gives, in one line."""
    separator = _t(locale, SEPARATOR)
    return separator.join(
        benefit_text(grant, locale=locale, currency=currency) for grant in applied.grants
    )


def promotion_line(applied: Applied, *, locale: str, currency: str) -> str:
    """A promotion and what it gave, in one line: ``First top-up +10%: HK$20.00 …``."""
    benefits = benefits_text(applied, locale=locale, currency=currency)
    return _t(locale, LINE_TEXT) % {"name": applied.names.pick(locale), "benefits": benefits}


def sms_text(promotions: Sequence[Applied], *, locale: str, currency: str) -> str:
    """The sentences the credit's SMS adds, one per promotion granted ("" for none)."""
    return "".join(
        " "
        + _t(locale, SMS_TEXT)
        % {
            "name": applied.names.pick(locale),
            "benefits": benefits_text(applied, locale=locale, currency=currency),
        }
        for applied in promotions
    )
