"""Usage use cases: a line's state and barring for the network, and charging a batch of
usage records.

Design overview
---------------
``charge_batch`` takes a batch of records as the network sent them and answers one outcome
per record, in order: ``charged``, ``unpaid`` (partly or wholly), ``duplicate`` (sent
before: its first outcome, nothing charged again) or ``refused`` (a code and a message).
Each record is checked alone (``model.parse_record``), so a malformed one is refused and the
rest go on. The valid ones are charged in **one transaction**, set-based, in a fixed number
of statements whatever the batch holds (``statements``):

1. the SIMs behind the numbers, locked (PostgreSQL) in id order; a number that is unknown
   or whose SIM was recycled is refused;
2. the plans' rates; a record whose plan has no rate for its zone and kind is refused;
3. the records inserted ``ON CONFLICT DO NOTHING RETURNING``: those that come back are new,
   the others were charged before and are answered with their stored outcome (the same id
   with other content is refused, ``id_reused``); a record repeated inside the batch is
   answered as a duplicate of its first;
4. the SIMs' buckets and bonus and balance accounts, locked;
5. each new record paid in Python (``model.Wallet``), in batch order;
6. the money: one journal per currency for up to ``SIMS_PER_JOURNAL`` SIMs through
   ``ledger.service`` (``rules.usage``: bonus and balance to usage revenue), client id
   ``usage:<the first record's row id>``; the buckets and the records' outcomes written
   back in one statement each.

Two batches naming one SIM queue on its row; a record sent by two batches at once is
inserted by the first to commit, and found existing by the other. A batch that fails rolls
back whole; sent again, it is charged once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.phone import parse_number
from simkeep.sims import service as sims
from simkeep.sims.model import SimState
from simkeep.sqltypes import as_utc
from simkeep.usage import statements as sql
from simkeep.usage.model import (
    SIMS_PER_JOURNAL,
    Barring,
    Bucket,
    Charge,
    Kind,
    Record,
    Refused,
    Wallet,
    Zone,
    barring,
    parse_record,
    usage_postings,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One record's answer: ``charge`` for charged, unpaid and duplicate; ``refused`` else."""

    index: int
    record_id: str | None
    status: str
    charge: Charge | None = None
    refused: Refused | None = None


@dataclass(frozen=True, slots=True)
class LineState:
    number: str
    sim_id: int
    state: SimState
    plan_code: str
    barring: Barring


@dataclass(frozen=True, slots=True)
class _Sim:
    id: int
    state: SimState
    plan_code: str
    currency: str


async def line_state(conn: AsyncConnection, *, number: str) -> LineState | None:
    """A line's state and barring (``number`` in any usual spelling); None for an unknown
    number or a recycled SIM's."""
    e164 = parse_number(number).e164
    sim = await sims.find_by_number(conn, number=e164)
    if sim is None or sim.state is SimState.RECYCLED:
        return None
    return LineState(e164, sim.id, sim.state, sim.plan_code, barring(sim.state))


async def charge_batch(
    db: Database, *, client_id: int, records: Sequence[object], now: datetime
) -> list[Outcome]:
    """Charge a batch of usage records, once per record id; one outcome per record."""
    parsed = [parse_record(raw, now=now) for raw in records]
    outcomes: dict[int, Outcome] = {
        index: Outcome(index, _raw_id(records[index]), "refused", refused=found)
        for index, found in enumerate(parsed)
        if isinstance(found, Refused)
    }
    valid = [(index, found) for index, found in enumerate(parsed) if isinstance(found, Record)]
    if valid:
        charged = await db.transaction(
            lambda conn: _charge(conn, client_id=client_id, valid=valid, now=now)
        )
        outcomes.update(charged)
    return [outcomes[index] for index in range(len(records))]


def _raw_id(raw: object) -> str | None:
    record_id = raw.get("id") if isinstance(raw, dict) else None
    return record_id[:64] if isinstance(record_id, str) else None


async def _charge(
    conn: AsyncConnection, *, client_id: int, valid: list[tuple[int, Record]], now: datetime
) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    sims_by_number = await _sims(conn, {record.number for _, record in valid})
    rates = await _rates(conn, {sim.plan_code for sim in sims_by_number.values()})
    first: dict[str, int] = {}  # record id → index of its first occurrence in the batch
    accepted: list[tuple[int, Record, _Sim, int]] = []
    for index, record in valid:
        sim = sims_by_number.get(record.number)
        rate = rates.get((sim.plan_code, record.zone.value, record.kind.value)) if sim else None
        if sim is None:
            outcomes[index] = _refused(index, record, "unknown_number", "no line has this number")
        elif rate is None:
            message = f"the plan {sim.plan_code} has no rate for {record.kind} in {record.zone}"
            outcomes[index] = _refused(index, record, "unknown_rate", message)
        elif record.record_id in first:
            continue  # answered below, as a duplicate of its first occurrence
        else:
            first[record.record_id] = index
            accepted.append((index, record, sim, rate))
    new = await _insert(conn, client_id, accepted, now)
    fresh = [item for item in accepted if item[1].record_id in new]
    charges = await _pay(conn, fresh, new, now)
    known = await _earlier(conn, client_id, [r for _, r in valid if r.record_id not in new])
    for index, record, _, _ in fresh:
        known[record.record_id] = (record, charges[index])
        outcomes[index] = Outcome(index, record.record_id, charges[index].status, charges[index])
    for index, record in valid:
        if index in outcomes:
            continue
        stored, charge = known[record.record_id]  # inserted now, or by an earlier batch
        if stored != record:
            message = "this record id was used for another record"
            outcomes[index] = _refused(index, record, "id_reused", message)
        else:
            outcomes[index] = Outcome(index, record.record_id, "duplicate", charge)
    return outcomes


async def _insert(
    conn: AsyncConnection,
    client_id: int,
    accepted: list[tuple[int, Record, _Sim, int]],
    now: datetime,
) -> dict[str, int]:
    """Insert the records not seen before: their record ids → row ids."""
    if not accepted:
        return {}
    return await sql.insert_records(
        conn,
        client_id=client_id,
        records=[
            (
                r.record_id,
                sim.id,
                r.number,
                r.kind.value,
                r.zone.value,
                r.quantity,
                r.occurred_at,
                sim.currency,
                rate,
                sim.state is not SimState.ACTIVE,
            )
            for _, r, sim, rate in accepted
        ],
        now=now,
    )


def _refused(index: int, record: Record, code: str, message: str) -> Outcome:
    return Outcome(index, record.record_id, "refused", refused=Refused(code, message))


async def _sims(conn: AsyncConnection, numbers: set[str]) -> dict[str, _Sim]:
    """The SIMs behind the numbers, locked; recycled ones left out."""
    rows = await sql.SIMS.rows(conn, numbers=sorted(numbers))
    return {
        row["number"]: _Sim(
            row["sim_id"], SimState(row["state"]), row["plan_code"], row["home_currency"]
        )
        for row in rows
        if row["state"] != SimState.RECYCLED.value
    }


async def _rates(conn: AsyncConnection, plans: set[str]) -> dict[tuple[str, str, str], int]:
    if not plans:
        return {}
    rows = await sql.RATES.rows(conn, plans=sorted(plans))
    return {(r["plan_code"], r["zone"], r["kind"]): r["rate_minor"] for r in rows}


async def _pay(
    conn: AsyncConnection,
    fresh: list[tuple[int, Record, _Sim, int]],
    row_ids: dict[str, int],
    now: datetime,
) -> dict[int, Charge]:
    """Pay the new records from their SIMs' wallets, book the money, write it all back."""
    if not fresh:
        return {}
    wallets, accounts = await _wallets(conn, {sim for _, _, sim, _ in fresh}, fresh)
    charges = {
        index: wallets[sim.id].pay(record, rate=rate, barred=sim.state is not SimState.ACTIVE)
        for index, record, sim, rate in fresh
    }
    journals = await _book(conn, wallets, accounts, fresh, row_ids, now)
    spent = {bucket: units for w in wallets.values() for bucket, units in w.spent.items() if units}
    if spent:
        await sql.spend_buckets(conn, spent=spent)
    settled = []
    for index, record, sim, _ in fresh:
        charge = charges[index]
        if charge.bucket_units or charge.bonus or charge.balance:
            row = (charge.bucket_units, charge.amount, charge.bonus, charge.balance, charge.unpaid)
            settled.append((row_ids[record.record_id], *row, journals.get(sim.id)))
    if settled:
        await sql.settle_records(conn, settled=settled)
    return charges


async def _wallets(
    conn: AsyncConnection, sims_paying: set[_Sim], fresh: list[tuple[int, Record, _Sim, int]]
) -> tuple[dict[int, Wallet], dict[str, int]]:
    """Each SIM's buckets that may pay for these records, and its bonus and balance; the
    ids of those accounts by code."""
    ids = sorted(sim.id for sim in sims_paying)
    since = min(record.occurred_at for _, record, _, _ in fresh)
    buckets: dict[int, list[Bucket]] = defaultdict(list)
    for row in await sql.BUCKETS.rows(conn, sim_ids=ids, since=since):
        buckets[row["sim_id"]].append(
            Bucket(row["id"], row["kind"], row["zone"], row["remaining"], as_utc(row["expires_at"]))
        )
    codes = [
        spec(sim.id, sim.currency).code
        for sim in sims_paying
        for spec in (chart.sim_bonus, chart.sim_balance)
    ]
    rows = await sql.BALANCES.rows(conn, codes=codes)
    available = {row["code"]: row["available"] for row in rows}
    wallets = {
        sim.id: Wallet(
            currency=sim.currency,
            buckets=buckets[sim.id],
            bonus=max(0, available.get(chart.sim_bonus(sim.id, sim.currency).code, 0)),
            balance=max(0, available.get(chart.sim_balance(sim.id, sim.currency).code, 0)),
        )
        for sim in sims_paying
    }
    return wallets, {row["code"]: row["id"] for row in rows}


async def _book(
    conn: AsyncConnection,
    wallets: dict[int, Wallet],
    accounts: dict[str, int],
    fresh: list[tuple[int, Record, _Sim, int]],
    row_ids: dict[str, int],
    now: datetime,
) -> dict[int, int]:
    """The batch's money in journals of up to ``SIMS_PER_JOURNAL`` SIMs per currency; each
    paying SIM → its journal's id."""
    first_row: dict[int, int] = {}
    for _, record, sim, _ in fresh:
        first_row.setdefault(sim.id, row_ids[record.record_id])
    paying: dict[str, list[int]] = defaultdict(list)
    for sim_id in sorted(wallets):
        wallet = wallets[sim_id]
        if wallet.from_bonus or wallet.from_balance:
            paying[wallet.currency].append(sim_id)
    if not paying:
        return {}
    codes = {currency: chart.system_code(System.USAGE_REVENUE, currency) for currency in paying}
    revenue = await ledger.account_ids(conn, codes=list(codes.values()))
    journals: dict[int, int] = {}
    for currency, sim_ids in paying.items():
        for start in range(0, len(sim_ids), SIMS_PER_JOURNAL):
            chunk = sim_ids[start : start + SIMS_PER_JOURNAL]
            spends = [
                (
                    accounts[chart.sim_bonus(sim_id, currency).code],
                    accounts[chart.sim_balance(sim_id, currency).code],
                    Money(wallets[sim_id].from_bonus, currency),
                    Money(wallets[sim_id].from_balance, currency),
                )
                for sim_id in chunk
            ]
            journal = await ledger.post_journal(
                conn,
                client_id=f"usage:{min(first_row[sim_id] for sim_id in chunk)}",
                postings=usage_postings(spends, revenue=revenue[codes[currency]]),
                now=now,
                description="usage",
            )
            journals.update(dict.fromkeys(chunk, journal.id))
    return journals


async def _earlier(
    conn: AsyncConnection, client_id: int, records: list[Record]
) -> dict[str, tuple[Record, Charge]]:
    """Records charged before this batch: each as it was sent, and what it cost."""
    if not records:
        return {}
    rows = await sql.EARLIER.rows(
        conn, client_id=client_id, record_ids=sorted({r.record_id for r in records})
    )
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
