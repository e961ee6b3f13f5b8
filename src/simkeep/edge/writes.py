"""Read-your-writes across replicas: a signed-in person's session remembers where the
primary was after their last write (docs/scaling.md, "Reads off the primary").

Design overview
---------------
``RememberWrites`` is plain ASGI. When replicas are set (``Services.reads``), a request
that may write (any method but GET, HEAD and OPTIONS) and succeeded (below 400: a page's
303 included) has its session marked before its answer starts: one statement on the
primary sets the session's ``seen_lsn`` to the primary's WAL position, which is then past
the request's committed writes. The subscriber's session comes from the ``simkeep_session``
cookie or an API bearer token, a member of staff's from the ``simkeep_staff`` cookie. The
next request's session lookup reads ``seen_lsn`` with the session, and its reads go to a
replica only once that replica has replayed that far (``replicas.ReadPool.run``). Marking
before the answer matters: a browser that follows a 303 at once must not read from a
replica that has not caught up. A mark that fails (the primary gone right after the write)
is logged and the answer goes out: the write stands, and the person's reads may lag by
``max_lag`` at most. Without replicas it does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import Table, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simkeep.replicas import UNREACHABLE, ReadPool
from simkeep.staff import tables as staff_tables
from simkeep.subscribers import tables as subscriber_tables
from simkeep.subscribers.model import token_digest
from simkeep.web.session import SESSION_COOKIE
from simkeep.web.staff_session import STAFF_COOKIE

log = structlog.get_logger(__name__)
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
POSITION = text("(pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")


class RememberWrites:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE:
            await self.app(scope, receive, send)
            return
        reads = _reads(scope)
        sessions = _sessions(scope) if reads is not None and reads.replicas else []
        if not sessions:
            await self.app(scope, receive, send)
            return

        async def send_after_marking(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                assert reads is not None
                try:
                    for table, token in sessions:
                        await reads.primary.one_statement(_mark(table, token))
                except UNREACHABLE as error:  # the write stands: answer it, a read may lag
                    log.warning("replicas.mark_failed", error=str(error))
            await send(message)

        await self.app(scope, receive, send_after_marking)


def _reads(scope: Scope) -> ReadPool | None:
    services = getattr(scope["app"].state, "services", None)
    return None if services is None else services.reads


def _sessions(scope: Scope) -> list[tuple[Table, str]]:
    """The sessions a request names: (their table, the token)."""
    headers = dict(scope.get("headers", ()))
    cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
    found: list[tuple[Table, str]] = []
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization[:7].lower() == "bearer ":
        found.append((subscriber_tables.sessions, authorization[7:].strip()))
    if SESSION_COOKIE in cookies:
        found.append((subscriber_tables.sessions, cookies[SESSION_COOKIE]))
    if STAFF_COOKIE in cookies:
        found.append((staff_tables.sessions, cookies[STAFF_COOKIE]))
    return [(table, token) for table, token in found if token]


def _mark(table: Table, token: str) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def mark(conn: AsyncConnection) -> None:
        s = table.c
        await conn.execute(
            update(table)
            .where(s.token_digest == token_digest(token), s.ended_at.is_(None))
            .values(seen_lsn=POSITION)
        )

    return mark
