"""The ways to pay offered, and their order: the SIM's currency first, the device's own
channels before its fallbacks, one cashier per device for a card, nothing switched off."""

from __future__ import annotations

import pytest

from simkeep.payment_methods import ONLINE_PROVIDERS, PROVIDERS, OnlineProvider, Provider
from simkeep.payments.methods import offered
from simkeep.settings import Settings

EVERYTHING = {provider: PROVIDERS[provider].currencies for provider in ONLINE_PROVIDERS}


def names(home: str, pay: list[str], *, phone: bool, charges: object = None) -> list[str]:
    found = offered(
        home_currency=home,
        pay_currencies=pay,
        charges=EVERYTHING if charges is None else charges,  # type: ignore[arg-type]
        phone=phone,
    )
    return [f"{method.name}:{method.currency}" for method in found]


def test_an_hkd_sim_on_a_desktop_is_offered_hong_kong_dollars_first() -> None:
    assert names("HKD", ["HKD", "CNY"], phone=False) == [
        "fps-qr:HKD",
        "alipayhk-qr:HKD",
        "wechatpay_hk-qr:HKD",
        "unionpay-page:HKD",  # the card's desktop cashier only
        "alipayhk-wap:HKD",  # a phone's cashier, the fallback
        "wechatpay_hk-wap:HKD",
        "alipay-qr:CNY",  # then renminbi, at the operator's rate
        "wechatpay-qr:CNY",
        "unionpay-page:CNY",
        "alipay-wap:CNY",
        "wechatpay-wap:CNY",
    ]


def test_a_cny_sim_on_a_phone_opens_the_wallet_on_the_phone_first() -> None:
    assert names("CNY", ["CNY", "HKD"], phone=True)[:5] == [
        "alipay-wap:CNY",
        "wechatpay-wap:CNY",
        "unionpay-wap:CNY",
        "alipay-qr:CNY",  # a QR code another phone scans
        "wechatpay-qr:CNY",
    ]
    assert "unionpay-page:CNY" not in names("CNY", ["CNY"], phone=True)


def test_on_a_phone_fps_comes_after_the_wallets_that_open_on_it() -> None:
    assert names("HKD", ["HKD"], phone=True) == [
        "alipayhk-wap:HKD",
        "wechatpay_hk-wap:HKD",
        "unionpay-wap:HKD",
        "fps-qr:HKD",  # scanned by a banking app: not on the phone that shows it
        "alipayhk-qr:HKD",
        "wechatpay_hk-qr:HKD",
    ]


def test_only_what_is_set_up_here_and_charges_the_currency_is_offered() -> None:
    charges = {Provider.ALIPAY: frozenset({"CNY"}), Provider.UNIONPAY: frozenset({"CNY"})}
    assert names("HKD", ["HKD"], phone=False, charges=charges) == []
    assert names("HKD", ["HKD", "CNY"], phone=False, charges=charges) == [
        "alipay-qr:CNY",
        "unionpay-page:CNY",
        "alipay-wap:CNY",
    ]


def test_the_api_type_names_every_online_provider() -> None:
    assert set(OnlineProvider.__args__) == set(ONLINE_PROVIDERS)  # type: ignore[attr-defined]
    assert Provider.OUTLET not in ONLINE_PROVIDERS


def test_methods_are_switched_off_by_name() -> None:
    settings = Settings(payment_methods_off="fps,alipayhk")
    assert settings.methods_off == {Provider.FPS, Provider.ALIPAYHK}
    with pytest.raises(ValueError, match="no way to pay named outlet"):
        Settings(payment_methods_off="outlet")


@pytest.mark.parametrize(
    ("provider", "one_field"),
    [
        ("unionpay", "unionpay_mer_id"),
        ("fps", "fps_proxy_id"),
        ("alipayhk", "alipayhk_client_id"),
        ("wechatpay_hk", "wechatpay_hk_mchid"),
    ],
)
def test_a_half_configured_provider_is_refused_at_start(provider: str, one_field: str) -> None:
    with pytest.raises(ValueError, match=f"{provider} is half configured"):
        Settings(**{one_field: "x"})
