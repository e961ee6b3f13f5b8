"""Alipay's ``gateway.do`` wire format, both halves: what is signed and how, and how requests,
answers and notifications are read and written. Shared by the adapter and the simulator.

Design overview
---------------
* The sign string: every parameter but the unsigned ones (``sign``; for notifications and
  return URLs ``sign_type`` too), empty values dropped, sorted by key, ``k=v`` joined with
  ``&`` over the raw, un-URL-encoded values. RSA2 is SHA256withRSA over its UTF-8 bytes.
* A synchronous answer is ``{"<method>_response":{…},"sign":"…"}``, the object first and
  signed over exactly the bytes sent; the receiver verifies exactly the bytes it received
  (the raw substring, never re-serialised).
* A notification's fields are its URL-decoded UTF-8 form body merged with the query string.
* A gateway request needs the common parameters, RSA2, a timestamp within 10 minutes of
  Beijing now and a valid signature; ``biz_content`` is a JSON object whose
  ``out_trade_no`` and ``total_amount`` keep Alipay's limits. A refusal is Alipay's error
  object (``code``, ``msg``, ``sub_code``, ``sub_msg``).
* Times are offset-less Beijing time; amounts are CNY yuan text with two decimals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.clock import SHANGHAI, in_shanghai
from simkeep.money import InvalidAmount, Money
from simkeep.payments.model import NotificationRejected, ProviderError, RawNotification
from simkeep.payments.signing import sign_sha256_rsa, verify_sha256_rsa

CURRENCY = "CNY"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
REQUEST_UNSIGNED = frozenset({"sign"})
NOTIFICATION_UNSIGNED = frozenset({"sign", "sign_type"})
REQUIRED_PARAMS = ("app_id", "method", "charset", "sign_type", "sign", "timestamp", "version")
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
OUT_TRADE_NO = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MIN_AMOUNT, MAX_AMOUNT = Money.parse("0.01", CURRENCY), Money.parse("100000000", CURRENCY)
CODE_MESSAGES = {
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
}


class GatewayRefusal(Exception):
    """An error answer from the gateway: ``code`` plus ``sub_code``, as Alipay's body."""

    def __init__(self, code: str, sub_code: str, message: str) -> None:
        super().__init__(message)
        self.body = {"code": code, "msg": CODE_MESSAGES[code], "sub_code": sub_code}
        self.body["sub_msg"] = message


def sign_content(params: Mapping[str, str], *, unsigned: Collection[str] = REQUEST_UNSIGNED) -> str:
    """The string Alipay signs: non-empty params minus ``unsigned``, sorted, raw ``k=v&…``."""
    items = sorted((k, v) for k, v in params.items() if k not in unsigned and v != "")
    return "&".join(f"{key}={value}" for key, value in items)


def sign_params(
    private_key: rsa.RSAPrivateKey,
    params: Mapping[str, str],
    *,
    unsigned: Collection[str] = REQUEST_UNSIGNED,
) -> str:
    """The RSA2 ``sign`` of a parameter set."""
    return sign_sha256_rsa(private_key, sign_content(params, unsigned=unsigned).encode())


def verify_params(
    public_key: rsa.RSAPublicKey,
    params: Mapping[str, str],
    signature: str,
    *,
    unsigned: Collection[str] = REQUEST_UNSIGNED,
) -> bool:
    """True when ``signature`` is the RSA2 ``sign`` of the parameter set."""
    content = sign_content(params, unsigned=unsigned).encode()
    return verify_sha256_rsa(public_key, content, signature)


def compact_json(value: Any) -> str:
    """JSON as Alipay writes it: no spaces, non-ASCII kept (``biz_content``, answers)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def response_key(method: str) -> str:
    """``alipay.trade.query`` → ``alipay_trade_query_response``."""
    return method.replace(".", "_") + "_response"


def signed_response(private_key: rsa.RSAPrivateKey, key: str, body: Mapping[str, str]) -> str:
    """The answer text: the ``key`` object first, then the signature over exactly its bytes."""
    content = compact_json(body)
    signature = sign_sha256_rsa(private_key, content.encode())
    return f'{{"{key}":{content},"sign":"{signature}"}}'


def response_content(raw_text: str, key: str) -> str:
    """The exact raw text of the JSON object under ``key`` (braces inside strings skipped)."""
    match = re.search(r'"' + re.escape(key) + r'"\s*:\s*\{', raw_text)
    if match is None:
        raise ValueError(f"no {key} object in the response")
    start = match.end() - 1
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(raw_text)):
        char = raw_text[index]
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "{}":
            depth += 1 if char == "{" else -1
            if depth == 0:
                return raw_text[start : index + 1]
    raise ValueError(f"the {key} object is not closed")


def notification_fields(raw: RawNotification) -> dict[str, str]:
    """The URL-decoded form body merged with the query; a field given twice must agree."""
    try:
        pairs = parse_qsl(raw.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as error:
        raise NotificationRejected("malformed", "the body is not UTF-8") from error
    fields = dict(raw.query)
    for key, value in pairs:
        if key in fields and fields[key] != value:
            raise NotificationRejected("malformed", f"field {key} is given twice")
        fields[key] = value
    return fields


def check_request(
    params: Mapping[str, str],
    *,
    app_id: str,
    merchant_key: rsa.RSAPublicKey,
    now: datetime,
    known_method: bool,
) -> None:
    """Raise the gateway's refusal unless the request is complete, fresh and signed by us."""
    missing = [name for name in REQUIRED_PARAMS if not params.get(name)]
    if missing:
        raise GatewayRefusal("40001", f"isv.missing-{missing[0]}", f"{missing[0]} is missing")
    if not known_method:
        raise GatewayRefusal("40002", "isv.invalid-method", f"unknown {params['method']}")
    if params["app_id"] != app_id:
        raise GatewayRefusal("40002", "isv.invalid-app-id", "unknown app_id")
    if params["sign_type"] != "RSA2":
        raise GatewayRefusal("40002", "isv.invalid-signature-type", "only RSA2")
    try:
        skew = abs(parse_beijing_time(params["timestamp"]) - now)
    except ValueError:
        skew = None
    if skew is None or skew > TIMESTAMP_TOLERANCE:
        raise GatewayRefusal("40002", "isv.invalid-timestamp", "timestamp is not Beijing now")
    if not verify_params(merchant_key, params, params["sign"]):
        raise GatewayRefusal("40002", "isv.invalid-signature", "the signature is wrong")


def biz_content(params: Mapping[str, str]) -> dict[str, Any]:
    """The request's ``biz_content`` JSON object."""
    try:
        biz = json.loads(params.get("biz_content") or "{}")
    except ValueError as error:
        raise GatewayRefusal("40002", "isv.invalid-biz-content", "not JSON") from error
    if not isinstance(biz, dict):
        raise GatewayRefusal("40002", "isv.invalid-biz-content", "not a JSON object")
    return biz


def trade_identity(biz: Mapping[str, Any]) -> tuple[str, Money]:
    """``out_trade_no`` and ``total_amount`` of a new trade, within Alipay's limits."""
    out_trade_no = str(biz.get("out_trade_no", ""))
    if not OUT_TRADE_NO.match(out_trade_no):
        raise GatewayRefusal("40002", "isv.invalid-out-trade-no", "bad out_trade_no")
    try:
        amount = Money.parse(str(biz.get("total_amount", "")), CURRENCY)
    except InvalidAmount as error:
        raise GatewayRefusal("40002", "isv.invalid-total-amount", str(error)) from error
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise GatewayRefusal("40002", "isv.invalid-total-amount", "out of range")
    return out_trade_no, amount


def beijing_time(instant: datetime) -> str:
    """Alipay's offset-less Beijing time, ``yyyy-MM-dd HH:mm:ss``."""
    return in_shanghai(instant).strftime(TIME_FORMAT)


def parse_beijing_time(text: str) -> datetime:
    """Inverse of ``beijing_time``: an aware instant."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI)


def optional_beijing_time(text: object) -> datetime | None:
    """``parse_beijing_time`` of an answer's optional field: None when absent."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_beijing_time(text)
    except ValueError as error:
        raise ProviderError(f"bad Alipay time {text!r}") from error


def yuan(amount: Money) -> str:
    """A CNY amount as Alipay's ``total_amount`` text, e.g. ``100.00``."""
    if amount.currency != CURRENCY:
        raise ProviderError(f"Alipay charges CNY only, not {amount.currency}")
    return amount_text(amount)


def amount_text(amount: Money) -> str:
    """An amount in major units with all its decimals, e.g. ``100.00`` (any currency)."""
    return f"{amount.to_decimal():f}"
