"""Languages: which one a request gets, and the gettext catalogs that translate it.

Design overview
---------------
* Three locales: ``zh_Hant_HK`` (Traditional Chinese, Hong Kong), ``zh_Hans_CN``
  (Simplified Chinese, Mainland) and ``en``. The ``.po`` files under ``locale/`` are the
  only source; they are compiled in memory at start-up (``read_po`` → ``write_mo`` →
  ``GNUTranslations``), so no compiled ``.mo`` file is kept in the repository.
* A locale's strings may be split over several ``.po`` files by area (``messages.po`` for
  pages, ``receipts.po`` for receipts …); all of them are merged into one catalog, and a
  message translated differently in two files is refused at start-up.
* The choice, strongest first: a ``?lang=`` query parameter (remembered in a cookie), the
  ``lang`` cookie, the ``Accept-Language`` header, then the configured default. A value that
  names none of the three locales is ignored and the next source decides.
* Tags are matched by script before region: ``zh-Hant``/``zh-HK``/``zh-TW``/``zh-MO`` read
  Traditional, any other ``zh`` reads Simplified, any ``en`` reads English.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from gettext import GNUTranslations
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
COOKIE = "lang"
TRADITIONAL_REGIONS = frozenset({"hk", "tw", "mo"})


@dataclass(frozen=True)
class Language:
    code: str  # the catalog's locale id, also used in ?lang= and the cookie
    tag: str  # BCP 47, for <html lang> and Content-Language
    label: str  # the short name on the language switch, in its own script


LANGUAGES: dict[str, Language] = {
    language.code: language
    for language in (
        Language("zh_Hant_HK", "zh-Hant-HK", "繁"),
        Language("zh_Hans_CN", "zh-Hans-CN", "简"),
        Language("en", "en", "EN"),
    )
}


@dataclass(frozen=True)
class Choice:
    language: Language
    from_query: bool  # chosen by ?lang=: the caller should remember it in the cookie


def load_catalogs(directory: Path = LOCALE_DIR) -> dict[str, GNUTranslations]:
    """Every language's catalog, each merged from its ``LC_MESSAGES/*.po`` files."""
    return {code: load_catalog(code, directory) for code in LANGUAGES}


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


def choose_language(
    *, query: str | None, cookie: str | None, accept_language: str | None, default: str
) -> Choice:
    """Pick the request's language: ``?lang=``, then the cookie, then the header, then default."""
    if query and (locale := locale_for_tag(query)):
        return Choice(LANGUAGES[locale], from_query=True)
    locale = (
        (cookie and locale_for_tag(cookie))
        or (accept_language and locale_for_accept_language(accept_language))
        or default
    )
    return Choice(LANGUAGES[locale], from_query=False)
