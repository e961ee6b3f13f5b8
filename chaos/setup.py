"""The operator's side before the doors open: the plans, FX rates and a stock of SIMs.

The harness runs ``simkeep db upgrade`` (which opens the chart of accounts) and then this,
through simkeep's own services on a direct connection, as an operator's issuing would.
Each person of the workload gets cards of their own: a Hong Kong dollar and a yuan SIM on
a plan that keeps the number by a monthly fee, and one of each on a plan whose validity
each top-up extends (5 days left at the start, so every top-up's days show). Before those,
two cards that lapse in two days by the run's own clock (``lapsing``: an ``HK-VALID`` SIM
valid until tomorrow, and a ``CN-KEEP`` SIM issued a month before its first fee, with
nothing to pay it), so that auto keep-alive charges them at once, at any hour: the charge
is due from 10:00 Hong Kong time three days before the lapse day, which is yesterday's
10:00. They come first, so people link them first. One promotion
runs with a budget smaller than the run's top-ups and a cap of two per SIM, so that the run
meets both (``PROMOTION``: 5 % of the credit as bonus money and 100 MB of data). The plans
get their usage rates, and the network a client of its own (``network_token``) to report
usage of the people's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.names import Names
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Benefit, BenefitKind, Conditions, NewPromotion
from simkeep.retention.model import day_of, first_fee
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, digest_key, luhn_complete
from simkeep.topups import service as topups
from simkeep.usage import clients, rates

HKD_CNY = Decimal("0.92")
CNY_HKD = Decimal("1.08")  # a yuan SIM paid in Hong Kong dollars (FPS, AlipayHK, …)
PLANS = (("HK-KEEP", "HKD"), ("CN-KEEP", "CNY"), ("HK-VALID", "HKD"), ("CN-VALID", "CNY"))
VALIDITY_LEFT = timedelta(days=5)
LAPSING_FROM = 500  # the lapsing cards' numbers: +852 9801…, valid for up to 44 people
PROMOTION = NewPromotion(
    code="CHAOS",
    names=Names("混沌優惠", "混沌优惠", "Chaos promotion"),
    priority=10,
    stackable=False,
    conditions=Conditions(),
    benefits=(
        Benefit(BenefitKind.PERCENT, 5, None, 30),
        Benefit(BenefitKind.DATA, 100, None, 30),
    ),
    budget=25,
    per_sim_cap=2,
)


@dataclass(frozen=True, slots=True)
class IssuedCard:
    sim_id: int
    number: str  # the Hong Kong number, E.164
    currency: str
    plan: str
    validity_until: datetime | None
    lapsing: bool = False  # made to lapse within two days: left to auto keep-alive


async def prepare(
    db: Database, *, people: int, secret_key: str, now: datetime
) -> list[list[IssuedCard]]:
    """The plans, the FX rates both ways (a SIM may be paid for in the other currency), and
    ``len(PLANS)`` SIMs and the ``lapsing`` ones for each of ``people``."""
    id_key = digest_key(secret_key)

    async def card(
        conn: AsyncConnection,
        n: int,
        plan: str,
        currency: str,
        issued: datetime,
        validity: datetime | None,
        *,
        lapsing: bool = False,
    ) -> IssuedCard:
        sim = await sims.issue_sim(
            conn,
            iccid=luhn_complete(f"8985201{n:011d}"),
            plan_code=plan,
            hk_number=f"9{n + 300:03d}{n * 37 % 10000:04d}",
            cn_number=f"137{n:04d}{n * 53 % 10000:04d}",
            holder_name="陳大文",
            id_type=IdType.HKID,
            id_number="A123456(3)",
            id_key=id_key,
            now=issued,
            validity_until=validity,
        )
        return IssuedCard(sim.id, sim.hk_number.e164, currency, plan, validity, lapsing)

    async def issue(conn: AsyncConnection) -> list[list[IssuedCard]]:
        await sims.ensure_plans(conn)
        await rates.ensure_rates(conn)
        for base, quote, rate in (("HKD", "CNY", HKD_CNY), ("CNY", "HKD", CNY_HKD)):
            await topups.set_fx_rate(
                conn, base=base, quote_currency=quote, rate=rate, source="chaos", now=now
            )
        await promotions.create_from(conn, new=PROMOTION, now=now)
        stock = []
        for person in range(people):
            cards = []
            for slot, (plan, currency) in enumerate(PLANS):
                validity = now + VALIDITY_LEFT if plan.endswith("VALID") else None
                n = person * len(PLANS) + slot + 1
                cards.append(await card(conn, n, plan, currency, now, validity))
            for slot, (plan, currency, issued, validity) in enumerate(lapsing(now)):
                n = LAPSING_FROM + person * 2 + slot + 1
                lapse = await card(conn, n, plan, currency, issued, validity, lapsing=True)
                cards.insert(slot, lapse)
            stock.append(cards)
        return stock

    return await db.transaction(issue)


def lapsing(now: datetime) -> list[tuple[str, str, datetime, datetime | None]]:
    """The cards that lapse within two days (Hong Kong): plan, currency, when issued,
    validity. The monthly-fee SIM is issued on the day whose first fee, a month on, falls
    the day after tomorrow (or tomorrow); near some months' ends no day does, and the run
    has the validity card only."""
    cards: list[tuple[str, str, datetime, datetime | None]] = [
        ("HK-VALID", "HKD", now, now + timedelta(days=1))
    ]
    today = day_of(now)
    for lapse in (today + timedelta(days=2), today + timedelta(days=1)):
        issued = [now - timedelta(days=days) for days in range(25, 35)]
        found = [at for at in issued if first_fee(at)[1] == lapse]
        if found:
            return [*cards, ("CN-KEEP", "CNY", found[0], None)]
    return cards


async def network_token(db: Database, *, now: datetime) -> str:
    """A network client for the run's usage batches; its bearer token."""
    _, token = await clients.add_client(db, name="chaos network", now=now)
    return token
