"""``GET /healthz``: can this process serve? The database answers and its schema is current.

Design overview
---------------
A load balancer or orchestrator polls this endpoint, so it says "ok" only when a request
could really be served: a trivial query runs through ``Database.transaction`` (the same path
every request takes) and the Alembic revision in the database equals the head shipped with
this code. Anything else is HTTP 503 with ``status: "unavailable"`` and a reason a person
can act on. The check is bounded in time so a hung database cannot hang the prober.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.migrations import current_revision, head_revision
from simkeep.services import ServicesDep

CHECK_TIMEOUT_S = 5.0

log = structlog.get_logger(__name__)


class Health(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    status: Literal["ok", "unavailable"]
    database: Literal["ok", "error"]
    schema_revision: str | None = Field(default=None, alias="schema")
    reason: str | None = None


async def check_health(db: Database) -> Health:
    """Ping the database, then compare its schema revision with the code's."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await db.transaction(_ping)
            current = await current_revision(db)
    except Exception as error:
        log.warning("healthz.database_error", error=repr(error))
        reason = f"database unreachable ({type(error).__name__})"
        return Health(status="unavailable", database="error", reason=reason)
    head = head_revision()
    if current != head:
        reason = f"schema at revision {current or 'none'}, code expects {head}: run migrations"
        return Health(status="unavailable", database="ok", schema_revision=current, reason=reason)
    return Health(status="ok", database="ok", schema_revision=current)


async def _ping(conn: AsyncConnection) -> None:
    await conn.execute(select(literal(1)))


router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Is this process ready to serve? (database reachable, schema current)",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health, "description": "Not ready to serve"}},
)
async def healthz(services: ServicesDep) -> Health | JSONResponse:
    health = await check_health(services.db)
    if health.status == "ok":
        return health
    return JSONResponse(health.model_dump(exclude_none=True), status_code=503)
