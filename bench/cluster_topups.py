"""Top-ups per second through the production shape, with 1, 2 and 4 app processes.

Design overview
---------------
For each count of app processes, ``make cluster``'s shape is started afresh
(``cluster.run.Cluster`` with ``Layout.apps``): three PostgreSQL servers under Patroni with
synchronous replication, HAProxy, pgbouncer, the simulated providers, the app processes
behind HAProxy's balancer (round robin per request) and three workers on RabbitMQ. The
merchant's keys are made before the app processes start, so the bench signs the providers'
notifications with the same keys. The top-up is ``topup_bench``'s: a subscriber's
``POST /api/v1/topups`` and then the provider's signed notification, both through the
balancer, for each of ``topup_methods.METHODS``, by ``CLIENTS`` concurrent clients in
interleaved blocks after a warm-up. Afterwards every order is credited, once per answer that
said "taken", and ``ledger.check_books`` passes — on the cluster's primary.

The machine has two cores for everything (three database servers, the balancer, pgbouncer,
the app processes, the workers and this client), so the figures show what more processes
buy on one machine, not what more machines would (docs/scaling.md does that arithmetic).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, replace

from bench.loadgen import Run, Watch
from bench.targets import Target
from bench.topup_bench import (
    SIMS_PER_CLIENT,
    Load,
    Payer,
    Plan,
    Presigned,
    Tally,
    check,
    interleaved,
    seed,
    sign_up,
    topup_step,
)
from bench.topup_methods import METHODS, Method, signers
from cluster.run import Cluster, new_layout
from simkeep.settings import load_settings

APPS = (1, 2, 4)
CLIENTS = 32
FULL = Plan(clients=(CLIENTS,), rounds=2, block_seconds=6.0, warmup_seconds=2.0, profile_seconds=0)
QUICK = Plan(clients=(8,), rounds=1, block_seconds=1.0, warmup_seconds=0.5, profile_seconds=0)


@dataclass(frozen=True, slots=True)
class Figures:
    apps: int
    runs: dict[Method, Run]
    journals: int


async def measure(apps: int, plan: Plan) -> Figures:
    """Start the shape with ``apps`` app processes, load it through its balancer, check it,
    stop it."""
    layout = replace(new_layout(), apps=apps)
    cluster = Cluster(layout)
    await asyncio.to_thread(cluster.up, simkeep=False)
    try:
        target = Target("postgresql", layout.database_url)
        settings = load_settings(
            database_url=target.url,
            public_url=f"http://127.0.0.1:{layout.public_port}",
            keys_dir=str(layout.root / "keys"),
        )
        signer = await signers(settings)  # the keys, made before any app process needs them
        await asyncio.to_thread(cluster.start_simkeep)
        clients = max(plan.clients)
        numbers = await seed(target, clients * SIMS_PER_CLIENT)
        tokens = await sign_up(layout.public_port, target, clients)
        payers = [
            Payer(token, numbers[i * SIMS_PER_CLIENT : (i + 1) * SIMS_PER_CLIENT])
            for i, token in enumerate(tokens)
        ]
        tallies = {method: Tally() for method in METHODS}
        keys = itertools.count()
        first_app = next(p.pid for p in cluster.processes if p.spec.name == "app-1")
        assert first_app is not None
        loads = []
        for method in METHODS:
            presigned = Presigned(signer[method.provider], target, method.prices())
            step = topup_step(method, payers, presigned, tallies[method], keys)
            loads.append(Load(layout.public_port, Watch(first_app), step, presigned))
        runs = await interleaved(loads, clients=clients, plan=plan)
        journals = await check(target, {m.provider.value: t.credited for m, t in tallies.items()})
    finally:
        await asyncio.to_thread(cluster.down)
    return Figures(apps, dict(zip(METHODS, runs, strict=True)), journals)


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md."""
    plan = QUICK if quick else FULL
    lines = [
        "",
        "## Top-ups through the production shape",
        "",
        "`make cluster`'s shape, started afresh for 1, 2 and 4 app processes behind HAProxy "
        "(`bench/cluster_topups.py`): Patroni's three PostgreSQL servers with synchronous "
        "replication, pgbouncer, three workers on RabbitMQ. One top-up is the subscriber's "
        "create request and the provider's signed notification, both through the balancer; "
        f"{max(plan.clients)} clients back to back, {plan.rounds} blocks of "
        f"{plan.block_seconds:.0f} s per method after a warm-up. Every order credited once "
        "and the books checked afterwards. Everything shares this machine's two cores.",
        "",
        "| app processes | method | top-ups/s | p50 ms | p99 ms |",
        "|---:|---|---:|---:|---:|",
    ]
    for apps in APPS:
        figures = await measure(apps, plan)
        total = sum(run.per_second for run in figures.runs.values()) / len(figures.runs)
        print(f"cluster top-ups, {apps} app process(es): {total:.0f}/s on average per method")
        for method, run in figures.runs.items():
            lines.append(
                f"| {apps} | {method.label} | {run.per_second:.0f} | "
                f"{run.percentile(0.5):.1f} | {run.percentile(0.99):.1f} |"
            )
    return lines
