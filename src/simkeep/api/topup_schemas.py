"""The API's bodies of a top-up: the promotions that apply to it, its quote, the order
request, an order and a page of orders (``api.topups``; an order a voucher places too,
``api.vouchers``). They keep ``api.schemas``' rules: integer minor units, UTC times, names in
the request's language, one ``of`` class method per response model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from simkeep.api.schemas import Amount, Phone
from simkeep.payment_methods import Channel, OnlineProvider, Provider
from simkeep.promotions.model import Applied, BenefitKind, Grant
from simkeep.promotions.wording import benefit_text
from simkeep.topups.model import Order, OrderRequest, OrderState, Quote


class BenefitOut(BaseModel):
    """One thing a promotion gives a top-up."""

    kind: BenefitKind = Field(
        description="money and percent: bonus money (amount in minor units of the credit's "
        "currency); data: MB; voice: minutes; sms: messages; validity: extra days"
    )
    amount: int
    zone: Literal["hk", "mainland"] | None = Field(description="Only in this zone; null: any")
    expires_days: int | None = Field(description="Usable this many days after the grant")
    text: str = Field(description="In the request's language", examples=["1,024 MB of data"])

    @classmethod
    def of(cls, grant: Grant, locale: str, currency: str) -> BenefitOut:
        return cls(
            kind=grant.kind,
            amount=grant.amount,
            zone=grant.zone,
            expires_days=grant.expires_days,
            text=benefit_text(grant, locale=locale, currency=currency),
        )


class AppliedOut(BaseModel):
    """A promotion that applies to a top-up, and what it gives that top-up."""

    promotion_id: int
    name: str = Field(description="In the request's language (Accept-Language)")
    benefits: list[BenefitOut]

    @classmethod
    def of(cls, applied: Applied, locale: str, currency: str) -> AppliedOut:
        return cls(
            promotion_id=applied.promotion_id,
            name=applied.names.pick(locale),
            benefits=[BenefitOut.of(grant, locale, currency) for grant in applied.grants],
        )


class QuoteOut(BaseModel):
    credit: Amount
    pay: Amount
    fx_rate: str | None = Field(description="Credit currency → pay currency, as a decimal")
    validity_days: int
    promotions: list[AppliedOut] = Field(
        description="The promotions that apply (to this provider, when given), best first; "
        "the order placed reserves them"
    )

    @classmethod
    def of(cls, quote: Quote, locale: str) -> QuoteOut:
        currency = quote.credit.currency
        return cls(
            credit=Amount.of(quote.credit),
            pay=Amount.of(quote.pay),
            fx_rate=str(quote.fx.rate) if quote.fx else None,
            validity_days=quote.validity_days,
            promotions=[AppliedOut.of(a, locale, currency) for a in quote.promotions],
        )


class TopupRequest(BaseModel):
    number: str = Phone
    confirm_number: str | None = Field(default=None, max_length=32)
    amount: Amount = Field(description="What the SIM receives, in its home currency")
    pay_currency: Literal["HKD", "CNY"]
    provider: OnlineProvider
    channel: Literal[Channel.QR, Channel.PAGE, Channel.WAP] = Channel.QR  # not AUTO: ours
    expected_pay: Amount | None = Field(
        default=None, description="What the payer was shown (from /quote): refused if changed"
    )

    def order_request(self, *, subscriber_id: int, idempotency_key: str) -> OrderRequest:
        return OrderRequest.of(
            subscriber_id=subscriber_id,
            idempotency_key=idempotency_key,
            number=self.number,
            confirm_number=self.confirm_number,
            credit=self.amount.money(),
            pay_currency=self.pay_currency,
            provider=self.provider,
            channel=self.channel,
            expected_pay=self.expected_pay.money() if self.expected_pay else None,
        )


class PaymentOut(BaseModel):
    pay_url: str | None = Field(
        description="Open this to pay (cashier page); with `form`, POST those fields to it"
    )
    qr: str | None = Field(description="Show this as a QR code for the wallet or bank to scan")
    form: dict[str, str] | None = Field(
        default=None,
        description="A gateway that takes a form (bank card): post these fields from the "
        "payer's browser to `pay_url` (application/x-www-form-urlencoded)",
    )


class OrderOut(BaseModel):
    order_no: str
    number: str
    state: OrderState
    credit: Amount
    pay: Amount
    fx_rate: str | None
    validity_days: int
    provider: Provider
    channel: Channel
    created_at: datetime
    expires_at: datetime
    credited_at: datetime | None
    receipt_no: str | None
    validity_until: datetime | None
    payment: PaymentOut
    promotions: list[AppliedOut] | None = Field(
        default=None,
        description="What the order holds (granted once credited); in one order's answer only",
    )

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls(
            order_no=order.order_no,
            number=order.msisdn,
            state=order.state,
            credit=Amount.of(order.credit),
            pay=Amount.of(order.pay),
            fx_rate=str(order.fx_rate) if order.fx_rate is not None else None,
            validity_days=order.validity_days,
            provider=order.provider,
            channel=order.channel,
            created_at=order.created_at,
            expires_at=order.expires_at,
            credited_at=order.credited_at,
            receipt_no=order.receipt_no,
            validity_until=order.validity_until,
            payment=PaymentOut(
                pay_url=order.pay_url,
                qr=order.pay_qr,
                form=dict(order.pay_form) if order.pay_form else None,
            ),
        )


class OrderPage(BaseModel):
    orders: list[OrderOut]
    next_before: int | None = Field(description="Pass as `before` for the next page")
