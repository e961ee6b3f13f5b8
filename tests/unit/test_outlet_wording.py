"""Every kind of outlet and every service has its words in each language's catalog (the API
reads them through ``outlets.wording``, the page through the same messages), and every
district is named in three languages."""

from __future__ import annotations

import pytest

from simkeep.i18n import LOCALES
from simkeep.outlets.districts import DISTRICTS, Region
from simkeep.outlets.model import OutletKind, Service
from simkeep.outlets.wording import KIND_TEXT, SERVICE_TEXT, kind_name, service_name


@pytest.mark.parametrize("locale", ["zh_Hant_HK", "zh_Hans_CN"])
def test_kinds_and_services_are_translated(locale: str) -> None:
    for kind in OutletKind:
        assert kind_name(kind, locale) != KIND_TEXT[kind], (locale, kind)
    for service in Service:
        assert service_name(service, locale) != SERVICE_TEXT[service], (locale, service)
    assert kind_name(OutletKind.CONVENIENCE_STORE, locale) == "便利店"


def test_english_reads_the_message_itself() -> None:
    assert kind_name(OutletKind.MALL_KIOSK, "en") == "Mall kiosk"
    assert service_name(Service.VOUCHER_SALE, "en") == "Sells vouchers"


def test_every_district_is_named_in_three_languages() -> None:
    assert len([d for d in DISTRICTS if d.region is Region.HK]) == 18
    assert {d.region for d in DISTRICTS} == set(Region)
    assert len({d.code for d in DISTRICTS}) == len(DISTRICTS)
    for district in DISTRICTS:
        names = {district.names.pick(locale) for locale in LOCALES}
        assert len(names) >= 2, district.code  # Chinese and English differ
