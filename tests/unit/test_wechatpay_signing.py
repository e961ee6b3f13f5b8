"""WeChat Pay v3 signing, header verification and notification checks, without HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import NotificationRejected, RawNotification, TradeStatus
from simkeep.payments.providers.wechatpay import (
    WeChatPayAdapter,
    WeChatPayConfig,
)
from simkeep.payments.providers.wechatpay_signing import (
    authorization_header,
    check_platform_signature,
    json_bytes,
    parse_authorization,
    platform_headers,
    signing_message,
)
from simkeep.payments.signing import (
    KeyPair,
    SignatureError,
    aes_gcm_encrypt,
    load_private_key,
    load_public_key,
    verify_sha256_rsa,
)

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
KEY_ID = "PUB_KEY_ID_0114232134912410000000000001"
APIV3_KEY = "0123456789abcdef0123456789ABCDEF"
MCHID, APPID = "1900000109", "wxd678efh567hg6787"


@pytest.fixture(scope="module")
def merchant() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="module")
def platform() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def adapter(merchant: KeyPair, platform: KeyPair) -> WeChatPayAdapter:
    config = WeChatPayConfig(
        mchid=MCHID,
        appid=APPID,
        merchant_private_key_pem=merchant.private_pem,
        merchant_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        apiv3_key=APIV3_KEY,
        platform_public_key_pem=platform.public_pem,
        platform_public_key_id=KEY_ID,
    )
    return WeChatPayAdapter(config=config, client=httpx.AsyncClient(), clock=FixedClock(NOW))


def test_the_signing_message_ends_every_line_with_a_newline() -> None:
    assert signing_message(b"GET", b"/v3/x?a=1", b"1", b"N", b"") == b"GET\n/v3/x?a=1\n1\nN\n\n"


def test_an_authorization_header_signs_the_exact_request(merchant: KeyPair) -> None:
    header = authorization_header(
        private_key=load_private_key(merchant.private_pem),
        mchid=MCHID,
        serial_no="ABC",
        method="POST",
        path="/v3/pay/transactions/native",
        body=b'{"a":1}',
        timestamp=TS,
        nonce="N1",
    )
    items = parse_authorization(header)
    assert items["mchid"] == MCHID
    assert items["serial_no"] == "ABC"
    message = f"POST\n/v3/pay/transactions/native\n{TS}\nN1\n" + '{"a":1}\n'
    public = load_public_key(merchant.public_pem)
    assert verify_sha256_rsa(public, message.encode(), items["signature"])
    assert not verify_sha256_rsa(public, message.replace("1}", "2}").encode(), items["signature"])


def test_authorization_items_may_come_in_any_order() -> None:
    header = (
        'WECHATPAY2-SHA256-RSA2048 serial_no="S",timestamp="1",signature="c2ln=",'
        'nonce_str="N",mchid="M"'
    )
    assert parse_authorization(header)["signature"] == "c2ln="


@pytest.mark.parametrize(
    "header",
    [
        'WECHATPAY2-SHA256-RSA2048 mchid="M",nonce_str="N"',
        'Bearer mchid="M",nonce_str="N",signature="s",timestamp="1",serial_no="S"',
        "WECHATPAY2-SHA256-RSA2048 mchid=M,nonce_str=N,signature=s,timestamp=1,serial_no=S",
    ],
)
def test_a_malformed_authorization_is_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        parse_authorization(header)


def _headers(platform: KeyPair, body: bytes, *, timestamp: int = TS) -> dict[str, str]:
    return platform_headers(
        private_key=load_private_key(platform.private_pem),
        serial=KEY_ID,
        body=body,
        timestamp=timestamp,
        nonce="NONCE",
    )


def _check(platform: KeyPair, headers: dict[str, str], body: bytes, now: datetime = NOW) -> None:
    check_platform_signature(
        headers=headers,
        body=body,
        public_key=load_public_key(platform.public_pem),
        serial=KEY_ID,
        now=now,
    )


def test_an_empty_204_body_is_signed_and_verifies(platform: KeyPair) -> None:
    headers = {k.lower(): v for k, v in _headers(platform, b"").items()}
    _check(platform, headers, b"")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"Wechatpay-Signature": "WECHATPAY/SIGNTEST/abc"}, "bad_signature"),
        ({"Wechatpay-Serial": "PUB_KEY_ID_OTHER"}, "unknown_serial"),
        ({"Wechatpay-Nonce": "OTHER"}, "bad_signature"),
        ({"Wechatpay-Timestamp": "soon"}, "malformed"),
        ({"Wechatpay-Signature": ""}, "malformed"),
    ],
)
def test_platform_headers_that_do_not_match_are_refused(
    platform: KeyPair, change: dict[str, str], code: str
) -> None:
    headers = _headers(platform, b"{}") | change
    with pytest.raises(NotificationRejected) as caught:
        _check(platform, headers, b"{}")
    assert caught.value.code == code


@pytest.mark.parametrize(("skew", "accepted"), [(300, True), (-300, True), (301, False)])
def test_the_timestamp_window_is_300_seconds(platform: KeyPair, skew: int, accepted: bool) -> None:
    headers = _headers(platform, b"{}", timestamp=TS + skew)
    if accepted:
        _check(platform, headers, b"{}")
        return
    with pytest.raises(NotificationRejected, match="300 s") as caught:
        _check(platform, headers, b"{}")
    assert caught.value.code == "stale"


def _notification(
    platform: KeyPair, payment: dict[str, object], *, key: str = APIV3_KEY
) -> RawNotification:
    nonce = "abcdefghijkl"
    ciphertext = aes_gcm_encrypt(key.encode(), nonce.encode(), json_bytes(payment), b"transaction")
    resource = {"algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "nonce": nonce}
    event = {"id": "EV-1", "event_type": "TRANSACTION.SUCCESS", "resource": resource}
    body = json_bytes(event | {"resource": resource | {"associated_data": "transaction"}})
    return RawNotification(headers=_headers(platform, body), body=body)


def _payment(**changes: object) -> dict[str, object]:
    payment: dict[str, object] = {
        "mchid": MCHID,
        "appid": APPID,
        "out_trade_no": "TOPUP_000001",
        "transaction_id": "4200000000000000000000000001",
        "trade_state": "SUCCESS",
        "success_time": "2026-11-25T17:00:05+08:00",
        "amount": {"total": 10000, "currency": "CNY"},
    }
    return payment | changes


def test_a_signed_payment_notification_is_verified(
    adapter: WeChatPayAdapter, platform: KeyPair
) -> None:
    verified = adapter.verify_notification(_notification(platform, _payment()), now=NOW)
    assert verified.status is TradeStatus.PAID
    assert verified.amount == Money(10000, "CNY")
    assert verified.notification_id == "EV-1"
    assert verified.paid_at == NOW + timedelta(seconds=5)


@pytest.mark.parametrize(
    ("payment", "key", "code"),
    [
        (_payment(mchid="1900000999"), APIV3_KEY, "wrong_merchant"),
        (_payment(appid="wx0000000000000000"), APIV3_KEY, "wrong_merchant"),
        (_payment(trade_state="NOTPAY"), APIV3_KEY, "not_success"),
        (_payment(amount={"total": "100.00", "currency": "CNY"}), APIV3_KEY, "malformed"),
        (_payment(out_trade_no=None), APIV3_KEY, "malformed"),
        (_payment(), "X" * 32, "undecryptable"),
    ],
)
def test_a_notification_that_is_not_ours_or_not_a_payment_is_refused(
    adapter: WeChatPayAdapter, platform: KeyPair, payment: dict[str, object], key: str, code: str
) -> None:
    with pytest.raises(NotificationRejected) as caught:
        adapter.verify_notification(_notification(platform, payment, key=key), now=NOW)
    assert caught.value.code == code


def test_a_signed_body_that_is_not_json_is_malformed(
    adapter: WeChatPayAdapter, platform: KeyPair
) -> None:
    raw = RawNotification(headers=_headers(platform, b"[1]"), body=b"[1]")
    with pytest.raises(NotificationRejected) as caught:
        adapter.verify_notification(raw, now=NOW)
    assert caught.value.code == "malformed"


def test_acknowledgements(adapter: WeChatPayAdapter) -> None:
    accepted, refused = adapter.acknowledge(True), adapter.acknowledge(False)
    assert (accepted.status, accepted.body) == (204, b"")
    assert refused.status == 400
    assert json.loads(refused.body)["code"] == "FAIL"


@pytest.mark.parametrize(
    "change", [{"apiv3_key": "short"}, {"platform_public_key_id": "5157F09EFDC096DE"}]
)
def test_a_config_with_a_wrong_key_or_key_id_is_refused(change: dict[str, str]) -> None:
    fields = {
        "mchid": MCHID,
        "appid": APPID,
        "merchant_private_key_pem": b"",
        "merchant_serial_no": "S",
        "apiv3_key": APIV3_KEY,
        "platform_public_key_pem": b"",
        "platform_public_key_id": KEY_ID,
    }
    with pytest.raises(ValueError, match=r"APIv3 key|PUB_KEY_ID_"):
        WeChatPayConfig(**(fields | change))  # type: ignore[arg-type]
