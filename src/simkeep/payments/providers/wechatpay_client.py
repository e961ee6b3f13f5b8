"""WeChat Pay API v3, merchant side: signed requests, verified answers and notifications, for
every WeChat Pay adapter (Mainland, WeChat Pay HK's global API, 委托代扣 contracts).

Design overview
---------------
``V3Client`` holds one merchant's key, the platform public key, the HTTP client and the
clock. Every request is JSON, signed ``WECHATPAY2-SHA256-RSA2048`` over
``METHOD\\nPATH_WITH_QUERY\\nTS\\nNONCE\\nBODY\\n`` with the merchant key; the path and body
signed are taken from the request exactly as httpx sends it. Every 2xx answer (including an
empty 204) is believed only after its ``Wechatpay-*`` headers verify over
``TS\\nNONCE\\nBODY\\n`` with the platform public key (public-key mode: the serial must be our
``PUB_KEY_ID_…``), within ±300 s of our clock; ``WECHATPAY/SIGNTEST/`` probes never verify.
A 4xx is believed as a refusal only when the caller asks for ``refusals`` and it is signed
too. A bill's download is a signed GET whose answer WeChat Pay does not sign.

Notifications go through the same header check over the raw body bytes; their ``resource``
is decrypted with AES-256-GCM under the APIv3 key.

``expect``, ``error_code`` and ``json_object`` read an answer: the status wanted, WeChat
Pay's ``{"code", "message"}`` of a refusal, a JSON object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from simkeep.clock import Clock
from simkeep.payments.model import (
    NotificationRejected,
    ProviderError,
    RawNotification,
    json_object,
)
from simkeep.payments.providers.wechatpay_signing import (
    authorization_header,
    check_platform_signature,
    json_bytes,
    new_nonce,
)
from simkeep.payments.signing import (
    SignatureError,
    aes_gcm_decrypt,
    load_private_key,
    load_public_key,
)

if TYPE_CHECKING:
    from simkeep.payments.providers.wechatpay import WeChatPayConfig

ERROR_CHARS = 200  # of an answer's text or message quoted in an error


class V3Client:
    """One merchant's signed conversation with a WeChat Pay v3 API."""

    def __init__(self, *, config: WeChatPayConfig, client: httpx.AsyncClient, clock: Clock) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._private_key = load_private_key(config.merchant_private_key_pem)
        self._platform_key = load_public_key(config.platform_public_key_pem)

    async def call(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None,
        *,
        refusals: bool = False,
        signed_body: bool = True,
    ) -> httpx.Response:
        """Send one signed request; its 2xx answer (and with ``refusals`` its 4xx answer too,
        to be believed as a refusal) must carry WeChat Pay's signature — over its body,
        unless ``signed_body`` is False (the caller checks what a 2xx signs)."""
        body = json_bytes(payload) if payload is not None else b""
        request = self._client.build_request(
            method,
            self._config.base_url.rstrip("/") + path,
            content=body,
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        )
        request.headers["Authorization"] = self._authorization(method, request, body)
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as error:
            raise ProviderError(f"WeChat Pay could not be reached: {error}") from error
        if (response.is_success and signed_body) or (refusals and response.is_client_error):
            self.check_signed(response.headers, response.content)
        return response

    async def download_bill(self, url: str) -> bytes:
        """A bill's download: a signed GET whose answer WeChat Pay does not sign."""
        request = self._client.build_request("GET", url)
        request.headers["Authorization"] = self._authorization("GET", request, b"")
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as error:
            raise ProviderError(f"WeChat Pay's bill could not be downloaded: {error}") from error
        if response.status_code != 200:
            raise ProviderError(f"WeChat Pay's bill download answered {response.status_code}")
        return response.content

    def check_signed(self, headers: Mapping[str, str], body: bytes) -> None:
        """Believe an answer only when WeChat Pay's headers sign ``body``."""
        try:
            check_platform_signature(
                headers=headers,
                body=body,
                public_key=self._platform_key,
                serial=self._config.platform_public_key_id,
                now=self._clock.now(),
            )
        except NotificationRejected as error:
            raise ProviderError(f"WeChat Pay answer refused ({error.code}): {error}") from error

    def notification(self, raw: RawNotification, *, now: datetime) -> dict[str, Any]:
        """A notification's event, once WeChat Pay's headers sign its raw body."""
        check_platform_signature(
            headers=raw.headers,
            body=raw.body,
            public_key=self._platform_key,
            serial=self._config.platform_public_key_id,
            now=now,
        )
        return json_object(raw.body, what="the notification body")

    def decrypt(self, resource: object) -> bytes:
        """A notification's ``resource``, decrypted with the APIv3 key."""
        if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationRejected("malformed", "the resource is not AEAD_AES_256_GCM")
        nonce, ciphertext, associated_data = (
            resource.get(name, "") for name in ("nonce", "ciphertext", "associated_data")
        )
        if not all(isinstance(value, str) for value in (nonce, ciphertext, associated_data)):
            raise NotificationRejected("malformed", "the resource fields are not strings")
        try:
            return aes_gcm_decrypt(
                self._config.apiv3_key.encode("ascii"),
                nonce.encode("utf-8"),
                ciphertext,
                associated_data.encode("utf-8"),
            )
        except SignatureError as error:
            raise NotificationRejected("undecryptable", str(error)) from error

    def _authorization(self, method: str, request: httpx.Request, body: bytes) -> str:
        """The merchant's signature of a request, over its path as sent."""
        return authorization_header(
            private_key=self._private_key,
            mchid=self._config.mchid,
            serial_no=self._config.merchant_serial_no,
            method=method,
            path=request.url.raw_path.decode("ascii"),
            body=body,
            timestamp=int(self._clock.now().timestamp()),
            nonce=new_nonce(),
        )


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    """The answer's JSON object, when it has ``status``; otherwise a ``ProviderError``."""
    if response.status_code != status:
        raise ProviderError(
            f"WeChat Pay answered {response.status_code} {error_code(response) or '(no code)'}: "
            f"{response.text[:ERROR_CHARS]}"
        )
    if status == 204:
        return {}
    try:
        return json_object(response.content, what="the answer")
    except NotificationRejected as error:
        raise ProviderError(str(error)) from error


def error_code(response: httpx.Response) -> str:
    """The ``code`` of WeChat Pay's refusal; empty when the answer has none."""
    return _error_field(response, "code")


def error_message(response: httpx.Response) -> str:
    """The ``message`` of WeChat Pay's refusal, cut short."""
    return _error_field(response, "message")[:ERROR_CHARS]


def _error_field(response: httpx.Response, name: str) -> str:
    try:
        return str(response.json().get(name, ""))
    except (ValueError, AttributeError):
        return ""
