"""Usage charging on both databases, as worked examples: a call paid by voice buckets (the
earliest expiry first, its zone or any zone), then bonus money, then the balance; unpaid
usage with nothing below zero; each record charged once per id (the same batch twice, a
record repeated in a batch, fifty overlapping batches at once); malformed records refused
alone; barring per state; rates as data; and the books checked after each."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.buckets import tables as bt
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.sims.model import Sim, SimState
from simkeep.usage import clients, rates
from simkeep.usage import service as usage
from simkeep.usage import tables as ut
from simkeep.usage.model import Kind, UnknownRate, Zone
from tests.factories import issue_sim, seed_books

Sims = dict[str, Sim]


async def setup(db: Database, clock: FixedClock) -> tuple[int, Sims]:
    """The books, a network client, and an SIM of each state on HK-VALID (HKD)."""

    async def make(conn: AsyncConnection) -> Sims:
        await seed_books(conn, now=clock.now())
        return {
            state.value: await issue_sim(conn, n=n, plan="HK-VALID", now=clock.now(), state=state)
            for n, state in enumerate(SimState, start=1)
        }

    made = await db.transaction(make)
    client, _ = await clients.add_client(db, name="carrier", now=clock.now())
    return client.id, made


async def fund(db: Database, sim: Sim, minor: int, now: datetime) -> None:
    """A top-up of ``minor`` to the SIM's balance, as crediting books it."""

    async def post(conn: AsyncConnection) -> None:
        clearing = chart.provider_clearing_code("alipay", "HKD")
        balance = chart.sim_balance(sim.id, "HKD").code
        ids = await ledger.account_ids(conn, codes=[clearing, balance])
        postings = rules.provider_topup(
            clearing=ids[clearing], sim_balance=ids[balance], amount=Money(minor, "HKD")
        )
        await ledger.post_journal(
            conn, client_id=f"fund:{sim.id}:{minor}", postings=postings, now=now
        )

    await db.transaction(post)


async def grant(
    db: Database, sim: Sim, kind: str, units: int, zone: str | None, expires_at: datetime
) -> int:
    """A benefit bucket, as a promotion grants it (bonus money through the books)."""

    async def insert(conn: AsyncConnection) -> int:
        ref = f"test:{kind}:{zone}:{units}:{int(expires_at.timestamp())}"
        bucket = (
            await conn.execute(
                bt.buckets.insert()
                .values(
                    sim_id=sim.id,
                    kind=kind,
                    zone=zone,
                    currency="HKD" if kind == "money" else None,
                    granted=units,
                    remaining=units,
                    granted_at=expires_at - timedelta(days=30),
                    expires_at=expires_at,
                    source_ref=ref,
                )
                .returning(bt.buckets.c.id)
            )
        ).scalar_one()
        if kind == "money":
            expense = chart.system_code(System.PROMOTION_EXPENSE, "HKD")
            bonus = chart.sim_bonus(sim.id, "HKD").code
            ids = await ledger.account_ids(conn, codes=[expense, bonus])
            postings = rules.promotion_grant(
                promotion_expense=ids[expense], sim_bonus=ids[bonus], bonus=Money(units, "HKD")
            )
            await ledger.post_journal(
                conn, client_id=f"grant:{ref}", postings=postings, now=expires_at
            )
        return int(bucket)

    return await db.transaction(insert)


async def balance(db: Database, code: str) -> int:
    async def read(conn: AsyncConnection) -> int:
        account = await ledger.get_account_by_code(conn, code=code)
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).posted

    return await db.transaction(read)


async def remaining(db: Database, bucket_id: int) -> int:
    query = select(bt.buckets.c.remaining).where(bt.buckets.c.id == bucket_id)
    return int(await db.transaction(lambda conn: conn.scalar(query)))


async def books_ok(db: Database) -> None:
    report = await db.transaction(ledger.check_books)
    assert report.ok, report


def call(
    record_id: str, sim: Sim, minutes: int, at: datetime, zone: str = "hk", kind: str = "voice"
) -> dict[str, Any]:
    return {
        "id": record_id,
        "number": sim.hk_number.e164,
        "kind": kind,
        "zone": zone,
        "quantity": minutes,
        "occurred_at": at.isoformat(),
    }


def charges(outcomes: list[usage.Outcome]) -> list[tuple[str, int, int, int, int, int]]:
    """Each outcome: status, units from buckets, price, from bonus, from balance, unpaid."""
    return [
        (o.status, c.bucket_units, c.amount, c.bonus, c.balance, c.unpaid)
        for o in outcomes
        if (c := o.charge) is not None
    ]


async def test_a_call_spends_voice_buckets_then_bonus_money_then_the_balance(
    db: Database, clock: FixedClock
) -> None:
    client, sims = await setup(db, clock)
    sim, now = sims["active"], clock.now()
    await fund(db, sim, 100, now)  # HK$1.00
    any_zone = await grant(db, sim, "voice", 3, None, now + timedelta(days=5))
    hk = await grant(db, sim, "voice", 5, "hk", now + timedelta(days=30))
    mainland = await grant(db, sim, "voice", 60, "mainland", now + timedelta(days=1))
    data = await grant(db, sim, "data", 1024, None, now + timedelta(days=1))
    gone = await grant(db, sim, "voice", 60, None, now - timedelta(minutes=1))
    bonus = await grant(db, sim, "money", 30, None, now + timedelta(days=10))  # HK$0.30

    # ten minutes in Hong Kong at HK$0.25: 3 from the bucket that expires first, 5 from the
    # Hong Kong one, and 2 priced HK$0.50: HK$0.30 of bonus money, HK$0.20 of balance
    outcomes = await usage.charge_batch(
        db, client_id=client, records=[call("c-1", sim, 10, now)], now=now
    )
    assert charges(outcomes) == [("charged", 8, 50, 30, 20, 0)]
    assert outcomes[0].charge is not None
    assert outcomes[0].charge.rate == 25
    assert [await remaining(db, b) for b in (any_zone, hk, mainland, data, gone, bonus)] == [
        0,
        0,
        60,
        1024,
        60,
        0,
    ]
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 80
    assert await balance(db, chart.sim_bonus(sim.id, "HKD").code) == 0
    revenue = chart.system_code(System.USAGE_REVENUE, "HKD")
    assert await balance(db, revenue) == 50
    await books_ok(db)


async def test_what_cannot_be_paid_is_kept_as_unpaid(db: Database, clock: FixedClock) -> None:
    client, sims = await setup(db, clock)
    sim, now = sims["active"], clock.now()
    await fund(db, sim, 30, now)
    records = [call("u-1", sim, 2, now), call("u-2", sim, 1, now, kind="sms")]
    outcomes = await usage.charge_batch(db, client_id=client, records=records, now=now)
    # HK$0.50 for the call, HK$0.30 of it from the balance; the SMS (HK$0.50) wholly unpaid
    assert charges(outcomes) == [("unpaid", 0, 50, 0, 30, 20), ("unpaid", 0, 50, 0, 0, 50)]
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 0
    assert await balance(db, chart.system_code(System.USAGE_REVENUE, "HKD")) == 30
    unpaid = await db.transaction(
        lambda conn: conn.scalar(select(func.sum(ut.records.c.unpaid_minor)))
    )
    assert unpaid == 70
    await books_ok(db)


async def test_each_record_is_charged_once_per_id(db: Database, clock: FixedClock) -> None:
    client, sims = await setup(db, clock)
    sim, now = sims["active"], clock.now()
    await fund(db, sim, 10_000, now)
    batch = [call("d-1", sim, 4, now), call("d-2", sim, 2, now), call("d-1", sim, 4, now)]
    first = await usage.charge_batch(db, client_id=client, records=batch, now=now)
    assert [o.status for o in first] == ["charged", "charged", "duplicate"]
    again = await usage.charge_batch(db, client_id=client, records=batch, now=now)
    assert [o.status for o in again] == ["duplicate"] * 3
    assert [o.charge for o in again] == [first[0].charge, first[1].charge, first[0].charge]
    reused = await usage.charge_batch(
        db, client_id=client, records=[call("d-2", sim, 9, now)], now=now
    )
    assert reused[0].refused is not None
    assert reused[0].refused.code == "id_reused"
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 10_000 - 150
    other, _ = await clients.add_client(db, name="another carrier", now=now)
    theirs = await usage.charge_batch(
        db, client_id=other.id, records=[call("d-1", sim, 4, now)], now=now
    )
    assert theirs[0].status == "charged"  # ids are unique per client
    await books_ok(db)


async def test_fifty_overlapping_batches_at_once_charge_each_record_once(
    db: Database, clock: FixedClock
) -> None:
    client, sims = await setup(db, clock)
    now = clock.now()
    paying = [sims["active"], sims["grace"], sims["suspended"]]
    for sim in paying:
        await fund(db, sim, 100_000, now)
    records = [call(f"r-{n}", paying[n % 3], 1 + n % 7, now) for n in range(60)]
    batches = [records[n : n + 20] for n in range(0, 50)]  # each overlaps the next

    results = await asyncio.gather(
        *(usage.charge_batch(db, client_id=client, records=b, now=now) for b in batches)
    )
    firsts = [o for outcomes in results for o in outcomes if o.status != "duplicate"]
    assert sorted(o.record_id or "" for o in firsts) == sorted(r["id"] for r in records)
    price = {r["id"]: r["quantity"] * 25 for r in records}
    assert await balance(db, chart.system_code(System.USAGE_REVENUE, "HKD")) == sum(price.values())
    stored = await db.transaction(
        lambda conn: conn.scalar(select(func.count()).select_from(ut.records))
    )
    assert stored == 60
    await books_ok(db)


async def test_a_malformed_record_is_refused_alone(db: Database, clock: FixedClock) -> None:
    client, sims = await setup(db, clock)
    sim, now = sims["active"], clock.now()
    await fund(db, sim, 1_000, now)
    good = call("m-ok", sim, 1, now)
    records: list[object] = [
        {**good, "id": "m-1", "quantity": 0},
        {**good, "id": "m-2", "quantity": 2.5},
        {**good, "id": "m-3", "quantity": True},
        {**good, "id": "m-4", "quantity": 1_441},
        {**good, "id": "m-5", "kind": "mms"},
        {**good, "id": "m-6", "zone": "macau"},
        {**good, "id": "m-7", "number": "91234567"},
        {**good, "id": "m-8", "occurred_at": "2026-11-25 09:00"},
        {**good, "id": "m-9", "occurred_at": (now - timedelta(days=91)).isoformat()},
        {**good, "id": "x" * 65},
        {**good, "id": "m-10", "number": sims["recycled"].hk_number.e164},
        {**good, "id": "m-11", "number": "+85298765432"},
        "not a record",
        good,
    ]
    outcomes = await usage.charge_batch(db, client_id=client, records=records, now=now)
    codes = [o.refused.code if o.refused else o.status for o in outcomes]
    assert codes == [
        "invalid_quantity",
        "invalid_quantity",
        "invalid_quantity",
        "invalid_quantity",
        "unknown_kind",
        "unknown_zone",
        "invalid_number",
        "invalid_time",
        "invalid_time",
        "invalid_id",
        "unknown_number",
        "unknown_number",
        "invalid_record",
        "charged",
    ]
    assert outcomes[9].record_id == "x" * 64
    assert outcomes[12].record_id is None
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 975
    await books_ok(db)


async def test_lines_are_barred_by_state_and_their_usage_charged(
    db: Database, clock: FixedClock
) -> None:
    client, sims = await setup(db, clock)
    now = clock.now()

    async def line(number: str) -> usage.LineState | None:
        return await db.transaction(lambda conn: usage.line_state(conn, number=number))

    active = await line(sims["active"].cn_number.e164)
    assert active is not None
    assert active.state is SimState.ACTIVE
    assert active.number == sims["active"].cn_number.e164
    assert not any(vars_of(active.barring).values())
    grace = await line(sims["grace"].hk_number.e164)
    assert grace is not None
    assert vars_of(grace.barring) == {
        "outgoing_voice": True,
        "outgoing_sms": True,
        "data": True,
        "incoming_voice": False,
        "incoming_sms": False,
    }
    suspended = await line(sims["suspended"].hk_number.e164)
    assert suspended is not None
    assert all(vars_of(suspended.barring).values())
    assert await line(sims["recycled"].hk_number.e164) is None
    assert await line("+85298765432") is None

    await fund(db, sims["grace"], 1_000, now)
    outcomes = await usage.charge_batch(
        db, client_id=client, records=[call("b-1", sims["grace"], 1, now)], now=now
    )
    assert outcomes[0].status == "charged"
    assert outcomes[0].charge is not None
    assert outcomes[0].charge.barred


def vars_of(barring: object) -> dict[str, bool]:
    names = ("outgoing_voice", "outgoing_sms", "data", "incoming_voice", "incoming_sms")
    return {name: getattr(barring, name) for name in names}


async def test_rates_are_data(db: Database, clock: FixedClock) -> None:
    client, sims = await setup(db, clock)
    sim, now = sims["active"], clock.now()
    await fund(db, sim, 1_000, now)

    async def change(conn: AsyncConnection) -> dict[tuple[Zone, Kind], int]:
        await rates.ensure_rates(conn)  # again: nothing changes
        await rates.set_rate(
            conn, plan_code="HK-VALID", zone=Zone.MAINLAND, kind=Kind.DATA, rate_minor=7
        )
        return await rates.rates_of(conn, plan_code="HK-VALID")

    table = await db.transaction(change)
    assert table[(Zone.MAINLAND, Kind.DATA)] == 7
    assert table[(Zone.HK, Kind.VOICE)] == 25
    assert len(table) == 6
    outcomes = await usage.charge_batch(
        db,
        client_id=client,
        records=[call("data-1", sim, 100, now, zone="mainland", kind="data")],
        now=now,
    )
    assert charges(outcomes) == [("charged", 0, 700, 0, 700, 0)]
    for bad in (-1, 1_000_001):
        try:
            await db.transaction(
                lambda conn, bad=bad: rates.set_rate(  # type: ignore[misc]
                    conn, plan_code="HK-VALID", zone=Zone.HK, kind=Kind.SMS, rate_minor=bad
                )
            )
        except UnknownRate:
            continue
        raise AssertionError(f"rate {bad} taken")


async def test_fifty_batches_on_one_short_sim_never_take_it_below_zero(
    db: Database, clock: FixedClock
) -> None:
    client, sims = await setup(db, clock)
    sim, now = sims["active"], clock.now()
    await fund(db, sim, 1_000, now)  # HK$10: forty minutes at HK$0.25
    batches = [[call(f"s-{n}-{i}", sim, 1, now) for i in range(2)] for n in range(50)]

    results = await asyncio.gather(
        *(usage.charge_batch(db, client_id=client, records=b, now=now) for b in batches)
    )
    paid = [o.charge for outcomes in results for o in outcomes if o.charge is not None]
    assert sum(c.balance for c in paid) == 1_000
    assert sum(c.unpaid for c in paid) == 100 * 25 - 1_000
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 0
    await books_ok(db)


async def test_buckets_pay_earliest_expiry_first_for_usage_before_they_expired(
    db: Database, clock: FixedClock
) -> None:
    client, sims = await setup(db, clock)
    sim, now = sims["active"], clock.now()
    await fund(db, sim, 1_000, now)
    later = await grant(db, sim, "voice", 5, "hk", now + timedelta(days=30))
    sooner = await grant(db, sim, "voice", 3, None, now + timedelta(days=5))
    ended = await grant(db, sim, "sms", 10, None, now - timedelta(hours=1))
    records = [
        call("e-1", sim, 4, now),  # 3 from the bucket that expires sooner, then 1
        call("e-2", sim, 2, now, kind="sms"),  # sent after the SMS bucket ended: paid
        call("e-3", sim, 2, now - timedelta(hours=2), kind="sms"),  # before: the bucket
    ]
    outcomes = await usage.charge_batch(db, client_id=client, records=records, now=now)
    assert charges(outcomes) == [
        ("charged", 4, 0, 0, 0, 0),
        ("charged", 0, 100, 0, 100, 0),
        ("charged", 2, 0, 0, 0, 0),
    ]
    assert [await remaining(db, b) for b in (sooner, later, ended)] == [0, 4, 8]
    await books_ok(db)


async def test_one_record_id_with_two_numbers_at_once_is_charged_once(
    db: Database, clock: FixedClock
) -> None:
    client, sims = await setup(db, clock)
    now = clock.now()
    first, second = sims["active"], sims["grace"]
    for sim in (first, second):
        await fund(db, sim, 10_000, now)
    pairs = [
        (call(f"twin-{n}", first, 1, now), call(f"twin-{n}", second, 1, now)) for n in range(10)
    ]
    results = await asyncio.gather(
        *(
            usage.charge_batch(db, client_id=client, records=[record], now=now)
            for pair in pairs
            for record in pair
        )
    )
    statuses = [outcomes[0].status for outcomes in results]
    codes = [o.refused.code for outcomes in results for o in outcomes if o.refused]
    assert statuses.count("charged") == 10
    assert codes == ["id_reused"] * 10
    assert await balance(db, chart.system_code(System.USAGE_REVENUE, "HKD")) == 250
    await books_ok(db)
