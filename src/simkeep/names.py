"""A name in three languages: what a person reads of a row of data.

Design overview
---------------
* The program's own words (labels, messages, the payment providers' names) live in the
  gettext catalogs (``simkeep.i18n``). Names that are *data* — a plan's today; a product's,
  a promotion's, an outlet's tomorrow — are written by the operator and stored with the row
  they name, one column per locale: ``name_zh_hant_hk``, ``name_zh_hans_cn``, ``name_en``
  (``columns`` makes them for a table; ``Names.values`` and ``Names.of_row`` move them in
  and out).
* A name exists in every language: none may be empty, so a reader never meets another
  language's name in its place. ``Names.pick(locale)`` is the one a reader of ``locale``
  reads; anything that carries ``names`` (``Named``) is shown the same way by every
  renderer — pages (the ``name`` filter), PDFs, SMS and the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Column, String

from simkeep.i18n import LOCALES, check_locale

PREFIX = "name"


def _field(locale: str) -> str:
    return check_locale(locale).lower()  # zh_Hant_HK → zh_hant_hk


@dataclass(frozen=True, slots=True)
class Names:
    zh_hant_hk: str
    zh_hans_cn: str
    en: str

    def __post_init__(self) -> None:
        for locale in LOCALES:
            if not self.pick(locale).strip():
                raise ValueError(f"a name in {locale} is required")

    def pick(self, locale: str) -> str:
        """The name a reader of ``locale`` reads."""
        name: str = getattr(self, _field(locale))
        return name

    def values(self, prefix: str = PREFIX) -> dict[str, str]:
        """The names by column: ``{"name_zh_hant_hk": …, "name_zh_hans_cn": …, "name_en": …}``."""
        return {f"{prefix}_{_field(locale)}": self.pick(locale) for locale in LOCALES}

    @classmethod
    def of_row(cls, row: Mapping[Any, Any], prefix: str = PREFIX) -> Names:
        """The names stored in a row's columns (``values`` read back)."""
        return cls(**{_field(locale): row[f"{prefix}_{_field(locale)}"] for locale in LOCALES})


class Named(Protocol):
    """Anything a person reads by its name in three languages."""

    @property
    def names(self) -> Names: ...


def columns(prefix: str = PREFIX, *, length: int = 100) -> list[Column[str]]:
    """The columns that store a ``Names`` in a table, one per locale."""
    return [
        Column(f"{prefix}_{_field(locale)}", String(length), nullable=False) for locale in LOCALES
    ]
