"""The top-up scenario's section of docs/benchmarks.md: each method's figures beside the
ceiling they share, the targets, the checks made afterwards and, where a target is not met,
what the profile of the server says bounds the rate (``bench.topup_bench`` measures;
``section`` runs it on both databases, as ``make bench`` does)."""

from __future__ import annotations

import os

from bench import topup_bench
from bench.loadgen import Cores, Run
from bench.topup_bench import SIMS_PER_CLIENT, Figures, MethodFigures, Plan
from bench.topup_methods import RATES
from simkeep.payment_methods import Provider

TARGET_RATIO, TARGET_P99_MS = 0.35, 250.0  # PostgreSQL, at the highest concurrency; per method
WRAPPERS = {  # on every request's stack or around every transaction: no news in them
    "simkeep.api.metrics.MetricsMiddleware.__call__",
    "simkeep.db.Database._once",
    "simkeep.db._in_postgresql_transaction",
    "simkeep.db._in_sqlite_transaction",
    "simkeep.edge.bodies.BodyLimit.__call__",
    "simkeep.edge.headers.SecurityHeaders.__call__",
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
    "simkeep.payments.signing.aes_gcm_decrypt": "OpenSSL AES-256-GCM",
}
# What a top-up asks of the server beyond the common path, per provider (see ``_bounds``).
WORK = {
    Provider.ALIPAY: "the order's one read and one insert (with the cashier link signed, "
    "RSA-2048), then — after the notification's signature (RSA2 over the sorted form) is "
    "verified —",
    Provider.WECHATPAY_HK: "the order's one read and one insert, then the Native order at "
    "WeChat Pay HK (the request signed, RSA-2048; the simulator, inside the same server and "
    "reached without a socket, verifies it and signs its answer, which the adapter verifies) "
    "and one more statement, with its own commit, recording the QR code; then — after the "
    "notification's `Wechatpay-Signature` over the body is verified and its payment "
    "decrypted (AES-256-GCM) —",
}


async def section(quick: bool) -> list[str]:
    """Measure both databases (the full plan, or the quick one) and write up the section."""
    plan = topup_bench.QUICK if quick else topup_bench.FULL
    results = []
    for name in ("postgresql", "sqlite"):
        result = await topup_bench.measure(name, workers=topup_bench.WORKERS[name], plan=plan)
        results.append(result)
        for figures in result.methods:
            for clients, run in figures.topups.items():
                ceiling = result.ceiling[clients]
                print(
                    f"{name} {figures.method.label} top-ups, {clients} clients: "
                    f"{run.per_second:.0f}/s, p50 {run.percentile(0.5):.0f} ms, p99 "
                    f"{run.percentile(0.99):.0f} ms; ceiling {ceiling.per_second:.0f} req/s "
                    f"({run.per_second / ceiling.per_second:.2f})"
                )
    clients = max(plan.clients)
    for figures in results[0].methods:
        rate_ok, p99_ok = met(figures, results[0].ceiling[clients], clients)
        print(
            f"postgresql {figures.method.label} top-up targets at {clients} clients: rate "
            f"{'met' if rate_ok else 'not met'}, p99 {'met' if p99_ok else 'not met'}"
        )
    return report(results, plan)


def report(results: list[Figures], plan: Plan) -> list[str]:
    """The docs/benchmarks.md section: figures, targets, checks, and what bounds the rate."""
    rates = ", ".join(f"{base}→{quote} {rate}" for (base, quote), rate in RATES.items())
    lines = [
        "## Top-ups through the real app, concurrent clients",
        "",
        "Each client is a registered subscriber with its own bearer token and its own "
        f"{SIMS_PER_CLIENT} SIMs (half HKD, half CNY). One top-up is what a subscriber on a "
        "phone does: `POST /api/v1/topups` (new `Idempotency-Key`, number typed twice, 100 in "
        "the SIM's currency, a provider and a channel), then the provider's signed "
        "notification for that order to `POST /api/v1/payments/<provider>/notify`, which must "
        "answer what the provider takes as taken; full verification, then the credit, the "
        "journal, the SIM's validity, the receipt number, the SMS and the stored notification "
        "in one transaction. Two ways to pay are measured, each half the time converting "
        f"currency at a locked rate ({rates}): *alipay wap* pays in CNY: the server signs the "
        "cashier link itself and records it on the order; Alipay's `trade_status_sync` is "
        "checked for its RSA2 signature, app id, seller id and amount, and answered "
        "`success`. *wechatpay_hk qr* pays in HKD on WeChat Pay's v3 global API: the server "
        "places a Native order with the provider (merchant-signed request, platform-signed "
        "answer; the embedded default answers from the simulator inside the same server) and "
        "records its QR code; the notification is the v3 envelope, its `Wechatpay-Signature` "
        "(RSA-2048 over timestamp, nonce and body, ±300 s) checked, its payment decrypted "
        "(AES-256-GCM under the APIv3 key), merchant and amount checked, and answered 204. "
        "Notifications are signed before the runs: order numbers are the Hong Kong date and "
        "the order's id, so before each run the client signs, with simulators of its own on "
        "the server's `keys_dir`, the notifications of the next orders for both prices a "
        "top-up can have. *create→credited* runs from the create request's start to the "
        "notify answer.",
        "",
        "*Ceiling*: a bench-only ASGI endpoint (`bench/ceiling_app.py`) doing one pgbench "
        "TPC-B transaction per request (three balance updates, one history insert) on the bare "
        "driver, served by the same uvicorn command line (uvloop, httptools, same workers) and "
        "driven by the same client. Both servers run side by side; at each concurrency both "
        "ways to pay and the ceiling are measured in alternating blocks after a warm-up, each "
        "going first in turn, so the two methods share one ceiling figure. The client is one "
        "asyncio process speaking raw HTTP/1.1 on keep-alive connections. *CPU* is cores in "
        "use during the blocks, from `/proc`: the server's processes, the PostgreSQL backends "
        "serving the benchmark database (SQLite runs inside the server), the client, "
        "and the rest of the machine (PostgreSQL's background writers, and whatever else runs "
        "on this shared machine).",
        "",
        "| database | workers | clients | method | credited top-ups/s | create→credited p50 ms "
        "| p99 ms | ceiling req/s | top-ups / ceiling | CPU cores: server · database · client "
        "· rest |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        for count, ceiling in result.ceiling.items():
            for figures in result.methods:
                run = figures.topups[count]
                lines.append(
                    f"| {result.name} | {result.workers} | {count} | {figures.method.label} "
                    f"| {run.per_second:,.0f} | {run.percentile(0.5):.0f} "
                    f"| {run.percentile(0.99):.0f} | {ceiling.per_second:,.0f} "
                    f"| {run.per_second / ceiling.per_second:.2f} | {_cores(run.cpu)} |"
                )
    lines.append("")
    clients = max(plan.clients)
    for result in results:
        lines += _verdict(result, clients)
    for result in results:
        for figures in result.methods:
            lines += _profile_section(result, figures, clients, plan)
    return lines


def _cores(cpu: Cores) -> str:
    return f"{cpu.server:.2f} · {cpu.database:.2f} · {cpu.client:.2f} · {cpu.rest:.2f}"


def met(figures: MethodFigures, ceiling: Run, clients: int) -> tuple[bool, bool]:
    """(rate target met, latency target met) of one method at ``clients``."""
    run = figures.topups[clients]
    ratio = run.per_second / ceiling.per_second
    return ratio >= TARGET_RATIO, run.percentile(0.99) < TARGET_P99_MS


def _verdict(result: Figures, clients: int) -> list[str]:
    ceiling = result.ceiling[clients]
    word = {True: "met", False: "not met"}
    lines = []
    for figures in result.methods:
        run = figures.topups[clients]
        rate_ok, p99_ok = met(figures, ceiling, clients)
        targets = (
            f"target ≥ {TARGET_RATIO:.2f} of the ceiling: **{word[rate_ok]}**; p99 "
            f"{run.percentile(0.99):.0f} ms, target < {TARGET_P99_MS:.0f} ms: "
            f"**{word[p99_ok]}**"
            if result.name == "postgresql"
            else f"p99 {run.percentile(0.99):.0f} ms; the targets are PostgreSQL's"
        )
        lines.append(
            f"**{result.name}, {figures.method.label}, {clients} clients**: "
            f"{run.per_second:,.0f} credited top-ups/s = "
            f"{run.per_second / ceiling.per_second:.2f} of the ceiling ({targets}). "
            f"Notifications signed during the runs (the pool signed ahead had none for the "
            f"order): {figures.signed_in_loop:,}."
        )
        lines.append("")
    counts = ", ".join(f"{f.method.label} {f.credited:,}" for f in result.methods)
    lines += [
        f"**{result.name}, checked afterwards**: orders credited per provider ({counts}), "
        "for each as many as its notify answers that said taken; every notification in the "
        f"inbox credited; `ledger.check_books` passed ({result.journals:,} journals).",
        "",
    ]
    return lines


def _profile_section(
    result: Figures, figures: MethodFigures, clients: int, plan: Plan
) -> list[str]:
    run, ceiling, found = figures.topups[clients], result.ceiling[clients], figures.profile
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
        for name, share in [
            item for item in found.simkeep if not item[0].startswith(tuple(WRAPPERS))
        ][:14]
    )
    return [
        f"### What bounds {result.name}, {figures.method.label}, at {clients} clients",
        "",
        f"CPU per credited top-up: the server {server_ms:.1f} ms, {server_ms / tpcb_ms:.0f}× "
        f"the {tpcb_ms:.2f} ms it spends on a ceiling request; {database}. {busy:.1f} of "
        f"{os.cpu_count()} cores were busy, {cpu.server:.2f} of them the server's "
        f"{result.workers} worker(s). Profile of the server over {plan.profile_seconds:.0f} s "
        f"more of the same load (py-spy, {found.samples:,} busy samples at 100 Hz; raw stacks "
        f"in `bench/out/{figures.profile_file.name}`, for flamegraph.pl or speedscope), top "
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
        *(_bounds(result, figures, clients) if result.name == "postgresql" else []),
    ]


def _bounds(result: Figures, figures: MethodFigures, clients: int) -> list[str]:
    """What the work of a top-up is, beside a ceiling request's."""
    run, ceiling = figures.topups[clients], result.ceiling[clients]
    per_topup = run.cpu_ms(run.cpu.server + run.cpu.database)
    per_request = ceiling.cpu_ms(ceiling.cpu.server + ceiling.cpu.database)
    return [
        f"Server and database together spend {per_topup:.1f} ms of CPU per top-up against "
        f"{per_request:.2f} ms per ceiling request. A ceiling request is one HTTP request and "
        "one transaction of four statements with no checks. "
        "A top-up is two HTTP requests through the whole app (routing, validation, bearer "
        "session, metrics, JSON in and out) and its statements, each prepared once per "
        f"connection and sent on the driver: the session lookup, {WORK[figures.method.provider]} "
        "BEGIN, order paid, account ids, the journal (the ledger's "
        "function: idempotency, postings, slot balances, floors, and the deferred balance "
        "check at commit), the SIM's validity, order credited, the balance for the SMS, the "
        "SMS in the outbox, the stored notification, COMMIT. Each commit waits for its WAL "
        "flush. The asyncpg share of the profile is the round trips themselves; "
        "fewer would take moving the credit into one database function, as the journal is.",
        "",
    ]
