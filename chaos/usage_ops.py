"""Usage under faults: the network reporting usage of the people's numbers, and the figures
that prove each record was charged once.

Design overview
---------------
``UsageBatch`` is an operation class of the workload (``chaos.workload``): a person's turn
sends, as the network would, ``POST /api/v1/network/usage`` with the network client's token
(made by ``chaos.setup.network_token``): 1–12 new records of the person's own numbers
(voice, data or SMS, either zone) and, from the second turn on, up to four records sent
before, unchanged (replays). A replay of a record whose batch was acknowledged must come
back ``duplicate``; anything else is an anomaly. An unknown batch (a timeout, a reset, a
5xx) is settled by sending the same batch again, as the network retries.

``usage_figures`` reads the database once the run has drained: what the records say they
took from bonus money and balances, against the usage revenue the books hold, per
currency; records stored twice for one client and id (the unique key forbids it); records
acknowledged as charged that are not stored; and replays answered as charged again.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import tables as lt
from simkeep.usage import tables as ut

if TYPE_CHECKING:
    from chaos.workload import Attempt, Outcome, Person, World

KINDS = (("voice", 15), ("data", 200), ("sms", 3))
STATUSES = ("charged", "unpaid", "duplicate")


class UsageBatch:
    """The network reports a batch of usage of this person's numbers, replays included."""

    name: ClassVar[str] = "usage"
    weight: ClassVar[int] = 10
    role: ClassVar[str] = "subscriber"

    def __init__(self) -> None:
        self.sent: dict[int, list[dict[str, Any]]] = {}  # person → records sent, acknowledged
        self.serial = 0

    def ready(self, person: Person) -> bool:
        return bool(person.cards)

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        from chaos.workload import Attempt, Outcome, ask

        started = time.monotonic()
        earlier = self.sent.setdefault(person.index, [])
        replays = person.rng.sample(earlier, min(len(earlier), person.rng.randint(0, 4)))
        records = [self._record(person) for _ in range(person.rng.randint(1, 12))] + replays
        person.rng.shuffle(records)
        answer = await ask(
            world,
            "POST",
            f"{world.app_url}/api/v1/network/usage",
            json={"records": records},
            headers={"Authorization": f"Bearer {world.network_token}"},
        )
        attempt = Attempt(
            self.name, person.index, answer.outcome, started, time.monotonic(), answer.detail
        )
        attempt.data["records"] = records
        if answer.outcome is Outcome.OK:
            attempt.data["charged"] = self._heard(person, world, records, answer.body, replays)
        return world.record(attempt)

    def _record(self, person: Person) -> dict[str, Any]:
        self.serial += 1
        kind, most = person.rng.choice(KINDS)
        return {
            "id": f"chaos-{person.index}-{self.serial}",
            "number": person.rng.choice(person.cards).number,
            "kind": kind,
            "zone": person.rng.choice(("hk", "mainland")),
            "quantity": person.rng.randint(1, most),
            "occurred_at": datetime.now(UTC).isoformat(),
        }

    def _heard(
        self,
        person: Person,
        world: World,
        records: list[dict[str, Any]],
        body: Any,
        replays: list[dict[str, Any]],
    ) -> list[str]:
        """Remember what was charged (and return its ids); a replay of an acknowledged
        record must be a duplicate."""
        outcomes = body.get("outcomes", []) if isinstance(body, dict) else []
        replayed = {id(record) for record in replays}
        charged = []
        for record, outcome in zip(records, outcomes, strict=False):
            status = outcome.get("status")
            if id(record) in replayed and status != "duplicate":
                world.anomalies.append(f"usage record {record['id']} charged twice: {status}")
            elif id(record) not in replayed and status in STATUSES:
                charged.append(record["id"])
                self.sent[person.index].append(record)
        return charged

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Send the same batch again, as the network retries."""
        from chaos.workload import ask

        answer = await ask(
            world,
            "POST",
            f"{world.app_url}/api/v1/network/usage",
            json={"records": attempt.data["records"]},
            headers={"Authorization": f"Bearer {world.network_token}"},
        )
        return answer.outcome


async def read_usage(conn: AsyncConnection) -> dict[str, Any]:
    """What the usage records say was taken, the usage revenue, the record ids stored."""
    r = ut.records.c
    taken: Counter[str] = Counter()
    rows = await conn.execute(
        select(r.currency, func.sum(r.bonus_minor + r.balance_minor)).group_by(r.currency)
    )
    for currency, amount in rows:
        taken[currency] += int(amount)
    a, b = lt.accounts.c, lt.balances.c
    revenue: Counter[str] = Counter()
    rows = await conn.execute(
        select(a.currency, func.sum(b.balance))
        .join(lt.balances, b.account_id == a.id)
        .where(a.code.like("usage_revenue:%"))
        .group_by(a.currency)
    )
    for currency, amount in rows:
        revenue[currency] += int(amount)
    twice = select(r.client_id, r.record_id).group_by(r.client_id, r.record_id)
    stored_twice = (
        await conn.execute(
            select(func.count()).select_from(twice.having(func.count() > 1).subquery())
        )
    ).scalar_one()
    stored = {record_id for (record_id,) in await conn.execute(select(r.record_id))}
    return {"taken": taken, "revenue": revenue, "stored_twice": stored_twice, "stored": stored}


def usage_figures(
    usage: dict[str, Any], attempts: list[Attempt], anomalies: list[str]
) -> list[tuple[str, int]]:
    """The figures of usage charged once per record id, each of which must be 0."""
    acknowledged = {
        record_id
        for attempt in attempts
        if attempt.op == UsageBatch.name
        for record_id in attempt.data.get("charged", ())
    }
    return [
        *(
            (
                f"usage taken by the records − usage revenue in the books, {currency}",
                usage["taken"][currency] - usage["revenue"][currency],
            )
            for currency in ("HKD", "CNY")
        ),
        ("usage records stored twice for one id", usage["stored_twice"]),
        ("usage records acknowledged, not stored", len(acknowledged - usage["stored"])),
        ("usage records charged twice", sum("charged twice" in a for a in anomalies)),
    ]
