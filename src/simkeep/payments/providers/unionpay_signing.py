"""UnionPay's online gateway (ACP 5.1.0) wire format, both halves: what is signed and how,
how forms are read, and how times, amounts and currencies are written. Shared by the
adapter and the simulator.

Design overview
---------------
* Every message — the merchant's consume and query, UnionPay's answers and notifications —
  is a flat form of ``k=v`` fields. The sign string is every field but ``signature``,
  sorted by key, joined ``k=v`` with ``&`` over the raw (URL-decoded) values. ``signMethod``
  ``01`` signs the SHA-256 **hex** digest of that string: SHA256withRSA (PKCS#1 v1.5) over
  the 64 ASCII hex characters, base64. Empty fields are never sent, so none are signed.
* UnionPay's messages also carry ``signPubKeyCert``, the PEM of the certificate whose key
  signed them; it is signed like any other field (``unionpay_certs`` checks it).
* A form body is UTF-8 ``application/x-www-form-urlencoded``; a field given twice is refused,
  since the two halves could then disagree about what was signed.
* Times are offset-less Beijing time ``yyyyMMddHHmmss``; ``traceTime`` is ``MMddHHmmss``,
  its year taken from the trade's ``txnTime``. Amounts are integer minor units (fen, cents)
  in ``txnAmt``; currencies are ISO 4217 numeric (156 CNY, 344 HKD).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.clock import SHANGHAI, in_shanghai
from simkeep.money import InvalidAmount, Money
from simkeep.payments.model import NotificationRejected
from simkeep.payments.signing import sign_sha256_rsa, verify_sha256_rsa

VERSION = "5.1.0"
ENCODING = "UTF-8"
SIGN_METHOD = "01"  # RSA over the SHA-256 hex digest
SIGNATURE = "signature"
TIME_FORMAT = "%Y%m%d%H%M%S"
CURRENCY_CODES = {"CNY": "156", "HKD": "344"}
CURRENCIES = {code: currency for currency, code in CURRENCY_CODES.items()}
AMOUNT = re.compile(r"^[1-9][0-9]{0,11}$")
SUCCESS = "00"


def sign_string(fields: Mapping[str, str]) -> str:
    """All fields but ``signature``, sorted by key, raw ``k=v`` joined with ``&``."""
    return "&".join(f"{key}={fields[key]}" for key in sorted(fields) if key != SIGNATURE)


def digest_hex(fields: Mapping[str, str]) -> str:
    """The SHA-256 hex digest of the sign string: what is actually signed."""
    return hashlib.sha256(sign_string(fields).encode("utf-8")).hexdigest()


def sign_fields(private_key: rsa.RSAPrivateKey, fields: Mapping[str, str]) -> str:
    """The ``signature`` of a form: SHA256withRSA over the hex digest's ASCII, base64."""
    return sign_sha256_rsa(private_key, digest_hex(fields).encode("ascii"))


def verify_fields(public_key: rsa.RSAPublicKey, fields: Mapping[str, str]) -> bool:
    """True when the form's ``signature`` is ``sign_fields`` of the rest with this key."""
    signature = fields.get(SIGNATURE, "")
    return bool(signature) and verify_sha256_rsa(
        public_key, digest_hex(fields).encode("ascii"), signature
    )


def signed(private_key: rsa.RSAPrivateKey, fields: Mapping[str, str]) -> dict[str, str]:
    """The form with empty fields dropped and its ``signature`` added."""
    kept = {key: value for key, value in fields.items() if value and key != SIGNATURE}
    return {**kept, SIGNATURE: sign_fields(private_key, kept)}


def parse_form(body: bytes) -> dict[str, str]:
    """The fields of a UTF-8 form body; malformed text or a field given twice is refused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotificationRejected("malformed", "the body is not UTF-8") from error
    fields: dict[str, str] = {}
    for key, value in _pairs(text):
        if key in fields:
            raise NotificationRejected("malformed", f"field {key} is given twice")
        fields[key] = value
    return fields


def _pairs(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError as error:
        raise NotificationRejected("malformed", "the body is not a form") from error


def beijing_time(instant: datetime) -> str:
    """``yyyyMMddHHmmss`` in Beijing time."""
    return in_shanghai(instant).strftime(TIME_FORMAT)


def parse_beijing_time(text: str) -> datetime:
    """Inverse of ``beijing_time``: an aware instant (ValueError when it is not one)."""
    if not re.fullmatch(r"[0-9]{14}", text):
        raise ValueError(f"{text!r} is not yyyyMMddHHmmss")
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI)


def trace_instant(trace_time: str, txn_time: datetime) -> datetime:
    """``traceTime`` (``MMddHHmmss``, Beijing) as an instant, in the year of the trade's
    ``txnTime`` — or the next one, for a trade made on 31 December and paid in January."""
    year = in_shanghai(txn_time).year
    instant = parse_beijing_time(f"{year}{trace_time}")
    return instant if instant >= txn_time else parse_beijing_time(f"{year + 1}{trace_time}")


def currency_code(currency: str) -> str:
    """The ISO 4217 numeric code UnionPay writes for ``currency``."""
    try:
        return CURRENCY_CODES[currency]
    except KeyError as error:
        raise ValueError(f"UnionPay takes CNY or HKD here, not {currency}") from error


def parse_amount(txn_amt: str, code: str) -> Money:
    """``txnAmt`` (positive integer minor units, no sign, no point) in currency ``code``."""
    if not AMOUNT.fullmatch(txn_amt):
        raise ValueError(f"txnAmt {txn_amt!r} is not positive integer minor units")
    if code not in CURRENCIES:
        raise ValueError(f"currencyCode {code!r} is not 156 or 344")
    try:
        return Money(int(txn_amt), CURRENCIES[code])
    except InvalidAmount as error:
        raise ValueError(str(error)) from error
