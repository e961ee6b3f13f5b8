"""Alipay+'s transaction details report, platform side: the daily report of an
``AlipayPlusSimulator``'s merchant, written from its own payments, refunds and cancels.

Design overview
---------------
``AlipayPlusBills.answer`` answers ``POST /ams/api/v1/reports/download`` (checked and signed
as every AMS call is, by ``alipayplus_routes``): ``reportType`` ``TRANSACTION_DETAILS`` and a
``reportDate`` (``yyyy-MM-dd``, a Hong Kong day). A day not over yet is ``F``
``REPORT_NOT_READY``. A day that is over is written when asked (``payments.bills.alipayplus``):
the payments paid that day (by ``paymentTime``), the refunds made that day (by
``refundTime``) and the paid payments cancelled that day, in time order (payments first
within a second, otherwise as they were made), handed over as
``fileContent`` (base64) with the file's SHA-256 as ``digest``.

The differences a test plants (``bill_rules.BillDifferences``) change the reports made after:
one payment's amount shifted, the summary's payments one cent more than its lines, or a
digest that is not the file's. ``plant_provider_only`` pays a payment the merchant never
created, and never tells it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from simkeep.clock import Clock, in_hong_kong
from simkeep.money import Money
from simkeep.payments.bills.alipayplus import (
    CANCEL,
    DIGEST_ALGORITHM,
    PAYMENT,
    REFUND,
    REPORT_NOT_READY,
    REPORT_TYPE,
    ReportItem,
    digest,
    file_name,
    report_file,
)
from simkeep.simulators.alipayplus_payments import (
    DEFAULT_ACCOUNT,
    DEMO_PASSWORD,
    SimPayment,
    SimulatorError,
    result,
)
from simkeep.simulators.bill_hooks import billed_amount
from simkeep.simulators.bill_rules import BillDifferences, day_of

if TYPE_CHECKING:
    from simkeep.simulators.alipayplus import AlipayPlusSimulator

CURRENCY = "HKD"
ORDER = {PAYMENT: 0, REFUND: 1, CANCEL: 2}  # at one second: payments first


class AlipayPlusBills:
    """The daily transaction details reports of one simulated Alipay+ merchant."""

    def __init__(self, sim: AlipayPlusSimulator, *, clock: Clock) -> None:
        self.sim = sim
        self.differences = BillDifferences()
        self._clock = clock

    def answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to a report download: the day's report and its digest."""
        if request.get("reportType") != REPORT_TYPE:
            raise SimulatorError("PARAM_ILLEGAL", f"reportType must be {REPORT_TYPE}")
        try:
            day = date.fromisoformat(str(request.get("reportDate", "")))
        except ValueError as error:
            raise SimulatorError("PARAM_ILLEGAL", "reportDate is yyyy-MM-dd") from error
        if not self.differences.made(day, self._clock.now()):
            raise SimulatorError(REPORT_NOT_READY, f"the report of {day} is made after the day")
        data = self.report(day)
        stated = digest(b"damaged" + data) if self.differences.bad_digest else digest(data)
        return result("S", "SUCCESS", "success") | {
            "reportType": REPORT_TYPE,
            "reportDate": day.isoformat(),
            "fileName": file_name(CURRENCY),
            "fileContent": base64.b64encode(data).decode("ascii"),
            "digestAlgorithm": DIGEST_ALGORITHM,
            "digest": stated,
        }

    def report(self, day: date) -> bytes:
        """The report of ``day`` as Alipay+ would make it now."""
        off = 1 if self.differences.bad_totals else 0
        return report_file(self.items(day), currency=CURRENCY, totals_off_by=off)

    def items(self, day: date) -> list[ReportItem]:
        """The payments, refunds and cancels of paid payments booked on ``day``, in order."""
        client = self.sim.client_id
        items = [
            self._payment(payment)
            for payment in self.sim.payments.values()
            if payment.paid_at is not None and day_of(payment.paid_at) == day
        ]
        items += [
            ReportItem(
                customer_id=client,
                transaction_type=REFUND,
                transaction_id=refund.refund_id,
                request_id=refund.refund_request_id,
                time=refund.refunded_at,
                amount=-refund.amount,
                currency=refund.payment.currency,
                fee=-refund.fee_back,
                original_transaction_id=refund.payment.payment_id,
                original_request_id=refund.payment.payment_request_id,
            )
            for refund in self.sim.refund_desk.refunds.values()
            if day_of(refund.refunded_at) == day
        ]
        items += [
            self._cancel(payment)
            for payment in self.sim.payments.values()
            if payment.paid_at and payment.cancelled_at and day_of(payment.cancelled_at) == day
        ]
        return sorted(items, key=lambda item: (item.time, ORDER[item.transaction_type]))

    def knows(self, out_trade_no: str) -> bool:
        return out_trade_no in self.sim.payments

    async def plant_provider_only(self, amount: Money) -> str:
        """A payment paid now that the merchant never created (and is never told of)."""
        now = self._clock.now()
        request_id = f"ALIPAYHKONLY{len(self.sim.payments) + 1:08d}"
        self.sim.payments[request_id] = SimPayment(
            payment_request_id=request_id,
            payment_id=f"{in_hong_kong(now):%Y%m%d%H%M%S}{secrets.randbelow(10**18):018d}",
            amount=amount.minor,
            currency=amount.currency,
            description="AlipayHK",
            notify_url="",
            redirect_url=None,
            terminal_type="WAP",
            created_at=now,
            expires_at=now + timedelta(minutes=14),
        )
        self.sim.pay(request_id, account=DEFAULT_ACCOUNT, password=DEMO_PASSWORD, notify=False)
        return request_id

    def _payment(self, payment: SimPayment) -> ReportItem:
        assert payment.paid_at is not None
        return ReportItem(
            customer_id=self.sim.client_id,
            transaction_type=PAYMENT,
            transaction_id=payment.payment_id,
            request_id=payment.payment_request_id,
            time=payment.paid_at,
            amount=billed_amount(self.differences, payment.payment_request_id, payment.amount),
            currency=payment.currency,
            fee=payment.fee,
        )

    def _cancel(self, payment: SimPayment) -> ReportItem:
        assert payment.cancelled_at is not None
        return ReportItem(
            customer_id=self.sim.client_id,
            transaction_type=CANCEL,
            transaction_id=payment.payment_id,
            request_id=payment.payment_request_id,
            time=payment.cancelled_at,
            amount=-payment.amount,
            currency=payment.currency,
            fee=-(payment.fee - payment.fee_refunded),
            original_transaction_id=payment.payment_id,
            original_request_id=payment.payment_request_id,
        )
