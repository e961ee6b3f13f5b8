"""Usage rates: the price of a unit per plan, zone and kind, as data.

Design overview
---------------
A rate is a row of ``plan_rates``: plan code, zone (``hk``, ``mainland``), kind (``voice``
minute, ``data`` MB, ``sms`` message) and the price of one unit in minor units of the
plan's currency. The default plans get ``DEFAULT_RATES`` from ``ensure_rates`` (called
wherever ``sims.ensure_plans`` is: demo data, tests, a new installation; migration 0013
gave the same rates to the plans made before it). ``set_rate`` changes one rate — what a
staff page calls; a record is rated at the rate of the moment it is charged.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sims import service as sims
from simkeep.usage import tables as t
from simkeep.usage.model import Kind, UnknownRate, Zone

Rates = Mapping[tuple[Zone, Kind], int]

# Plausible pay-as-you-go prices. HKD plans: at home HK$0.25 a minute, HK$0.10 an MB,
# HK$0.50 an SMS; on the Mainland HK$1.00, HK$0.30, HK$1.00. CNY plans: at home ¥0.15,
# ¥0.05, ¥0.10; in Hong Kong ¥0.80, ¥0.25, ¥0.80.
HKD_RATES: Rates = {
    (Zone.HK, Kind.VOICE): 25,
    (Zone.HK, Kind.DATA): 10,
    (Zone.HK, Kind.SMS): 50,
    (Zone.MAINLAND, Kind.VOICE): 100,
    (Zone.MAINLAND, Kind.DATA): 30,
    (Zone.MAINLAND, Kind.SMS): 100,
}
CNY_RATES: Rates = {
    (Zone.MAINLAND, Kind.VOICE): 15,
    (Zone.MAINLAND, Kind.DATA): 5,
    (Zone.MAINLAND, Kind.SMS): 10,
    (Zone.HK, Kind.VOICE): 80,
    (Zone.HK, Kind.DATA): 25,
    (Zone.HK, Kind.SMS): 80,
}
DEFAULT_RATES: Mapping[str, Rates] = {
    "HK-KEEP": HKD_RATES,
    "HK-VALID": HKD_RATES,
    "CN-KEEP": CNY_RATES,
    "CN-VALID": CNY_RATES,
}
MAX_RATE = 1_000_000  # minor units per unit (the schema's CHECK)


async def ensure_rates(
    conn: AsyncConnection, *, rates: Mapping[str, Rates] = DEFAULT_RATES
) -> None:
    """Give the default plans that exist the default rates they do not have yet."""
    plans = {code for code in rates if await sims.get_plan(conn, code=code) is not None}
    r = t.rates.c
    existing = {
        (row.plan_code, row.zone, row.kind)
        for row in await conn.execute(select(r.plan_code, r.zone, r.kind))
    }
    rows = [
        {"plan_code": plan, "zone": zone.value, "kind": kind.value, "rate_minor": rate}
        for plan, table in rates.items()
        if plan in plans
        for (zone, kind), rate in table.items()
        if (plan, zone.value, kind.value) not in existing
    ]
    if rows:
        await conn.execute(t.rates.insert(), rows)


async def set_rate(
    conn: AsyncConnection, *, plan_code: str, zone: Zone, kind: Kind, rate_minor: int
) -> None:
    """Set the price of one unit of ``kind`` in ``zone`` on a plan (minor units)."""
    if isinstance(rate_minor, bool) or not isinstance(rate_minor, int):
        raise UnknownRate("a rate is a whole number of minor units")
    if not 0 <= rate_minor <= MAX_RATE:
        raise UnknownRate(f"a rate is from 0 to {MAX_RATE} minor units")
    if await sims.get_plan(conn, code=plan_code) is None:
        raise sims.UnknownPlan(f"no plan {plan_code!r}")
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(t.rates).values(
        plan_code=plan_code, zone=Zone(zone).value, kind=Kind(kind).value, rate_minor=rate_minor
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["plan_code", "zone", "kind"],
            set_={"rate_minor": statement.excluded.rate_minor},
        )
    )


async def rates_of(conn: AsyncConnection, *, plan_code: str) -> dict[tuple[Zone, Kind], int]:
    """Every rate of a plan."""
    r = t.rates.c
    rows = await conn.execute(select(r.zone, r.kind, r.rate_minor).where(r.plan_code == plan_code))
    return {(Zone(row.zone), Kind(row.kind)): row.rate_minor for row in rows}
