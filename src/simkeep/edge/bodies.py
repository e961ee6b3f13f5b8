"""Request bodies capped at the edge, for every route.

Design overview
---------------
``BodyLimit`` is plain ASGI: Starlette's ``BaseHTTPMiddleware`` would run every request
through an extra task and a copy of its streams, a cost paid on every request. For each HTTP
request it asks ``cap_for`` the cap of the request's path (relative to the root path), then:

* a declared ``Content-Length`` over the cap is refused at once: the app never runs and not
  one byte of the body is read;
* otherwise the app runs with a ``receive`` that counts the body as it streams in (a chunked
  upload declares no length). The chunk that passes the cap never reaches the app: ``receive``
  raises ``BodyTooLarge`` instead, and whatever the app answers to that (FastAPI turns a body
  it could not read into a 400) is dropped for the 413.

So no handler ever holds more than the cap. The 413 itself is made by ``refuse``, handed in
by the composition root, which knows how each kind of caller wants to hear it. A handler
that had already started its response before the cap was passed cannot be answered with a
413 any more; none of simkeep's does (each reads its whole body first), and the connection
is then dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CapFor = Callable[[str], int]
Refuse = Callable[[Request, int], Response]


class BodyTooLarge(Exception):
    """Raised into the app, instead of the next chunk, once a body passes its cap."""


class BodyLimit:
    """Refuse with 413 any request body longer than the cap of its path."""

    def __init__(self, app: ASGIApp, *, cap_for: CapFor, refuse: Refuse) -> None:
        self.app = app
        self.cap_for = cap_for
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(route_path(scope))
        declared = _declared_length(scope)
        if declared is not None and declared > cap:
            await self.refuse(Request(scope), cap)(scope, receive, send)
            return
        received = 0
        passed = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, passed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    passed = True
                    raise BodyTooLarge(f"the request body passed {cap} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if passed and not started:
                return  # the app's answer to a body cut short; the 413 goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise  # too late for a 413: the server ends the connection
        if passed and not started:
            await self.refuse(Request(scope), cap)(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The request's path below the root path the app is served under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server has already refused a malformed length; a stray one counts as none.
            return int(value) if value.isdigit() else None
    return None
