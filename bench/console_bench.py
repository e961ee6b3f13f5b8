"""The console's search over a million SIMs: how long a support person waits for an answer.

``measure`` loads ``SIMS`` SIMs into PostgreSQL in bulk with SQL (``generate_series``), in
the shape the services write them: each SIM with its two lines, its balance and bonus
accounts in the books with their balance rows, one credited top-up with its order and
receipt numbers, and every second SIM held by an account whose login is the SIM's own Hong
Kong number (a subscriber who topped up their own card). Then ``ANALYZE``, and a support
member logs in to the real app, in process (``httpx`` over ASGI, the app's lifespan run).
Each search is ``GET /staff/search?q=`` as the header's box sends it — the staff session
checked, the text read, every reading looked up, the 303 to the SIM's page — for a random
SIM by its Hong Kong number (spelt ``+852 63xx xxxx``: the line and the account that logs
in with it), its Mainland number (``86 138…``) and its order number; then the same texts
through ``staff.search.find`` alone, without HTTP. One search at a time after a warm-up;
each answer is checked to lead to the right SIM.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import httpx
import pyotp

from bench.targets import OUT, Target, drop, fresh
from simkeep.app import create_app
from simkeep.db import Database
from simkeep.settings import load_settings
from simkeep.sims.plans import ensure_plans
from simkeep.staff import search
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI

SIMS = 1_000_000
SEARCHES = 2_000
WARM_UP = 50
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PASSWORD = "bench support 1"
SECRET = "SUPPORTSUPPORTSUPPORTSUPPORTSUPP"

# One statement per table over generate_series, with the values it binds: SIM n has id n,
# lines +852 63000000+n and +86 13800000000+n, accounts base+2n (balance) and base+2n+1 (bonus),
# order T…n and receipt R…n; every even n is also an account (id n) logging in with the
# SIM's Hong Kong number and holding it.
_LOAD: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        """
        INSERT INTO sims (id, iccid, home_currency, plan_code, state, holder_masked, id_type,
                          id_digest, id_masked, validity_until, created_at, arrears_minor,
                          balance_account_id)
        SELECT g, '8985200' || lpad(g::text, 13, '0'), 'HKD', 'HK-VALID', 'active', '陳**',
               'hkid', lpad(to_hex(g), 64, '0'), 'A******(*)',
               $2::timestamptz + interval '180 days',
               $2::timestamptz - (g % 365) * interval '1 day', 0, $3::bigint + 2 * g
        FROM generate_series(1, $1::bigint) g
        """,
        ("count", "now", "base"),
    ),
    (
        """
        INSERT INTO sim_lines (e164, sim_id, region)
        SELECT '+852' || (63000000 + g), g, 'HK' FROM generate_series(1, $1::bigint) g
        UNION ALL
        SELECT '+86' || (13800000000 + g), g, 'CN' FROM generate_series(1, $1::bigint) g
        """,
        ("count",),
    ),
    (
        """
        INSERT INTO ledger_accounts (id, code, name, currency, type, normal_sign, owner_type,
                                     owner_id, hot_slots, created_at)
        SELECT $3::bigint + 2 * g + k,
               'sim:' || g || CASE k WHEN 0 THEN ':balance:HKD' ELSE ':bonus:HKD' END,
               'SIM ' || g || CASE k WHEN 0 THEN ' balance' ELSE ' bonus money' END, 'HKD',
               'liability', -1, 'sim', g::text, 1, $2::timestamptz
        FROM generate_series(1, $1::bigint) g CROSS JOIN (VALUES (0), (1)) AS kinds(k)
        """,
        ("count", "now", "base"),
    ),
    (
        """
        INSERT INTO ledger_balances (account_id, slot, balance, pending_out, pending_in,
                                     min_balance)
        SELECT $2::bigint + 2 * g + k, 0, CASE k WHEN 0 THEN 10000 ELSE 0 END, 0, 0, 0
        FROM generate_series(1, $1::bigint) g CROSS JOIN (VALUES (0), (1)) AS kinds(k)
        """,
        ("count", "base"),
    ),
    (
        """
        INSERT INTO subscribers (id, phone, password_hash, created_at, password_changed_at,
                                 language)
        SELECT g, '+852' || (63000000 + g), 'argon2-not-a-real-hash',
               $2::timestamptz, $2::timestamptz, 'zh_Hant_HK'
        FROM generate_series(2, $1::bigint, 2) g
        """,
        ("count", "now"),
    ),
    (
        """
        INSERT INTO subscriber_sims (subscriber_id, sim_id, linked_at)
        SELECT g, g, $2::timestamptz FROM generate_series(2, $1::bigint, 2) g
        """,
        ("count", "now"),
    ),
    (
        """
        INSERT INTO topup_orders (id, order_no, subscriber_id, request_hash, sim_id, msisdn,
                                  credit_minor, credit_currency, pay_minor, pay_currency,
                                  validity_days, provider, channel, state, created_at,
                                  expires_at, paid_at, credited_at, provider_trade_no,
                                  receipt_no)
        SELECT g, 'T20261125' || lpad(g::text, 10, '0'), CASE WHEN g % 2 = 0 THEN g END, 'x',
               g, '+852' || (63000000 + g), 10000, 'HKD', 10000, 'HKD', 180, 'fps',
               'qr', 'credited', $2::timestamptz, $2::timestamptz + interval '15 minutes',
               $2::timestamptz, $2::timestamptz, 'P' || g, 'R261125' || lpad(g::text, 10, '0')
        FROM generate_series(1, $1::bigint) g
        """,
        ("count", "now"),
    ),
)
_SEQUENCES = ("sims", "ledger_accounts", "subscribers", "topup_orders")
Ask = Callable[[str], Awaitable[int]]  # a search: the text typed → the id of the SIM found


@dataclass(frozen=True)
class Timing:
    kind: str
    way: str  # "HTTP" or "find"
    latencies_ms: tuple[float, ...]

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _load(target: Target, count: int) -> None:
    db = Database.from_settings(load_settings(database_url=target.url))
    try:
        await db.transaction(ensure_plans)
    finally:
        await db.dispose()
    conn = await asyncpg.connect(target.driver_url)
    try:
        base = int(await conn.fetchval("SELECT max(id) FROM ledger_accounts"))
        async with conn.transaction():
            values = {"count": count, "now": NOW, "base": base}
            for statement, binds in _LOAD:
                await conn.execute(statement, *(values[name] for name in binds))
            for table in _SEQUENCES:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _texts(count: int, searches: int) -> dict[str, list[tuple[str, int]]]:
    """(text typed, the SIM it leads to) for each kind of search, for random SIMs."""
    chosen = random.Random(1125).sample(range(1, count + 1), searches)
    texts: dict[str, list[tuple[str, int]]] = {"HK number": [], "CN number": [], "order no": []}
    for n in chosen:
        hk, cn = str(63_000_000 + n), str(13_800_000_000 + n)
        texts["HK number"].append((f"+852 {hk[:4]} {hk[4:]}", n))
        texts["CN number"].append((f"86 {cn[:3]} {cn[3:7]} {cn[7:]}", n))
        texts["order no"].append((f"T20261125{n:010d}", n))
    return texts


async def _timed(kind: str, way: str, texts: list[tuple[str, int]], ask: Ask) -> Timing:
    for text, sim_id in texts[:WARM_UP]:
        assert await ask(text) == sim_id, (kind, text)
    latencies = []
    for text, sim_id in texts[WARM_UP:]:
        started = time.perf_counter()
        found = await ask(text)
        latencies.append((time.perf_counter() - started) * 1000)
        assert found == sim_id, (kind, text, found)
    return Timing(kind, way, tuple(latencies))


async def measure(target: Target, *, count: int, searches: int) -> list[Timing]:
    """Load ``count`` SIMs and time ``searches`` searches of each kind, both ways."""
    await _load(target, count)
    keys = OUT / "console-keys"
    settings = load_settings(
        database_url=target.url, keys_dir=str(keys), environment="test", run_jobs=False
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    timings = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://simkeep.bench") as http,
    ):
        db: Database = app.state.db
        await staff.add_staff(
            db,
            username="support",
            display_name="Support",
            role="support",
            password=PASSWORD,
            actor=CLI,
            now=datetime.now(UTC),
            totp_secret=SECRET,
            enrolled=True,
        )
        await _log_in(http)

        async def by_http(text: str) -> int:
            answer = await http.get("/staff/search", params={"q": text})
            assert answer.status_code == 303, answer.text[:300]
            return int(answer.headers["location"].split("/")[3].split("?")[0])

        async def by_find(text: str) -> int:
            hits = await search.find(db, text=text)
            assert len(hits) == 1, hits
            return hits[0].sim.id

        for kind, texts in _texts(count, searches + WARM_UP).items():
            timings.append(await _timed(kind, "HTTP", texts, by_http))
            timings.append(await _timed(kind, "find", texts, by_find))
    return timings


async def _log_in(http: httpx.AsyncClient) -> None:
    page = await http.get("/staff/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    data = {
        "csrf": token,
        "username": "support",
        "password": PASSWORD,
        "code": pyotp.TOTP(SECRET).now(),
    }
    answer = await http.post("/staff/login", data=data)
    assert answer.status_code == 303, answer.text[:300]


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md."""
    count, searches = (20_000, 200) if quick else (SIMS, SEARCHES)
    lines = [
        "",
        "## The console's search over a million SIMs",
        "",
        f"`GET /staff/search?q=` over {count:,} SIMs loaded into PostgreSQL in bulk with SQL "
        "(`bench/console_bench.py`), each with its two lines, its balance and bonus accounts "
        "and their balance rows, a credited top-up with its order and receipt numbers, and "
        "every second SIM held by the account that logs in with its Hong Kong number. A "
        "support member signed in to the real app, in process; one search at a time after "
        f"a warm-up, {searches:,} of each kind for random SIMs: by the Hong Kong number "
        "(`+852 63xx xxxx`: the SIM's line and the account that logs in with it, both "
        "looked up), by the Mainland number (`86 138 …`) and by the order number. *HTTP* "
        "is the whole answer — the staff session checked, the text read, each reading "
        "looked up by its index, the 303 to the SIM's page; *find* is `staff.search.find` "
        "alone. Every answer is checked to lead to the right SIM.",
        "",
        "| SIMs | search | way | p50 ms | p95 ms | p99 ms |",
        "|---:|---|---|---:|---:|---:|",
    ]
    target = await fresh("postgresql", "console")
    try:
        timings = await measure(target, count=count, searches=searches)
    finally:
        await drop(target)
    for timing in timings:
        p50, p95, p99 = (timing.percentile(share) for share in (0.5, 0.95, 0.99))
        print(f"console search {timing.kind} {timing.way}: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
        lines.append(
            f"| {count:,} | {timing.kind} | {timing.way} | {p50:.2f} | {p95:.2f} | {p99:.2f} |"
        )
    return lines
