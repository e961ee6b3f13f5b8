"""Alipay+ (AMS) signatures and notification checks on the merchant side, without HTTP: the
signed content checked against ``openssl`` and against ``cryptography`` used directly, the
five-minute window, the Client-Id, and amounts read as cents only."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import NotificationRejected, RawNotification, TradeStatus
from simkeep.payments.providers.alipayplus import (
    AlipayPlusAdapter,
    AlipayPlusConfig,
    real_adapter,
)
from simkeep.payments.providers.alipayplus_signing import (
    ams_time,
    check_signed,
    key_pem,
    parse_ams_time,
    parse_signature_header,
    signed_headers,
)
from simkeep.payments.signing import KeyPair, SignatureError, load_private_key, load_public_key
from simkeep.settings import load_settings

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 17:00 in Hong Kong
CLIENT_ID = "5J5Y3P2N3Z0HK0001"
NOTIFY = "/api/v1/payments/alipayhk/notify"
MERCHANT = KeyPair.generate()
PLATFORM = KeyPair.generate()


@pytest.fixture
async def adapter() -> AsyncIterator[AlipayPlusAdapter]:
    config = AlipayPlusConfig(
        client_id=CLIENT_ID,
        merchant_private_key_pem=MERCHANT.private_pem,
        alipayplus_public_key_pem=PLATFORM.public_pem,
    )
    async with httpx.AsyncClient() as http:
        yield AlipayPlusAdapter(config=config, http=http, clock=FixedClock(NOW))


def test_a_request_signature_is_what_openssl_makes_of_the_documented_content(
    tmp_path: Path,
) -> None:
    body = b'{"paymentRequestId":"TOPUP_000001"}'
    headers = signed_headers(
        load_private_key(MERCHANT.private_pem),
        key_version="1",
        path="/ams/api/v1/payments/inquiryPayment",
        client_id=CLIENT_ID,
        time_header="Request-Time",
        time="2026-11-25T17:00:00+08:00",
        body=body,
    )
    content = (
        b"POST /ams/api/v1/payments/inquiryPayment\n"
        b"5J5Y3P2N3Z0HK0001.2026-11-25T17:00:00+08:00." + body
    )
    (tmp_path / "key.pem").write_bytes(MERCHANT.private_pem)
    signed = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(tmp_path / "key.pem")],
        input=content,
        capture_output=True,
        check=True,
    ).stdout
    expected = quote(base64.b64encode(signed).decode(), safe="")
    assert headers == {
        "Client-Id": CLIENT_ID,
        "Request-Time": "2026-11-25T17:00:00+08:00",
        "Signature": f"algorithm=RSA256,keyVersion=1,signature={expected}",
    }
    assert expected.endswith("%3D%3D")  # 256 bytes of base64, padded and URL-encoded


def _platform_signed(
    body: bytes, *, time: str, path: str = NOTIFY, client_id: str = CLIENT_ID
) -> dict[str, str]:
    """A notification signed with ``cryptography`` directly, as Alipay+ would."""
    key = serialization.load_pem_private_key(PLATFORM.private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    content = f"POST {path}\n{client_id}.{time}.".encode() + body
    signature = base64.b64encode(key.sign(content, padding.PKCS1v15(), hashes.SHA256()))
    return {
        "client-id": client_id,
        "request-time": time,
        "signature": f"algorithm=RSA256, keyVersion=1, signature={quote(signature.decode())}",
        "content-type": "application/json; charset=UTF-8",
    }


def _check(headers: dict[str, str], body: bytes, now: datetime = NOW) -> None:
    check_signed(
        headers=headers,
        body=body,
        path=NOTIFY,
        time_header="Request-Time",
        client_id=CLIENT_ID,
        public_key=load_public_key(PLATFORM.public_pem),
        now=now,
    )


def test_a_notification_signed_by_hand_verifies_and_its_bytes_are_bound() -> None:
    body = b'{"notifyType":"PAYMENT_RESULT"}'
    headers = _platform_signed(body, time="2026-11-25T17:00:00+08:00")
    _check(headers, body)
    with pytest.raises(NotificationRejected) as caught:
        _check(headers, body.replace(b"RESULT", b"RESULt"))
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"client-id": "SOMEONE_ELSE"}, "wrong_merchant"),
        ({"signature": ""}, "malformed"),
        ({"request-time": "yesterday"}, "malformed"),
        ({"request-time": "2026-11-25T17:00:00"}, "malformed"),  # no offset
        ({"request-time": "2026-11-25T17:00:01+08:00"}, "bad_signature"),  # not what was signed
        ({"signature": "algorithm=RSA1,keyVersion=1,signature=abc"}, "malformed"),
    ],
)
def test_headers_that_do_not_match_are_refused(change: dict[str, str], code: str) -> None:
    body = b"{}"
    headers = _platform_signed(body, time="2026-11-25T17:00:00+08:00") | change
    with pytest.raises(NotificationRejected) as caught:
        _check(headers, body)
    assert caught.value.code == code


def test_a_body_signed_over_another_path_does_not_verify() -> None:
    headers = _platform_signed(b"{}", time=ams_time(NOW), path="/elsewhere")
    with pytest.raises(NotificationRejected) as caught:
        _check(headers, b"{}")
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("skew", "fresh"), [(300, True), (-300, True), (301, False), (-301, False)]
)
def test_the_window_is_five_minutes(skew: int, fresh: bool) -> None:
    sent = ams_time(NOW + timedelta(seconds=skew))
    headers = _platform_signed(b"{}", time=sent)
    if fresh:
        _check(headers, b"{}")
        return
    with pytest.raises(NotificationRejected) as caught:
        _check(headers, b"{}")
    assert caught.value.code == "stale"


def test_times_are_hong_kong_iso_and_epoch_milliseconds_are_read() -> None:
    assert ams_time(NOW) == "2026-11-25T17:00:00+08:00"
    assert parse_ams_time("2026-11-25T17:00:00+08:00") == NOW
    assert parse_ams_time(str(int(NOW.timestamp() * 1000))) == NOW
    with pytest.raises(ValueError, match="offset"):
        parse_ams_time("2026-11-25T17:00:00")


def test_a_signature_header_may_be_spaced_and_its_value_is_url_decoded() -> None:
    items = parse_signature_header("algorithm=RSA256, keyVersion=2, signature=ab%2Bc%3D")
    assert items == {"algorithm": "RSA256", "keyVersion": "2", "signature": "ab+c="}
    for header in ("algorithm=RSA256,keyVersion=1", "keyVersion=1,signature=x", "nonsense"):
        with pytest.raises(SignatureError):
            parse_signature_header(header)


def _notice(**changes: Any) -> dict[str, Any]:
    notice: dict[str, Any] = {
        "notifyType": "PAYMENT_RESULT",
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "paymentRequestId": "TOPUP_000001",
        "paymentId": "20261125170000123456789012345678",
        "paymentAmount": {"currency": "HKD", "value": "12345"},
        "paymentCreateTime": "2026-11-25T16:58:00+08:00",
        "paymentTime": "2026-11-25T16:59:30+08:00",
    }
    return notice | changes


def _raw(notice: dict[str, Any], *, time: str = "2026-11-25T17:00:00+08:00") -> RawNotification:
    body = json.dumps(notice).encode()
    return RawNotification(headers=_platform_signed(body, time=time), body=body)


def test_a_paid_notification_is_verified_to_the_cent(adapter: AlipayPlusAdapter) -> None:
    verified = adapter.verify_notification(_raw(_notice()), now=NOW)
    assert verified.status is TradeStatus.PAID
    assert verified.amount == Money(12345, "HKD")
    assert verified.out_trade_no == "TOPUP_000001"
    assert verified.provider_trade_no == "20261125170000123456789012345678"
    assert verified.notification_id == "20261125170000123456789012345678:paid"
    assert verified.paid_at == NOW - timedelta(seconds=30)
    assert verified.merchant_id == CLIENT_ID


def test_a_failed_or_pending_payment_is_verified_but_not_paid(adapter: AlipayPlusAdapter) -> None:
    failed = _notice(result={"resultCode": "USER_BALANCE_NOT_ENOUGH", "resultStatus": "F"})
    verified = adapter.verify_notification(_raw(failed), now=NOW)
    assert (verified.status, verified.paid_at) == (TradeStatus.FAILED, None)
    assert verified.notification_id.endswith(":failed")
    pending = adapter.verify_notification(_raw(_notice(notifyType="PAYMENT_PENDING")), now=NOW)
    assert pending.status is TradeStatus.UNPAID


@pytest.mark.parametrize(
    ("notice", "code"),
    [
        (_notice(paymentAmount={"currency": "HKD", "value": "123.45"}), "malformed"),
        (_notice(paymentAmount={"currency": "HKD", "value": 12345}), "malformed"),
        (_notice(paymentAmount={"currency": "HKD", "value": "-12345"}), "malformed"),
        (_notice(paymentAmount={"currency": "HKD", "value": " 12345"}), "malformed"),
        (_notice(paymentAmount={"currency": "HKD", "value": "1e4"}), "malformed"),
        (_notice(paymentAmount={"currency": "HKD", "value": "012345"}), "malformed"),
        (_notice(paymentAmount={"currency": "HKD", "value": "１２３"}), "malformed"),
        (_notice(paymentAmount={"currency": "XXX1", "value": "12345"}), "malformed"),
        (_notice(paymentAmount={"currency": "CNY", "value": "12345"}), "wrong_currency"),
        (_notice(paymentAmount=None), "malformed"),
        (_notice(paymentId=""), "malformed"),
        (_notice(paymentRequestId=None), "malformed"),
        (_notice(notifyType="REFUND_RESULT"), "malformed"),
        (_notice(result={"resultCode": "SUCCESS", "resultStatus": "U"}), "malformed"),
        (_notice(result={"resultCode": "OTHER", "resultStatus": "S"}), "malformed"),
        (_notice(paymentTime="half past five"), "malformed"),
    ],
)
def test_a_notification_that_does_not_read_exactly_is_refused(
    adapter: AlipayPlusAdapter, notice: dict[str, Any], code: str
) -> None:
    with pytest.raises(NotificationRejected) as caught:
        adapter.verify_notification(_raw(notice), now=NOW)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (RawNotification(headers={}, body=json.dumps(_notice()).encode()), "malformed"),
        (_raw(_notice(), time="2026-11-25T16:54:59+08:00"), "stale"),
        (
            RawNotification(headers=_platform_signed(b"[1]", time=ams_time(NOW)), body=b"[1]"),
            "malformed",
        ),
        (
            RawNotification(headers=_platform_signed(b"{", time=ams_time(NOW)), body=b"{"),
            "malformed",
        ),
    ],
)
def test_unsigned_stale_and_non_json_notifications_are_refused(
    adapter: AlipayPlusAdapter, raw: RawNotification, code: str
) -> None:
    with pytest.raises(NotificationRejected) as caught:
        adapter.verify_notification(raw, now=NOW)
    assert caught.value.code == code


def test_a_notification_signed_with_another_key_is_forged(adapter: AlipayPlusAdapter) -> None:
    body = json.dumps(_notice()).encode()
    forger = load_private_key(KeyPair.generate().private_pem)
    headers = signed_headers(
        forger,
        key_version="1",
        path=NOTIFY,
        client_id=CLIENT_ID,
        time_header="Request-Time",
        time=ams_time(NOW),
        body=body,
    )
    with pytest.raises(NotificationRejected) as caught:
        adapter.verify_notification(RawNotification(headers=headers, body=body), now=NOW)
    assert caught.value.code == "bad_signature"


def test_acknowledgements(adapter: AlipayPlusAdapter) -> None:
    taken, refused = adapter.acknowledge(True), adapter.acknowledge(False)
    assert taken.status == 200
    assert json.loads(taken.body) == {
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}
    }
    assert refused.status == 400
    assert json.loads(refused.body)["result"]["resultStatus"] == "F"


def _der(pem: bytes, *, private: bool, pkcs1: bool = False) -> bytes:
    """The bare base64 the Antom Dashboard shows for a key."""
    if private:
        key = serialization.load_pem_private_key(pem, password=None)
        form = (
            serialization.PrivateFormat.TraditionalOpenSSL
            if pkcs1
            else serialization.PrivateFormat.PKCS8
        )
        der = key.private_bytes(serialization.Encoding.DER, form, serialization.NoEncryption())
    else:
        der = serialization.load_pem_public_key(pem).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return base64.b64encode(der)


def test_key_files_may_be_pem_or_bare_base64() -> None:
    assert key_pem(MERCHANT.private_pem, private=True) == MERCHANT.private_pem
    for pkcs1 in (False, True):
        bare = _der(MERCHANT.private_pem, private=True, pkcs1=pkcs1)
        assert KeyPair.from_private_pem(key_pem(bare + b"\n", private=True)) == MERCHANT
    assert key_pem(_der(PLATFORM.public_pem, private=False), private=False) == PLATFORM.public_pem
    with pytest.raises(SignatureError):
        key_pem(b"not a key", private=True)


async def test_the_real_adapter_reads_the_alipayhk_settings(tmp_path: Path) -> None:
    (tmp_path / "merchant.txt").write_bytes(_der(MERCHANT.private_pem, private=True))
    (tmp_path / "alipayplus.pem").write_bytes(PLATFORM.public_pem)
    settings = load_settings(
        simulators=False,
        public_url="https://topup.example.com/hk",
        alipayhk_client_id="SANDBOX_5Y0566SG25J004124",
        alipayhk_private_key_file=str(tmp_path / "merchant.txt"),
        alipayhk_public_key_file=str(tmp_path / "alipayplus.pem"),
        alipayhk_key_version="2",
    )
    async with httpx.AsyncClient() as http:
        adapter = real_adapter(settings, FixedClock(NOW), http)
    config = adapter._config
    assert config.notify_path == "/hk/api/v1/payments/alipayhk/notify"
    assert config.api_prefix == "/ams/sandbox/api/v1/payments"
    assert (config.key_version, config.gateway_url) == ("2", "https://open-sea-global.alipay.com")
    missing = settings.model_copy(update={"alipayhk_private_key_file": str(tmp_path / "no")})
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="cannot read the key file"):
            real_adapter(missing, FixedClock(NOW), http)
