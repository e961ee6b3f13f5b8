"""Alipay agreement payment (商家扣款), merchant side: sign, query, charge, unsign, and the
agreement notifications — on the same ``gateway.do`` protocol and signing layer as trades.

Design overview
---------------
``AlipayAgreementAdapter`` is ``AlipayAdapter`` plus the agreement calls, so one adapter
(one key pair, one HTTP client) serves both.

* Signing is a page: ``alipay.user.agreement.page.sign`` as a signed gateway link (like
  ``page.pay``, nothing is asked of Alipay first) with ``personal_product_code``
  ``GENERAL_WITHHOLDING_P``, our ``external_agreement_no`` and the ``notify_url`` of the
  agreement notifications; the payer confirms with their payment password.
* Alipay then notifies ``dut_user_sign`` (``status=NORMAL`` with its ``agreement_no``), and
  ``dut_user_unsign`` when an agreement ends at its side. Both are verified as trade
  notifications are: RSA2 over the decoded fields minus ``sign``/``sign_type``, our
  ``app_id``.
* ``alipay.user.agreement.query`` (``TEMP`` not signed yet, ``NORMAL``, ``STOP``) catches a
  lost notification; ``alipay.user.agreement.unsign`` ends one.
* A charge is ``alipay.trade.pay`` with ``product_code=GENERAL_WITHHOLDING`` and
  ``agreement_params.agreement_no``: synchronous — ``10000`` paid, ``10003`` still being
  processed, a ``40004`` business refusal (``ACQ.BUYER_BALANCE_NOT_ENOUGH`` …) declined.
  A charge Alipay could not be asked about (no answer) is pending, never declined: it may
  have been taken, and the order's poll will tell.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simkeep.payments.agreements import (
    AgreementRequest,
    AgreementState,
    AgreementStatus,
    Deduction,
    DeductionOutcome,
    DeductionResult,
)
from simkeep.payments.model import NotificationRejected, ProviderError, RawNotification
from simkeep.payments.providers.alipay import AlipayAdapter
from simkeep.payments.providers.alipay_gateway import AlipayError
from simkeep.payments.providers.alipay_signing import optional_beijing_time, yuan

PRODUCT_CODE = "GENERAL_WITHHOLDING"
PERSONAL_PRODUCT_CODE = "GENERAL_WITHHOLDING_P"
SIGN_SCENE = "INDUSTRY|MOBILE"
SIGN_METHOD = "alipay.user.agreement.page.sign"
AGREEMENT_NOT_EXIST = "USER_AGREEMENT_NOT_EXIST"
IN_PROCESS_CODE = "10003"
TRADE_HAS_SUCCESS = "ACQ.TRADE_HAS_SUCCESS"
AGREEMENT_STATES = {
    "TEMP": AgreementState.SIGNING,
    "NORMAL": AgreementState.ACTIVE,
    "STOP": AgreementState.ENDED,
    "UNSIGN": AgreementState.ENDED,
}
NOTIFY_TYPES = frozenset({"dut_user_sign", "dut_user_unsign"})


class AlipayAgreementAdapter(AlipayAdapter):
    """Alipay's trades and its agreement payment, for one merchant app."""

    async def start_signing(self, request: AgreementRequest) -> str:
        """The signed link to Alipay's signing page (nothing is asked of Alipay first)."""
        biz = {
            **_agreement(request.agreement_ref),
            "product_code": PRODUCT_CODE,
            "external_logon_id": request.display_account,
            "access_params": {"channel": "ALIPAYAPP"},
        }
        extra = {"notify_url": request.notify_url, "return_url": request.return_url}
        return self._gateway.link(SIGN_METHOD, biz, extra=extra)

    async def query_agreement(self, agreement_ref: str) -> AgreementStatus:
        """``alipay.user.agreement.query`` by our reference; unknown is still signing."""
        try:
            biz = _agreement(agreement_ref)
            answer = await self._gateway.call("alipay.user.agreement.query", biz)
        except AlipayError as error:
            if error.sub_code == AGREEMENT_NOT_EXIST:
                return AgreementStatus(agreement_ref, AgreementState.SIGNING)
            raise
        state = AGREEMENT_STATES.get(str(answer.get("status", "")))
        if state is None:
            raise ProviderError(f"unknown Alipay agreement status {answer.get('status')!r}")
        return AgreementStatus(
            agreement_ref,
            state,
            answer.get("agreement_no"),
            optional_beijing_time(answer.get("sign_time")),
        )

    async def deduct(self, deduction: Deduction) -> DeductionResult:
        """``alipay.trade.pay`` through the agreement: paid, in process, or declined."""
        biz: dict[str, Any] = {
            "out_trade_no": deduction.out_trade_no,
            "total_amount": yuan(deduction.amount),
            "subject": deduction.subject,
            "product_code": PRODUCT_CODE,
            "agreement_params": {"agreement_no": deduction.provider_agreement_no},
        }
        try:
            extra = {"notify_url": deduction.notify_url}
            await self._gateway.call("alipay.trade.pay", biz, extra=extra)
        except AlipayError as error:
            if error.sub_code == TRADE_HAS_SUCCESS:  # a repeat of a charge that was taken
                return DeductionResult(DeductionOutcome.PAID)
            if error.code == IN_PROCESS_CODE:
                return DeductionResult(DeductionOutcome.PENDING, error.sub_code)
            if error.code == "40004":
                return DeductionResult(DeductionOutcome.DECLINED, error.sub_code or error.code)
            return DeductionResult(DeductionOutcome.PENDING, error.sub_code or error.code)
        except ProviderError as error:
            return DeductionResult(DeductionOutcome.PENDING, str(error)[:100])
        return DeductionResult(DeductionOutcome.PAID)

    async def end_agreement(self, agreement_ref: str, provider_agreement_no: str) -> None:
        """``alipay.user.agreement.unsign``; one Alipay no longer has is ended already."""
        try:
            biz = {"agreement_no": provider_agreement_no}
            await self._gateway.call("alipay.user.agreement.unsign", biz)
        except AlipayError as error:
            if error.sub_code != AGREEMENT_NOT_EXIST:
                raise

    def verify_agreement_notification(
        self, raw: RawNotification, *, now: datetime
    ) -> AgreementStatus:
        """``dut_user_sign`` / ``dut_user_unsign``, verified as trade notifications are."""
        fields = self._gateway.notification(raw)
        if fields.get("app_id") != self._config.app_id:
            raise NotificationRejected("wrong_merchant", "app_id is not ours")
        if fields.get("notify_type") not in NOTIFY_TYPES:
            raise NotificationRejected("malformed", "not an agreement notification")
        state = AGREEMENT_STATES.get(fields.get("status", ""))
        ref, number = fields.get("external_agreement_no", ""), fields.get("agreement_no", "")
        if state is None or not ref or not number:
            raise NotificationRejected("malformed", "status, agreement numbers expected")
        try:
            at = optional_beijing_time(fields.get("sign_time") or fields.get("unsign_time"))
        except ProviderError as error:
            raise NotificationRejected("malformed", str(error)) from error
        return AgreementStatus(ref, state, number, at)


def _agreement(agreement_ref: str) -> dict[str, str]:
    return {
        "personal_product_code": PERSONAL_PRODUCT_CODE,
        "sign_scene": SIGN_SCENE,
        "external_agreement_no": agreement_ref,
    }
