"""WeChat Pay HK on WeChat Pay's v3 global API, merchant side.

Design overview
---------------
The global API (``https://apihk.mch.weixin.qq.com``) signs exactly as the Mainland v3 API:
the merchant's ``WECHATPAY2-SHA256-RSA2048`` ``Authorization`` on every request, the
platform's ``Wechatpay-*`` headers on every answer and notification (public-key mode, ±300 s,
``WECHATPAY/SIGNTEST/`` refused), the ``TRANSACTION.SUCCESS`` resource under AES-256-GCM with
the APIv3 key. So ``WeChatPayGlobalAdapter`` is ``WeChatPayAdapter`` on another ``V3Api``:

* Native (QR): ``POST /v3/global/transactions/native`` → ``code_url``; H5 (WAP):
  ``POST /v3/global/transactions/mweb`` with ``scene_info.h5_info.type = "Wap"`` → ``h5_url``.
  Each order also names its ``trade_type`` and the merchant's ``merchant_category_code``.
* ``GET /v3/global/transactions/out-trade-no/{no}?mchid=…`` and
  ``POST …/out-trade-no/{no}/close`` (204).
* WeChat Pay's transaction number is the field ``id`` (Mainland: ``transaction_id``), and so
  is its refund number (Mainland: ``refund_id``).
* Refunds: ``POST /v3/global/refunds`` (the body names ``mchid`` and ``appid`` too, the amount
  in HKD) and ``GET /v3/global/refunds/out-refund-no/{no}?mchid=…``; read as the Mainland's.
* The day's bill: ``GET /v3/global/statements?date=yyyyMMdd&mchid=…`` answers the CSV itself;
  its SHA-1 comes in ``Wechatpay-Statement-Sha1``, and the answer's signature covers
  ``{"sha1":"<that digest>"}`` in place of the body.
* Amounts are HKD cents. A Mainland wallet may pay in CNY at WeChat Pay's rate: the payer's
  ``payer_total``/``payer_currency``/``exchange_rate`` are the payer's business; the merchant's
  money is ``amount.total`` in ``amount.currency``, which the global API always states (no
  currency is implied), and only that is taken.

This is the direct-merchant mode (``mchid``/``appid``); the institutional mode of service
providers (``sp_mchid``/``sub_mchid``) is not spoken here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from simkeep.clock import Clock
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.bills import wechatpay as wechatpay_bill
from simkeep.payments.model import PaymentRequest, ProviderError
from simkeep.payments.providers.wechatpay import WeChatPayAdapter, WeChatPayConfig
from simkeep.payments.providers.wechatpay_api import V3Api
from simkeep.payments.providers.wechatpay_signing import STATEMENT_SHA1, json_bytes
from simkeep.payments.signing import key_file
from simkeep.settings import Settings

CURRENCY = "HKD"
DEFAULT_BASE_URL = "https://apihk.mch.weixin.qq.com"
MERCHANT_CATEGORY_CODE = "4814"  # telecommunication services: prepaid SIM top-ups
TRADE_TYPES = {Channel.QR: "NATIVE", Channel.WAP: "MWEB"}
GLOBAL = V3Api(
    provider=Provider.WECHATPAY_HK,
    name="WeChat Pay HK",
    currency=CURRENCY,
    transactions="/v3/global/transactions",
    starts={Channel.QR: ("native", "code_url"), Channel.WAP: ("mweb", "h5_url")},
    transaction_id="id",
    implied_currency=None,
    refunds="/v3/global/refunds",
    refund_by_no="/v3/global/refunds/out-refund-no/{out_refund_no}",
    refund_id="id",
    merchant_in_refunds=True,
    bills="/v3/global/statements",
    bill_download=False,
)


class WeChatPayGlobalAdapter(WeChatPayAdapter):
    """The merchant half of WeChat Pay HK: Native and H5 orders in HKD, query, close,
    notifications — on the Mainland adapter's signing and checks."""

    api = GLOBAL
    provider = GLOBAL.provider
    currencies = frozenset({GLOBAL.currency})

    def _order(self, request: PaymentRequest) -> dict[str, Any]:
        return {
            **super()._order(request),
            "trade_type": TRADE_TYPES[request.channel],
            "merchant_category_code": MERCHANT_CATEGORY_CODE,
        }

    async def _bill_file(self, day: date) -> bytes | None:
        """The day's statement, answered whole: believed once the signature covers its
        ``Wechatpay-Statement-Sha1`` and that is the file's SHA-1."""
        path = f"{self.api.bills}?date={day:%Y%m%d}&mchid={self._config.mchid}"
        response = await self._v3.call("GET", path, None, refusals=True, signed_body=False)
        if self._no_bill(response, day):
            return None
        if response.status_code != 200:
            raise ProviderError(
                f"WeChat Pay HK answered {response.status_code}: {response.text[:200]}"
            )
        digest = response.headers.get(STATEMENT_SHA1, "")
        self._v3.check_signed(response.headers, json_bytes({"sha1": digest}))
        wechatpay_bill.check_digest(response.content, digest, day=day, provider=self.provider)
        return response.content


def real_adapter(
    settings: Settings, clock: Clock, http: httpx.AsyncClient
) -> WeChatPayGlobalAdapter:
    """The adapter for the real WeChat Pay HK merchant in ``settings`` (key files read once)."""
    return WeChatPayGlobalAdapter(
        config=WeChatPayConfig(
            mchid=settings.wechatpay_hk_mchid,
            appid=settings.wechatpay_hk_appid,
            merchant_private_key_pem=key_file(settings.wechatpay_hk_private_key_file),
            merchant_serial_no=settings.wechatpay_hk_serial_no,
            apiv3_key=settings.wechatpay_hk_apiv3_key,
            platform_public_key_pem=key_file(settings.wechatpay_hk_public_key_file),
            platform_public_key_id=settings.wechatpay_hk_public_key_id,
            base_url=settings.wechatpay_hk_base_url or DEFAULT_BASE_URL,
        ),
        client=http,
        clock=clock,
    )
