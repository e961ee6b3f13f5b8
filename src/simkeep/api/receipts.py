"""Receipts through the API: the owner's receipt of a credited order (JSON or PDF), and the
public check of a receipt's signed link (the one its QR code opens)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel

from simkeep.api import errors
from simkeep.api.deps import LanguageDep, SubscriberDep
from simkeep.api.schemas import Amount, PlanOut, ProviderOut
from simkeep.receipts import service as receipts
from simkeep.receipts.service import Receipt
from simkeep.services import ServicesDep
from simkeep.topups.model import OrderState

router = APIRouter(
    prefix="/api/v1", tags=["receipts"], responses=errors.documented(401, 404, 413, 422)
)

Language = Literal["zh_Hant_HK", "zh_Hans_CN", "en"]


class ReceiptOut(BaseModel):
    receipt_no: str
    order_no: str
    state: OrderState
    credited_at: datetime
    number: str
    holder_masked: str
    plan: PlanOut
    credit: Amount
    pay: Amount
    fx_rate: str | None
    provider: ProviderOut
    provider_trade_no: str
    validity_until: datetime | None
    verify_url: str

    @classmethod
    def of(cls, receipt: Receipt, locale: str) -> ReceiptOut:
        view = receipt.view
        return cls(
            receipt_no=view.receipt_no,
            order_no=view.order_no,
            state=receipt.state,
            credited_at=view.credited_at,
            number=view.msisdn,
            holder_masked=view.holder_masked,
            plan=PlanOut.of(view.plan, locale),
            credit=Amount.of(view.credit),
            pay=Amount.of(view.pay),
            fx_rate=_rate(view.fx_rate),
            provider=ProviderOut.of(view.provider, locale),
            provider_trade_no=view.provider_trade_no,
            validity_until=view.validity_until,
            verify_url=receipt.verify_url,
        )


class VerifiedReceiptOut(BaseModel):
    """What anyone holding the receipt may see: no trade number, the number masked."""

    genuine: Literal[True] = True
    receipt_no: str
    state: OrderState
    credited_at: datetime
    number_masked: str
    credit: Amount
    pay: Amount


@router.get("/topups/{order_no}/receipt", summary="The receipt of one of my credited orders")
async def get_receipt(
    order_no: str, subscriber: SubscriberDep, services: ServicesDep, language: LanguageDep
) -> ReceiptOut:
    return ReceiptOut.of(await _owned(order_no, subscriber.id, services), language)


@router.get(
    "/topups/{order_no}/receipt.pdf",
    summary="The receipt as a PDF (80 mm), with its verification QR code",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_receipt_pdf(
    order_no: str,
    subscriber: SubscriberDep,
    services: ServicesDep,
    language: LanguageDep,
    lang: Annotated[
        Language | None, Query(description="The receipt's language; Accept-Language otherwise")
    ] = None,
) -> Response:
    receipt = await _owned(order_no, subscriber.id, services)
    pdf = await receipts.receipt_pdf(receipt, language=lang or language)
    disposition = f'attachment; filename="{receipt.view.receipt_no}.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get("/receipts/{receipt_no}/{signature}", summary="Check a receipt's signed link")
async def verify(receipt_no: str, signature: str, services: ServicesDep) -> VerifiedReceiptOut:
    receipt = await receipts.verify_receipt(
        services.db,
        receipt_no=receipt_no,
        signature=signature,
        signing=services.receipts,
    )
    if receipt is None:
        raise HTTPException(404, "this is not a genuine simkeep receipt")
    view = receipt.view
    return VerifiedReceiptOut(
        receipt_no=view.receipt_no,
        state=receipt.state,
        credited_at=view.credited_at,
        number_masked=receipt.masked_number,
        credit=Amount.of(view.credit),
        pay=Amount.of(view.pay),
    )


async def _owned(order_no: str, subscriber_id: int, services: ServicesDep) -> Receipt:
    receipt = await receipts.receipt_for_order(
        services.db,
        order_no=order_no,
        subscriber_id=subscriber_id,
        signing=services.receipts,
    )
    if receipt is None:
        raise HTTPException(404, "you have no credited order with this number")
    return receipt


def _rate(rate: Decimal | None) -> str | None:
    return None if rate is None else f"{rate:f}"
