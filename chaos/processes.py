"""The processes the harness starts, and how it crashes, freezes and restarts them.

Design overview
---------------
Each ``Process`` runs one command line in a session of its own, so that the command and
everything it spawns (uvicorn's workers, a shell's children) form one process group whose id
is the command's PID. Every signal goes to that group, and only while the command has not
been reaped: a process that exits stays a zombie until ``kill`` or ``stop`` collects it
(exits are watched with ``waitid(WNOWAIT)``, which leaves the zombie in place), and a zombie
keeps its PID, and so its group's id, from being given to another process. A signal can
therefore never reach a process the harness did not start.

Output, stdout and stderr together, is appended to the spec's log file; each start first
writes a marker line, so the log of a process restarted many times reads as its history.
``start`` returns once the process is ready — its URL answers below 500, or its port accepts
a connection — and fails with the end of the log when the process exits first or is not ready
in time (after killing it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

POLL = 0.05  # seconds between checks while waiting for a process
SETTLE = 5.0  # seconds pause waits for the process to stop
TAIL = 4000  # characters of the log shown when a start fails


@dataclass
class Spec:
    """How to run one process; ``env`` is its whole environment."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready_url: str | None = None
    ready_port: int | None = None


class Process:
    """One of the harness's processes, started and restarted from its ``Spec``."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.starts = 0
        self._popen: subprocess.Popen[bytes] | None = None  # None, or not yet reaped
        self._lock = threading.RLock()  # the harness's threads share its processes

    @property
    def pid(self) -> int | None:
        """The PID of the running process; None when it is not running."""
        with self._lock:
            return self._popen.pid if self._popen is not None and self.alive() else None

    def alive(self) -> bool:
        """Running, or paused; not exited."""
        with self._lock:
            if self._popen is None:
                return False
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            return os.waitid(os.P_PID, self._popen.pid, flags) is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until it is ready."""
        with self._lock:
            if self.alive():
                raise RuntimeError(f"{self.spec.name} is running already")
            self.kill()  # collects a process that exited, and what it left in its group
            self.starts += 1
            self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.spec.log_path.open("ab") as log:
                now = datetime.now(UTC).isoformat(timespec="milliseconds")
                log.write(f"--- {self.spec.name}: start {self.starts} at {now} ---\n".encode())
                log.flush()
                self._popen = subprocess.Popen(
                    self.spec.argv,
                    env=self.spec.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self._wait_ready(timeout)
            except RuntimeError:
                self.kill()
                raise

    def kill(self) -> None:
        """SIGKILL the process group and reap the process; nothing once it has been reaped."""
        with self._lock:
            if self._popen is None:
                return
            self._signal(signal.SIGKILL)
            self._popen.wait()
            self._popen = None

    def restart(self, timeout: float = 30.0) -> None:
        """Kill the process if it runs, then start it again."""
        with self._lock:
            self.kill()
            self.start(timeout)

    def pause(self) -> None:
        """Freeze the process group (SIGSTOP): it holds its sockets but answers nothing.
        Returns once the process itself has stopped (or exited)."""
        with self._lock:
            self._signal(signal.SIGSTOP)
            deadline = time.monotonic() + SETTLE
            while self._popen is not None and time.monotonic() < deadline:
                flags = os.WSTOPPED | os.WEXITED | os.WNOHANG | os.WNOWAIT
                if os.waitid(os.P_PID, self._popen.pid, flags) is not None:
                    return
                time.sleep(0.001)

    def resume(self) -> None:
        """Let a paused process group run on (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, even if paused; SIGKILL it after ``grace`` seconds."""
        with self._lock:
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.alive() and time.monotonic() < deadline:
                time.sleep(POLL)
            self.kill()  # whatever is left of the group

    def _signal(self, number: signal.Signals) -> None:
        with self._lock:
            if self._popen is not None:  # not reaped: its group id is still its own
                os.killpg(self._popen.pid, number)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():  # before asking: another process may answer on its port
                raise RuntimeError(f"{self.spec.name} exited at start:\n{self._tail()}")
            if self._ready():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.spec.name} was not ready within {timeout} s:\n{self._tail()}"
                )
            time.sleep(POLL)

    def _ready(self) -> bool:
        if self.spec.ready_url is not None:
            try:
                response = httpx.get(self.spec.ready_url, timeout=1.0, trust_env=False)
            except httpx.TransportError:
                return False
            return response.status_code < 500
        if self.spec.ready_port is not None:
            try:
                socket.create_connection(("127.0.0.1", self.spec.ready_port), timeout=1.0).close()
            except OSError:
                return False
        return True

    def _tail(self) -> str:
        with self.spec.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - TAIL))
            return log.read().decode(errors="replace")
