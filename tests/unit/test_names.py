"""Names in three languages: the type for data, and the catalogs' names of the program."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from simkeep.i18n import LOCALE_DIR, LOCALES, translations
from simkeep.names import Names
from simkeep.payment_methods import PROVIDERS, Provider, provider_name

PLAN = Names("香港保號月租", "香港保号月租", "Hong Kong number keeper")


def test_a_name_is_picked_by_locale_and_stored_one_column_per_locale() -> None:
    assert [PLAN.pick(locale) for locale in LOCALES] == [
        "香港保號月租",
        "香港保号月租",
        "Hong Kong number keeper",
    ]
    columns = PLAN.values()
    assert columns == {
        "name_zh_hant_hk": "香港保號月租",
        "name_zh_hans_cn": "香港保号月租",
        "name_en": "Hong Kong number keeper",
    }
    assert Names.of_row(columns) == PLAN
    assert (
        Names.of_row(
            {"title_en": "e", "title_zh_hant_hk": "繁", "title_zh_hans_cn": "简"}, "title"
        ).en
        == "e"
    )


def test_a_name_exists_in_every_language() -> None:
    with pytest.raises(ValueError, match="en"):
        Names("香港保號月租", "香港保号月租", " ")
    with pytest.raises(ValueError, match="not one of the locales"):
        PLAN.pick("fr")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_provider_has_a_name_in_every_catalog(locale: str) -> None:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "names.po").open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    named = {message.id for message in catalog if message.context == "provider" and message.string}
    assert {spec.name for spec in PROVIDERS.values()} <= named
    for provider in Provider:
        assert provider_name(provider, translations(locale))


def test_provider_names_differ_where_the_languages_do() -> None:
    names = {locale: provider_name(Provider.ALIPAY, translations(locale)) for locale in LOCALES}
    assert names == {"zh_Hant_HK": "支付寶", "zh_Hans_CN": "支付宝", "en": "Alipay"}
