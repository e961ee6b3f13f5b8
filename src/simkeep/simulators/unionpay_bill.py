"""UnionPay's file transfer (对账文件下载, ``txnType`` 76), UnionPay's side: the daily flow
file of a ``UnionPaySimulator``'s merchant, written from its own consumes and refunds.

Design overview
---------------
``UnionPayBills.answer`` takes the merchant's signed form, checked as every request is
(``txnType`` 76, ``txnSubType`` 01, ``bizType`` 000000) with ``fileType`` 00, and finds the
day by ``settleDate`` (``MMDD``): the latest such day up to today, Beijing time. A day not
over yet is ``98`` 文件不存在, UnionPay's answer before its file is made. A day that is over
is written when asked (``payments.bills.unionpay_flow``): the consumes paid that day, by when
they were paid, and the refunds paid back that day, by when they were paid back, in time
order (consumes first within a second, otherwise as they were taken); zipped as
``<merId>_<yyyyMMdd>.zip`` and handed over in the signed answer as ``fileName`` and
``fileContent``.

The differences a test plants (``bill_rules.BillDifferences``) change the files made after:
one consume's amount shifted, the trailer's consumes one fen more than its lines, or — the
file damaged before it was signed — the zip's CRC-32 of the flow file wrong.
``plant_provider_only`` pays a consume the merchant never created, and never tells it (its
``orderId`` shaped like the merchant's, ``T<yyyyMMdd>99…``, so that a query finds it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING

from simkeep.clock import Clock
from simkeep.money import Money
from simkeep.payments.bills.unionpay_flow import (
    CONSUME,
    REFUND,
    FlowRecord,
    file_content,
    flow_file,
    flow_name,
    zip_name,
    zipped,
)
from simkeep.payments.providers.unionpay_signing import (
    ENCODING,
    SUCCESS,
    VERSION,
    beijing_time,
    currency_code,
)
from simkeep.simulators.bill_hooks import billed_amount
from simkeep.simulators.bill_rules import BillDifferences, day_of
from simkeep.simulators.unionpay_refunds import SUCCEEDED, SimRefund
from simkeep.simulators.unionpay_trades import GatewayRefusal, SimTrade, TradeState, digits

if TYPE_CHECKING:
    from simkeep.simulators.unionpay import UnionPaySimulator

FILE_TRANSFER = {"txnType": "76", "txnSubType": "01", "bizType": "000000"}
FILE_TYPE = "00"
NO_FILE = ("98", "文件不存在 no file for this settleDate yet")
YEARS_BACK = 8  # how far back a settleDate is looked for (a 29 February)
CENTRAL_CRC = 16  # where a zip's central directory entry keeps the CRC-32


class UnionPayBills:
    """The daily flow files of one simulated UnionPay merchant."""

    def __init__(self, sim: UnionPaySimulator, *, clock: Clock) -> None:
        self.sim = sim
        self.differences = BillDifferences()
        self._clock = clock

    def answer(self, fields: Mapping[str, str]) -> dict[str, str]:
        """The signed answer to a file transfer: the day's zip, ``98``, or the refusal."""
        names = ("merId", "settleDate", "txnTime", "fileType")
        answer = {name: fields.get(name, "") for name in names}
        answer.update(FILE_TRANSFER, version=VERSION, encoding=ENCODING, accessType="0")
        try:
            self.sim.check_request(fields, FILE_TRANSFER)
            day = self._settle_day(fields)
        except GatewayRefusal as refusal:
            return self.sim.sign({**answer, "respCode": refusal.code, "respMsg": refusal.message})
        answer.update(respCode=SUCCESS, respMsg="成功[0000000]")
        answer.update(
            fileName=zip_name(self.sim.mer_id, day), fileContent=file_content(self.zip(day))
        )
        return self.sim.sign(answer)

    def zip(self, day: date) -> bytes:
        """The zip of ``day``'s flow file as UnionPay would make it now."""
        off = 1 if self.differences.bad_totals else 0
        content = flow_file(self.records(day), totals_off_by=off)
        data = zipped(flow_name(self.sim.mer_id, day), content, day=day)
        return _damaged(data) if self.differences.bad_digest else data

    def records(self, day: date) -> list[FlowRecord]:
        """The consumes paid and the refunds paid back on ``day``, in time order."""
        self.sim.pay_back_due(self._clock.now())
        consumes = {trade.query_id: trade for trade in self.sim.trades.values()}
        records = [
            self._consume(trade)
            for trade in consumes.values()
            if trade.state is TradeState.PAID and trade.paid_at and day_of(trade.paid_at) == day
        ]
        records += [
            self._refund(refund, consumes[refund.orig_query_id])
            for refund in self.sim.refund_book.refunds.values()
            if refund.state == SUCCEEDED and day_of(refund.due_at) == day
        ]
        return sorted(records, key=lambda record: (record.trace_time, record.code))

    def knows(self, out_trade_no: str) -> bool:
        return any(trade.order_id == out_trade_no for trade in self.sim.trades.values())

    async def plant_provider_only(self, amount: Money) -> str:
        """A consume paid now that the merchant never created (and is never told of)."""
        now = self._clock.now()
        today = f"{day_of(now):%Y%m%d}"
        order_id = f"T{today}99{len(self.sim.trades) + 1:08d}"  # an order number not ours
        trade = SimTrade(
            order_id=order_id,
            txn_time=f"{today}000000",  # as our adapter derives it, so a query finds it
            query_id=beijing_time(now)[2:] + digits(9),
            amount=amount.minor,
            currency_code=currency_code(amount.currency),
            channel_type="07",
            front_url="",
            back_url="",
            pay_timeout=now + timedelta(minutes=15),
        )
        self.sim.trades[(order_id, trade.txn_time)] = trade
        await self.sim.pay(order_id, success=True, notify=False)
        return order_id

    def _settle_day(self, fields: Mapping[str, str]) -> date:
        if fields.get("fileType") != FILE_TYPE:
            raise GatewayRefusal("10", "报文格式错误 fileType is 00")
        settle_date = fields.get("settleDate", "")
        if not re.fullmatch(r"[0-9]{4}", settle_date):
            raise GatewayRefusal("10", "报文格式错误 settleDate is MMDD")
        now = self._clock.now()
        today = day_of(now)
        for year in range(today.year, today.year - YEARS_BACK, -1):
            try:
                day = date(year, int(settle_date[:2]), int(settle_date[2:]))
            except ValueError:
                continue
            if day <= today:
                if not self.differences.made(day, now):
                    raise GatewayRefusal(*NO_FILE)
                return day
        raise GatewayRefusal("10", f"报文格式错误 settleDate {settle_date} is no day")

    def _consume(self, trade: SimTrade) -> FlowRecord:
        return FlowRecord(
            code=CONSUME,
            trace_no=trade.trace_no,
            trace_time=trade.trace_time,
            acc_no=trade.acc_no,
            amount=billed_amount(self.differences, trade.order_id, trade.amount),
            channel_type=trade.channel_type,
            query_id=trade.query_id,
            order_id=trade.order_id,
            fee=trade.fee,
            mer_id=self.sim.mer_id,
            currency_code=trade.currency_code,
        )

    def _refund(self, refund: SimRefund, trade: SimTrade) -> FlowRecord:
        return FlowRecord(
            code=REFUND,
            trace_no=refund.trace_no,
            trace_time=refund.trace_time,
            acc_no=trade.acc_no,
            amount=refund.amount,
            channel_type=trade.channel_type,
            query_id=refund.query_id,
            order_id=refund.order_id,
            fee=refund.fee_back,
            mer_id=self.sim.mer_id,
            currency_code=refund.currency_code,
            orig_trace_no=trade.trace_no,
            orig_trace_time=trade.trace_time,
            orig_query_id=trade.query_id,
            orig_order_id=trade.order_id,
        )


def _damaged(data: bytes) -> bytes:
    """The zip with the flow file's CRC-32 wrong, as a file damaged before it was signed."""
    at = data.rindex(b"PK\x01\x02") + CENTRAL_CRC
    return data[:at] + bytes(byte ^ 0xFF for byte in data[at : at + 4]) + data[at + 4 :]
