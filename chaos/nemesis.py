"""The nemesis: faults on a schedule drawn from a fixed seed, against what the harness started.

Design overview
---------------
Two loops run beside the workload, each waiting 2–10 s between faults:

* the **killer** SIGKILLs the web app or a worker (by the PID the harness started it with)
  and starts it again at once, or pauses a worker (SIGSTOP) for 1–5 s and resumes it;
* the **network and the database**: PostgreSQL stopped in ``immediate`` mode (no shutdown
  checkpoint, every connection cut) and started again after 0.5–3 s — on the Patroni
  cluster, the primary killed (``kill -9``, Patroni and its server) and its node started
  again 15–20 s later, after a replica was promoted (``chaos.database_faults``); or one of
  the two TCP proxies — app and workers ↔ PostgreSQL, the simulators' notifications → the
  app — drops every connection, slows every byte by 50–300 ms, or goes half-open (silence,
  no FIN), for 1–6 s, then heals.

On SQLite there is no database server to stop and no proxy in front of it, so the second
loop only faults the notifications' proxy. Every fault is written to ``timeline`` with its
time since the start; each blocking step (a restart waits for readiness, ``pg_ctl`` waits
for the server) runs in a thread so the clients keep going.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from chaos.database_faults import PrimaryKill, ServerCrash
from chaos.processes import Process
from chaos.proxy import FaultyProxy

GAP = (2.0, 10.0)  # seconds between two faults of one loop


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # seconds since the run started
    fault: str
    target: str
    lasted: float  # seconds until it healed (0 for a kill: the restart is the healing)


@dataclass
class Nemesis:
    seed: int
    app: Process
    workers: list[Process]
    notify_proxy: FaultyProxy
    database: ServerCrash | PrimaryKill | None = None
    db_proxy: FaultyProxy | None = None
    timeline: list[Event] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)

    async def run(self, seconds: float) -> None:
        self._started = time.monotonic()
        until = self._started + seconds
        killer = random.Random(self.seed)
        network = random.Random(self.seed + 1)
        await asyncio.gather(self._killer(killer, until), self._network(network, until))

    async def _killer(self, rng: random.Random, until: float) -> None:
        while await self._gap(rng, until):
            if rng.random() < 0.2:
                worker = rng.choice(self.workers)
                pause = rng.uniform(1.0, 5.0)
                event = await self._do("pause", worker.spec.name, worker.pause)
                await asyncio.sleep(pause)
                await asyncio.to_thread(worker.resume)
                self._lasted(event, pause)
                continue
            target = self.app if rng.random() < 0.5 else rng.choice(self.workers)
            await self._do("kill -9 and restart", target.spec.name, target.restart)

    async def _network(self, rng: random.Random, until: float) -> None:
        proxies = [self.notify_proxy] + ([self.db_proxy] if self.db_proxy else [])
        while await self._gap(rng, until):
            if self.database is not None and rng.random() < self.database.chance:
                database = self.database
                down = rng.uniform(*database.down)
                event = await self._do(database.fault, database.target, database.crash)
                await asyncio.sleep(down)
                await asyncio.to_thread(database.recover)
                self._lasted(event, down)
                continue
            proxy = rng.choice(proxies)
            kind = rng.choice(("drop", "delay", "half-open"))
            lasted = rng.uniform(1.0, 6.0)
            if kind == "delay":
                latency = rng.uniform(0.05, 0.3)
                event = await self._do(
                    f"delay {latency * 1000:.0f} ms", proxy.name, partial(proxy.delay, latency)
                )
            elif kind == "drop":
                event = await self._do("drop connections", proxy.name, proxy.drop)
            else:
                event = await self._do("half-open", proxy.name, proxy.half_open)
            await asyncio.sleep(lasted)
            await asyncio.to_thread(proxy.heal)
            self._lasted(event, lasted)

    async def _gap(self, rng: random.Random, until: float) -> bool:
        wait = rng.uniform(*GAP)
        if time.monotonic() + wait >= until:
            await asyncio.sleep(max(0.0, until - time.monotonic()))
            return False
        await asyncio.sleep(wait)
        return True

    async def _do(self, fault: str, target: str, action: Callable[[], object]) -> int:
        """Inject a fault; returns its place in the timeline (both loops write to it)."""
        self.timeline.append(Event(round(time.monotonic() - self._started, 1), fault, target, 0.0))
        index = len(self.timeline) - 1
        await asyncio.to_thread(action)
        return index

    def _lasted(self, index: int, seconds: float) -> None:
        event = self.timeline[index]
        self.timeline[index] = Event(event.at, event.fault, event.target, round(seconds, 1))

    def heal_everything(self) -> None:
        """Recovery: every proxy forwarding, every worker running, every process and the
        database up."""
        for proxy in (self.notify_proxy, self.db_proxy):
            if proxy is not None:
                proxy.heal()
        if self.database is not None:
            self.database.recover()
        for process in (self.app, *self.workers):
            process.resume()
            if not process.alive():
                process.start()
