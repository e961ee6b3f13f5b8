"""``/api/v1/topups/{order_no}/refunds`` and ``/api/v1/refunds/{refund_no}``: ask for a
top-up's money back (with an ``Idempotency-Key``: the same key and body give the same
refund, another body is a 409), and follow it until it is paid. A wrong-number top-up that
nobody used, asked for soon enough, is approved at once; other requests wait for staff.
Refunds of other subscribers' orders are not found."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.api import errors
from simkeep.api.deps import SubscriberDep
from simkeep.api.schemas import Amount
from simkeep.money import Money
from simkeep.refunds import queries
from simkeep.refunds import service as refunds
from simkeep.refunds.model import NOTE_CHARS, Reason, RefundState
from simkeep.refunds.queries import Refund
from simkeep.services import ServicesDep
from simkeep.topups import service as topups

router = APIRouter(
    prefix="/api/v1",
    tags=["refunds"],
    responses=errors.documented(400, 401, 404, 409, 413, 422),
)

OrderNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_]+$")]
RefundNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9]+$")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="Chosen by the client, one per refund: a retry sends the same key",
    ),
]


class RefundAsk(BaseModel):
    reason: Reason
    note: str = Field(default="", max_length=NOTE_CHARS)
    amount: Amount | None = Field(
        default=None,
        description="In the SIM's currency; left out: all that can be refunded",
    )


class RefundOut(BaseModel):
    refund_no: str
    order_no: str
    state: RefundState
    reason: Reason
    note: str
    refunded: Amount = Field(description="Taken off the SIM for the payer, its currency")
    deducted: Amount | None = Field(description="Bonus money used, kept from the refund")
    pay: Amount = Field(description="What goes back to the payer, in the currency paid")
    requested_at: datetime
    decided_at: datetime | None
    decision_note: str | None
    paid_at: datetime | None

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            refund_no=refund.refund_no,
            order_no=refund.order_no,
            state=refund.state,
            reason=refund.reason,
            note=refund.note,
            refunded=Amount.of(refund.credit),
            deducted=Amount.of(refund.deducted) if refund.deducted.minor else None,
            pay=Amount.of(refund.pay),
            requested_at=refund.requested_at,
            decided_at=refund.decided_at,
            decision_note=refund.decision_note,
            paid_at=refund.paid_at,
        )


@router.post(
    "/topups/{order_no}/refunds",
    status_code=201,
    summary="Ask for a credited top-up's money back, all that is unused or a part",
)
async def ask_refund(
    order_no: OrderNo,
    body: RefundAsk,
    idempotency_key: IdempotencyKey,
    subscriber: SubscriberDep,
    services: ServicesDep,
) -> RefundOut:
    asked: Money | None = body.amount.money() if body.amount else None
    refund = await services.db.transaction(
        lambda conn: refunds.request_refund(
            conn,
            order_no=order_no,
            asking=refunds.Asking(subscriber.id, idempotency_key=idempotency_key),
            reason=body.reason,
            note=body.note,
            asked=asked,
            rule=services.settings.refund_rule,
            now=services.clock.now(),
        )
    )
    return RefundOut.of(refund)


@router.get("/topups/{order_no}/refunds", summary="The refunds of one of my orders")
async def order_refunds(
    order_no: OrderNo, subscriber: SubscriberDep, services: ServicesDep
) -> list[RefundOut]:
    async def read(conn: AsyncConnection) -> list[Refund]:
        order = await topups.get_order(conn, order_no=order_no, subscriber_id=subscriber.id)
        if order is None:
            raise HTTPException(404, "you have no order with this number")
        found = await queries.refunds_of_orders(conn, order_nos=[order.order_no])
        return found.get(order.order_no, [])

    return [RefundOut.of(refund) for refund in await services.db.read(read)]


@router.get("/refunds/{refund_no}", summary="One of my refunds: follow it until it is paid")
async def get_refund(
    refund_no: RefundNo, subscriber: SubscriberDep, services: ServicesDep
) -> RefundOut:
    async def read(conn: AsyncConnection) -> Refund | None:
        refund = await queries.get_refund(conn, refund_no=refund_no)
        if refund is None:
            return None
        order = await topups.get_order(conn, order_no=refund.order_no, subscriber_id=subscriber.id)
        return refund if order is not None else None

    refund = await services.db.read(read)
    if refund is None:
        raise HTTPException(404, "you have no refund with this number")
    return RefundOut.of(refund)
