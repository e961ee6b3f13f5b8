"""``/api/v1/sims/{id}/keep-alive``: a SIM's auto keep-alive — read it (GET), save an
agreement and its rule (PUT: a new agreement answers the provider's page to sign it on),
cancel it (DELETE: ended at the provider too); and
``/api/v1/keep-alive/{provider}/notify``, where the providers send their agreement
notifications. Thin: each calls one ``keepalive.service`` function. Another subscriber's
SIM is not found (404), whatever its id."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

from simkeep.api import errors
from simkeep.api.deps import SubscriberDep
from simkeep.api.payments import NOTIFY_RESPONSES
from simkeep.api.schemas import Amount
from simkeep.keepalive import service as keepalive
from simkeep.keepalive.model import AgreementExists, AttemptState, Mode, RuleState
from simkeep.keepalive.service import KeepAlive, KeepAliveUrls, NotHeld
from simkeep.payment_methods import AgreementProvider, Provider
from simkeep.payments.agreements import AgreementAdapter
from simkeep.payments.model import RawNotification
from simkeep.services import Services, ServicesDep
from simkeep.sqltypes import MAX_ID

SimId = Annotated[int, Path(ge=1, le=MAX_ID)]
router = APIRouter(tags=["keep-alive"])
ERRORS = errors.documented(400, 401, 404, 409, 422, 502)
NOTIFY = {k: v for k, v in NOTIFY_RESPONSES.items() if k != 413} | errors.documented(413)
NOT_HELD = "you have no SIM with this id, or it has no keep-alive"


class KeepAliveRequest(BaseModel):
    provider: AgreementProvider
    mode: Mode = Field(description="`fixed`: top up `amount`; `enough`: enough to stay active")
    amount: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Minor units of the SIM's currency"
    )


class AttemptOut(BaseModel):
    period: date = Field(description="The day the SIM would lapse")
    state: AttemptState
    amount: Amount
    tries: int
    next_at: datetime | None
    order_no: str | None
    last_error: str | None


class KeepAliveOut(BaseModel):
    provider: Provider
    state: RuleState
    mode: Mode
    amount: int | None
    sign_url: str | None = Field(default=None, description="Open this to sign the agreement")
    latest: AttemptOut | None

    @classmethod
    def of(cls, held: KeepAlive, sign_url: str | None = None) -> KeepAliveOut:
        latest = held.latest
        return cls(
            provider=held.rule.provider,
            state=held.rule.state,
            mode=held.rule.mode,
            amount=held.rule.amount_minor,
            sign_url=sign_url,
            latest=None
            if latest is None
            else AttemptOut(
                period=latest.period,
                state=latest.state,
                amount=Amount.of(latest.amount),
                tries=latest.tries,
                next_at=latest.next_at,
                order_no=latest.order_no,
                last_error=latest.last_error,
            ),
        )


def _agreements(services: Services, provider: Provider) -> AgreementAdapter:
    adapter = keepalive.agreement_adapters(services.adapters).get(provider)
    if adapter is None:
        raise HTTPException(404, f"{provider.value} offers no agreement here")
    return adapter


async def _read(services: Services, subscriber_id: int, sim_id: int) -> KeepAlive:
    try:
        return await services.db.transaction(
            lambda conn: keepalive.keep_alive_of(conn, subscriber_id=subscriber_id, sim_id=sim_id)
        )
    except NotHeld as error:
        raise HTTPException(404, NOT_HELD) from error


@router.get(
    "/api/v1/sims/{sim_id:int}/keep-alive", summary="A SIM's auto keep-alive", responses=ERRORS
)
async def get_keep_alive(
    sim_id: SimId, subscriber: SubscriberDep, services: ServicesDep
) -> KeepAliveOut:
    return KeepAliveOut.of(await _read(services, subscriber.id, sim_id))


@router.put(
    "/api/v1/sims/{sim_id:int}/keep-alive",
    summary="Save a payment agreement and a keep-alive rule for a SIM",
    responses=ERRORS,
)
async def put_keep_alive(
    sim_id: SimId, body: KeepAliveRequest, subscriber: SubscriberDep, services: ServicesDep
) -> KeepAliveOut:
    try:
        saved = await keepalive.save_rule(
            services.db,
            adapter=_agreements(services, body.provider),
            urls=KeepAliveUrls(services.settings.public_url),
            subscriber_id=subscriber.id,
            sim_id=sim_id,
            mode=body.mode,
            amount_minor=body.amount,
            now=services.clock.now(),
        )
    except NotHeld as error:
        raise HTTPException(404, NOT_HELD) from error
    except AgreementExists as error:
        raise HTTPException(409, str(error)) from error
    return KeepAliveOut.of(await _read(services, subscriber.id, sim_id), saved.sign_url)


@router.delete(
    "/api/v1/sims/{sim_id:int}/keep-alive",
    status_code=204,
    response_class=Response,
    summary="Cancel a SIM's auto keep-alive (the agreement ends at the provider)",
    responses=ERRORS,
)
async def delete_keep_alive(
    sim_id: SimId, subscriber: SubscriberDep, services: ServicesDep
) -> Response:
    try:
        await keepalive.cancel_rule(
            services.db,
            adapters=keepalive.agreement_adapters(services.adapters),
            subscriber_id=subscriber.id,
            sim_id=sim_id,
            now=services.clock.now(),
        )
    except (NotHeld, keepalive.NoAgreements) as error:
        raise HTTPException(404, NOT_HELD) from error
    return Response(status_code=204)


@router.post(
    "/api/v1/keep-alive/{provider}/notify",
    summary="A provider's signed agreement notification",
    response_class=Response,
    responses=NOTIFY,
)
async def agreement_notify(provider: Provider, request: Request, services: ServicesDep) -> Response:
    adapter = _agreements(services, provider)
    raw = RawNotification(
        headers=dict(request.headers),
        body=await request.body(),
        query=dict(request.query_params),
    )
    ack = await keepalive.receive_agreement_notification(
        services.db, adapter=adapter, raw=raw, now=services.clock.now()
    )
    return Response(ack.body, status_code=ack.status, media_type=ack.content_type)
