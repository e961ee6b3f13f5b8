"""The bodies of the POS API (``api.pos``, ``api.pos_refunds``): what a counter's device
sends and reads. What every route of it takes besides is ``api.pos_answers``'."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from simkeep.api.schemas import Amount, Balance, Phone, PlanOut
from simkeep.counter.model import MAX_CASH_MINOR, MAX_TERMINAL_REF, MAX_TOPUP, MIN_TOPUP
from simkeep.counter.model import Payment as PaymentKind
from simkeep.counter.service import (
    Lookup,
    RefundLine,
    Sale,
    Shift,
    ShiftReport,
    TotalLine,
)
from simkeep.money import Money
from simkeep.receipts.model import CounterSale, VoucherLine
from simkeep.receipts.service import Receipt, SaleReceipt
from simkeep.refunds.model import Reason, RefundState
from simkeep.refunds.queries import Refund
from simkeep.sims.model import IdType, SimState
from simkeep.vouchers.model import MAX_SALE

Payment = Literal["cash", "card"]
TerminalRef = Field(
    default=None,
    min_length=1,
    max_length=MAX_TERMINAL_REF,
    description="The card terminal's reference: required for card, left out for cash",
)
IdNumber = Field(
    min_length=1, max_length=40, description="As printed on the document; never stored"
)


class NameOut(BaseModel):
    code: str
    name: str = Field(description="In the request's language (Accept-Language)")


class OpenShiftRequest(BaseModel):
    opening_cash_minor: int = Field(
        ge=0, le=MAX_CASH_MINOR, strict=True, description="In the drawer now"
    )


class CloseShiftRequest(BaseModel):
    counted_cash_minor: int = Field(
        ge=0, le=MAX_CASH_MINOR, strict=True, description="Counted at the close"
    )


class ShiftOut(BaseModel):
    id: int
    state: Literal["open", "closed"]
    opening_cash: Balance
    opened_at: datetime
    closed_at: datetime | None
    expected_cash: Balance | None = Field(description="Opening cash plus cash sales, at close")
    expected_card: Balance | None = Field(description="Card sales, at close")
    counted_cash: Balance | None
    difference: Balance | None = Field(description="Counted less expected cash: < 0 is short")

    @classmethod
    def of(cls, shift: Shift) -> ShiftOut:
        figures = shift.figures
        return cls(
            id=shift.id,
            state=shift.state.value,
            opening_cash=Balance.of(shift.opening_cash),
            opened_at=shift.opened_at,
            closed_at=shift.closed_at,
            expected_cash=Balance.of(figures.expected_cash) if figures else None,
            expected_card=Balance.of(figures.expected_card) if figures else None,
            counted_cash=Balance.of(figures.counted_cash) if figures else None,
            difference=Balance.of(figures.difference) if figures else None,
        )


class LookupOut(BaseModel):
    number: str = Field(description="E.164")
    holder_masked: str = Field(examples=["陳*明"])
    plan: PlanOut
    state: SimState
    home_currency: str
    id_check_from: Balance = Field(description="A top-up of this much or more needs an ID check")
    always_check: bool = Field(description="Every top-up needs an ID check (a suspended SIM)")
    id_checked_until: datetime | None = Field(description="This device's clerk's last match")

    @classmethod
    def of(cls, lookup: Lookup, locale: str) -> LookupOut:
        return cls(
            number=lookup.e164,
            holder_masked=lookup.holder_masked,
            plan=PlanOut.of(lookup.plan, locale),
            state=lookup.state,
            home_currency=lookup.home_currency,
            id_check_from=Balance.of(lookup.check_from),
            always_check=lookup.always_check,
            id_checked_until=lookup.matched_until,
        )


class IdCheckRequest(BaseModel):
    number: str = Phone
    id_type: IdType
    id_number: str = IdNumber


class IdCheckOut(BaseModel):
    matched: bool = Field(description="Whether it is the holder's registered document")


class TopUpRequest(BaseModel):
    number: str = Phone
    amount_minor: int = Field(
        ge=MIN_TOPUP * 100,
        le=MAX_TOPUP * 100,
        multiple_of=100,
        strict=True,
        description=f"Whole units from {MIN_TOPUP} to {MAX_TOPUP} of the outlet's currency",
    )
    payment: Payment
    terminal_ref: str | None = TerminalRef


class VoucherSaleRequest(BaseModel):
    serials: list[str] = Field(min_length=1, max_length=MAX_SALE)
    payment: Payment
    terminal_ref: str | None = TerminalRef


class SaleOut(BaseModel):
    id: int
    receipt_no: str
    kind: Literal["topup", "voucher"]
    order_no: str | None = Field(description="A top-up's order")
    amount: Amount
    payment: Payment
    terminal_ref: str | None
    commission: Balance = Field(description="What the agent earned")
    created_at: datetime
    replayed: bool = Field(description="True: this key's sale was made before; nothing new")

    @classmethod
    def of(cls, sale: Sale) -> SaleOut:
        return cls(
            id=sale.id,
            receipt_no=sale.receipt_no,
            kind=sale.kind.value,
            order_no=sale.order_no,
            amount=Amount.of(sale.amount),
            payment=sale.payer.payment.value,
            terminal_ref=sale.payer.terminal_ref,
            commission=Balance.of(sale.commission),
            created_at=sale.created_at,
            replayed=sale.replayed,
        )


class TotalOut(BaseModel):
    kind: Literal["topup", "voucher"]
    payment: Payment
    count: int
    total: Balance

    @classmethod
    def of(cls, line: TotalLine) -> TotalOut:
        return cls(
            kind=line.kind.value,
            payment=line.payment.value,
            count=line.count,
            total=Balance.of(line.total),
        )


class RefundTotalOut(BaseModel):
    payment: Payment
    count: int
    total: Balance = Field(description="Paid back")

    @classmethod
    def of(cls, line: RefundLine) -> RefundTotalOut:
        return cls(payment=line.payment.value, count=line.count, total=Balance.of(line.total))


class CounterRefundOut(BaseModel):
    """A refund of a counter top-up: paid to the agent's float, and paid out at a counter."""

    refund_no: str = Field(description="Printed on its receipt; the payer collects it with it")
    order_no: str
    state: RefundState
    reason: Reason
    taken: Amount = Field(description="Taken off the SIM")
    deducted: Amount | None = Field(description="Of it, bonus money used, kept")
    pay: Amount = Field(description="What goes back to the payer")
    commission_back: Balance | None = Field(description="The agent's commission taken back")
    requested_at: datetime
    paid_at: datetime | None = Field(description="When it was paid to the agent's float")
    paid_out_at: datetime | None = Field(description="When the payer got it at a counter")
    payout: Payment | None = Field(description="Cash, or back to the card; null: still owed")
    terminal_ref: str | None
    shift_id: int | None = Field(description="The shift that paid it out")
    replayed: bool = Field(description="True: this key's refund was made before; nothing new")

    @classmethod
    def of(cls, refund: Refund) -> CounterRefundOut:
        return cls(
            refund_no=refund.refund_no,
            order_no=refund.order_no,
            state=refund.state,
            reason=refund.reason,
            taken=Amount.of(refund.taken),
            deducted=Amount.of(refund.deducted) if refund.deducted.minor else None,
            pay=Amount.of(refund.pay),
            commission_back=Balance.of(refund.commission_back) if refund.commission_back else None,
            requested_at=refund.requested_at,
            paid_at=refund.paid_at,
            paid_out_at=refund.paid_out_at,
            payout=refund.payout.value if refund.payout else None,
            terminal_ref=refund.terminal_ref,
            shift_id=refund.shift_id,
            replayed=refund.replayed,
        )


class ShiftReportOut(BaseModel):
    """A shift's Z-report: its figures so far while it is open."""

    shift: ShiftOut
    outlet: NameOut
    clerk: str
    totals: list[TotalOut]
    refund_totals: list[RefundTotalOut] = Field(description="Refunds paid out in the shift")
    cash_sales: Balance
    card_sales: Balance
    expected_cash: Balance = Field(description="Opening cash, plus cash sales, less cash refunds")
    expected_card: Balance = Field(description="Card sales less refunds back to cards")
    commission: Balance = Field(description="Earned by the sales, less what refunds took back")
    sales: list[SaleOut]
    refunds: list[CounterRefundOut]

    @classmethod
    def of(cls, report: ShiftReport, locale: str) -> ShiftReportOut:
        return cls(
            shift=ShiftOut.of(report.shift),
            outlet=NameOut(code=report.outlet.code, name=report.outlet.names.pick(locale)),
            clerk=report.clerk_name,
            totals=[TotalOut.of(line) for line in report.lines],
            refund_totals=[RefundTotalOut.of(line) for line in report.refund_lines],
            cash_sales=Balance.of(report.sales_by(PaymentKind.CASH)),
            card_sales=Balance.of(report.sales_by(PaymentKind.CARD)),
            expected_cash=Balance.of(report.expected_cash),
            expected_card=Balance.of(report.card),
            commission=Balance.of(report.commission),
            sales=[SaleOut.of(sale) for sale in report.sales],
            refunds=[CounterRefundOut.of(refund) for refund in report.refunds],
        )


class VoucherOut(BaseModel):
    serial: str
    value: Amount
    expires_at: datetime

    @classmethod
    def of(cls, line: VoucherLine) -> VoucherOut:
        return cls(serial=line.serial, value=Amount.of(line.face), expires_at=line.expires_at)


class TopUpPart(BaseModel):
    order_no: str
    number_masked: str = Field(examples=["+852 9***4567"])
    holder_masked: str
    plan: PlanOut
    validity_until: datetime | None = Field(description="The SIM's validity after the top-up")


class SaleReceiptOut(BaseModel):
    """What a counter sale's receipt prints."""

    receipt_no: str
    at: datetime
    outlet: str = Field(description="In the request's language (Accept-Language)")
    clerk: str
    payment: Payment
    terminal_ref: str | None
    amount: Amount
    verify_url: str = Field(description="The signed link its QR code opens")
    topup: TopUpPart | None = Field(description="A top-up's number, plan and new validity")
    vouchers: list[VoucherOut] | None = Field(description="Vouchers sold: never their PINs")

    @classmethod
    def of(cls, receipt: Receipt | SaleReceipt, locale: str) -> SaleReceiptOut:
        if isinstance(receipt, SaleReceipt):
            sold = receipt.view
            cards = [VoucherOut.of(line) for line in sold.vouchers]
            return cls._of(receipt, sold.counter, sold.sold_at, sold.total, locale, vouchers=cards)
        view = receipt.view
        assert view.counter is not None  # a counter sale's order
        topup = TopUpPart(
            order_no=view.order_no,
            number_masked=view.number_printed,
            holder_masked=view.holder_masked,
            plan=PlanOut.of(view.plan, locale),
            validity_until=view.validity_until,
        )
        return cls._of(receipt, view.counter, view.credited_at, view.credit, locale, topup=topup)

    @classmethod
    def _of(
        cls,
        receipt: Receipt | SaleReceipt,
        counter: CounterSale,
        at: datetime,
        amount: Money,
        locale: str,
        *,
        topup: TopUpPart | None = None,
        vouchers: list[VoucherOut] | None = None,
    ) -> SaleReceiptOut:
        return cls(
            receipt_no=receipt.view.receipt_no,
            at=at,
            outlet=counter.outlet.pick(locale),
            clerk=counter.clerk_name,
            payment="card" if counter.payment == "card" else "cash",
            terminal_ref=counter.terminal_ref,
            amount=Amount.of(amount),
            verify_url=receipt.verify_url,
            topup=topup,
            vouchers=vouchers,
        )
