"""The day reconciled under faults: after the drain, the operator runs ``simkeep reconcile``
for every provider and every day the run touched, now and then killed mid-run, then runs it
to the end, then once more.

Design overview
---------------
The providers' bills are made only once their day is over; the harness cannot wait for
midnight, so at the start it plants ``early`` in every simulator's bills
(``POST /_sim/<provider>/bills/differences?kind=early``): a day's bill is then made at once,
with what the provider booked so far — after the drain, everything. ``reconcile_days`` runs
the reconciliation (``chaos.reconcile_day``: the command's service on a clock a day ahead)
for each provider and Hong Kong day of the run, each run one ``Attempt``
(``op`` ``reconcile``): three in ten are killed (SIGKILL, in their own session: only what
they started) 0.2–2 s in, and settled by running the day again to its end, as an operator
does after a crash. ``run_again`` runs every day once more once all are done and counts the
journals the books gained meanwhile: a day matched again must move nothing.

The figures that prove it are in ``chaos.reconcile_figures``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chaos.workload import Attempt, Outcome, World
from simkeep.db import Database
from simkeep.ledger import tables as lt
from simkeep.payment_methods import ONLINE_PROVIDERS

ROOT = Path(__file__).resolve().parent.parent
KILL_SHARE = 0.3
KILL_AFTER = (0.2, 2.0)  # seconds into a run
RUN_SECONDS = 300.0
PROVIDERS = tuple(provider.value for provider in ONLINE_PROVIDERS)


async def bills_early(http: httpx.AsyncClient, simulators_url: str) -> None:
    """Every simulated provider makes a day's bill before the day is over."""
    for provider in PROVIDERS:
        answer = await http.post(
            f"{simulators_url}/_sim/{provider}/bills/differences", params={"kind": "early"}
        )
        answer.raise_for_status()


def days_of(first: date, last: date) -> list[date]:
    """The Hong Kong days from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def reconcile_days(world: World, days: list[date], rng: random.Random) -> None:
    """Each provider's days reconciled by the command line, some runs killed mid-way; every
    run is an attempt of the operator's (``who`` -1)."""
    for provider in PROVIDERS:
        for day in days:
            kill_after = rng.uniform(*KILL_AFTER) if rng.random() < KILL_SHARE else None
            started = time.monotonic()
            outcome, detail = await run(world, provider, day, kill_after)
            attempt = Attempt("reconcile", -1, outcome, started, time.monotonic(), detail)
            attempt.data |= {"provider": provider, "day": day.isoformat()}
            world.record(attempt)
            while attempt.outcome is Outcome.UNKNOWN and attempt.settled_by < 5:
                attempt.settled_by += 1
                attempt.outcome, said = await run(world, provider, day, None)
                attempt.detail += f" → {attempt.outcome.value} {said}".rstrip()
            if attempt.outcome is not Outcome.OK:
                print(f"reconcile {provider} {day}: {attempt.detail}")


async def run_again(db: Database, world: World, days: list[date]) -> int:
    """Every day reconciled once more; the journals the books gained meanwhile."""
    before = await _journals(db)
    for provider in PROVIDERS:
        for day in days:
            outcome, detail = await run(world, provider, day, None)
            if outcome is not Outcome.OK:
                world.anomalies.append(f"reconcile {provider} {day} again: {detail}")
    return await _journals(db) - before


async def run(
    world: World, provider: str, day: date, kill_after: float | None
) -> tuple[Outcome, str]:
    """The day reconciled once, as a process of its own (``chaos.reconcile_day``): ok (exit
    0), refused (2: the bill refused or not out), or unknown (killed, or another failure)
    with its last words."""
    with tempfile.TemporaryFile() as errors:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "chaos.reconcile_day", provider, day.isoformat()),
            env=world.cli_env,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
        try:
            await asyncio.wait_for(process.wait(), timeout=kill_after or RUN_SECONDS)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only what it started
            await process.wait()
            return Outcome.UNKNOWN, "killed -9 mid-run"
        if process.returncode == 0:
            return Outcome.OK, ""
        errors.seek(0)
        said = errors.read().decode(errors="replace").strip().splitlines()
        last = said[-1] if said else ""
        outcome = Outcome.REFUSED if process.returncode == 2 else Outcome.UNKNOWN
        return outcome, f"exit {process.returncode}: {last}"


async def _journals(db: Database) -> int:
    async def count(conn: AsyncConnection) -> int:
        return int(await conn.scalar(select(func.count()).select_from(lt.journals)) or 0)

    return await db.transaction(count)
