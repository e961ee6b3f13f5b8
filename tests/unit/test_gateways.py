"""Real merchant credentials: a provider is on when all its settings are set, refused when
half set, and its adapter points at the configured gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.gateways import real_adapters
from simkeep.payments.model import PaymentRequest
from simkeep.payments.signing import KeyPair
from simkeep.settings import Settings, load_settings

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def credentials(tmp_path: Path) -> dict[str, str]:
    merchant, alipay, wechat = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    files = {
        "merchant.pem": merchant.private_pem,
        "alipay_public.pem": alipay.public_pem,
        "wechat_public.pem": wechat.public_pem,
    }
    for name, pem in files.items():
        (tmp_path / name).write_bytes(pem)
    return {
        "alipay_app_id": "2021004100000001",
        "alipay_seller_id": "2088410000000001",
        "alipay_private_key_file": str(tmp_path / "merchant.pem"),
        "alipay_public_key_file": str(tmp_path / "alipay_public.pem"),
        "alipay_gateway_url": "https://openapi-sandbox.dl.alipaydev.com/gateway.do",
        "wechatpay_mchid": "1900000109",
        "wechatpay_appid": "wxd678efh567hg6787",
        "wechatpay_private_key_file": str(tmp_path / "merchant.pem"),
        "wechatpay_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "wechatpay_apiv3_key": "a" * 32,
        "wechatpay_public_key_file": str(tmp_path / "wechat_public.pem"),
        "wechatpay_public_key_id": "PUB_KEY_ID_0000000000000001",
    }


def real(tmp_path: Path, **changes: str) -> Settings:
    return load_settings(simulators=False, **(credentials(tmp_path) | changes))


def test_a_half_configured_provider_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SIMKEEP_WECHATPAY_APIV3_KEY"):
        real(tmp_path, wechatpay_apiv3_key="")


def test_without_credentials_no_provider_is_offered() -> None:
    gateways = real_adapters(load_settings(simulators=False), FixedClock(NOW))
    assert gateways.adapters == {}


async def test_configured_providers_use_the_real_gateways(tmp_path: Path) -> None:
    gateways = real_adapters(real(tmp_path), FixedClock(NOW))
    try:
        assert set(gateways.adapters) == {Provider.ALIPAY, Provider.WECHATPAY}
        start = await gateways.adapters[Provider.ALIPAY].start(
            PaymentRequest(
                out_trade_no="T2026112517000000000001",
                amount=Money(4600, "CNY"),
                subject="中港卡充值",
                channel=Channel.PAGE,
                notify_url="https://topup.example.com/api/v1/payments/alipay/notify",
                return_url="https://topup.example.com/topups/T2026112517000000000001",
                expires_at=NOW + timedelta(minutes=15),
            )
        )
        assert start.redirect_url is not None
        url = urlsplit(start.redirect_url)
        assert f"{url.scheme}://{url.netloc}{url.path}" == (
            "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
        )
        params = parse_qs(url.query)
        assert params["app_id"] == ["2021004100000001"]
        assert params["sign_type"] == ["RSA2"]
    finally:
        await gateways.close()


def test_an_unreadable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    settings = real(tmp_path, alipay_private_key_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="cannot read the key file"):
        real_adapters(settings, FixedClock(NOW))
