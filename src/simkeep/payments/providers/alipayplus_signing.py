"""Alipay+ (Antom AMS API) signatures, both directions, shared by the adapter and the simulator.

Design overview
---------------
Every AMS message is signed over ``POST <path>\\n<Client-Id>.<time>.<body>``: ``path`` is the
URL path the message went to (an API endpoint, or the merchant's notify URL), ``time`` the
``Request-Time`` of a request or notification, or the ``Response-Time`` of an answer, and
``body`` the raw JSON bytes. The signature is SHA256withRSA (PKCS#1 v1.5), base64 and then
URL-encoded, carried as ``Signature: algorithm=RSA256,keyVersion=<n>,signature=<…>``. The
merchant signs its requests with its own key; Alipay+ signs its answers and notifications
with the platform key.

``check_signed`` is the one gate for what Alipay+ sends us: the three headers present, the
``Client-Id`` ours, the time within five minutes of our clock (a notification replayed later
is stale; every retry is signed afresh), and the signature good over the exact bytes. Times
are written ISO 8601 in Hong Kong time; Epoch milliseconds, which the AMS documentation also
shows, are read too. ``key_pem`` accepts a key file as PEM or as the bare base64 that the
Antom Dashboard hands out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.clock import in_hong_kong
from simkeep.payments.model import NotificationRejected
from simkeep.payments.signing import SignatureError, sign_sha256_rsa, verify_sha256_rsa

ALGORITHM = "RSA256"
MAX_SKEW = timedelta(minutes=5)
EPOCH_MILLIS = re.compile(r"^[0-9]{13}$")


def json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_content(*, path: str, client_id: str, time: str, body: bytes) -> bytes:
    """The bytes an AMS signature covers (the method is always POST)."""
    return f"POST {path}\n{client_id}.{time}.".encode() + body


def ams_time(instant: datetime) -> str:
    """ISO 8601 with the Hong Kong offset, to the second: ``2026-11-25T17:00:00+08:00``."""
    return in_hong_kong(instant).isoformat(timespec="seconds")


def parse_ams_time(text: str) -> datetime:
    """An ISO 8601 time with an offset, or Epoch milliseconds; ``ValueError`` otherwise."""
    if EPOCH_MILLIS.fullmatch(text):
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no offset")
    return parsed


def signature_header(private_key: rsa.RSAPrivateKey, *, key_version: str, content: bytes) -> str:
    signature = quote(sign_sha256_rsa(private_key, content), safe="")
    return f"algorithm={ALGORITHM},keyVersion={key_version},signature={signature}"


def parse_signature_header(header: str) -> dict[str, str]:
    """``algorithm``, ``keyVersion`` and the (URL-decoded) ``signature``; items may be spaced."""
    items: dict[str, str] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not value:
            raise SignatureError(f"malformed signature item {part.strip()[:40]!r}")
        items[name] = value
    if items.get("algorithm") != ALGORITHM:
        raise SignatureError(f"the signature algorithm must be {ALGORITHM}")
    if "signature" not in items or "keyVersion" not in items:
        raise SignatureError("the Signature header lacks keyVersion or signature")
    return items | {"signature": unquote(items["signature"])}


def signed_headers(
    private_key: rsa.RSAPrivateKey,
    *,
    key_version: str,
    path: str,
    client_id: str,
    time_header: str,
    time: str,
    body: bytes,
) -> dict[str, str]:
    """``Client-Id``, the time header (``Request-Time`` or ``Response-Time``) and
    ``Signature`` for one message."""
    content = signed_content(path=path, client_id=client_id, time=time, body=body)
    return {
        "Client-Id": client_id,
        time_header: time,
        "Signature": signature_header(private_key, key_version=key_version, content=content),
    }


def check_signed(
    *,
    headers: Mapping[str, str],
    body: bytes,
    path: str,
    time_header: str,
    client_id: str,
    public_key: rsa.RSAPublicKey,
    now: datetime,
) -> None:
    """Raise ``NotificationRejected`` unless ``body`` is signed for ``client_id``, just now."""
    lowered = {name.lower(): value for name, value in headers.items()}
    sender, time, signature = (
        lowered.get(name.lower(), "") for name in ("Client-Id", time_header, "Signature")
    )
    if not (sender and time and signature):
        raise NotificationRejected("malformed", f"Client-Id, {time_header} or Signature missing")
    if sender != client_id:
        raise NotificationRejected("wrong_merchant", f"Client-Id {sender[:64]!r} is not ours")
    try:
        items = parse_signature_header(signature)
        sent_at = parse_ams_time(time)
    except (SignatureError, ValueError) as error:
        raise NotificationRejected("malformed", str(error)) from error
    if abs(now - sent_at) > MAX_SKEW:
        raise NotificationRejected("stale", f"{time_header} is more than 5 minutes from our clock")
    content = signed_content(path=path, client_id=sender, time=time, body=body)
    if not verify_sha256_rsa(public_key, content, items["signature"]):
        raise NotificationRejected("bad_signature", "the signature does not verify")


def key_pem(data: bytes, *, private: bool) -> bytes:
    """A key as PEM: given as is if PEM, or made PEM from bare base64 (PKCS#8 / PKCS#1
    private, SubjectPublicKeyInfo public), as the Antom Dashboard shows keys."""
    if b"-----BEGIN" in data:
        return data
    try:
        der = base64.b64decode(b"".join(data.split()), validate=True)
        if private:
            return serialization.load_der_private_key(der, password=None).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        return serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (binascii.Error, ValueError, TypeError) as error:
        raise SignatureError(f"neither PEM nor a base64 DER key: {error}") from error
