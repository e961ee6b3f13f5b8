"""Real servers for the HTTP benchmarks, and py-spy profiles of them under load.

Design overview
---------------
``serve`` starts one uvicorn command line — the same for the product (``simkeep.app:asgi``,
a factory) and for the bench-only ceiling (``bench.ceiling_app:app``): loopback, a port of
its own, ``--workers``, uvloop, httptools, no access log — with ``SIMKEEP_`` settings in the
environment, waits until ``/healthz`` answers, and on exit ends the process it started, by
its PID (uvicorn's supervisor ends its own workers). Its output goes to a log file next to
the benchmark databases, shown if it fails to start.

``profile`` attaches ``py-spy record`` to a server's process tree (``--subprocesses``,
``--nonblocking``: the server is never paused) while a load runs, then stops it. py-spy
leaves out idle threads, but not always a thread-pool thread waiting for work, so those
samples are dropped here. ``Profile`` summarises the raw collapsed stacks: the share of busy
samples whose innermost frame is each function (own time; C code counts for the Python
function that called it), per library, and the simkeep functions anywhere on the stack
(inclusive time, a lower bound: SQLAlchemy runs each statement in a greenlet, whose frames
py-spy cannot join to the coroutine that awaited it).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.loadgen import Connection, HttpError
from bench.targets import OUT

ROOT = Path(__file__).parent.parent
PROCESS = re.compile(r'^(process \d+:"[^"]*";?)+')  # the process (and worker) frames
# Where an idle thread-pool thread waits; py-spy sometimes counts it as busy.
IDLE = frozenset({"threading.Condition.wait", "concurrent.futures.thread._worker"})
T = TypeVar("T")


@dataclass(frozen=True)
class Server:
    pid: int
    port: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(
    app: str, *, port: int, workers: int, env: Mapping[str, str], label: str, factory: bool = False
) -> AsyncIterator[Server]:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` until the block ends."""
    command = [
        *(sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", str(workers), "--loop", "uvloop", "--http", "httptools"),
        *("--no-access-log", "--log-level", "warning"),
        *(["--factory"] if factory else []),
    ]
    OUT.mkdir(exist_ok=True)
    log_path = OUT / f"{label}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        await _wait_ready(process, port, log_path)
        yield Server(process.pid, port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def _wait_ready(process: asyncio.subprocess.Process, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"the server exited at start:\n{_tail(log)}")
        try:
            connection = await Connection.open(port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        try:
            if (await connection.request("GET", "/healthz")).status == 200:
                return
        except HttpError:
            pass
        finally:
            await connection.close()
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the server did not answer /healthz within 60 s:\n{_tail(log)}")


@dataclass(frozen=True)
class Profile:
    """Collapsed stacks from py-spy: ``samples`` busy samples, and where they were."""

    samples: int
    own: list[tuple[str, float]]  # innermost function -> share of samples
    libraries: list[tuple[str, float]]  # library of the innermost frame -> share
    simkeep: list[tuple[str, float]]  # simkeep function anywhere on the stack -> share

    @classmethod
    def parse(cls, text: str, top: int = 12) -> Profile:
        own: Counter[str] = Counter()
        libraries: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in text.splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            stack = PROCESS.sub("", stack)  # a command line may hold ";"
            frames = [_frame(frame) for frame in stack.split(";") if frame]
            if not frames or frames[-1][0] in IDLE:
                continue
            total += count
            own[frames[-1][0]] += count
            libraries[frames[-1][1]] += count
            for name in {name for name, library in frames if library == "simkeep"}:
                inclusive[name] += count

        def shares(counter: Counter[str], count: int = top) -> list[tuple[str, float]]:
            return [(name, n / total) for name, n in counter.most_common(count)] if total else []

        return cls(total, shares(own), shares(libraries), shares(inclusive, 3 * top))


def _frame(frame: str) -> tuple[str, str]:
    """``func (/path/to/module.py)`` -> (``package.module.func``, top-level package)."""
    function, _, path = frame.rpartition(" (")
    parts = Path(path.rstrip(")")).with_suffix("").parts
    for root in ("site-packages", "src"):
        if root in parts:
            parts = parts[parts.index(root) + 1 :]
            break
    else:
        stdlib = [i for i, part in enumerate(parts) if part.startswith("python3")]
        parts = parts[stdlib[-1] + 1 :] if stdlib else parts[-1:]
    return ".".join((*parts, function)), parts[0] if parts else path


async def profile(
    server: Server, load: Callable[[], Awaitable[T]], *, rate: int, out: Path
) -> tuple[T, Profile]:
    """Run ``load`` while py-spy samples the server ``rate`` times a second."""
    command = [
        str(Path(sys.executable).parent / "py-spy"),
        *("record", "--pid", str(server.pid), "--subprocesses", "--nonblocking"),
        *("--rate", str(rate), "--format", "raw", "--nolineno", "--full-filenames"),
        *("--output", str(out)),
    ]
    spy = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        await asyncio.sleep(1.0)  # let it attach to every worker
        if spy.returncode is not None:
            raise RuntimeError("py-spy stopped before the load began")
        result = await load()
    finally:
        if spy.returncode is None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        _, errors = await asyncio.wait_for(spy.communicate(), timeout=60)
    return result, _read_profile(out, errors.decode())


def _read_profile(out: Path, errors: str) -> Profile:
    if not out.exists():
        raise RuntimeError(f"py-spy wrote nothing: {errors}")
    return Profile.parse(out.read_text())
