"""The receiving bank's FPS API: its signatures, its error answers and the shape of a
credit, shared by our adapter (``fps``) and the simulated bank (``simulators.fps``); the
payout API's shapes (``fps_payouts``) are read with the same field readers.

Design overview
---------------
Both directions sign with SHA256withRSA (PKCS#1 v1.5), base64, and stamp the time as ISO
8601 in Hong Kong time (``2026-11-25T17:00:00+08:00``):

* the bank signs each webhook and each API answer over ``<timestamp>\\n<raw body>`` in
  ``X-Bank-Timestamp`` / ``X-Bank-Signature``, naming the client in ``X-Bank-Client-Id``;
* we sign each API request over ``<METHOD>\\n<path and query>\\n<timestamp>\\n<body>`` in
  ``X-Client-Id`` / ``X-Timestamp`` / ``X-Signature``.

A signature is believed within 5 minutes either side of the receiver's clock, so a webhook
replayed later is refused. ``parse_credit`` reads a credit (a webhook's ``data``, an item
of a query's ``credits``): integers for the amount (never a float, never a string), the
reference as the payer's bank carried it (possibly empty), the payer as the bank masks it.
Every API answer that is not a success is ``{"error": {"code", "message"}}``, signed too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.clock import in_hong_kong
from simkeep.payments.model import NotificationRejected
from simkeep.payments.signing import sign_sha256_rsa, verify_sha256_rsa

CURRENCY = "HKD"
CREDITS_PATH = "/v1/fps/credits"
MAX_SKEW = timedelta(minutes=5)
BANK_CLIENT_ID, BANK_TIMESTAMP, BANK_SIGNATURE = (
    "X-Bank-Client-Id",
    "X-Bank-Timestamp",
    "X-Bank-Signature",
)
CLIENT_ID, TIMESTAMP, SIGNATURE = "X-Client-Id", "X-Timestamp", "X-Signature"
MAX_TEXT = 140  # characters of any text field of a credit


@dataclass(frozen=True, slots=True)
class Credit:
    """Money the bank put on our account by FPS, as it reports it."""

    fps_txn_id: str
    amount_minor: int
    currency: str
    payee_proxy: str
    bill_reference: str
    payer_proxy: str
    payer_bank_code: str
    payer_name: str
    settled_at: datetime

    @property
    def payer_account(self) -> str:
        """``<bank code>:<proxy>`` as the bank reported it (masked)."""
        return f"{self.payer_bank_code}:{self.payer_proxy}"


def stamp(now: datetime) -> str:
    """A time as the bank's API writes it: ISO 8601, Hong Kong time, whole seconds."""
    return in_hong_kong(now).isoformat(timespec="seconds")


def json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def bank_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode("utf-8") + b"\n" + body


def request_message(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    return f"{method}\n{path}\n{timestamp}\n".encode() + body


def bank_headers(
    *, private_key: rsa.RSAPrivateKey, client_id: str, body: bytes, timestamp: str
) -> dict[str, str]:
    """The headers with which the bank signs a webhook or an answer."""
    return {
        BANK_CLIENT_ID: client_id,
        BANK_TIMESTAMP: timestamp,
        BANK_SIGNATURE: sign_sha256_rsa(private_key, bank_message(timestamp, body)),
    }


def request_headers(
    *,
    private_key: rsa.RSAPrivateKey,
    client_id: str,
    method: str,
    path: str,
    body: bytes,
    now: datetime,
) -> dict[str, str]:
    """The headers with which we sign a request to the bank's API."""
    timestamp = stamp(now)
    message = request_message(method, path, timestamp, body)
    return {
        CLIENT_ID: client_id,
        TIMESTAMP: timestamp,
        SIGNATURE: sign_sha256_rsa(private_key, message),
    }


def fresh(timestamp: str, now: datetime) -> bool:
    """True when ``timestamp`` is an ISO 8601 time with an offset, within 5 minutes of now."""
    try:
        stamped = datetime.fromisoformat(timestamp)
    except ValueError:
        return False
    if stamped.tzinfo is None:
        return False
    return abs(now - stamped) <= MAX_SKEW


def check_bank_signature(
    *,
    headers: Mapping[str, str],
    body: bytes,
    public_key: rsa.RSAPublicKey,
    client_id: str,
    now: datetime,
) -> None:
    """Raise ``NotificationRejected`` unless the bank signed ``body`` for ``client_id`` just now."""
    lowered = {name.lower(): value for name, value in headers.items()}
    given_client, timestamp, signature = (
        lowered.get(name.lower(), "") for name in (BANK_CLIENT_ID, BANK_TIMESTAMP, BANK_SIGNATURE)
    )
    if not (given_client and timestamp and signature):
        raise NotificationRejected("unsigned", "the X-Bank-* signature headers are missing")
    if given_client != client_id:
        raise NotificationRejected("wrong_client", "the notification is for another client id")
    if not verify_sha256_rsa(public_key, bank_message(timestamp, body), signature):
        raise NotificationRejected("bad_signature", "the bank's signature does not verify")
    if not fresh(timestamp, now):
        raise NotificationRejected("stale", "the timestamp is not within 5 minutes of now")


def error_body(code: str, message: str) -> bytes:
    """An error answer of the bank's API: ``{"error": {"code", "message"}}``."""
    return json_bytes({"error": {"code": code, "message": message}})


def error_code(answer: Mapping[str, Any]) -> str:
    """The ``code`` of an error answer, or ``""`` when it is not one."""
    error = answer.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""


def parse_credit(data: object) -> Credit:
    """A credit's fields, checked for shape; ``NotificationRejected`` when malformed."""
    if not isinstance(data, dict):
        raise NotificationRejected("malformed", "the credit is not a JSON object")
    payer = object_field(data, "payer")
    value, currency = amount_field(data)
    if value <= 0:
        raise NotificationRejected("bad_amount", "amount.value is not positive")
    return Credit(
        fps_txn_id=text_field(data, "fps_txn_id", required=True),
        amount_minor=value,
        currency=currency,
        payee_proxy=text_field(data, "payee_proxy", required=True),
        bill_reference=text_field(data, "bill_reference", required=False),
        payer_proxy=text_field(payer, "proxy", required=True),
        payer_bank_code=text_field(payer, "bank_code", required=True),
        payer_name=text_field(payer, "name", required=False),
        settled_at=instant_field(data, "settled_at"),
    )


def object_field(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``data[name]`` as a JSON object."""
    value = data.get(name)
    if not isinstance(value, dict):
        raise NotificationRejected("malformed", f"{name} is not a JSON object")
    return value


def amount_field(data: Mapping[str, Any]) -> tuple[int, str]:
    """``data["amount"]`` as integer cents and a currency: never a float, never a string."""
    amount = object_field(data, "amount")
    value = amount.get("value")
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotificationRejected("malformed", "amount.value is not an integer of cents")
    return value, text_field(amount, "currency", required=True)


def text_field(data: Mapping[str, Any], name: str, *, required: bool) -> str:
    """``data[name]`` as a text of at most ``MAX_TEXT``; an absent optional one is ``""``."""
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > MAX_TEXT or (required and not value):
        raise NotificationRejected("malformed", f"{name} is not a text of at most {MAX_TEXT}")
    return value


def instant_field(data: Mapping[str, Any], name: str) -> datetime:
    """``data[name]`` as an ISO 8601 time with an offset."""
    value = data.get(name)
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise NotificationRejected("malformed", f"{name} is not an ISO 8601 time with offset")
    return instant
