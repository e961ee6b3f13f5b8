"""Languages: the three locales, reading a language tag, and the gettext catalogs.

Design overview
---------------
* Three locales: ``zh_Hant_HK`` (Traditional Chinese, Hong Kong), ``zh_Hans_CN``
  (Simplified Chinese, Mainland) and ``en``. A locale code is what a subscriber's language
  is stored as, what ``?lang=`` and the API's ``lang`` take, and what babel formats with.
* One catalog per locale serves every reader: pages, receipts (HTML and PDF) and SMS. Its
  strings are split over several ``.po`` files by area (``messages.po`` for pages,
  ``receipts.po`` for receipts, ``names.po`` for names such as the payment providers',
  ``sms.po`` for text messages, context ``sms``, which ``sms`` fills in; ``promotions.po``
  for what a promotion gives, context ``promotion``; ``email.po`` for
  what only emails say, context ``email``, which ``email`` fills in); all of them are
  merged into one catalog, and a message translated differently in two files is refused.
  The ``.po`` files are the only source (they ship beside the page templates, under
  ``web/locale``); they are compiled in memory, once per process (``translations``), so
  no compiled ``.mo`` file is kept.
* Tags are matched by script before region: ``zh-Hant``/``zh-HK``/``zh-TW``/``zh-MO`` read
  Traditional, any other ``zh`` reads Simplified, any ``en`` reads English.

This module sits below the domains: a service that writes an SMS takes its words from here,
never from ``simkeep.web``.
"""

from __future__ import annotations

import io
from functools import cache
from gettext import GNUTranslations
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("zh_Hant_HK", "zh_Hans_CN", "en")
DEFAULT_LOCALE = "zh_Hant_HK"
LOCALE_DIR = Path(__file__).parent / "web" / "locale"
TRADITIONAL_REGIONS = frozenset({"hk", "tw", "mo"})


def check_locale(code: str) -> str:
    """``code`` if it is one of the three locales; ``ValueError`` otherwise."""
    if code not in LOCALES:
        raise ValueError(f"{code!r} is not one of the locales {', '.join(LOCALES)}")
    return code


@cache
def translations(locale: str) -> GNUTranslations:
    """The shipped catalog of ``locale``, compiled on first use and kept for the process."""
    return load_catalog(check_locale(locale))


def sms(locale: str, message: str, **values: object) -> str:
    """The text message ``message`` (its English id in ``sms.po``) in ``locale``, filled in."""
    return translations(locale).pgettext("sms", message) % values


def email(locale: str, message: str, **values: object) -> str:
    """An email's subject or text ``message`` (its English id in ``email.po``) in ``locale``,
    filled in."""
    return translations(locale).pgettext("email", message) % values


def load_catalog(code: str, directory: Path = LOCALE_DIR) -> GNUTranslations:
    """One language's catalog: every ``<directory>/<code>/LC_MESSAGES/*.po``, compiled."""
    po_paths = sorted((directory / code / "LC_MESSAGES").glob("*.po"))
    if not po_paths:
        raise FileNotFoundError(f"no .po catalog for {code} under {directory}")
    merged = Catalog(locale=code)
    for po_path in po_paths:
        with po_path.open("rb") as po_file:
            for message in read_po(po_file, locale=code):
                if message.id:  # the empty id is the file's header, not a message
                    _merge(merged, message, po_path)
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    return GNUTranslations(buffer)


def _merge(merged: Catalog, message: Message, source: Path) -> None:
    existing = merged.get(message.id, message.context)
    if existing is not None and existing.string != message.string:
        raise ValueError(f"{source}: {message.id!r} is already translated differently")
    merged[message.id] = message


def locale_for_tag(tag: str) -> str | None:
    """The locale a language tag (``zh-HK``, ``zh_Hans_CN``, ``en-GB`` …) reads, if any."""
    parts = tag.strip().lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    if "hant" in parts:
        return "zh_Hant_HK"
    if "hans" in parts:
        return "zh_Hans_CN"
    return "zh_Hant_HK" if TRADITIONAL_REGIONS.intersection(parts[1:]) else "zh_Hans_CN"


def locale_for_accept_language(header: str) -> str | None:
    """The first of our locales in an ``Accept-Language`` header, by quality then order."""
    weighted: list[tuple[float, str]] = []
    for item in header.split(","):
        tag, _, params = item.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag.strip() and quality > 0:
            weighted.append((quality, tag))
    for _, tag in sorted(weighted, key=lambda pair: -pair[0]):  # stable: ties keep order
        if locale := locale_for_tag(tag):
            return locale
    return None
