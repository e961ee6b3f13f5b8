"""UnionPay's signing and verification rules on the merchant side: the sign string, the
signature against ``openssl``, the certificate chain, and every reason a notification is
refused (worked examples, no HTTP)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel
from simkeep.payments.model import (
    CurrencyNotSupported,
    NotificationRejected,
    PaymentRequest,
    RawNotification,
    TradeStatus,
)
from simkeep.payments.providers.unionpay import (
    UnionPayAdapter,
    UnionPayConfig,
    real_adapter,
)
from simkeep.payments.providers.unionpay_certs import UnionPayTrust
from simkeep.payments.providers.unionpay_signing import (
    sign_fields,
    sign_string,
    signed,
    trace_instant,
    verify_fields,
)
from simkeep.payments.signing import KeyPair, load_private_key, load_public_key
from simkeep.settings import Settings
from simkeep.simulators.unionpay_pki import (
    UnionPayPki,
    foreign_leaf,
    kept_pki,
    middle_leaf,
    self_signed_leaf,
)

NOW = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)  # 00:30 on the 26th in Beijing
MER_ID = "777290058110048"
CERT_ID = "69629715588"
MERCHANT = KeyPair.generate()
ORDER_NO = "T202611260000000042"


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unionpay")


@pytest.fixture(scope="module")
def pki(key_dir: Path) -> UnionPayPki:
    return kept_pki(key_dir, now=NOW)


@pytest.fixture
async def adapter(pki: UnionPayPki) -> AsyncIterator[UnionPayAdapter]:
    config = UnionPayConfig(
        mer_id=MER_ID,
        merchant_private_key_pem=MERCHANT.private_pem,
        cert_id=CERT_ID,
        root_cert_pem=pki.root_pem,
        middle_cert_pem=pki.middle_pem,
        gateway_url="http://unionpay.test/gateway/api",
        currencies=frozenset({"CNY", "HKD"}),
    )
    async with httpx.AsyncClient() as http:
        yield UnionPayAdapter(config=config, http=http, clock=FixedClock(NOW))


def fields(**changes: str) -> dict[str, str]:
    base = {
        "accessType": "0",
        "accNo": "6216****0016",
        "bizType": "000201",
        "currencyCode": "156",
        "encoding": "UTF-8",
        "merId": MER_ID,
        "orderId": ORDER_NO,
        "queryId": "261126003000123456789",
        "respCode": "00",
        "respMsg": "成功[0000000]",
        "settleAmt": "12345",
        "settleCurrencyCode": "156",
        "settleDate": "1126",
        "traceNo": "123456",
        "traceTime": "1126003004",
        "txnAmt": "12345",
        "txnSubType": "01",
        "txnTime": "20261126000000",
        "txnType": "01",
        "version": "5.1.0",
    }
    base.update(changes)
    return base


def notification(
    pki: UnionPayPki,
    *,
    key: KeyPair | None = None,
    cert: bytes | None = None,
    **changes: str,
) -> RawNotification:
    content = {
        **fields(**changes),
        "signMethod": "01",
        "signPubKeyCert": (cert or pki.sign_cert_pem).decode(),
    }
    body = signed(load_private_key((key or pki.sign_keys).private_pem), content)
    return RawNotification(headers={}, body=urlencode(body).encode())


def refused(adapter: UnionPayAdapter, raw: RawNotification, *, now: datetime = NOW) -> str:
    with pytest.raises(NotificationRejected) as caught:
        adapter.verify_notification(raw, now=now)
    return caught.value.code


def test_the_sign_string_is_sorted_raw_pairs_without_the_signature() -> None:
    form = {"txnAmt": "100", "signature": "xyz", "backUrl": "https://m.test/n?a=1&b=2", "a": "中"}
    assert sign_string(form) == "a=中&backUrl=https://m.test/n?a=1&b=2&txnAmt=100"


def test_the_signature_matches_openssl_over_the_hex_digest(tmp_path: Path) -> None:
    form = {"version": "5.1.0", "merId": MER_ID, "txnAmt": "1", "orderId": ORDER_NO}
    text = f"merId={MER_ID}&orderId={ORDER_NO}&txnAmt=1&version=5.1.0"
    (tmp_path / "text").write_bytes(text.encode())
    hex_digest = _openssl("dgst", "-sha256", "-r", str(tmp_path / "text")).split()[0].decode()
    assert hex_digest == hashlib.sha256(text.encode()).hexdigest()
    (tmp_path / "key.pem").write_bytes(MERCHANT.private_pem)
    (tmp_path / "hex").write_bytes(hex_digest.encode("ascii"))
    expected = _openssl(
        "dgst", "-sha256", "-sign", str(tmp_path / "key.pem"), str(tmp_path / "hex")
    )
    ours = sign_fields(load_private_key(MERCHANT.private_pem), form)
    assert ours == base64.b64encode(expected).decode()


def test_openssl_verifies_our_signature_and_we_verify_its_own(tmp_path: Path) -> None:
    form = signed(load_private_key(MERCHANT.private_pem), {"b": "2", "a": "1", "empty": ""})
    assert "empty" not in form
    (tmp_path / "pub.pem").write_bytes(MERCHANT.public_pem)
    (tmp_path / "sig").write_bytes(base64.b64decode(form["signature"]))
    (tmp_path / "hex").write_bytes(hashlib.sha256(b"a=1&b=2").hexdigest().encode())
    answer = _openssl(
        *("dgst", "-sha256", "-verify", str(tmp_path / "pub.pem")),
        *("-signature", str(tmp_path / "sig"), str(tmp_path / "hex")),
    )
    assert answer.strip() == b"Verified OK"
    assert verify_fields(load_public_key(MERCHANT.public_pem), form)
    assert not verify_fields(load_public_key(MERCHANT.public_pem), {**form, "a": "2"})


def test_a_good_notification_is_verified_with_exact_amounts(
    adapter: UnionPayAdapter, pki: UnionPayPki
) -> None:
    verified = adapter.verify_notification(notification(pki), now=NOW)
    assert verified.status is TradeStatus.PAID
    assert verified.amount == Money(12345, "CNY")
    assert (verified.out_trade_no, verified.merchant_id) == (ORDER_NO, MER_ID)
    assert verified.provider_trade_no == "261126003000123456789"
    assert verified.notification_id == "261126003000123456789" + "00"
    assert verified.payer_account == "6216****0016"
    assert verified.paid_at == datetime(2026, 11, 25, 16, 30, 4, tzinfo=UTC)
    hkd = adapter.verify_notification(notification(pki, currencyCode="344"), now=NOW)
    assert hkd.amount == Money(12345, "HKD")


def test_a_delivery_made_twice_is_the_same_notification(
    adapter: UnionPayAdapter, pki: UnionPayPki
) -> None:
    raw = notification(pki)
    first = adapter.verify_notification(raw, now=NOW)
    again = adapter.verify_notification(raw, now=NOW + timedelta(hours=17))
    assert first.notification_id == again.notification_id


def test_a_wrong_amount_is_read_exactly_for_the_service_to_refuse(
    adapter: UnionPayAdapter, pki: UnionPayPki
) -> None:
    verified = adapter.verify_notification(notification(pki, txnAmt="12344"), now=NOW)
    assert verified.amount == Money(12344, "CNY")


def test_forged_and_tampered_notifications_are_refused(
    adapter: UnionPayAdapter, pki: UnionPayPki
) -> None:
    assert refused(adapter, notification(pki, key=KeyPair.generate())) == "bad_signature"
    body = notification(pki).body.replace(b"txnAmt=12345", b"txnAmt=1")
    assert refused(adapter, RawNotification(headers={}, body=body)) == "bad_signature"
    unsigned = notification(pki).body.split(b"&signature=")[0]
    assert refused(adapter, RawNotification(headers={}, body=unsigned)) == "malformed"


def test_a_certificate_must_chain_to_unionpays_root_and_be_valid_now(
    adapter: UnionPayAdapter, pki: UnionPayPki, key_dir: Path
) -> None:
    expired = middle_leaf(
        key_dir, not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(seconds=1)
    )
    for cert, keys in (self_signed_leaf(NOW), foreign_leaf(NOW), expired):
        assert refused(adapter, notification(pki, key=keys, cert=cert)) == "bad_certificate"
    # Issued by UnionPay's middle CA and valid, but not UnionPay's signing certificate.
    other, _ = middle_leaf(
        key_dir,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=1),
        common_name="043@Z12400000001@Some Bank@00000002",
    )
    assert refused(adapter, notification(pki, cert=other)) == "bad_certificate"
    good, _ = middle_leaf(key_dir, not_before=NOW, not_after=NOW + timedelta(days=1))
    assert adapter.verify_notification(notification(pki, cert=good), now=NOW).amount.minor
    later = NOW + timedelta(days=365 * 5)
    fresh = notification(pki, txnTime="20311124000000")
    assert refused(adapter, fresh, now=later) == "bad_certificate"
    assert refused(adapter, notification(pki, cert=b"not a certificate")) == "bad_certificate"


def test_a_middle_certificate_from_another_root_is_refused_at_start(pki: UnionPayPki) -> None:
    cert, _ = self_signed_leaf(NOW)
    with pytest.raises(ValueError, match="not issued by the root"):
        UnionPayTrust(root_pem=pki.root_pem, middle_pem=cert)


def test_stale_foreign_and_malformed_notifications_are_refused(
    adapter: UnionPayAdapter, pki: UnionPayPki
) -> None:
    assert refused(adapter, notification(pki, txnTime="20261122000000")) == "stale"
    assert refused(adapter, notification(pki, txnTime="20261126010000")) == "stale"
    assert adapter.verify_notification(notification(pki, txnTime="20261123003001"), now=NOW)
    assert refused(adapter, notification(pki, merId="777290058119999")) == "wrong_merchant"
    assert refused(adapter, notification(pki, respCode="05")) == "not_success"
    assert refused(adapter, notification(pki, txnType="04")) == "unexpected_type"
    assert refused(adapter, notification(pki, txnAmt="123.45")) == "malformed"
    assert refused(adapter, notification(pki, txnAmt="-1")) == "malformed"
    assert refused(adapter, notification(pki, currencyCode="840")) == "malformed"
    assert refused(adapter, notification(pki, queryId="")) == "malformed"
    assert refused(adapter, notification(pki, txnTime="2026-11-26")) == "malformed"
    twice = notification(pki).body + b"&txnAmt=1"
    assert refused(adapter, RawNotification(headers={}, body=twice)) == "malformed"
    assert refused(adapter, RawNotification(headers={}, body=b"\xff\xfe")) == "malformed"


async def test_start_signs_a_consume_form_for_the_gateway(adapter: UnionPayAdapter) -> None:
    request = PaymentRequest(
        out_trade_no=ORDER_NO,
        amount=Money(12345, "HKD"),
        subject="top-up",
        channel=Channel.WAP,
        notify_url="https://m.test/api/v1/payments/unionpay/notify",
        return_url="https://m.test/topups/" + ORDER_NO,
        expires_at=NOW + timedelta(minutes=15),
    )
    start = await adapter.start(request)
    assert start.redirect_url == "http://unionpay.test/gateway/api/frontTransReq.do"
    assert start.form is not None
    form = dict(start.form)
    assert {k: form[k] for k in ("txnType", "txnSubType", "bizType", "channelType")} == {
        "txnType": "01",
        "txnSubType": "01",
        "bizType": "000201",
        "channelType": "08",
    }
    assert (form["txnAmt"], form["currencyCode"], form["certId"]) == ("12345", "344", CERT_ID)
    assert (form["txnTime"], form["payTimeout"]) == ("20261126000000", "20261126004500")
    assert form["frontUrl"] == request.return_url
    assert verify_fields(load_public_key(MERCHANT.public_pem), form)
    page = await adapter.start(replace(request, channel=Channel.PAGE))
    assert page.form is not None
    assert page.form["channelType"] == "07"
    with pytest.raises(ValueError, match="qr"):
        await adapter.start(replace(request, channel=Channel.QR))
    with pytest.raises(ValueError, match="T<yyyyMMdd><id>"):
        await adapter.start(replace(request, out_trade_no="TOPUP_1"))


async def test_a_currency_the_acquirer_does_not_settle_is_refused(pki: UnionPayPki) -> None:
    config = UnionPayConfig(
        mer_id=MER_ID,
        merchant_private_key_pem=MERCHANT.private_pem,
        cert_id=CERT_ID,
        root_cert_pem=pki.root_pem,
        middle_cert_pem=pki.middle_pem,
    )
    async with httpx.AsyncClient() as http:
        adapter = UnionPayAdapter(config=config, http=http, clock=FixedClock(NOW))
        assert adapter.currencies == frozenset({"CNY"})
        request = PaymentRequest(
            out_trade_no=ORDER_NO,
            amount=Money(100, "HKD"),
            subject="top-up",
            channel=Channel.PAGE,
            notify_url="https://m.test/n",
            return_url=None,
            expires_at=NOW + timedelta(minutes=15),
        )
        with pytest.raises(CurrencyNotSupported):
            await adapter.start(request)


def test_acknowledgements_and_trace_times(adapter: UnionPayAdapter) -> None:
    assert (adapter.acknowledge(True).status, adapter.acknowledge(True).body) == (200, b"ok")
    assert adapter.acknowledge(False).status == 400
    new_years_eve = datetime(2026, 12, 31, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    paid = trace_instant("0101000010", new_years_eve)  # ten seconds into 2027 in Beijing
    assert paid == datetime(2026, 12, 31, 16, 0, 10, tzinfo=UTC)


def _openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


async def test_the_real_adapter_reads_its_settings(tmp_path: Path, pki: UnionPayPki) -> None:
    files = {"merchant.pem": MERCHANT.private_pem, "root.pem": pki.root_pem}
    files["middle.pem"] = pki.middle_pem
    for name, pem in files.items():
        (tmp_path / name).write_bytes(pem)
    settings = Settings(
        unionpay_mer_id=MER_ID,
        unionpay_private_key_file=str(tmp_path / "merchant.pem"),
        unionpay_cert_id=CERT_ID,
        unionpay_root_cert_file=str(tmp_path / "root.pem"),
        unionpay_middle_cert_file=str(tmp_path / "middle.pem"),
        unionpay_gateway_url="https://gateway.test.95516.com/gateway/api",
        unionpay_currencies="CNY,HKD",
    )
    async with httpx.AsyncClient() as http:
        adapter = real_adapter(settings, FixedClock(NOW), http)
        assert adapter.currencies == frozenset({"CNY", "HKD"})
        assert adapter.verify_notification(notification(pki), now=NOW).merchant_id == MER_ID
        request = PaymentRequest(
            out_trade_no=ORDER_NO,
            amount=Money(100, "CNY"),
            subject="top-up",
            channel=Channel.PAGE,
            notify_url="https://m.test/n",
            return_url=None,
            expires_at=NOW + timedelta(minutes=15),
        )
        start = await adapter.start(request)
        assert start.redirect_url == "https://gateway.test.95516.com/gateway/api/frontTransReq.do"
        missing = settings.model_copy(update={"unionpay_root_cert_file": str(tmp_path / "no")})
        with pytest.raises(ValueError, match="cannot read"):
            real_adapter(missing, FixedClock(NOW), http)
