"""Genuine provider notifications with any content, for the end-to-end tests: signed with the
keys of the app's own simulators by the same signing rules the providers use, so our
verifier accepts them and the inbox must judge what they say."""

from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import urlencode

from simkeep.payments.providers.alipay_signing import (
    NOTIFICATION_UNSIGNED,
    beijing_time,
    sign_params,
)
from simkeep.payments.providers.wechatpay_signing import json_bytes, new_nonce, platform_headers
from simkeep.payments.signing import aes_gcm_encrypt, load_private_key
from simkeep.simulators.embedded import EmbeddedProviders


def alipay_notice(
    providers: EmbeddedProviders,
    *,
    out_trade_no: str,
    total_amount: str,
    now: datetime,
    trade_status: str = "TRADE_SUCCESS",
) -> bytes:
    """An Alipay ``trade_status_sync`` form body, signed by the Alipay simulator's key."""
    alipay = providers.alipay
    fields = {
        "notify_time": beijing_time(now),
        "notify_type": "trade_status_sync",
        "notify_id": secrets.token_hex(16),
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "app_id": alipay.app_id,
        "seller_id": alipay.seller_id,
        "trade_no": f"2026112522001{secrets.randbelow(10**9):09d}",
        "out_trade_no": out_trade_no,
        "trade_status": trade_status,
        "total_amount": total_amount,
        "gmt_payment": beijing_time(now),
    }
    key = load_private_key(alipay.keys.private_pem)
    fields["sign"] = sign_params(key, fields, unsigned=NOTIFICATION_UNSIGNED)
    return urlencode(fields).encode()


def wechatpay_notice(
    providers: EmbeddedProviders, *, out_trade_no: str, total: int, currency: str, now: datetime
) -> tuple[dict[str, str], bytes]:
    """A WeChat Pay ``TRANSACTION.SUCCESS`` event (headers, body), its resource encrypted
    with the APIv3 key and the body signed by the WeChat Pay simulator's platform key."""
    wechat = providers.wechatpay
    payment = {
        "mchid": wechat.mchid,
        "appid": wechat.appid,
        "out_trade_no": out_trade_no,
        "transaction_id": f"4200{secrets.randbelow(10**24):024d}",
        "trade_type": "NATIVE",
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
    body = json_bytes(event)
    headers = platform_headers(
        private_key=load_private_key(wechat.platform_keys.private_pem),
        serial=wechat.public_key_id,
        body=body,
        timestamp=int(now.timestamp()),
        nonce=new_nonce(),
    )
    return {"Content-Type": "application/json", **headers}, body
