"""``/api/v1/sims`` and ``/api/v1/numbers``: the subscriber's SIMs with their balances,
linking a SIM by a code sent to it, and the wrong-number guard's view of any number. A SIM
the subscriber has not linked is not found, whatever its id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from simkeep.api import errors
from simkeep.api.deps import SubscriberDep
from simkeep.api.schemas import LinkRequest, NumberOut, NumberRequest, SimOut, link_to
from simkeep.services import ServicesDep
from simkeep.sims import service as sims
from simkeep.sqltypes import MAX_ID
from simkeep.topups import service as topups

router = APIRouter(
    prefix="/api/v1", tags=["sims"], responses=errors.documented(400, 401, 404, 413, 422, 429)
)


@router.get(
    "/sims",
    summary="My SIMs, with balance, validity and state",
    responses={200: link_to("get_sim", sim_id="$response.body#/0/id")},
)
async def list_sims(subscriber: SubscriberDep, services: ServicesDep) -> list[SimOut]:
    held = await services.db.transaction(
        lambda conn: sims.held_sims(conn, subscriber_id=subscriber.id)
    )
    return [SimOut.of(sim) for sim in held]


@router.get("/sims/{sim_id:int}", summary="One of my SIMs: the balance query")
async def get_sim(
    sim_id: Annotated[int, Path(ge=1, le=MAX_ID)], subscriber: SubscriberDep, services: ServicesDep
) -> SimOut:
    held = await services.db.transaction(
        lambda conn: sims.held_sim(conn, subscriber_id=subscriber.id, sim_id=sim_id)
    )
    if held is None:
        raise HTTPException(404, "you have no SIM with this id")
    return SimOut.of(held)


@router.post(
    "/sims/link-codes",
    status_code=202,
    response_class=Response,
    summary="Send a code to a SIM's number",
)
async def send_link_code(body: NumberRequest, _: SubscriberDep, services: ServicesDep) -> Response:
    await sims.request_link_code(
        services.db,
        number=body.number,
        key=services.auth_key,
        limits=services.limits,
        now=services.clock.now(),
    )
    return Response(status_code=202)


@router.post(
    "/sims/links",
    status_code=201,
    summary="Link a SIM with the code sent to it",
    responses={201: link_to("get_sim", sim_id="$response.body#/id")},
)
async def link_sim(body: LinkRequest, subscriber: SubscriberDep, services: ServicesDep) -> SimOut:
    sim = await sims.link_sim(
        services.db,
        subscriber_id=subscriber.id,
        number=body.number,
        code=body.code,
        key=services.auth_key,
        limits=services.limits,
        now=services.clock.now(),
    )
    held = await services.db.transaction(
        lambda conn: sims.held_sim(conn, subscriber_id=subscriber.id, sim_id=sim.id)
    )
    assert held is not None
    return SimOut.of(held)


@router.get("/numbers/{number}", summary="Check a number before topping it up")
async def preview_number(
    number: str, subscriber: SubscriberDep, services: ServicesDep
) -> NumberOut:
    preview = await services.db.transaction(
        lambda conn: topups.preview_number(conn, subscriber_id=subscriber.id, number=number)
    )
    return NumberOut.of(preview)
