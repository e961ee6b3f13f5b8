"""``/api/v1/network``: what the carrier's systems ask of simkeep — a line's state and what
to bar on it, and charging batches of usage records (docs/usage.md).

Every route takes a network client's bearer token (``simkeep network add-client NAME``),
and only that: a subscriber's token is refused here, and a network token finds nothing on
the subscribers' routes. A batch answers 200 with one outcome per record, in order, even
when some are refused: a malformed record is refused alone and the others are charged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from simkeep.api import errors
from simkeep.api.errors import ErrorDetail
from simkeep.services import ServicesDep
from simkeep.usage import clients
from simkeep.usage import service as usage
from simkeep.usage.clients import NetworkClient
from simkeep.usage.model import MAX_BATCH_BYTES, MAX_RECORDS, Charge
from simkeep.usage.service import LineState, Outcome

USAGE_PATH = "/api/v1/network/usage"
USAGE_BODY_LIMIT = MAX_BATCH_BYTES  # a batch is larger than the other bodies simkeep takes

network_bearer = HTTPBearer(
    auto_error=False, description="A network client's token (simkeep network add-client)"
)
router = APIRouter(
    prefix="/api/v1/network",
    tags=["network"],
    responses=errors.documented(400, 401, 404, 413, 422),
)


async def network_client(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(network_bearer)],
) -> NetworkClient:
    """The network client whose token is in ``Authorization: Bearer …``; 401 otherwise."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(401, "send a network client's token: Authorization: Bearer", challenge)
    client = await clients.authenticate(services.db, token=credentials.credentials)
    if client is None:
        raise HTTPException(401, "this is not a network client's token", challenge)
    return client


NetworkDep = Annotated[NetworkClient, Depends(network_client)]


class BarringOut(BaseModel):
    outgoing_voice: bool
    outgoing_sms: bool
    data: bool
    incoming_voice: bool
    incoming_sms: bool


class LineOut(BaseModel):
    number: str = Field(description="E.164")
    state: Literal["active", "grace", "suspended"]
    plan: str
    barred: BarringOut = Field(description="What the network must bar on the line")

    @classmethod
    def of(cls, line: LineState) -> LineOut:
        b = line.barring
        return cls(
            number=line.number,
            state=line.state.value,  # never recycled: that is a 404
            plan=line.plan_code,
            barred=BarringOut(
                outgoing_voice=b.outgoing_voice,
                outgoing_sms=b.outgoing_sms,
                data=b.data,
                incoming_voice=b.incoming_voice,
                incoming_sms=b.incoming_sms,
            ),
        )


class UsageBatch(BaseModel):
    records: list[Any] = Field(
        min_length=1,
        max_length=MAX_RECORDS,
        description="Usage records: {id, number (E.164), kind (voice | data | sms), zone"
        " (hk | mainland), quantity (minutes, MB or messages), occurred_at (ISO 8601)}",
        examples=[
            [
                {
                    "id": "cdr-20261130-000001",
                    "number": "+85291234567",
                    "kind": "voice",
                    "zone": "hk",
                    "quantity": 3,
                    "occurred_at": "2026-11-30T09:15:00+08:00",
                }
            ]
        ],
    )


class ChargeOut(BaseModel):
    currency: str
    rate_minor: int = Field(description="The price of one unit, minor units")
    bucket_units: int = Field(description="Units paid by benefit buckets")
    amount_minor: int = Field(description="The price of the other units")
    bonus_minor: int = Field(description="Paid from bonus money")
    balance_minor: int = Field(description="Paid from the balance")
    unpaid_minor: int = Field(description="What neither could pay, kept as unpaid")
    barred: bool = Field(description="The line was barred for this usage when charged")

    @classmethod
    def of(cls, charge: Charge) -> ChargeOut:
        return cls(
            currency=charge.currency,
            rate_minor=charge.rate,
            bucket_units=charge.bucket_units,
            amount_minor=charge.amount,
            bonus_minor=charge.bonus,
            balance_minor=charge.balance,
            unpaid_minor=charge.unpaid,
            barred=charge.barred,
        )


class OutcomeOut(BaseModel):
    index: int = Field(description="The record's place in the batch, from 0")
    id: str | None
    status: Literal["charged", "unpaid", "duplicate", "refused"]
    charge: ChargeOut | None = Field(
        None, description="What it cost (a duplicate: what it cost the first time)"
    )
    error: ErrorDetail | None = Field(None, description="Why a record was refused")

    @classmethod
    def of(cls, outcome: Outcome) -> OutcomeOut:
        refused = outcome.refused
        return cls(
            index=outcome.index,
            id=outcome.record_id,
            status=outcome.status,  # one of the four the service gives
            charge=ChargeOut.of(outcome.charge) if outcome.charge else None,
            error=ErrorDetail(code=refused.code, message=refused.message) if refused else None,
        )


class UsageOut(BaseModel):
    received_at: datetime
    outcomes: list[OutcomeOut]


@router.get("/lines/{number}", summary="A line's state and what to bar on it")
async def get_line(
    number: Annotated[str, Path(min_length=6, max_length=32)],
    _: NetworkDep,
    services: ServicesDep,
) -> LineOut:
    line = await services.db.read(lambda conn: usage.line_state(conn, number=number))
    if line is None:
        raise HTTPException(404, "no line in service has this number")
    return LineOut.of(line)


@router.post("/usage", summary="Charge a batch of usage records, once per record id")
async def post_usage(body: UsageBatch, client: NetworkDep, services: ServicesDep) -> UsageOut:
    now = services.clock.now()
    outcomes = await usage.charge_batch(
        services.db, client_id=client.id, records=body.records, now=now
    )
    return UsageOut(received_at=now, outcomes=[OutcomeOut.of(o) for o in outcomes])
