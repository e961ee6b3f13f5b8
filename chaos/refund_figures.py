"""The checker's figures of refunds (``chaos.checker``): each refund number paid once at its
provider, the providers' refunds equal to those paid in the books, each refund's journals,
the refunds payable equal to what is owed, no order refunded beyond what it credited or was
paid, none left on its way after the drain, and what the clients were told kept.

Design overview
---------------
``read_refunds`` reads the refunds, the refund journals (``refund:<no>`` when the money left
the SIM, ``refund-paid:<no>`` when the provider paid, ``refund-failed:<no>`` reversing the
first when it refused) and the refunds payable. The providers' side is their records
(``GET /_sim/records``): each trade's ``refunds`` (by our refund number: Alipay's
``out_request_no``, WeChat Pay's ``out_refund_no``, UnionPay's refund ``orderId``, Alipay+'s
``refundRequestId``, the FPS payout's instruction id) and ``refunded_minor``, the provider's
own running total — a number taken twice shows as two entries, or as a total above its
entries. ``refunded_credit``, ``ever_paid`` and ``refunded_at_providers`` give the existing
money figures what refunds moved; ``waiting_orders`` the orders at rest while staff decide.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chaos.refund_ops import AskRefund, DecideRefunds
from simkeep.ledger import tables as lt
from simkeep.ledger.chart import System
from simkeep.refunds import tables as rt

if TYPE_CHECKING:
    from chaos.workload import Attempt

OPEN = ("approved", "processing")  # owed to the payer, not paid yet
TAKEN = ("approved", "processing", "paid")  # the money left the SIM (``refund:<no>`` stands)
JOURNALS = ("refund", "refund-paid", "refund-failed")


async def read_refunds(conn: AsyncConnection) -> dict[str, Any]:
    """The refunds, their journals by client id, the refunds payable in the books, what the
    ``refund-paid`` journals paid out of it, and Idempotency-Keys with more than one refund."""
    c, j, a, b = rt.refunds.c, lt.journals.c, lt.accounts.c, lt.balances.c
    refunds = [dict(row._mapping) for row in await conn.execute(select(rt.refunds))]
    kinds = [j.client_id.like(f"{kind}:%") for kind in JOURNALS]
    journals = Counter(
        client_id for (client_id,) in await conn.execute(select(j.client_id).where(or_(*kinds)))
    )
    payable: Counter[str] = Counter()
    for currency, amount in await conn.execute(
        select(a.currency, func.sum(b.balance))
        .join(lt.balances, b.account_id == a.id)
        .where(a.code.like(f"{System.REFUNDS_PAYABLE.value}:%"))
        .group_by(a.currency)
    ):
        payable[currency] += int(amount)
    keys = (
        select(c.requested_by, c.idempotency_key)
        .where(c.idempotency_key.is_not(None))
        .group_by(c.requested_by, c.idempotency_key)
        .having(func.count() > 1)
    ).subquery()
    return {
        "refunds": refunds,
        "journals": journals,
        "payable": payable,
        "paid_in_books": await _paid_out(conn),
        "duplicate_keys": (await conn.execute(select(func.count()).select_from(keys))).scalar_one(),
    }


async def _paid_out(conn: AsyncConnection) -> Counter[str]:
    """What the ``refund-paid`` journals took out of the refunds payable, per currency."""
    j, p, a = lt.journals.c, lt.postings.c, lt.accounts.c
    rows = await conn.execute(
        select(a.currency, func.sum(p.amount))
        .select_from(lt.postings.join(lt.journals, j.id == p.journal_id))
        .join(lt.accounts, a.id == p.account_id)
        .where(
            j.client_id.like("refund-paid:%"),
            a.code.like(f"{System.REFUNDS_PAYABLE.value}:%"),
        )
        .group_by(a.currency)
    )
    return Counter({currency: int(amount) for currency, amount in rows})  # debits: positive


def ever_paid(trade: dict[str, Any]) -> bool:
    """Paid at the provider: paid now, or refunded since (Alipay closes a trade refunded in
    full)."""
    return bool(trade["paid"] or trade.get("refunds"))


def refunded_at_providers(records: dict[str, Any], providers: list[str]) -> Counter[str]:
    """What the providers paid back, per currency (each trade's running total)."""
    refunded: Counter[str] = Counter()
    for provider in providers:
        for trade in records[provider]:
            refunded[trade["currency"]] += trade.get("refunded_minor", 0)
    return refunded


def refunded_credit(state: dict[str, Any]) -> Counter[str]:
    """What the refunds took off their orders' credit, in the SIMs' currency: what left the
    SIM less the used bonus deducted (which went back to the promotion expense) — for each
    refund whose ``refund:<no>`` journal stands."""
    credit: Counter[str] = Counter()
    for refund in state["refunds"]:
        if refund["state"] in TAKEN:
            credit[refund["credit_currency"]] += refund["taken_minor"] - refund["deducted_minor"]
    return credit


def waiting_orders(state: dict[str, Any]) -> set[str]:
    """The orders whose refund waits for staff (``refund_requested``, held on the SIM)."""
    return {r["order_no"] for r in state["refunds"] if r["state"] == "requested"}


def refund_figures(
    state: dict[str, Any],
    records: dict[str, Any],
    providers: list[str],
    orders: dict[str, Any],
    attempts: list[Attempt],
    anomalies: list[str],
) -> list[tuple[str, int]]:
    """The figures of refunds, each of which must be 0."""
    return [
        *_provider_figures(state, records, providers),
        *_book_figures(state, orders),
        *_client_figures(state, attempts, anomalies),
    ]


def _provider_figures(
    state: dict[str, Any], records: dict[str, Any], providers: list[str]
) -> list[tuple[str, int]]:
    """Each refund number paid once at its provider, and the providers' refunds in the books."""
    trades = [trade for provider in providers for trade in records[provider]]
    times = Counter(r["refund_no"] for trade in trades for r in trade.get("refunds", []))
    # a number taken twice into one slot shows as a running total above its refunds
    overwritten = sum(
        1
        for trade in trades
        if trade.get("refunded_minor", 0)
        != sum(r["amount_minor"] for r in trade.get("refunds", []))
    )
    known = {refund["refund_no"] for refund in state["refunds"]}
    refunded = refunded_at_providers(records, providers)
    paid: Counter[str] = Counter()
    for refund in state["refunds"]:
        if refund["state"] == "paid":
            paid[refund["pay_currency"]] += refund["pay_minor"]
    return [
        (
            "refunds paid by a provider more than once",
            sum(n - 1 for n in times.values()) + overwritten,
        ),
        ("refunds paid at a provider that simkeep does not know", len(set(times) - known)),
        *(
            (
                f"refunded at the providers − refunds paid in the books, {currency}",
                refunded[currency] - paid[currency],
            )
            for currency in sorted(set(refunded) | set(paid) | {"HKD", "CNY"})
        ),
    ]


def _book_figures(state: dict[str, Any], orders: dict[str, Any]) -> list[tuple[str, int]]:
    """Each refund's journals, what is payable, and no order refunded beyond its credit."""
    refunds, journals = state["refunds"], state["journals"]
    owed: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    paid_back: Counter[str] = Counter()
    for refund in refunds:
        if refund["state"] in OPEN:
            owed[refund["pay_currency"]] += refund["pay_minor"]
        if refund["state"] in TAKEN:
            taken[refund["order_no"]] += refund["taken_minor"]
            paid_back[refund["order_no"]] += refund["pay_minor"]

    def missing(kind: str, states: tuple[str, ...]) -> int:
        return sum(
            1 for r in refunds if r["state"] in states and journals[f"{kind}:{r['refund_no']}"] != 1
        )

    payable = state["payable"]
    return [
        ("paid refunds without exactly one refund-paid journal", missing("refund-paid", ("paid",))),
        (
            "refunds that left the SIM without their refund journal",
            missing("refund", (*TAKEN, "failed")),
        ),
        (
            "failed refunds without their reversal (refund-failed)",
            missing("refund-failed", ("failed",)),
        ),
        *(
            (
                f"refunds payable in the books − refunds owed, {currency}",
                payable[currency] - owed[currency],
            )
            for currency in sorted(set(payable) | set(owed) | {"HKD", "CNY"})
        ),
        (
            "orders whose refunds took more than they credited",
            sum(
                1
                for no in taken
                if taken[no] > orders[no].credit_minor or paid_back[no] > orders[no].pay_minor
            ),
        ),
        (
            "refunds still approved or processing after the drain",
            sum(1 for r in refunds if r["state"] in OPEN),
        ),
    ]


def _client_figures(
    state: dict[str, Any], attempts: list[Attempt], anomalies: list[str]
) -> list[tuple[str, int]]:
    """What the clients were told: every refund acknowledged exists, one per key."""
    from chaos.workload import Outcome

    known = {refund["refund_no"] for refund in state["refunds"]}
    asked = [a for a in attempts if a.op == AskRefund.name and a.outcome is Outcome.OK]
    return [
        (
            "acknowledged refund requests missing",
            sum(1 for a in asked if a.data.get("refund_no") not in known),
        ),
        ("refunds per Idempotency-Key above one", state["duplicate_keys"]),
        ("refund replays answered with another refund", sum("refund key" in a for a in anomalies)),
    ]


def refund_tally(state: dict[str, Any], attempts: list[Attempt]) -> dict[str, int]:
    """What refunds did in the run, for the report: asked, approved by the rule, paid."""
    refunds = state["refunds"]
    return {
        "asked": len(refunds),
        "approved by the rule": sum(
            1 for r in refunds if (r["decided_by"] or "").startswith("rule:")
        ),
        "decided by staff": sum(1 for r in refunds if (r["decided_by"] or "").startswith("staff:")),
        **{f"state {name}": n for name, n in sorted(Counter(r["state"] for r in refunds).items())},
        "partial": sum(1 for r in refunds if not r["full"]),
        "staff decisions": sum(1 for a in attempts if a.op == DecideRefunds.name),
    }
