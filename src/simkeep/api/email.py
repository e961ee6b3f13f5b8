"""``/api/v1/me/email``: the subscriber's email address, which reminders go to once it is
verified. Thin: each route calls one ``subscribers.emails`` function.

``PUT`` keeps an address as waiting and emails it a six-digit code (202); ``POST …/verify``
with that code makes it the known address; ``GET`` shows both; ``DELETE`` forgets both. A
malformed address is refused with ``invalid_email`` (422) and changes nothing; a wrong or
expired code with ``bad_code`` (422); too many codes in an hour with ``too_many_requests``
(429)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from simkeep.api import errors
from simkeep.api.deps import SubscriberDep
from simkeep.services import ServicesDep
from simkeep.subscribers import emails
from simkeep.subscribers.emails import EmailStatus

router = APIRouter(
    prefix="/api/v1", tags=["auth"], responses=errors.documented(400, 401, 413, 422, 429)
)


class EmailRequest(BaseModel):
    email: str = Field(max_length=1024, description="At most 254 characters, name@example.hk")


class EmailCodeRequest(BaseModel):
    code: str = Field(min_length=1, max_length=16, description="The six digits emailed")


class EmailOut(BaseModel):
    email: str | None = Field(description="The verified address reminders go to")
    verified_at: datetime | None
    pending: str | None = Field(description="An address waiting for the code sent to it")

    @classmethod
    def of(cls, status: EmailStatus) -> EmailOut:
        return cls(email=status.email, verified_at=status.verified_at, pending=status.pending)


@router.get("/me/email", summary="My email address, verified and waiting")
async def get_email(subscriber: SubscriberDep, services: ServicesDep) -> EmailOut:
    status = await services.db.read(
        lambda conn: emails.email_status(conn, subscriber_id=subscriber.id)
    )
    return EmailOut.of(status)


@router.put("/me/email", status_code=202, summary="Set or change my email: a code is emailed")
async def set_email(
    body: EmailRequest, subscriber: SubscriberDep, services: ServicesDep
) -> EmailOut:
    status = await emails.set_email(
        services.db,
        subscriber_id=subscriber.id,
        address=body.email,
        key=services.auth_key,
        limits=services.limits,
        now=services.clock.now(),
    )
    return EmailOut.of(status)


@router.post("/me/email/verify", summary="Verify my email with the code sent to it")
async def verify_email(
    body: EmailCodeRequest, subscriber: SubscriberDep, services: ServicesDep
) -> EmailOut:
    status = await emails.verify_email(
        services.db,
        subscriber_id=subscriber.id,
        code=body.code,
        key=services.auth_key,
        limits=services.limits,
        now=services.clock.now(),
    )
    return EmailOut.of(status)


@router.delete(
    "/me/email", status_code=204, response_class=Response, summary="Remove my email address"
)
async def remove_email(subscriber: SubscriberDep, services: ServicesDep) -> Response:
    await emails.remove_email(services.db, subscriber_id=subscriber.id)
    return Response(status_code=204)
