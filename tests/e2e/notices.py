"""Genuine provider notifications with any content, for the end-to-end tests: signed with the
keys of the app's own simulators by the same signing rules the providers use, so our
verifier accepts them and the inbox must judge what they say.

Each part can be set apart from what the simulator would send — the merchant ids, the trade
numbers, the key that signs, the WeChat Pay timestamp — so that a test can also make the
notifications that must be refused (another merchant's, another key's, a stale one)."""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import cache
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.payments.providers.alipay_signing import (
    NOTIFICATION_UNSIGNED,
    beijing_time,
    sign_params,
)
from simkeep.payments.providers.wechatpay_signing import json_bytes, new_nonce, platform_headers
from simkeep.payments.signing import aes_gcm_encrypt, load_private_key
from simkeep.simulators.embedded import EmbeddedProviders


@cache
def private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """A simulator's private key, loaded once (loading checks the key: tens of ms)."""
    return load_private_key(pem)


def alipay_fields(
    providers: EmbeddedProviders,
    *,
    out_trade_no: str,
    total_amount: str,
    now: datetime,
    trade_status: str = "TRADE_SUCCESS",
    trade_no: str | None = None,
    app_id: str | None = None,
    seller_id: str | None = None,
    key: rsa.RSAPrivateKey | None = None,
) -> dict[str, str]:
    """The fields of an Alipay ``trade_status_sync``, signed (by the Alipay simulator's key
    unless ``key`` is given) — sign them, then change them, to tamper with one."""
    alipay = providers.alipay
    fields = {
        "notify_time": beijing_time(now),
        "notify_type": "trade_status_sync",
        "notify_id": secrets.token_hex(16),
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "app_id": app_id or alipay.app_id,
        "seller_id": seller_id or alipay.seller_id,
        "trade_no": trade_no or f"2026112522001{secrets.randbelow(10**9):09d}",
        "out_trade_no": out_trade_no,
        "trade_status": trade_status,
        "total_amount": total_amount,
        "gmt_payment": beijing_time(now),
    }
    signer = key or private_key(alipay.keys.private_pem)
    fields["sign"] = sign_params(signer, fields, unsigned=NOTIFICATION_UNSIGNED)
    return fields


def alipay_notice(
    providers: EmbeddedProviders,
    *,
    out_trade_no: str,
    total_amount: str,
    now: datetime,
    trade_status: str = "TRADE_SUCCESS",
) -> bytes:
    """An Alipay ``trade_status_sync`` form body, signed by the Alipay simulator's key."""
    fields = alipay_fields(
        providers,
        out_trade_no=out_trade_no,
        total_amount=total_amount,
        now=now,
        trade_status=trade_status,
    )
    return urlencode(fields).encode()


def wechatpay_event(
    providers: EmbeddedProviders,
    *,
    out_trade_no: str,
    total: int,
    currency: str,
    now: datetime,
    transaction_id: str | None = None,
    trade_type: str = "NATIVE",
    mchid: str | None = None,
    appid: str | None = None,
) -> bytes:
    """The body of a WeChat Pay ``TRANSACTION.SUCCESS`` event, its resource encrypted with
    the APIv3 key (unsigned: the signature is in the headers, ``wechatpay_headers``)."""
    wechat = providers.wechatpay
    payment = {
        "mchid": mchid or wechat.mchid,
        "appid": appid or wechat.appid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id or f"4200{secrets.randbelow(10**24):024d}",
        "trade_type": trade_type,
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "success_time": now.isoformat(timespec="seconds"),
        "amount": {
            "total": total,
            "payer_total": total,
            "currency": currency,
            "payer_currency": currency,
        },
    }
    nonce = secrets.token_hex(6)
    event = {
        "id": f"EV-{secrets.token_hex(12)}",
        "create_time": now.isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": aes_gcm_encrypt(
                wechat.apiv3_key.encode(), nonce.encode(), json_bytes(payment), b"transaction"
            ),
            "nonce": nonce,
            "associated_data": "transaction",
        },
    }
    return json_bytes(event)


def wechatpay_headers(
    providers: EmbeddedProviders,
    body: bytes,
    *,
    timestamp: int,
    key: rsa.RSAPrivateKey | None = None,
) -> dict[str, str]:
    """The headers that sign ``body`` at ``timestamp``, as WeChat Pay signs each attempt
    (with the simulator's platform key unless ``key`` is given)."""
    wechat = providers.wechatpay
    headers = platform_headers(
        private_key=key or private_key(wechat.platform_keys.private_pem),
        serial=wechat.public_key_id,
        body=body,
        timestamp=timestamp,
        nonce=new_nonce(),
    )
    return {"Content-Type": "application/json", **headers}


def wechatpay_notice(
    providers: EmbeddedProviders, *, out_trade_no: str, total: int, currency: str, now: datetime
) -> tuple[dict[str, str], bytes]:
    """A WeChat Pay ``TRANSACTION.SUCCESS`` event (headers, body), its resource encrypted
    with the APIv3 key and the body signed by the WeChat Pay simulator's platform key."""
    body = wechatpay_event(
        providers, out_trade_no=out_trade_no, total=total, currency=currency, now=now
    )
    return wechatpay_headers(providers, body, timestamp=int(now.timestamp())), body
