"""``/api/v1/sims`` and ``/api/v1/numbers``: the subscriber's SIMs with their balances,
linking a SIM by a code sent to it (the SIM is texted that one more account holds it), the
accounts that hold one of my SIMs, letting go of my link (``DELETE …/link``), and the
wrong-number guard's view of any number. A SIM the subscriber has not linked is not found,
whatever its id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.api import errors
from simkeep.api.deps import LanguageDep, SubscriberDep
from simkeep.api.schemas import (
    HolderOut,
    KeepingOut,
    LinkRequest,
    NumberOut,
    NumberRequest,
    SimOut,
    link_to,
)
from simkeep.retention import accounts as retention
from simkeep.retention.accounts import Entry
from simkeep.services import ServicesDep
from simkeep.sims import service as sims
from simkeep.sims.model import Holder
from simkeep.sqltypes import MAX_ID
from simkeep.topups import service as topups

SimId = Annotated[int, Path(ge=1, le=MAX_ID)]
router = APIRouter(
    prefix="/api/v1", tags=["sims"], responses=errors.documented(400, 401, 404, 413, 422, 429)
)


@router.get(
    "/sims",
    summary="My SIMs, with balance, validity and state",
    responses={200: link_to("get_sim", sim_id="$response.body#/0/id")},
)
async def list_sims(
    subscriber: SubscriberDep, services: ServicesDep, language: LanguageDep
) -> list[SimOut]:
    held = await services.reads.read(
        lambda conn: sims.held_sims(conn, subscriber_id=subscriber.id), seen=subscriber.seen
    )
    return [SimOut.of(sim, language) for sim in held]


@router.get("/sims/{sim_id:int}", summary="One of my SIMs: the balance query")
async def get_sim(
    sim_id: SimId,
    subscriber: SubscriberDep,
    services: ServicesDep,
    language: LanguageDep,
) -> SimOut:
    held = await services.reads.read(
        lambda conn: sims.held_sim(conn, subscriber_id=subscriber.id, sim_id=sim_id),
        seen=subscriber.seen,
    )
    if held is None:
        raise HTTPException(404, "you have no SIM with this id")
    return SimOut.of(held, language)


@router.get("/sims/{sim_id:int}/holders", summary="The accounts that hold one of my SIMs")
async def get_holders(
    sim_id: SimId, subscriber: SubscriberDep, services: ServicesDep
) -> list[HolderOut]:
    async def read(conn: AsyncConnection) -> list[Holder] | None:
        if await sims.held_sim(conn, subscriber_id=subscriber.id, sim_id=sim_id) is None:
            return None
        return await sims.holders(conn, sim_id=sim_id)

    held_by = await services.db.transaction(read)
    if held_by is None:
        raise HTTPException(404, "you have no SIM with this id")
    return [HolderOut.of(holder, me=subscriber.id) for holder in held_by]


@router.get(
    "/sims/{sim_id:int}/keeping",
    summary="What keeping one of my SIMs' number took, and its state changes, newest first",
)
async def get_keeping(
    sim_id: SimId, subscriber: SubscriberDep, services: ServicesDep
) -> list[KeepingOut]:
    async def read(conn: AsyncConnection) -> list[Entry] | None:
        held = await sims.held_sim(conn, subscriber_id=subscriber.id, sim_id=sim_id)
        if held is None:
            return None
        return await retention.history(conn, sim_id=sim_id, currency=held.sim.home_currency)

    entries = await services.db.transaction(read)
    if entries is None:
        raise HTTPException(404, "you have no SIM with this id")
    return [KeepingOut.of(entry) for entry in entries]


@router.delete(
    "/sims/{sim_id:int}/link",
    status_code=204,
    response_class=Response,
    summary="Remove one of my SIMs from me",
)
async def unlink_sim(sim_id: SimId, subscriber: SubscriberDep, services: ServicesDep) -> Response:
    removed = await services.db.transaction(
        lambda conn: sims.unlink_sim(conn, subscriber_id=subscriber.id, sim_id=sim_id)
    )
    if not removed:
        raise HTTPException(404, "you have no SIM with this id")
    return Response(status_code=204)


@router.post(
    "/sims/link-codes",
    status_code=202,
    response_class=Response,
    summary="Send a code to a SIM's number",
)
async def send_link_code(
    body: NumberRequest, _: SubscriberDep, services: ServicesDep, language: LanguageDep
) -> Response:
    await sims.request_link_code(
        services.db,
        number=body.number,
        language=language,
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
async def link_sim(
    body: LinkRequest, subscriber: SubscriberDep, services: ServicesDep, language: LanguageDep
) -> SimOut:
    sim = await sims.link_sim(
        services.db,
        subscriber_id=subscriber.id,
        number=body.number,
        code=body.code,
        language=language,
        key=services.auth_key,
        limits=services.limits,
        now=services.clock.now(),
    )
    held = await services.db.transaction(
        lambda conn: sims.held_sim(conn, subscriber_id=subscriber.id, sim_id=sim.id)
    )
    assert held is not None
    return SimOut.of(held, language)


@router.get("/numbers/{number}", summary="Check a number before topping it up")
async def preview_number(
    number: str, subscriber: SubscriberDep, services: ServicesDep, language: LanguageDep
) -> NumberOut:
    preview = await services.db.transaction(
        lambda conn: topups.preview_number(conn, subscriber_id=subscriber.id, number=number)
    )
    return NumberOut.of(preview, language)
