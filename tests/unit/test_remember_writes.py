"""Which requests mark their sessions for read-your-writes (``edge.writes``): a request that
may write and succeeded, for each session it names (the subscriber's cookie or bearer token,
staff's cookie), before its answer starts; not a read, not a refusal, not without replicas;
and a mark that fails does not fail the answer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from simkeep.edge.writes import RememberWrites


class Primary:
    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.marks = 0

    async def one_statement(self, fn: Any) -> None:
        if self.down:
            raise OSError("the primary went away")
        self.marks += 1


def scope(
    method: str, headers: list[tuple[bytes, bytes]], primary: Primary, *, replicas: int = 1
) -> Scope:
    reads = SimpleNamespace(primary=primary, replicas=[object()] * replicas)
    app = SimpleNamespace(state=SimpleNamespace(services=SimpleNamespace(reads=reads)))
    return {"type": "http", "method": method, "headers": headers, "app": app}


def answering(status: int) -> Any:
    async def app(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def run(
    method: str, status: int, headers: list[tuple[bytes, bytes]], primary: Primary, **kw: Any
) -> tuple[list[Message], int]:
    sent: list[Message] = []
    marks_at_start: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            marks_at_start.append(primary.marks)
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    middleware = RememberWrites(answering(status))
    await middleware(scope(method, headers, primary, **kw), receive, send)
    return sent, marks_at_start[0]


COOKIE = (b"cookie", b"simkeep_session=tok-1; simkeep_staff=tok-2")
BEARER = (b"authorization", b"Bearer tok-3")


async def test_a_write_marks_every_session_it_names_before_its_answer() -> None:
    primary = Primary()
    sent, marked_before_answer = await run("POST", 303, [COOKIE, BEARER], primary)
    assert sent[0]["status"] == 303
    assert marked_before_answer == 3  # the subscriber's cookie, staff's cookie, the token


async def test_reads_refusals_and_no_replicas_mark_nothing() -> None:
    for method, status, replicas in (("GET", 200, 1), ("POST", 409, 1), ("POST", 201, 0)):
        primary = Primary()
        await run(method, status, [COOKIE], primary, replicas=replicas)
        assert primary.marks == 0, (method, status, replicas)


async def test_a_mark_that_fails_does_not_fail_the_answer() -> None:
    sent, _ = await run("POST", 201, [BEARER], Primary(down=True))
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 201
