"""WeChat Pay 委托代扣 (papay) in API v3 style, merchant side: pre-sign, query, charge,
terminate, and the contract notifications — on the same signing layer as the payments.

Design overview
---------------
``WeChatPapayAdapter`` is ``WeChatPayAdapter`` plus the contract calls, so one adapter (one
merchant key, one HTTP client) serves both; every request is signed and every answer
verified exactly as a payment's.

* ``POST /v3/papay/sign/contracts/pre-entrust-sign`` with the merchant's template
  (``plan_id``), our ``out_contract_code`` and the ``contract_notify_url`` answers a
  ``redirect_url``: the page where the payer signs.
* WeChat Pay then notifies ``PAPAY.SIGN`` (``contract_state=SIGNED`` with its
  ``contract_id``) — and ``PAPAY.TERMINATE`` when a contract ends at its side — as v3
  notifications: the ``Wechatpay-*`` signature over the raw body within ±300 s, then the
  AES-256-GCM ``resource``, for our ``mchid``/``appid``.
* ``GET …/plan-id/{plan_id}/out-contract-code/{code}`` catches a lost notification;
  ``POST …/terminate`` ends a contract.
* A charge is ``POST /v3/papay/pay/transactions/apply`` with the ``contract_id``; WeChat Pay
  takes it and charges asynchronously, so its outcome is the trade's: asked at once
  (``PAYERROR`` declined, ``SUCCESS`` paid, else pending), and later notified
  (``TRANSACTION.SUCCESS`` to the ordinary notify URL) or found by the order's poll. A
  request WeChat Pay may have taken without our seeing the answer is pending, never
  declined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from simkeep.clock import Clock
from simkeep.payments.agreements import (
    AgreementRequest,
    AgreementState,
    AgreementStatus,
    Deduction,
    DeductionOutcome,
    DeductionResult,
)
from simkeep.payments.model import (
    NotificationRejected,
    ProviderError,
    RawNotification,
    TradeStatus,
    json_object,
)
from simkeep.payments.providers.wechatpay import CURRENCY, WeChatPayAdapter, WeChatPayConfig
from simkeep.payments.providers.wechatpay_client import error_code, expect

DEFAULT_PLAN_ID = 12535  # the merchant's deduction template, set up on the merchant platform
CONTRACT_STATES = {"SIGNED": AgreementState.ACTIVE, "TERMINATED": AgreementState.ENDED}
EVENTS = frozenset({"PAPAY.SIGN", "PAPAY.TERMINATE"})
NOT_FOUND = frozenset({"CONTRACT_NOT_EXIST", "ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS"})


class WeChatPapayAdapter(WeChatPayAdapter):
    """WeChat Pay's payments and its 委托代扣 contracts, for one merchant."""

    def __init__(
        self,
        *,
        config: WeChatPayConfig,
        client: httpx.AsyncClient,
        clock: Clock,
        plan_id: int = DEFAULT_PLAN_ID,
    ) -> None:
        super().__init__(config=config, client=client, clock=clock)
        self.plan_id = plan_id

    async def start_signing(self, request: AgreementRequest) -> str:
        """Pre-sign the contract; WeChat Pay answers the page the payer signs on."""
        body = {
            "sign_scene": "SIGN_SCENE_QRCODE",
            "appid": self._config.appid,
            "plan_id": self.plan_id,
            "out_contract_code": request.agreement_ref,
            "contract_display_account": request.display_account,
            "contract_notify_url": request.notify_url,
            "out_user_code": request.agreement_ref,
            "return_url": request.return_url,
        }
        response = await self._v3.call("POST", "/v3/papay/sign/contracts/pre-entrust-sign", body)
        url = expect(response, 200).get("redirect_url")
        if not isinstance(url, str) or not url:
            raise ProviderError("WeChat Pay answered without redirect_url")
        return url

    async def query_agreement(self, agreement_ref: str) -> AgreementStatus:
        """The contract by our code; one WeChat Pay does not know is still signing."""
        response = await self._v3.call("GET", f"{self._contract_path(agreement_ref)}", None)
        if response.status_code == 404 and error_code(response) in NOT_FOUND:
            return AgreementStatus(agreement_ref, AgreementState.SIGNING)
        return _status(agreement_ref, expect(response, 200))

    async def deduct(self, deduction: Deduction) -> DeductionResult:
        """Apply for the charge, then ask the trade what became of it."""
        if deduction.amount.currency != CURRENCY:
            raise ProviderError(f"WeChat Pay takes CNY, not {deduction.amount.currency}")
        body = {
            "appid": self._config.appid,
            "out_trade_no": deduction.out_trade_no,
            "description": deduction.subject[:127],
            "transaction_notify_url": deduction.notify_url,
            "contract_id": deduction.provider_agreement_no,
            "amount": {"total": deduction.amount.minor, "currency": CURRENCY},
        }
        try:
            response = await self._v3.call("POST", "/v3/papay/pay/transactions/apply", body)
            if error_code(response) == "ORDERPAID":  # a repeat of a charge that was taken
                return DeductionResult(DeductionOutcome.PAID)
            if 400 <= response.status_code < 500:
                return DeductionResult(DeductionOutcome.DECLINED, error_code(response))
            expect(response, 200)
            trade = await self.query(deduction.out_trade_no)
        except ProviderError as error:
            return DeductionResult(DeductionOutcome.PENDING, str(error)[:100])
        if trade.status is TradeStatus.PAID:
            return DeductionResult(DeductionOutcome.PAID)
        if trade.status in (TradeStatus.FAILED, TradeStatus.CLOSED):
            return DeductionResult(DeductionOutcome.DECLINED, "PAYERROR")
        return DeductionResult(DeductionOutcome.PENDING)

    async def end_agreement(self, agreement_ref: str, provider_agreement_no: str) -> None:
        """Terminate the contract (WeChat Pay answers 204); one it no longer has is ended."""
        body = {"contract_termination_remark": "cancelled by the subscriber"}
        path = f"{self._contract_path(agreement_ref)}/terminate"
        response = await self._v3.call("POST", path, body)
        if response.status_code == 404 and error_code(response) in NOT_FOUND:
            return
        expect(response, 204)

    def verify_agreement_notification(
        self, raw: RawNotification, *, now: datetime
    ) -> AgreementStatus:
        """``PAPAY.SIGN`` / ``PAPAY.TERMINATE``, verified as payment notifications are."""
        event = self._v3.notification(raw, now=now)
        if event.get("event_type") not in EVENTS:
            raise NotificationRejected("malformed", "not a contract notification")
        contract = json_object(self._v3.decrypt(event.get("resource")), what="the resource")
        if contract.get("mchid") != self._config.mchid or contract.get("appid") != (
            self._config.appid
        ):
            raise NotificationRejected("wrong_merchant", "the contract is another merchant's")
        ref = contract.get("out_contract_code")
        if not isinstance(ref, str) or not ref:
            raise NotificationRejected("malformed", "out_contract_code is missing")
        try:
            return _status(ref, contract)
        except ProviderError as error:
            raise NotificationRejected("malformed", str(error)) from error

    def _contract_path(self, agreement_ref: str) -> str:
        return f"/v3/papay/sign/contracts/plan-id/{self.plan_id}/out-contract-code/{agreement_ref}"


def _status(agreement_ref: str, contract: dict[str, Any]) -> AgreementStatus:
    state = CONTRACT_STATES.get(str(contract.get("contract_state", "")))
    contract_id = contract.get("contract_id")
    if state is None or not isinstance(contract_id, str) or not contract_id:
        raise ProviderError(f"WeChat Pay answered an unknown contract {contract!r:.200}")
    signed = contract.get("contract_signed_time")
    at = datetime.fromisoformat(signed) if isinstance(signed, str) and signed else None
    return AgreementStatus(agreement_ref, state, contract_id, at)
