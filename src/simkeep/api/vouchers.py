"""``POST /api/v1/vouchers/redeem``: a signed-in subscriber redeems a voucher's PIN for any
number, with an ``Idempotency-Key`` (the same key and PIN answer the same top-up again;
another PIN with that key is a 409). The answer is the credited order: receipt number,
amount, new validity. Too many failed PINs (per number, account or address) answer 429
with ``Retry-After``; every PIN that cannot be used gets one answer, ``pin_refused``.
The PIN is never logged, nor echoed in an error."""

from __future__ import annotations

from datetime import datetime
from math import ceil
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from simkeep.api import errors
from simkeep.api.deps import SubscriberDep
from simkeep.api.schemas import Amount, Phone
from simkeep.api.topup_schemas import OrderOut
from simkeep.promotions.model import SalesChannel
from simkeep.services import ServicesDep
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import TooManyAttempts

router = APIRouter(
    prefix="/api/v1",
    tags=["vouchers"],
    responses=errors.documented(400, 401, 409, 413, 422, 429),
)

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="Chosen by the client, one per redemption: a retry sends the same key",
    ),
]


class RedeemRequest(BaseModel):
    pin: str = Field(
        min_length=16,
        max_length=40,
        description="The voucher's 16 digits; spaces and dashes between them are allowed",
        examples=["1234 5678 9012 3456"],
    )
    number: str = Phone
    confirm_number: str | None = Field(
        default=None,
        max_length=32,
        description="The number again: needed for a number you have never topped up",
    )


class RedemptionOut(BaseModel):
    serial: str = Field(description="The voucher's public serial")
    order_no: str
    receipt_no: str | None
    number: str
    credit: Amount = Field(description="What the SIM received: the voucher's face value")
    credited_at: datetime | None
    validity_until: datetime | None = Field(description="The SIM's validity after the top-up")
    replayed: bool = Field(description="True: the answer to a request made before with this key")

    @classmethod
    def of(cls, done: vouchers.Redemption) -> RedemptionOut:
        order = OrderOut.of(done.order)
        return cls(
            serial=done.serial,
            order_no=order.order_no,
            receipt_no=order.receipt_no,
            number=order.number,
            credit=order.credit,
            credited_at=order.credited_at,
            validity_until=order.validity_until,
            replayed=done.replayed,
        )


@router.post(
    "/vouchers/redeem",
    status_code=201,
    response_model=RedemptionOut,
    summary="Redeem a voucher's PIN for any number: the credited top-up",
)
async def redeem_voucher(
    body: RedeemRequest,
    idempotency_key: IdempotencyKey,
    subscriber: SubscriberDep,
    services: ServicesDep,
    request: Request,
) -> RedemptionOut | JSONResponse:
    redeemer = vouchers.Redeemer(
        subscriber_id=subscriber.id,
        address=request.client.host if request.client else "unknown",
        via=SalesChannel.API,
        idempotency_key=idempotency_key,
    )
    now = services.clock.now()
    try:
        done = await vouchers.redeem_voucher(
            services.db,
            pin=body.pin,
            number=body.number,
            confirm_number=body.confirm_number,
            redeemer=redeemer,
            key=vouchers.pin_key(services.settings.secret_key),
            limits=services.pin_limits,
            now=now,
        )
    except TooManyAttempts as error:
        wait = max(ceil((error.retry_at - now).total_seconds()), 1)
        message = f"{error} (after {error.retry_at:%Y-%m-%d %H:%M} UTC)"
        body_out = {"error": {"code": error.code, "message": message}}
        return JSONResponse(body_out, status_code=429, headers={"Retry-After": str(wait)})
    return RedemptionOut.of(done)
