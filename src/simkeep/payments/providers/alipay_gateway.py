"""Alipay's ``gateway.do``, merchant side: signed calls, signed links and signed
notifications, for every Alipay adapter (trades, agreements).

Design overview
---------------
``AlipayGateway`` holds one merchant app's key, Alipay's public key, the HTTP client and the
clock. Every request is a form POST of the common parameters plus a JSON ``biz_content``,
signed RSA2 over the sorted raw ``k=v`` pairs (all but ``sign``, empty values dropped). A
synchronous answer is trusted only after its signature verifies over the exact raw
substring of ``<method>_response`` as received; it is never re-serialised. An answer whose
``code`` is not ``10000`` raises ``AlipayError`` — ``signed=False`` when it came as an
``error_response`` nobody signed, which decides nothing.

A ``link`` is the same signed parameters as a gateway URL the payer's browser opens (page
and mobile-web payments, agreement signing): Alipay is asked nothing first. A notification's
fields are believed once RSA2 verifies over them minus ``sign`` and ``sign_type``.

The signing and wire-format rules live in ``alipay_signing``, shared with the Alipay
simulator, which speaks the same protocol from the other side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from simkeep.clock import Clock
from simkeep.payments.model import NotificationRejected, ProviderError, RawNotification
from simkeep.payments.providers.alipay_signing import (
    NOTIFICATION_UNSIGNED,
    beijing_time,
    compact_json,
    notification_fields,
    response_content,
    response_key,
    sign_params,
    verify_params,
)
from simkeep.payments.signing import load_private_key, load_public_key, verify_sha256_rsa

if TYPE_CHECKING:
    from simkeep.payments.providers.alipay import AlipayConfig

SUCCESS_CODE = "10000"
ERROR_RESPONSE = "error_response"


class AlipayError(ProviderError):
    """Alipay answered with a gateway or business error (``code`` other than 10000)."""

    def __init__(self, *, code: str, sub_code: str, message: str, signed: bool = True) -> None:
        super().__init__(f"Alipay {code} {sub_code}: {message}")
        self.code = code
        self.sub_code = sub_code
        self.message = message
        self.signed = signed  # False: an ``error_response`` nobody signed, so nothing final


class AlipayGateway:
    """One merchant app's signed conversation with Alipay's ``gateway.do``."""

    def __init__(self, *, config: AlipayConfig, http: httpx.AsyncClient, clock: Clock) -> None:
        self._config = config
        self._http = http
        self._clock = clock
        self._private_key = load_private_key(config.app_private_key_pem)
        self._alipay_key = load_public_key(config.alipay_public_key_pem)

    async def call(
        self, method: str, biz: Mapping[str, Any], *, extra: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Post ``method`` signed; its answer once Alipay's signature verifies over it."""
        params = self._signed_params(method, biz, extra=extra or {})
        try:
            response = await self._http.post(self._config.gateway_url, data=params)
        except httpx.HTTPError as error:
            raise ProviderError(f"Alipay could not be reached: {error}") from error
        if response.status_code != 200:
            raise ProviderError(f"Alipay answered HTTP {response.status_code}")
        return self._verified_answer(response.content.decode("utf-8"), method)

    def link(self, method: str, biz: Mapping[str, Any], *, extra: Mapping[str, str]) -> str:
        """The signed gateway URL of ``method``, for the payer's browser to open."""
        query = urlencode(self._signed_params(method, biz, extra=extra))
        return f"{self._config.gateway_url}?{query}"

    async def download_bill(self, url: str) -> bytes:
        """The zip a ``bill_download_url`` gives, unsigned as Alipay's file server gives it."""
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as error:
            raise ProviderError(f"Alipay's bill could not be downloaded: {error}") from error
        if response.status_code != 200:
            raise ProviderError(f"Alipay's bill download answered HTTP {response.status_code}")
        return response.content

    def notification(self, raw: RawNotification) -> dict[str, str]:
        """A notification's decoded fields, once RSA2 verifies over them with Alipay's key."""
        fields = notification_fields(raw)
        signature = fields.get("sign", "")
        if fields.get("sign_type", "RSA2") != "RSA2" or not signature:
            raise NotificationRejected("bad_signature", "the notification is not signed RSA2")
        if not verify_params(self._alipay_key, fields, signature, unsigned=NOTIFICATION_UNSIGNED):
            raise NotificationRejected("bad_signature", "the signature does not verify")
        return fields

    def _signed_params(
        self, method: str, biz: Mapping[str, Any], *, extra: Mapping[str, str]
    ) -> dict[str, str]:
        params = {
            "app_id": self._config.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": beijing_time(self._clock.now()),
            "version": "1.0",
            "biz_content": compact_json(biz),
        }
        params.update({key: value for key, value in extra.items() if value})
        params["sign"] = sign_params(self._private_key, params)
        return params

    def _verified_answer(self, raw_text: str, method: str) -> dict[str, Any]:
        try:
            envelope = json.loads(raw_text)
            key = ERROR_RESPONSE if ERROR_RESPONSE in envelope else response_key(method)
            content = response_content(raw_text, key)
            answer: dict[str, Any] = json.loads(content)
        except (ValueError, TypeError) as error:
            raise ProviderError(f"unreadable Alipay response: {error}") from error
        if key != ERROR_RESPONSE:
            signature = envelope.get("sign", "")
            if not verify_sha256_rsa(self._alipay_key, content.encode(), signature):
                raise ProviderError("the Alipay response signature does not verify")
        if answer.get("code") != SUCCESS_CODE:
            raise AlipayError(
                code=str(answer.get("code", "")),
                sub_code=str(answer.get("sub_code", "")),
                message=str(answer.get("sub_msg") or answer.get("msg", "")),
                signed=key != ERROR_RESPONSE,
            )
        return answer
