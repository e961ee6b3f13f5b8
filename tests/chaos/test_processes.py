"""The harness's processes: an HTTP server is ready when its URL answers, restarts with a new
PID and a second marker in its log, freezes when paused and answers again when resumed, and
stops even while paused; kill reaches what the process spawned; stop kills a process that
ignores SIGTERM once the grace has passed; a start that fails shows the end of the log and
leaves nothing running."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from chaos.ports import free_port
from chaos.processes import Process, Spec


def python(name: str, code: str, log: Path, *, ready_port: int | None = None) -> Spec:
    return Spec(name, [sys.executable, "-c", code], dict(os.environ), log, ready_port=ready_port)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Process]:
    port = free_port()
    process = Process(
        Spec(
            "http",
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            dict(os.environ),
            tmp_path / "logs" / "http.log",
            ready_url=f"http://127.0.0.1:{port}/",
        )
    )
    yield process
    process.stop()


def get(process: Process, timeout: float = 5.0) -> int:
    assert process.spec.ready_url is not None
    return httpx.get(process.spec.ready_url, timeout=timeout, trust_env=False).status_code


def state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, T for stopped, Z), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rpartition(")")[2].split()[0]


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_a_server_is_ready_when_it_answers_and_restarts_with_a_new_pid(
    http_server: Process,
) -> None:
    assert http_server.pid is None
    http_server.start()
    first = http_server.pid
    assert first is not None
    assert http_server.alive()
    assert http_server.starts == 1
    assert get(http_server) == 200

    http_server.restart()
    assert http_server.starts == 2
    assert http_server.pid not in (None, first)
    assert get(http_server) == 200
    assert state(first) is None  # killed and reaped

    http_server.stop()
    assert not http_server.alive()
    assert http_server.pid is None
    with pytest.raises(httpx.ConnectError):
        get(http_server)
    log = http_server.spec.log_path.read_text()
    assert "--- http: start 1 at " in log
    assert "--- http: start 2 at " in log
    assert log.count('"GET / HTTP/1.1" 200') >= 2  # the server's own output, appended


def test_a_paused_server_answers_nothing_until_resumed_and_stop_ends_it_paused(
    http_server: Process,
) -> None:
    http_server.start()
    pid = http_server.pid
    assert pid is not None

    http_server.pause()
    assert state(pid) == "T"
    assert http_server.alive()
    with pytest.raises(httpx.ReadTimeout):
        get(http_server, timeout=0.3)

    http_server.resume()
    assert get(http_server) == 200

    http_server.pause()
    http_server.stop(grace=5.0)  # continued first, so SIGTERM ends it
    assert not http_server.alive()
    assert state(pid) is None


def test_kill_reaches_what_the_process_spawned(tmp_path: Path) -> None:
    log = tmp_path / "parent.log"
    code = (
        "import subprocess, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    process = Process(python("parent", code, log))
    process.start()
    eventually(lambda: "child " in log.read_text())
    child = int(log.read_text().split("child ")[1].split()[0])
    assert state(child) in ("S", "R")

    process.kill()
    assert not process.alive()
    eventually(lambda: state(child) in (None, "Z"))  # dead; reaped by whoever adopted it
    process.kill()  # killed already: nothing to do


def test_stop_kills_a_process_that_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    port = free_port()
    code = (
        "import signal, socket, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"listener = socket.create_server(('127.0.0.1', {port}))\n"
        "time.sleep(60)\n"
    )
    process = Process(python("stubborn", code, tmp_path / "stubborn.log", ready_port=port))
    process.start()
    started = time.monotonic()
    process.stop(grace=0.3)
    assert time.monotonic() - started >= 0.3
    assert not process.alive()
    assert process.pid is None


def test_a_start_that_fails_shows_the_log_and_leaves_nothing_running(tmp_path: Path) -> None:
    code = "print('cannot reach the database', flush=True)\nraise SystemExit(3)\n"
    failing = Process(python("failing", code, tmp_path / "failing.log", ready_port=free_port()))
    with pytest.raises(RuntimeError, match="exited at start") as error:
        failing.start()
    assert "cannot reach the database" in str(error.value)
    assert not failing.alive()
    assert failing.starts == 1

    code = "import time\ntime.sleep(60)\n"
    slow = Process(python("slow", code, tmp_path / "slow.log", ready_port=free_port()))
    with pytest.raises(RuntimeError, match=r"not ready within 0\.5 s"):
        slow.start(timeout=0.5)
    assert not slow.alive()


def test_signals_reach_only_a_running_process(tmp_path: Path) -> None:
    process = Process(python("sleeper", "import time\ntime.sleep(60)\n", tmp_path / "s.log"))
    process.pause()  # never started: nothing to signal
    process.resume()
    process.stop()
    process.start()
    with pytest.raises(RuntimeError, match="running already"):
        process.start()
    pid = process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # it dies by itself
    eventually(lambda: not process.alive())
    assert process.pid is None
    process.restart()
    assert process.starts == 2
    assert process.alive()
    process.stop()
