"""The top-up scenario's section of docs/benchmarks.md: the figures beside the ceiling, the
targets, the checks made afterwards and, where a target is not met, what the profile of the
server says bounds the rate (``bench.topup_bench`` measures)."""

from __future__ import annotations

import os

from bench.loadgen import Cores
from bench.topup_bench import SIMS_PER_CLIENT, Figures, Plan

TARGET_RATIO, TARGET_P99_MS = 0.35, 250.0
WRAPPERS = {  # on every request's stack or around every transaction: no news in them
    "simkeep.api.metrics.MetricsMiddleware.__call__",
    "simkeep.db.Database._once",
    "simkeep.db._in_postgresql_transaction",
    "simkeep.db._in_sqlite_transaction",
}
NOTES = {  # functions whose own time is mostly C code beneath them
    "asyncpg.connection.Connection._do_execute": "asyncpg's compiled protocol, a statement "
    "prepared once per connection: encode, send (a syscall per statement), decode",
    "asyncpg.connection.Connection.execute": "the same for BEGIN / COMMIT",
    "asyncio.runners.Runner.run": "uvloop: sockets, HTTP parsing, callbacks",
    "simkeep.db._in_sqlite_transaction": "SQLite BEGIN IMMEDIATE / COMMIT, with the fsync of "
    "`synchronous=FULL`, on the event loop",
    "simkeep.db._InLoopCursor.execute": "SQLite running a statement",
    "simkeep.payments.signing.sign_sha256_rsa": "OpenSSL RSA-2048 signing",
    "simkeep.payments.signing.verify_sha256_rsa": "OpenSSL RSA-2048 verification",
}


def report(results: list[Figures], plan: Plan) -> list[str]:
    """The docs/benchmarks.md section: figures, targets, checks, and what bounds the rate."""
    lines = [
        "## Top-ups through the real app, concurrent clients",
        "",
        "Each client is a registered subscriber with its own bearer token and its own "
        f"{SIMS_PER_CLIENT} SIMs (half HKD, topped up in CNY at a locked rate; half CNY). One "
        "top-up is what a subscriber on a phone does: `POST /api/v1/topups` (new "
        "`Idempotency-Key`, number typed twice, Alipay WAP: the server signs the cashier link "
        "and records it on the order), then Alipay's signed `trade_status_sync` for that order "
        "to `POST /api/v1/payments/alipay/notify`, which must answer `success` (full "
        "verification: RSA2 signature, app id, seller id, amount; then the credit, the "
        "journal, the SIM's validity, the receipt number, the SMS and the stored notification "
        "in one transaction). Notifications are signed before the runs: order numbers are the "
        "Hong Kong date and the order's id, so before each run the client signs, with the "
        "simulator's key from the server's `keys_dir`, the notifications of the next orders "
        "for both prices a top-up can have. *create→credited* runs from the create request's "
        "start to the notify answer. One provider is measured, Alipay; a QR order adds a call "
        "to the provider (precreate), which the embedded default answers from the simulator "
        "inside the same server.",
        "",
        "*Ceiling*: a bench-only ASGI endpoint (`bench/ceiling_app.py`) doing one pgbench "
        "TPC-B transaction per request (three balance updates, one history insert) on the bare "
        "driver, served by the same uvicorn command line (uvloop, httptools, same workers) and "
        "driven by the same client. Both servers run side by side; at each concurrency they "
        "are measured in alternating blocks after a warm-up. The client is one asyncio process "
        "speaking raw HTTP/1.1 on keep-alive connections. *CPU* is cores in use during the "
        "blocks, from `/proc`: the server's processes, the PostgreSQL backends serving the "
        "benchmark database (SQLite runs inside the server), the client, "
        "and the rest of the machine (PostgreSQL's background writers, and whatever else runs "
        "on this shared machine).",
        "",
        "| database | workers | clients | credited top-ups/s | create→credited p50 ms | p99 ms "
        "| ceiling req/s | top-ups / ceiling | CPU cores: server · database · client · rest |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        for count, run in result.topups.items():
            ceiling = result.ceiling[count]
            lines.append(
                f"| {result.name} | {result.workers} | {count} | {run.per_second:,.0f} "
                f"| {run.percentile(0.5):.0f} | {run.percentile(0.99):.0f} "
                f"| {ceiling.per_second:,.0f} | {run.per_second / ceiling.per_second:.2f} "
                f"| {_cores(run.cpu)} |"
            )
    lines.append("")
    clients = max(plan.clients)
    for result in results:
        lines += _verdict(result, clients)
    for result in results:
        lines += _profile_section(result, clients, plan)
    return lines


def _cores(cpu: Cores) -> str:
    return f"{cpu.server:.2f} · {cpu.database:.2f} · {cpu.client:.2f} · {cpu.rest:.2f}"


def met(result: Figures, clients: int) -> tuple[bool, bool]:
    """(rate target met, latency target met) at ``clients``."""
    run = result.topups[clients]
    ratio = run.per_second / result.ceiling[clients].per_second
    return ratio >= TARGET_RATIO, run.percentile(0.99) < TARGET_P99_MS


def _verdict(result: Figures, clients: int) -> list[str]:
    run = result.topups[clients]
    ratio = run.per_second / result.ceiling[clients].per_second
    rate_ok, p99_ok = met(result, clients)
    word = {True: "met", False: "not met"}
    targets = (
        f"target ≥ {TARGET_RATIO:.2f} of the ceiling: **{word[rate_ok]}**; p99 "
        f"{run.percentile(0.99):.0f} ms, target < {TARGET_P99_MS:.0f} ms: **{word[p99_ok]}**"
        if result.name == "postgresql"
        else f"p99 {run.percentile(0.99):.0f} ms (the targets are PostgreSQL's)"
    )
    return [
        f"**{result.name}, {clients} clients**: {run.per_second:,.0f} credited top-ups/s = "
        f"{ratio:.2f} of the ceiling ({targets}). Checked afterwards: {result.credited:,} "
        f"orders credited, as many as notify answers that said `success`, every notification "
        f"in the inbox credited, `ledger.check_books` passed ({result.journals:,} journals). "
        f"Notifications signed during the runs (the pool signed ahead had none for the "
        f"order): {result.signed_in_loop:,}.",
        "",
    ]


def _profile_section(result: Figures, clients: int, plan: Plan) -> list[str]:
    run, ceiling, found = result.topups[clients], result.ceiling[clients], result.profile
    cpu = run.cpu
    busy = cpu.server + cpu.database + cpu.client + cpu.rest
    server_ms, tpcb_ms = run.cpu_ms(cpu.server), ceiling.cpu_ms(ceiling.cpu.server)
    database = (
        f"its PostgreSQL backends {run.cpu_ms(cpu.database):.1f} ms (ceiling: "
        f"{ceiling.cpu_ms(ceiling.cpu.database):.2f} ms)"
        if result.name == "postgresql"
        else "SQLite runs inside the server"
    )
    own = [f"| {share:.1%} | `{name}` | {NOTES.get(name, '')} |" for name, share in found.own]
    libraries = ", ".join(f"{name} {share:.0%}" for name, share in found.libraries[:8])
    inclusive = ", ".join(
        f"`{name}` {share:.0%}"
        for name, share in [item for item in found.simkeep if item[0] not in WRAPPERS][:14]
    )
    return [
        f"### What bounds {result.name} at {clients} clients",
        "",
        f"CPU per credited top-up: the server {server_ms:.1f} ms, {server_ms / tpcb_ms:.0f}× "
        f"the {tpcb_ms:.2f} ms it spends on a ceiling request; {database}. {busy:.1f} of "
        f"{os.cpu_count()} cores were busy, {cpu.server:.2f} of them the server's "
        f"{result.workers} worker(s). Profile of the server over {plan.profile_seconds:.0f} s "
        f"more of the same load (py-spy, {found.samples:,} busy samples at 100 Hz; raw stacks "
        f"in `bench/out/{result.profile_file.name}`, for flamegraph.pl or speedscope), top "
        "functions by own time (C code counts for the Python function that called it):",
        "",
        "| own time | function | what the C code under it does |",
        "|---:|---|---|",
        *own,
        "",
        f"Own time by library: {libraries}. Inclusive time of simkeep functions (a lower "
        f"bound: statements run in SQLAlchemy's greenlets are not joined to their caller): "
        f"{inclusive}.",
        "",
        *(_bounds(result, clients) if result.name == "postgresql" else []),
    ]


def _bounds(result: Figures, clients: int) -> list[str]:
    """What the work of a top-up is, beside a ceiling request's."""
    run, ceiling = result.topups[clients], result.ceiling[clients]
    per_topup = run.cpu_ms(run.cpu.server + run.cpu.database)
    per_request = ceiling.cpu_ms(ceiling.cpu.server + ceiling.cpu.database)
    return [
        f"Server and database together spend {per_topup:.1f} ms of CPU per top-up against "
        f"{per_request:.2f} ms per ceiling request. A ceiling request is one HTTP request and "
        "one transaction of four statements with no checks. "
        "A top-up is two HTTP requests through the whole app (routing, validation, bearer "
        "session, metrics, JSON in and out) and thirteen statements, each prepared once per "
        "connection and sent on the driver: the session lookup, the order's one read and one "
        "insert (with the cashier link signed, RSA-2048), then — after the notification's "
        "signature is verified — BEGIN, order paid, account ids, the journal (the ledger's "
        "function: idempotency, postings, slot balances, floors, and the deferred balance "
        "check at commit), the SIM's validity, order credited, the balance for the SMS, the "
        "SMS in the outbox, the stored notification, COMMIT. Two commits, each waiting for "
        "its WAL flush. The asyncpg share of the profile is the round trips themselves; "
        "fewer would take moving the credit into one database function, as the journal is.",
        "",
    ]
