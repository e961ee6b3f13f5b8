"""Alipay's signing rules on the merchant side: sign content, raw response substrings, Beijing
time, and notification verification (worked examples, no HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import NotificationRejected, ProviderError, RawNotification, TradeStatus
from simkeep.payments.providers.alipay import AlipayAdapter, AlipayConfig
from simkeep.payments.providers.alipay_signing import (
    NOTIFICATION_UNSIGNED,
    beijing_time,
    parse_beijing_time,
    response_content,
    sign_content,
    yuan,
)
from simkeep.payments.signing import KeyPair, load_private_key, sign_sha256_rsa

NOW = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)  # 00:30 next day in Beijing
APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"
MERCHANT = KeyPair.generate()
PLATFORM = KeyPair.generate()


@pytest.fixture
async def adapter() -> AsyncIterator[AlipayAdapter]:
    config = AlipayConfig(
        app_id=APP_ID,
        seller_id=SELLER_ID,
        app_private_key_pem=MERCHANT.private_pem,
        alipay_public_key_pem=PLATFORM.public_pem,
        gateway_url="http://alipay.test/gateway.do",
    )
    async with httpx.AsyncClient() as http:
        yield AlipayAdapter(config=config, http=http, clock=FixedClock(NOW))


def notification(**changes: str) -> dict[str, str]:
    fields = {
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "notify_type": "trade_status_sync",
        "notify_time": "2026-11-26 00:30:05",
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "app_id": APP_ID,
        "seller_id": SELLER_ID,
        "out_trade_no": "TOPUP_000123",
        "trade_no": "2026112622001400000001",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "100.00",
        "subject": "中港卡充值 ¥100 & more",
        "gmt_payment": "2026-11-26 00:30:04",
    }
    fields.update(changes)
    content = sign_content(fields, unsigned=NOTIFICATION_UNSIGNED)
    fields["sign"] = sign_sha256_rsa(load_private_key(PLATFORM.private_pem), content.encode())
    return fields


def raw(fields: dict[str, str], **query: str) -> RawNotification:
    return RawNotification(headers={}, body=urlencode(fields).encode(), query=query)


def test_sign_content_sorts_drops_sign_and_empty_values_and_keeps_raw_values() -> None:
    params = {"method": "a.b", "sign": "xyz", "app_id": "1", "notify_url": "", "biz": '{"k":"v&w"}'}
    assert sign_content(params) == 'app_id=1&biz={"k":"v&w"}&method=a.b'
    assert sign_content({"sign_type": "RSA2", "a": "1"}) == "a=1&sign_type=RSA2"
    assert sign_content({"sign_type": "RSA2", "a": "1"}, unsigned=NOTIFICATION_UNSIGNED) == "a=1"


def test_response_content_is_the_exact_raw_substring_even_with_braces_in_strings() -> None:
    inner = '{ "code":"10000", "subject":"a}b{\\"c\\"}", "nested":{"x":[1,{"y":2}]} }'
    raw_text = f'{{"alipay_trade_query_response": {inner},"sign":"abc"}}'
    assert response_content(raw_text, "alipay_trade_query_response") == inner
    with pytest.raises(ValueError, match="no error_response"):
        response_content(raw_text, "error_response")
    with pytest.raises(ValueError, match="not closed"):
        response_content('{"k_response":{"a":"}"', "k_response")


def test_beijing_time_is_offset_less_shanghai_time() -> None:
    assert beijing_time(NOW) == "2026-11-26 00:30:00"
    assert parse_beijing_time("2026-11-26 00:30:00") == NOW


def test_yuan_formats_cny_and_refuses_other_currencies() -> None:
    assert yuan(Money(10050, "CNY")) == "100.50"
    assert yuan(Money(1, "CNY")) == "0.01"
    with pytest.raises(ProviderError, match="CNY only"):
        yuan(Money(10000, "HKD"))


def test_a_signed_paid_notification_verifies(adapter: AlipayAdapter) -> None:
    verified = adapter.verify_notification(raw(notification()), now=NOW)
    assert verified.status is TradeStatus.PAID
    assert verified.amount == Money(10000, "CNY")
    assert verified.notification_id == "ac05099524730693a8b330c5ecf72da9786"
    assert (verified.out_trade_no, verified.provider_trade_no) == (
        "TOPUP_000123",
        "2026112622001400000001",
    )
    assert (verified.app_id, verified.merchant_id) == (APP_ID, SELLER_ID)
    assert verified.paid_at == NOW.replace(second=4)


def test_fields_may_come_in_the_query_string_too(adapter: AlipayAdapter) -> None:
    fields = notification()
    subject = fields.pop("subject")
    assert adapter.verify_notification(raw(fields, subject=subject), now=NOW).amount.minor == 10000


def test_finished_is_paid_and_closed_is_closed(adapter: AlipayAdapter) -> None:
    finished = notification(trade_status="TRADE_FINISHED")
    closed = notification(trade_status="TRADE_CLOSED")
    assert adapter.verify_notification(raw(finished), now=NOW).status is TradeStatus.PAID
    assert adapter.verify_notification(raw(closed), now=NOW).status is TradeStatus.CLOSED


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({**notification(), "total_amount": "1000.00"}, "bad_signature"),
        ({**notification(), "sign": "bm90IGEgc2lnbmF0dXJl"}, "bad_signature"),
        ({k: v for k, v in notification().items() if k != "sign"}, "bad_signature"),
        ({**notification(), "sign_type": "RSA"}, "bad_signature"),
        (notification(app_id="2021999999999999"), "wrong_merchant"),
        (notification(seller_id="2088999999999999"), "wrong_merchant"),
        (notification(notify_id=""), "malformed"),
        (notification(total_amount="100.001"), "malformed"),
        (notification(total_amount="1e2x"), "malformed"),
        (notification(trade_status="WAIT_BUYER_PAY"), "unexpected_status"),
    ],
)
def test_notifications_that_must_credit_nothing_are_rejected(
    adapter: AlipayAdapter, fields: dict[str, str], code: str
) -> None:
    with pytest.raises(NotificationRejected) as rejected:
        adapter.verify_notification(raw(fields), now=NOW)
    assert rejected.value.code == code


def test_a_field_given_twice_with_different_values_is_malformed(adapter: AlipayAdapter) -> None:
    fields = notification()
    with pytest.raises(NotificationRejected) as rejected:
        adapter.verify_notification(raw(fields, total_amount="0.01"), now=NOW)
    assert rejected.value.code == "malformed"


def test_acknowledgement_is_the_bare_word(adapter: AlipayAdapter) -> None:
    accepted, refused = adapter.acknowledge(True), adapter.acknowledge(False)
    assert (accepted.status, accepted.body) == (200, b"success")
    assert accepted.content_type == "text/plain"
    assert (refused.status, refused.body) == (200, b"fail")
