"""``/api/v1/pos`` (with ``api.pos``): refunds of the agent's counter top-ups for a clerk's
device — what a refund of one would pay back, the holder's ID check when it needs it, the
refund made and paid out at once, the refunds waiting at the agent's counters and their
payout (each with an ``Idempotency-Key``), whether a key's refund or payout went through,
and a refund's receipt as a PDF.

As for a sale: the same key and body answer the first refund (200, ``replayed``), another
body with it is a 409 ``idempotency_conflict``. Refusals keep their codes
(``api.errors.DOMAIN_STATUS``): another agent's top-up (``other_agent``), one not made at a
counter (``not_outlet_topup``), a refund paid out already (``refund_paid_out``). Thin: each
route calls ``refunds.counter`` once; what they take and how they answer besides is
``api.pos_answers``', as for a sale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from simkeep.api.devices import ClerkDeviceDep
from simkeep.api.pos_answers import (
    KEY_PATTERN,
    PDF,
    IdempotencyKey,
    PaperLanguageDep,
    actor,
    pdf_answer,
    replay_status,
    replayed,
    typed_document,
)
from simkeep.api.pos_schemas import CounterRefundOut, IdCheckOut, IdNumber, Payment, TerminalRef
from simkeep.api.schemas import Amount
from simkeep.counter.model import MAX_TOPUP, check_payer
from simkeep.receipts.model import receipt_signature
from simkeep.receipts.refunds import refund_receipt_pdf, verify_refund_receipt
from simkeep.refunds import counter as refunds
from simkeep.refunds import counter_papers
from simkeep.refunds.counter import Collect, CounterRefund, Holder, Refundable
from simkeep.refunds.model import Reason
from simkeep.services import ServicesDep
from simkeep.sims.model import IdType

router = APIRouter()  # included by ``api.pos``: its prefix, tag and errors
RefundNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9]+$")]
TopUpNumber = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="The receipt number (R…) or order number (T…) on the customer's receipt",
    ),
]
REFUND_REPLAYED = replayed(CounterRefundOut, "refund")

TopUpNumberField = Field(
    min_length=1,
    max_length=64,
    description="The receipt number (R…) or the order number (T…) on the customer's receipt",
    examples=["R2611250000000042"],
)


class CounterRefundRequest(BaseModel):
    topup: str = TopUpNumberField
    reason: Reason
    payment: Payment = Field(description="As the top-up was paid: cash, or back to its card")
    terminal_ref: str | None = TerminalRef
    amount_minor: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOPUP * 100,
        strict=True,
        description="What to pay back, in minor units (what the preview showed); left out: all"
        " that can go back. More than can go back now is refused",
    )


class PayOutRequest(BaseModel):
    payment: Payment = Field(description="As the top-up was paid: cash, or back to its card")
    terminal_ref: str | None = TerminalRef


class RefundIdCheckRequest(BaseModel):
    topup: str = TopUpNumberField
    id_type: IdType
    id_number: str = IdNumber


class HolderOut(BaseModel):
    id_check_needed: bool = Field(description="The refund needs the SIM holder's ID checked")
    id_checked_until: datetime | None = Field(description="This device's clerk's last match")

    @classmethod
    def of(cls, holder: Holder) -> HolderOut:
        return cls(id_check_needed=holder.needs_id, id_checked_until=holder.matched_until)


class RefundPreviewOut(BaseModel):
    """A counter top-up of the agent, and what a refund of it would pay back now."""

    order_no: str
    receipt_no: str | None
    number_masked: str = Field(examples=["+852 9***4567"])
    credited_at: datetime | None
    credit: Amount = Field(description="What the top-up credited")
    payment: Payment = Field(description="How the top-up was paid: how the refund goes back")
    terminal_ref: str | None
    taken: Amount = Field(description="Would be taken off the SIM")
    deducted: Amount | None = Field(description="Of it, bonus money used, kept")
    pay: Amount = Field(description="Would be paid back")
    holder: HolderOut

    @classmethod
    def of(cls, found: Refundable) -> RefundPreviewOut:
        amounts = found.amounts
        return cls(
            order_no=found.order.order_no,
            receipt_no=found.order.receipt_no,
            number_masked=found.number_masked,
            credited_at=found.order.credited_at,
            credit=Amount.of(found.order.credit),
            payment=found.sale.payer.payment.value,
            terminal_ref=found.sale.payer.terminal_ref,
            taken=Amount.of(amounts.taken),
            deducted=Amount.of(amounts.deducted) if amounts.deducted.minor else None,
            pay=Amount.of(amounts.pay),
            holder=HolderOut.of(found.holder),
        )


@router.get(
    "/topups/{topup}/refund",
    summary="What a refund of one of the agent's counter top-ups would pay back now",
)
async def refund_preview(
    topup: TopUpNumber, device: ClerkDeviceDep, services: ServicesDep
) -> RefundPreviewOut:
    found = await refunds.preview(
        services.db,
        clerk=device.member,
        topup=topup,
        policy=services.id_policy,
        now=services.clock.now(),
    )
    return RefundPreviewOut.of(found)


@router.post(
    "/refund-id-checks",
    summary="Check the ID of the holder of the SIM a counter top-up topped up",
)
async def check_refund_id(
    body: RefundIdCheckRequest, device: ClerkDeviceDep, services: ServicesDep, request: Request
) -> IdCheckOut:
    document = typed_document(body, device, request, services)
    matched = await refunds.check_holder_id(services.db, topup=body.topup, **document)
    return IdCheckOut(matched=matched)


@router.post(
    "/refunds",
    status_code=201,
    summary="Refund a counter top-up of the agent and pay it out here: cash, or to the card",
    responses=REFUND_REPLAYED,
)
async def refund(
    body: CounterRefundRequest,
    key: IdempotencyKey,
    device: ClerkDeviceDep,
    services: ServicesDep,
    request: Request,
    response: Response,
) -> CounterRefundOut:
    made = await refunds.refund(
        services.db,
        clerk=device.member,
        actor=actor(device, request),
        request=CounterRefund(
            key=key,
            topup=body.topup,
            reason=body.reason,
            payer=check_payer(body.payment, body.terminal_ref),
            asked_minor=body.amount_minor,
        ),
        policy=services.id_policy,
        now=services.clock.now(),
    )
    replay_status(made, response)
    return CounterRefundOut.of(made)


@router.get("/refunds", summary="Whether the refund or payout sent with this key went through")
async def refund_by_key(
    key: Annotated[str, Query(pattern=KEY_PATTERN, description="Its Idempotency-Key")],
    device: ClerkDeviceDep,
    services: ServicesDep,
) -> CounterRefundOut:
    found = await counter_papers.refund_by_key(services.db, clerk=device.member, key=key)
    if found is None:
        raise HTTPException(
            404, "no refund was made or paid out with this key: it did not go through"
        )
    return CounterRefundOut.of(found)


@router.get("/refunds/waiting", summary="The refunds the agent's counters have still to pay out")
async def waiting(device: ClerkDeviceDep, services: ServicesDep) -> list[CounterRefundOut]:
    return [
        CounterRefundOut.of(found)
        for found in await counter_papers.waiting_here(services.db, clerk=device.member)
    ]


@router.post(
    "/refunds/{refund_no}/pay-out",
    summary="Pay out here a refund waiting at the agent's counters",
    responses=REFUND_REPLAYED,
)
async def pay_out(
    refund_no: RefundNo,
    body: PayOutRequest,
    key: IdempotencyKey,
    device: ClerkDeviceDep,
    services: ServicesDep,
    request: Request,
    response: Response,
) -> CounterRefundOut:
    paid = await refunds.pay_out(
        services.db,
        clerk=device.member,
        actor=actor(device, request),
        request=Collect(
            key=key, refund_no=refund_no, payer=check_payer(body.payment, body.terminal_ref)
        ),
        policy=services.id_policy,
        now=services.clock.now(),
    )
    replay_status(paid, response)
    return CounterRefundOut.of(paid)


@router.get(
    "/refunds/{refund_no}/receipt.pdf",
    summary="A refund paid out at a counter: its receipt as a PDF (80 mm)",
    response_class=Response,
    responses=PDF,
)
async def refund_receipt(
    refund_no: RefundNo,
    device: ClerkDeviceDep,
    services: ServicesDep,
    language: PaperLanguageDep,
) -> Response:
    if await counter_papers.papers(services.db, refund_no=refund_no, viewer=device.member) is None:
        raise HTTPException(404, "no such refund paid out that you may read")
    signing = services.receipts
    receipt = await verify_refund_receipt(
        services.db,
        refund_no=refund_no,
        signature=receipt_signature(signing.key, refund_no),
        signing=signing,
    )
    assert receipt is not None  # paid out, so paid
    return pdf_answer(await refund_receipt_pdf(receipt, language=language), refund_no)
