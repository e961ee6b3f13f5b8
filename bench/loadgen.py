"""A light closed-loop HTTP load generator: one asyncio process, raw HTTP/1.1 keep-alive.

Design overview
---------------
The machine has two cores, shared by the server, the database and this client, so the client
must cost as little as possible: ``Connection`` writes request bytes and parses the status line,
headers and a ``Content-Length`` body itself (no httpx; ~10× less CPU per request).
``closed_loop`` runs ``clients`` coroutines, each with its own connection, each calling
``step`` again as soon as the previous call returns, until ``seconds`` have passed; in-flight
steps finish, so every step started is counted. ``step`` returns the latency (ms) of the unit
of work it did, which may span several requests. ``Run`` keeps the count, the wall time, the
latencies and where the CPU went, read from ``/proc``: the server's process tree, the
PostgreSQL backends serving the benchmark database, this process, and the rest of the
machine (PostgreSQL's background processes, and whatever else runs on a shared machine).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


class HttpError(Exception):
    """The server answered something this client does not speak, or closed the connection."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection to a local server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self._reader, self._writer = reader, writer
        self._host = f"Host: 127.0.0.1:{port}\r\n"

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, port)

    async def request(
        self, method: str, path: str, *, body: bytes = b"", headers: str = ""
    ) -> Reply:
        """Send one request (``headers``: extra ``Name: value\\r\\n`` lines) and read the reply."""
        sized = f"Content-Length: {len(body)}\r\n"
        head = f"{method} {path} HTTP/1.1\r\n{self._host}{sized}{headers}\r\n"
        self._writer.write(head.encode() + body)
        try:
            raw = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            raise HttpError(f"{method} {path}: the server closed the connection") from error
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise HttpError(f"{method} {path}: chunked replies are not expected here")
        return Reply(status, await self._reader.readexactly(length) if length else b"")

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


Step = Callable[[Connection, int], Awaitable[float]]


@dataclass(frozen=True)
class Watch:
    """Whose CPU a run reports: a server's process tree and, on PostgreSQL, the backends
    serving one database (SQLite runs inside the server)."""

    server_pid: int
    database: str | None = None

    def ticks(self) -> tuple[int, int, int]:
        """Busy ticks so far: the whole machine, the server, the database."""
        database = _backend_ticks(self.database) if self.database else 0
        return _machine_ticks(), _tree_ticks(self.server_pid), database


@dataclass(frozen=True)
class Cores:
    """Cores in use on average: the server, the database, this client, and the rest."""

    server: float
    database: float
    client: float
    rest: float

    @staticmethod
    def weighted(parts: list[tuple[Cores, float]]) -> Cores:
        seconds = sum(weight for _, weight in parts)
        return Cores(
            *(
                sum(getattr(cores, name) * weight for cores, weight in parts) / seconds
                for name in ("server", "database", "client", "rest")
            )
        )


@dataclass(frozen=True)
class Run:
    """What a closed-loop run did: ``count`` steps in ``seconds``, and where the CPU went."""

    count: int
    seconds: float
    latencies_ms: tuple[float, ...]
    cpu: Cores

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def cpu_ms(self, cores: float) -> float:
        """``cores`` spread over the steps: CPU milliseconds per step."""
        return cores / self.per_second * 1000

    @staticmethod
    def combine(runs: list[Run]) -> Run:
        """Several interleaved blocks of the same run as one: counts and times add up."""
        return Run(
            count=sum(run.count for run in runs),
            seconds=sum(run.seconds for run in runs),
            latencies_ms=tuple(ms for run in runs for ms in run.latencies_ms),
            cpu=Cores.weighted([(run.cpu, run.seconds) for run in runs]),
        )


async def closed_loop(*, port: int, watch: Watch, clients: int, seconds: float, step: Step) -> Run:
    """``clients`` connections, each calling ``step(connection, client)`` back to back."""
    connections = [await Connection.open(port) for _ in range(clients)]
    latencies: list[float] = []

    async def run_client(index: int, deadline: float) -> None:
        connection = connections[index]
        while time.perf_counter() < deadline:
            latencies.append(await step(connection, index))

    before = watch.ticks()
    cpu, began = time.process_time(), time.perf_counter()
    try:
        await asyncio.gather(*(run_client(index, began + seconds) for index in range(clients)))
        wall = time.perf_counter() - began
        client = (time.process_time() - cpu) / wall
        busy, server, database = (
            (after - start) / TICKS / wall
            for after, start in zip(watch.ticks(), before, strict=True)
        )
    finally:
        for connection in connections:
            await connection.close()
    rest = max(0.0, busy - server - database - client)
    return Run(len(latencies), wall, tuple(latencies), Cores(server, database, client, rest))


def _machine_ticks() -> int:
    """Busy clock ticks of the whole machine so far (all but idle and iowait)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]  # user … steal
    ticks = [int(field) for field in fields]  # (guest time is counted in user already)
    return sum(ticks) - ticks[3] - ticks[4]


def _tree_ticks(pid: int) -> int:
    """User + system ticks of ``pid`` and its descendants (uvicorn's workers)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
        pending.extend(int(child) for child in children)
    return total


def _backend_ticks(database: str) -> int:
    """User + system ticks of the PostgreSQL backends connected to ``database``."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes()
            if not title.startswith(b"postgres: ") or f" {database} ".encode() not in title:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total
