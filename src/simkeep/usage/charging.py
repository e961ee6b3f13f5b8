"""One usage batch's transaction: the records that are valid, charged set-wise.

Design overview
---------------
A batch runs a fixed number of statements whatever it holds (``statements``), about eight
on PostgreSQL:

1. ``SIMS``: the SIMs behind the numbers, their rows locked in id order (PostgreSQL), as
   crediting and the retention run lock them;
2. ``FACTS``, once the locks are held: the plans' rates, the SIMs' buckets that may pay
   (locked), their bonus and balance accounts (balance rows locked), the usage revenue
   accounts, and which of the batch's record ids this client sent before — in one read;
   ``EARLIER`` reads those records whole, only when there are some;
3. each record answered: sent before (or earlier in this batch) → ``duplicate`` with its
   first charge, or ``id_reused`` if its content differs; a number unknown or whose SIM was
   recycled → ``unknown_number``; no rate for its plan, zone and kind → ``unknown_rate``;
   the rest are new, paid in Python in batch order (``model.Wallet``);
4. the money in as few journals as the ledger's 100 postings allow (``ledger.rules.batched``),
   each named after its first record (``model.journal_id``), through ``ledger.service``;
5. the new records inserted with what each cost, ``ON CONFLICT DO NOTHING``, and the
   buckets' spending written, one statement each.

Two batches naming one SIM queue on its row, so a record sent in both is found stored by
the second. A client sending one record id with two numbers at once locks two different
SIMs: the later batch then finds the id taken — its journal's name (``JournalConflict``) or
its insert — raises ``Raced``, and runs again (``service.charge_batch``), finding it
stored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.model import JournalConflict
from simkeep.money import Money
from simkeep.sims.model import SimState
from simkeep.sqltypes import as_utc
from simkeep.usage import statements as sql
from simkeep.usage.model import (
    Bucket,
    Charge,
    Kind,
    Record,
    Refused,
    Spend,
    Wallet,
    Zone,
    journal_id,
)

Found = tuple[Record, Charge]  # a record as stored, and what it cost
Answer = Refused | tuple[str, Charge]  # refused, or a status and what the record cost


@dataclass(frozen=True, slots=True)
class Sim:
    id: int
    state: SimState
    plan_code: str
    currency: str
    bonus_code: str  # its accounts' codes (``ledger.chart``)
    balance_code: str

    @property
    def barred(self) -> bool:
        return self.state is not SimState.ACTIVE


@dataclass(slots=True)
class Facts:
    """What the batch reads of its SIMs once they are locked."""

    rates: dict[tuple[str, str, str], int] = field(default_factory=dict)  # plan, zone, kind
    accounts: dict[str, tuple[int, int]] = field(default_factory=dict)  # code → id, available
    buckets: dict[int, list[Bucket]] = field(default_factory=lambda: defaultdict(list))
    earlier: set[str] = field(default_factory=set)  # the batch's record ids charged before


Accepted = tuple[int, Record, Sim, int]  # index in the batch, record, its SIM, its rate


class Raced(Exception):
    """A record was charged by another batch between this one's read and its writes: only
    when a client sends one record id with two numbers at once. The batch runs again."""


async def charge(
    conn: AsyncConnection, *, client_id: int, valid: list[tuple[int, Record]], now: datetime
) -> dict[int, Answer]:
    """Each valid record's answer by index."""
    outcomes: dict[int, Answer] = {}
    sims = await _sims(conn, {record.number for _, record in valid})
    since = min(record.occurred_at for _, record in valid)
    facts = await _facts(conn, set(sims.values()), since, client_id, valid)
    found = await _earlier(conn, client_id, facts.earlier)
    first: set[str] = set(found)  # record ids charged before, or first met in this batch
    accepted: list[Accepted] = []
    for index, record in valid:
        sim = sims.get(record.number)
        rate = (
            facts.rates.get((sim.plan_code, record.zone.value, record.kind.value)) if sim else None
        )
        if record.record_id in first:
            continue  # a duplicate, answered below
        if sim is None:
            outcomes[index] = Refused("unknown_number", "no line in service has this number")
        elif rate is None:
            message = f"the plan {sim.plan_code} has no rate for {record.kind} in {record.zone}"
            outcomes[index] = Refused("unknown_rate", message)
        else:
            first.add(record.record_id)
            accepted.append((index, record, sim, rate))
    for index, record, cost in await _pay(conn, client_id, accepted, facts, now):
        found[record.record_id] = (record, cost)
        outcomes[index] = (cost.status, cost)
    for index, record in valid:
        if index in outcomes:
            continue
        stored, cost = found[record.record_id]  # charged now, or by an earlier batch
        if stored != record:
            outcomes[index] = Refused("id_reused", "this record id was used for another record")
        else:
            outcomes[index] = ("duplicate", cost)
    return outcomes


async def _sims(conn: AsyncConnection, numbers: set[str]) -> dict[str, Sim]:
    """The SIMs behind the numbers, locked; recycled ones left out."""
    rows = await sql.SIMS.rows(conn, numbers=sorted(numbers))
    return {
        row["number"]: Sim(
            row["sim_id"],
            SimState(row["state"]),
            row["plan_code"],
            row["home_currency"],
            chart.sim_bonus(row["sim_id"], row["home_currency"]).code,
            chart.sim_balance(row["sim_id"], row["home_currency"]).code,
        )
        for row in rows
        if row["state"] != SimState.RECYCLED.value
    }


def _codes(sim: Sim) -> tuple[str, str]:
    return sim.bonus_code, sim.balance_code


async def _facts(
    conn: AsyncConnection,
    sims: set[Sim],
    since: datetime,
    client_id: int,
    valid: list[tuple[int, Record]],
) -> Facts:
    """Rates, buckets, accounts of the locked SIMs, and which records came before, in one
    read."""
    codes = [code for sim in sorted(sims, key=lambda s: s.id) for code in _codes(sim)]
    currencies = sorted({sim.currency for sim in sims})
    rows = await sql.FACTS.rows(
        conn,
        codes=codes,
        revenue=[chart.system_code(System.USAGE_REVENUE, c) for c in currencies],
        plans=sorted({sim.plan_code for sim in sims}),
        sim_ids=sorted(sim.id for sim in sims),
        since=since,
        client_id=client_id,
        record_ids=sorted({record.record_id for _, record in valid}),
    )
    facts = Facts()
    for row in rows:
        if row["fact"] == "account":
            facts.accounts[row["name"]] = (row["id"], row["amount"])
        elif row["fact"] == "earlier":
            facts.earlier.add(row["name"])
        elif row["fact"] == "rate":
            plan, zone, kind = row["name"].split(" ")
            facts.rates[(plan, zone, kind)] = row["amount"]
        else:
            bucket = Bucket(
                row["id"], row["name"], row["zone"], row["amount"], as_utc(row["expires_at"])
            )
            facts.buckets[row["sim_id"]].append(bucket)
    for buckets in facts.buckets.values():
        buckets.sort(key=lambda bucket: (bucket.expires_at, bucket.id))
    return facts


async def _pay(
    conn: AsyncConnection, client_id: int, accepted: list[Accepted], facts: Facts, now: datetime
) -> list[tuple[int, Record, Charge]]:
    """Pay the new records from their SIMs' wallets, book the money, store the records."""
    if not accepted:
        return []
    wallets: dict[int, Wallet] = {}
    for _, _, sim, _ in accepted:
        if sim.id not in wallets:
            bonus, balance = (facts.accounts.get(code, (0, 0))[1] for code in _codes(sim))
            wallets[sim.id] = Wallet(
                sim.currency, facts.buckets[sim.id], max(0, bonus), max(0, balance)
            )
    paid = [
        (index, record, wallets[sim.id].pay(record, rate=rate, barred=sim.barred))
        for index, record, sim, rate in accepted
    ]
    booked = await _book(conn, client_id, wallets, facts, accepted, now)
    rows = [
        _stored(record, sim, cost, booked.get(sim.id))
        for (_, record, cost), (_, _, sim, _) in zip(paid, accepted, strict=True)
    ]
    inserted = await sql.insert_records(conn, client_id=client_id, records=rows, now=now)
    if inserted != len(rows):
        raise Raced(f"{len(rows) - inserted} of the batch's records were inserted meanwhile")
    spent = {bucket: units for w in wallets.values() for bucket, units in w.spent.items() if units}
    if spent:
        await sql.spend_buckets(conn, spent=spent)
    return paid


def _stored(record: Record, sim: Sim, cost: Charge, journal: int | None) -> sql.NewRecord:
    return (
        record.record_id,
        sim.id,
        record.number,
        record.kind.value,
        record.zone.value,
        record.quantity,
        record.occurred_at,
        sim.currency,
        cost.rate,
        cost.bucket_units,
        cost.amount,
        cost.bonus,
        cost.balance,
        cost.unpaid,
        sim.barred,
        journal,
    )


async def _book(
    conn: AsyncConnection,
    client_id: int,
    wallets: dict[int, Wallet],
    facts: Facts,
    accepted: list[Accepted],
    now: datetime,
) -> dict[int, int]:
    """The batch's money in as few journals as the ledger takes, each named after its first
    record (``model.journal_id``); each paying SIM → its journal's id."""
    first_record: dict[int, str] = {}
    sims: dict[int, Sim] = {}
    for _, record, sim, _ in accepted:
        first_record.setdefault(sim.id, record.record_id)
        sims[sim.id] = sim
    spends = []
    for sim_id in sorted(wallets):
        wallet = wallets[sim_id]
        if wallet.from_bonus or wallet.from_balance:
            spends.append(
                Spend(
                    sim_id,
                    facts.accounts[sims[sim_id].bonus_code][0],
                    facts.accounts[sims[sim_id].balance_code][0],
                    Money(wallet.from_bonus, wallet.currency),
                    Money(wallet.from_balance, wallet.currency),
                )
            )
    revenue = {
        currency: facts.accounts[chart.system_code(System.USAGE_REVENUE, currency)][0]
        for currency in {spend.currency for spend in spends}
    }
    events = [
        rules.usage(
            sim_bonus=spend.bonus_account,
            sim_balance=spend.balance_account,
            revenue=revenue[spend.currency],
            from_bonus=spend.from_bonus,
            from_balance=spend.from_balance,
        )
        for spend in spends
    ]
    booked: dict[int, int] = {}
    for chunk, postings in rules.batched(events, pooled=set(revenue.values())):
        name = journal_id(client_id, first_record[spends[chunk.start].sim_id])
        try:
            journal = await ledger.post_journal(
                conn, client_id=name, postings=postings, now=now, description="usage"
            )
        except JournalConflict as conflict:  # its first record was just charged elsewhere
            raise Raced(f"journal {name} was written by another batch") from conflict
        booked.update((spends[index].sim_id, journal.id) for index in chunk)
    return booked


async def _earlier(conn: AsyncConnection, client_id: int, record_ids: set[str]) -> dict[str, Found]:
    """Records charged before this batch: each as it was sent, and what it cost."""
    if not record_ids:
        return {}
    rows = await sql.EARLIER.rows(conn, client_id=client_id, record_ids=sorted(record_ids))
    return {
        row["record_id"]: (
            Record(
                row["record_id"],
                row["number"],
                Kind(row["kind"]),
                Zone(row["zone"]),
                row["quantity"],
                as_utc(row["occurred_at"]),
            ),
            Charge(
                row["currency"],
                row["rate_minor"],
                row["bucket_units"],
                row["amount_minor"],
                row["bonus_minor"],
                row["balance_minor"],
                row["unpaid_minor"],
                bool(row["barred"]),
            ),
        )
        for row in rows
    }
