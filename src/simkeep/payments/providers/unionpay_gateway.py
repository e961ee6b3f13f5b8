"""UnionPay's online gateway (ACP 5.1.0), merchant side: the fields every transaction carries,
signed forms, and answers and notifications believed only once their certificate and
signature check out.

Design overview
---------------
``UnionPayGateway`` holds one merchant's signing key, the trusted root and middle
certificates (``unionpay_certs``), the HTTP client and the clock. Every form carries the
common fields (version, encoding, ``signMethod`` 01, the transaction's kind, ``merId``,
``orderId``, ``txnTime``, ``certId``) and is signed with the merchant key
(``unionpay_signing``). ``ask`` posts one server to server; its answer — and a notification
(``verified``) — is believed only once its ``signPubKeyCert`` chains to the configured root
and middle certificates and the signature verifies with its key.

UnionPay finds a trade by ``merId``, ``orderId`` and ``txnTime``, and a query is given the
order number only. So a consume's ``txnTime`` is not the instant its form is signed but is
derived from the order number, which carries the order's date (``T<yyyyMMdd><id>``, the same
date in Hong Kong and Beijing): midnight, Beijing time, of that day (``txn_time``). The
consume and every later query send the same ``txnTime`` and the gateway matches it exactly,
as the real one does; an order number of another shape is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from simkeep.clock import Clock
from simkeep.payments.model import OUT_TRADE_NO_PATTERN, NotificationRejected, ProviderError
from simkeep.payments.providers.unionpay_certs import UnionPayTrust
from simkeep.payments.providers.unionpay_signing import (
    ENCODING,
    SIGN_METHOD,
    VERSION,
    beijing_time,
    parse_beijing_time,
    parse_form,
    signed,
    verify_fields,
)
from simkeep.payments.signing import load_private_key

if TYPE_CHECKING:
    from simkeep.payments.providers.unionpay import UnionPayConfig

ORDER_NO = re.compile(r"^T([0-9]{8})[0-9]+$")
SIGNED_FIELDS = ("signature", "signPubKeyCert", "signMethod", "version")


class UnionPayGateway:
    """One merchant's signed conversation with UnionPay's gateway."""

    def __init__(self, *, config: UnionPayConfig, http: httpx.AsyncClient, clock: Clock) -> None:
        self._config = config
        self._http = http
        self._clock = clock
        self._private_key = load_private_key(config.merchant_private_key_pem)
        self._trust = UnionPayTrust(
            root_pem=config.root_cert_pem, middle_pem=config.middle_cert_pem
        )

    def common(
        self, kind: Mapping[str, str], order_id: str, *, txn_time: str | None = None
    ) -> dict[str, str]:
        """The fields every transaction of ``kind`` about ``order_id`` carries; ``txnTime``
        derived from the order number unless given."""
        return {
            "version": VERSION,
            "encoding": ENCODING,
            "signMethod": SIGN_METHOD,
            **kind,
            "accessType": "0",
            "merId": self._config.mer_id,
            "orderId": order_id,
            "txnTime": txn_time or txn_time_of(order_id),
            "certId": self._config.cert_id,
        }

    def signed(self, fields: Mapping[str, str]) -> dict[str, str]:
        """``fields`` signed with the merchant key, as a form to post."""
        return signed(self._private_key, fields)

    def url(self, path: str) -> str:
        return self._config.gateway_url.rstrip("/") + path

    async def ask(self, url: str, fields: Mapping[str, str]) -> dict[str, str]:
        """Sign and post a server-to-server form; the answer once its signature verifies."""
        try:
            response = await self._http.post(url, data=self.signed(fields))
        except httpx.HTTPError as error:
            raise ProviderError(f"UnionPay could not be reached: {error}") from error
        if response.status_code != 200:
            raise ProviderError(f"UnionPay answered HTTP {response.status_code}")
        try:
            return self.verified(parse_form(response.content), now=self._clock.now())
        except NotificationRejected as error:
            raise ProviderError(f"UnionPay answer refused ({error.code}): {error}") from error

    def check_about(self, answer: Mapping[str, str], order_id: str) -> None:
        """Refuse an answer about another merchant's or another order's transaction."""
        if (answer.get("merId"), answer.get("orderId")) != (self._config.mer_id, order_id):
            raise ProviderError("UnionPay answered about another trade")

    def verified(self, fields: dict[str, str], *, now: datetime) -> dict[str, str]:
        """``fields`` once their certificate chains to ours and their signature verifies."""
        missing = [name for name in SIGNED_FIELDS if not fields.get(name)]
        if missing:
            raise NotificationRejected("malformed", f"missing fields: {', '.join(missing)}")
        if (fields["signMethod"], fields["version"]) != (SIGN_METHOD, VERSION):
            raise NotificationRejected("malformed", "not signMethod 01 of version 5.1.0")
        key = self._trust.signing_key(fields["signPubKeyCert"], now=now)
        if not verify_fields(key, fields):
            raise NotificationRejected("bad_signature", "the signature does not verify")
        return fields


def txn_time_of(out_trade_no: str) -> str:
    """The consume's ``txnTime``: midnight, Beijing time, of the order number's date."""
    match = ORDER_NO.fullmatch(out_trade_no)
    if not re.fullmatch(OUT_TRADE_NO_PATTERN, out_trade_no) or match is None:
        raise ValueError(f"{out_trade_no!r} is not an order number T<yyyyMMdd><id>")
    try:
        return beijing_time(parse_beijing_time(f"{match.group(1)}000000"))
    except ValueError as error:
        raise ValueError(f"{out_trade_no!r} carries no valid date") from error
