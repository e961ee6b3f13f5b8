"""WeChat Pay API v3 signatures, both directions: the merchant's ``Authorization`` header,
and the platform's signed headers on answers and notifications (public-key mode, a ±300 s
window, ``WECHATPAY/SIGNTEST/`` refused). Shared by the adapter and the simulator."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.payments.model import NotificationRejected
from simkeep.payments.signing import SignatureError, sign_sha256_rsa, verify_sha256_rsa

SIGN_SCHEME = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
STATEMENT_SHA1 = "Wechatpay-Statement-Sha1"  # a global statement's digest, signed in its stead
MAX_SKEW = timedelta(seconds=300)
AUTHORIZATION_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
PLATFORM_HEADERS = ("timestamp", "nonce", "signature", "serial")


def signing_message(*lines: bytes) -> bytes:
    """The v3 signing message: each line followed by ``\\n``."""
    return b"".join(line + b"\n" for line in lines)


def new_nonce() -> str:
    return secrets.token_hex(16).upper()


def json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def authorization_header(
    *,
    private_key: rsa.RSAPrivateKey,
    mchid: str,
    serial_no: str,
    method: str,
    path: str,
    body: bytes,
    timestamp: int,
    nonce: str,
) -> str:
    """The ``Authorization`` value for one request, signed over the exact path and body."""
    message = signing_message(
        method.encode(), path.encode(), str(timestamp).encode(), nonce.encode(), body
    )
    signature = sign_sha256_rsa(private_key, message)
    return (
        f'{SIGN_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """The five items of an ``Authorization`` header, in any order; ``SignatureError`` if not."""
    scheme, _, params = header.strip().partition(" ")
    if scheme != SIGN_SCHEME:
        raise SignatureError(f"the authorization scheme must be {SIGN_SCHEME}")
    items: dict[str, str] = {}
    for part in params.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or len(value) < 2 or value[0] != '"' or value[-1] != '"':
            raise SignatureError(f"malformed authorization item {part.strip()!r}")
        items[name] = value[1:-1]
    missing = [name for name in AUTHORIZATION_FIELDS if not items.get(name)]
    if missing:
        raise SignatureError(f"the authorization lacks {', '.join(missing)}")
    return items


def platform_headers(
    *, private_key: rsa.RSAPrivateKey, serial: str, body: bytes, timestamp: int, nonce: str
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers that sign a response or notification body."""
    message = signing_message(str(timestamp).encode(), nonce.encode(), body)
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign_sha256_rsa(private_key, message),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SIGN_SCHEME,
    }


def check_platform_signature(
    *,
    headers: Mapping[str, str],
    body: bytes,
    public_key: rsa.RSAPublicKey,
    serial: str,
    now: datetime,
) -> None:
    """Raise ``NotificationRejected`` unless the ``Wechatpay-*`` headers sign ``body``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    found = {name: lowered.get(f"wechatpay-{name}", "") for name in PLATFORM_HEADERS}
    if not all(found.values()):
        raise NotificationRejected("malformed", "the Wechatpay-* signature headers are missing")
    if found["signature"].startswith(SIGNTEST_PREFIX):
        raise NotificationRejected("bad_signature", "a WECHATPAY/SIGNTEST/ probe never verifies")
    if found["serial"] != serial:
        raise NotificationRejected("unknown_serial", f"unknown signing serial {found['serial']!r}")
    if not found["timestamp"].isdigit():
        raise NotificationRejected("malformed", "Wechatpay-Timestamp is not a Unix time")
    if abs(now.timestamp() - int(found["timestamp"])) > MAX_SKEW.total_seconds():
        raise NotificationRejected("stale", "the timestamp is more than 300 s from our clock")
    message = signing_message(found["timestamp"].encode(), found["nonce"].encode(), body)
    if not verify_sha256_rsa(public_key, message, found["signature"]):
        raise NotificationRejected("bad_signature", "the signature does not verify")
