"""Which language a page request gets.

Design overview
---------------
* The locales, tag matching and the catalogs are ``simkeep.i18n``'s; this module adds what
  only pages need: each language's tag and its label on the language switch, the ``lang``
  cookie, and the choice for one request.
* The choice, strongest first: a ``?lang=`` query parameter (remembered in a cookie), the
  ``lang`` cookie, the ``Accept-Language`` header, then the configured default. A value that
  names none of the three locales is ignored and the next source decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from simkeep.i18n import locale_for_accept_language, locale_for_tag

COOKIE = "lang"


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
