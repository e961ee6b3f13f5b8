"""Languages: which one a request gets, and the gettext catalogs that translate it.

Design overview
---------------
* Three locales: ``zh_Hant_HK`` (Traditional Chinese, Hong Kong), ``zh_Hans_CN``
  (Simplified Chinese, Mainland) and ``en``. The ``.po`` files under ``locale/`` are the
  only source; they are compiled in memory at start-up (``read_po`` → ``write_mo`` →
  ``GNUTranslations``), so no compiled ``.mo`` file is kept in the repository.
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
    """Compile ``<directory>/<code>/LC_MESSAGES/messages.po`` for every language."""
    return {
        code: _compile(directory / code / "LC_MESSAGES" / "messages.po", code) for code in LANGUAGES
    }


def _compile(po_path: Path, code: str) -> GNUTranslations:
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=code)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)


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
