"""The checker: every cent accounted for, from the database, the providers' records and what
the clients were told.

Design overview
---------------
``check`` reads three sources once the run has drained: simkeep's database (orders, the
ledger's balances and journals, the SMS outbox), the simulators' own records
(``GET /_sim/records``: every trade, paid or not, and whether its notification was
acknowledged), and the workload's ``Attempt`` records. It returns ``Figure``s, each with
the value it must have; the run fails if any differs. A capability that moves money adds
its figure here (a refund paid twice, a voucher redeemed twice, a fee charged twice).

The money figures compare simkeep's books with the providers' records (every provider key
of ``/_sim/records``), per currency: what the SIMs hold (balance and bonus) against the face
value of the orders the provider says were paid, and what the providers were paid against
what the credited orders charged plus the money held in review. A trade provider's paid
trade pays its order; a push provider's transfer (FPS) pays the order it names only for
exactly that order's amount, and the rest of the money pushed is in review, never credited
(``chaos.push_figures``, with its own figures). ``ledger check`` (``ledger.check_books``:
trial balance zero per currency, stored balances equal to their postings, every journal
balanced) runs as it does on the command line.

Promotions: the budget and the per-SIM cap are never exceeded, the counters equal the
orders that hold or were granted a grant, and the bonus money the books hold is what the
money buckets hold. Bonus money is the promotions' expense: the money figure counts the
SIMs' bonus accounts less that expense.

Usage (``chaos.usage_ops``): what the usage records took from bonus money and balances is
the usage revenue in the books, no record is stored or charged twice, none acknowledged is
missing; the money figure counts usage revenue, and a SIM's balance its usage journals.

Counters and vouchers (``chaos.counter_figures``): their orders are paid from an agent's float or
a voucher's liability, not through a provider, so the money figure counts them as owed and
``counter_figures`` proves where their money came from: floats within their floors and
drawn down by exactly the counters' sales, each shift's expected cash its sales, each
voucher redeemed at most once, the vouchers' liability what is sold and unredeemed.

Refunds (``chaos.refund_figures``): each refund number paid once at its provider, what the
providers refunded equal to the refunds paid in the books, each refund's journals, the
refunds payable what is owed; the money figures count the orders the providers were paid
for (refunded since or not) less what their refunds took off the credit, and the providers'
money less what they paid back against the credited orders less the refunds paid out.

Auto keep-alive (``chaos.keepalive_figures``): at most one paid charge per rule and period,
none paid at the provider and not credited; its charges are trades like any payment's, so
the money figures hold them too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chaos.counter_figures import counter_figures, read_counters
from chaos.keepalive_figures import keepalive_figures, keepalive_tally, read_keepalive
from chaos.promotion_figures import promotion_figures, read_promotions
from chaos.push_figures import (
    exactly_paid,
    in_review,
    push_providers,
    pushed_figures,
    read_pushed,
    trade_providers,
)
from chaos.refund_figures import (
    ever_paid,
    read_refunds,
    refund_figures,
    refund_tally,
    refunded_at_providers,
    refunded_credit,
    waiting_orders,
)
from chaos.setup import IssuedCard
from chaos.usage_ops import read_usage, usage_figures
from chaos.workload import Attempt, Outcome
from simkeep.db import Database
from simkeep.ledger import service as ledger
from simkeep.ledger import tables as lt
from simkeep.notifications.tables import outbox
from simkeep.retention.model import first_fee
from simkeep.sims import tables as st
from simkeep.sims.model import MAX_VALIDITY_AHEAD
from simkeep.topups import tables as tt

TERMINAL = ("credited", "expired", "failed", "partially_refunded", "refunded")
CREDITED = ("credited", "refund_requested", "partially_refunded", "refunded")  # once credited
OFFLINE = ("outlet", "voucher")  # orders paid at a counter from a float, or by a voucher


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: int
    expected: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.value == self.expected


@dataclass(frozen=True, slots=True)
class Tally:
    """What happened, for the report: counts, not proofs."""

    operations: dict[str, dict[str, int]]
    orders: dict[str, int]
    trades_paid: int
    trades: int
    notifications_acknowledged: int
    echoes: dict[str, int]
    credited_by_currency: dict[str, int]
    refusals: dict[str, int]  # "operation: why", the commonest first
    sim_states: dict[str, int]  # after the retention runs
    retention: dict[str, int]  # fee revenue, arrears and forfeited, minor units per currency
    keep_alive: dict[str, int]  # rules and attempts by state, keep-alive charges credited
    refunds: dict[str, int]  # asked, approved by the rule, by state
    by_provider: dict[str, dict[str, int]]  # records and paid ones; incoming payments by state


async def check(
    db: Database,
    records: dict[str, Any],
    attempts: list[Attempt],
    anomalies: list[str],
    stock: list[IssuedCard],
) -> tuple[list[Figure], Tally]:
    trades = {
        trade["out_trade_no"]: trade
        for provider in trade_providers(records)
        for trade in records[provider]
    }
    state = await db.transaction(_read)
    pushed = state["pushed"]
    # the orders a provider says were paid: a trade, or a transfer naming it for its amount
    paid = {no for no, t in trades.items() if ever_paid(t)} | exactly_paid(records, pushed)
    orders: dict[str, Any] = state["orders"]
    # credited once: refunds (asked, partial or whole) do not undo the credit, they follow it
    credited = {no: o for no, o in orders.items() if o.state in CREDITED}
    online = {no: o for no, o in credited.items() if o.provider not in OFFLINE}
    waiting = waiting_orders(state["refunds"])  # at rest: their refund waits for staff

    held = Counter[str]()
    for (_sim, currency), amount in state["sim_money"].items():
        held[currency] += amount
    kept = held + state["fee_revenue"] + state["forfeited"]  # SIMs, plus what the run took
    kept.update(state["promotions"]["bonus_in_books"])  # the SIMs' bonus money, which …
    kept.subtract(state["promotion_expense"])  # … the promotions gave
    kept.update(state["usage"]["revenue"])  # what usage took from SIMs' bonus and balance
    owed = Counter[str]()
    owed.subtract(refunded_credit(state["refunds"]))  # what refunds took off the orders' credit
    for no in paid:
        if no in orders:
            owed[orders[no].credit_currency] += orders[no].credit_minor
    for order in credited.values():  # paid from a float or a voucher: counter_figures prove it
        if order.provider in OFFLINE:
            owed[order.credit_currency] += order.credit_minor
    charged = in_review(pushed)  # money pushed that credited nothing: held for staff
    for order in online.values():
        charged[order.pay_currency] += order.pay_minor
    charged.subtract(state["refunds"]["paid_in_books"])  # paid back out of clearing
    providers = [*trade_providers(records), *push_providers(records)]
    received = Counter[str]()
    for provider in providers:
        for trade in records[provider]:
            if ever_paid(trade):
                received[trade["currency"]] += trade["amount_minor"]
    received.subtract(refunded_at_providers(records, providers))

    figures = [
        *(
            Figure(f"money created (+) or lost (−), {currency}", kept[currency] - owed[currency])
            for currency in sorted(set(kept) | set(owed) | {"HKD", "CNY"})
        ),
        *(
            Figure(
                f"paid at the providers − charged by credited orders or held in review, {currency}",
                received[currency] - charged[currency],
            )
            for currency in sorted(set(received) | set(charged) | {"HKD", "CNY"})
        ),
        Figure(
            "ledger check problems",
            len(state["ledger_problems"]),
            note="; ".join(state["ledger_problems"][:3]),
        ),
        Figure(
            "paid trades not credited exactly once",
            sum(1 for no in paid if state["credits"].get(no, 0) != 1),
        ),
        Figure("orders credited without a payment", sum(1 for no in online if no not in paid)),
        Figure(
            "SIMs whose balance is not their credited orders less what the run took",
            _balance_mismatches(state["sim_money"], state["taken"], credited),
        ),
        *(
            Figure(
                f"monthly fees due − (charged + owed), {currency}",
                state["fees_due"][currency]
                - state["fee_revenue"][currency]
                - state["arrears"][currency],
            )
            for currency in ("HKD", "CNY")
        ),
        Figure(
            "validity SIMs whose validity is not their start plus their credited days",
            _validity_mismatches(stock, state["validity"], credited),
        ),
        Figure(
            "acknowledged orders missing",
            sum(
                1
                for a in attempts
                if a.op in ("topup", "page_topup")
                and a.outcome is Outcome.OK
                and a.data.get("order_no") not in orders
            ),
        ),
        Figure(
            "acknowledged notifications not applied",
            sum(
                1
                for no, t in trades.items()
                if t["acknowledged"] and t["paid"] and no not in credited
            ),
        ),
        Figure("orders per Idempotency-Key above one", state["duplicate_keys"]),
        Figure("replays answered with another order", sum("answered" in a for a in anomalies)),
        Figure("balances below their floor", state["below_floor"]),
        Figure("balances read below zero by a client", sum("below zero" in a for a in anomalies)),
        Figure("orders read credited, then not", sum("read credited" in a for a in anomalies)),
        Figure(
            "orders not in a terminal state",
            sum(1 for no, o in orders.items() if o.state not in TERMINAL and no not in waiting),
        ),
        Figure("expired orders whose trade was never closed", state["unclosed"]),
        Figure("SMS not sent", state["unsent_sms"]),
        Figure(
            "credited orders without exactly one credit SMS",
            sum(1 for o in credited.values() if state["receipt_sms"].get(o.receipt_no, 0) != 1),
        ),
        *(Figure(name, value) for name, value in pushed_figures(records, pushed)),
        *(Figure(name, value) for name, value in promotion_figures(state["promotions"])),
        *(
            Figure(name, value)
            for name, value in usage_figures(state["usage"], attempts, anomalies)
        ),
        *(Figure(name, value) for name, value in keepalive_figures(state["keepalive"], paid)),
        *(Figure(name, value) for name, value in counter_figures(state["counters"], attempts)),
        *(
            Figure(name, value)
            for name, value in refund_figures(
                state["refunds"], records, providers, orders, attempts, anomalies
            )
        ),
        Figure(
            "operations still unknown after recovery",
            len(unknown := [a for a in attempts if a.outcome is Outcome.UNKNOWN]),
            note="; ".join(f"{a.op}: {a.detail}" for a in unknown[:5]),
        ),
    ]
    by_provider = {
        provider: {
            "trades": len(records[provider]),
            "paid": sum(1 for t in records[provider] if t["paid"]),
            "acknowledged": sum(1 for t in records[provider] if t["acknowledged"]),
        }
        for provider in (*trade_providers(records), *push_providers(records))
    }
    operations: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for attempt in attempts:
        settled = "unknown→" if attempt.settled_by else ""
        operations[attempt.op][settled + attempt.outcome.value] += 1
    tally = Tally(
        operations={op: dict(counts) for op, counts in sorted(operations.items())},
        orders=dict(Counter(o.state for o in orders.values())),
        trades_paid=sum(counts["paid"] for counts in by_provider.values()),
        trades=sum(counts["trades"] for counts in by_provider.values()),
        notifications_acknowledged=sum(counts["acknowledged"] for counts in by_provider.values()),
        by_provider={**by_provider, "incoming payments": dict(pushed["states"])},
        echoes=dict(records.get("echoes", {})),
        credited_by_currency=dict(held),
        sim_states=dict(state["sim_states"]),
        keep_alive=keepalive_tally(state["keepalive"]),
        refunds=refund_tally(state["refunds"], attempts),
        retention={
            **{f"fees {c}": v for c, v in state["fee_revenue"].items()},
            **{f"owed {c}": v for c, v in state["arrears"].items() if v},
            **{f"forfeited {c}": v for c, v in state["forfeited"].items() if v},
        },
        refusals=dict(
            Counter(
                f"{a.op}: {a.detail}" for a in attempts if a.outcome is Outcome.REFUSED
            ).most_common(8)
        ),
    )
    return figures, tally


async def _read(conn: AsyncConnection) -> dict[str, Any]:
    o = tt.orders.c
    orders = {row.order_no: row for row in await conn.execute(select(tt.orders))}
    credits: Counter[str] = Counter(
        row.client_id.removeprefix("topup:")
        for row in await conn.execute(
            select(lt.journals.c.client_id).where(lt.journals.c.client_id.like("topup:%"))
        )
    )
    a, b = lt.accounts.c, lt.balances.c
    money_rows = await conn.execute(
        select(a.code, a.currency, func.sum(b.balance))
        .join(lt.balances, b.account_id == a.id)
        .where(a.code.like("sim:%") | a.code.like("promotion_expense:%"))
        .group_by(a.code, a.currency)
    )
    sim_money: Counter[tuple[int, str]] = Counter()
    sim_bonus: Counter[str] = Counter()
    promotion_expense: Counter[str] = Counter()
    below_floor = 0
    for code, currency, balance in money_rows:
        if code.startswith("promotion_expense:"):
            promotion_expense[currency] += int(balance)
            continue
        below_floor += int(balance) < 0
        if ":bonus:" in code:
            sim_bonus[currency] += int(balance)
            continue
        sim_id = int(code.split(":")[1])
        sim_money[(sim_id, currency)] += int(balance)
    keys = (
        select(o.subscriber_id, o.idempotency_key)
        .where(o.idempotency_key.is_not(None))
        .group_by(o.subscriber_id, o.idempotency_key)
        .having(func.count() > 1)
    ).subquery()
    duplicate_keys = (await conn.execute(select(func.count()).select_from(keys))).scalar_one()
    unclosed = (
        await conn.execute(
            select(func.count()).where(o.state == "expired", o.close_due_at.is_not(None))
        )
    ).scalar_one()
    unsent = (
        await conn.execute(select(func.count()).where(outbox.c.sent_at.is_(None)))
    ).scalar_one()
    receipt_sms: Counter[str] = Counter()
    receipts = {row.receipt_no for row in orders.values() if row.receipt_no}
    for (body,) in await conn.execute(select(outbox.c.body)):
        for receipt in receipts:
            if receipt in body:
                receipt_sms[receipt] += 1
    sim_states = Counter(state for (state,) in await conn.execute(select(st.sims.c.state)))
    validity = {
        row.id: row.validity_until
        for row in await conn.execute(select(st.sims.c.id, st.sims.c.validity_until))
    }
    report = await ledger.check_books(conn)
    retention = await _retention(conn)
    return {
        **retention,
        "promotion_expense": promotion_expense,
        "promotions": {**await read_promotions(conn), "bonus_in_books": sim_bonus},
        "usage": await read_usage(conn),
        "keepalive": await read_keepalive(conn),
        "counters": await read_counters(conn),
        "refunds": await read_refunds(conn),
        "pushed": await read_pushed(conn),
        "orders": orders,
        "credits": credits,
        "sim_money": sim_money,
        "below_floor": below_floor,
        "duplicate_keys": duplicate_keys,
        "unclosed": unclosed,
        "unsent_sms": unsent,
        "receipt_sms": receipt_sms,
        "validity": validity,
        "sim_states": sim_states,
        "ledger_problems": [str(problem) for problem in report.problems],
    }


def _balance_mismatches(
    sim_money: Counter[tuple[int, str]], taken: Counter[tuple[int, str]], credited: dict[str, Any]
) -> int:
    """SIMs whose balance is not their credited orders less what the run took (fees,
    arrears, forfeiture, usage, refunds)."""
    expected: Counter[tuple[int, str]] = Counter()
    for key, amount in taken.items():
        expected[key] -= amount
    for order in credited.values():
        expected[(order.sim_id, order.credit_currency)] += order.credit_minor
    keys = {key for key, value in sim_money.items() if value} | set(expected)
    return sum(1 for key in keys if sim_money[key] != expected[key])


def _validity_mismatches(
    stock: list[IssuedCard], validity: dict[int, datetime | None], credited: dict[str, Any]
) -> int:
    """Each credit, in the order they were made, moves the date on by its days from the later
    of the date and the credit's time (a card the clock has carried past its date starts
    again from the credit), never more than 730 days after the credit."""
    credits: dict[int, list[tuple[datetime, int]]] = {}
    for order in credited.values():
        credits.setdefault(order.sim_id, []).append((order.credited_at, order.validity_days))
    wrong = 0
    for card in stock:
        if card.validity_until is None:
            continue
        expected = card.validity_until
        for at, days in sorted(credits.get(card.sim_id, [])):
            expected = min(max(expected, at) + timedelta(days=days), at + MAX_VALIDITY_AHEAD)
        wrong += validity[card.sim_id] != expected
    return wrong


async def _retention(conn: AsyncConnection) -> dict[str, Any]:
    """What the retention run took and owes: the fee revenue and the forfeited balances per
    currency, what it took from each SIM's balance, the fees due by each monthly-fee SIM's
    billing dates passed (from its first fee to its next) and the arrears outstanding."""
    a, b, j, p = lt.accounts.c, lt.balances.c, lt.journals.c, lt.postings.c
    system: dict[str, Counter[str]] = {
        "retention_fee_revenue": Counter(),
        "forfeited_balance": Counter(),
    }
    rows = await conn.execute(
        select(a.code, a.currency, func.sum(b.balance))
        .join(lt.balances, b.account_id == a.id)
        .where(a.code.like("retention_fee_revenue:%") | a.code.like("forfeited_balance:%"))
        .group_by(a.code, a.currency)
    )
    for code, currency, balance in rows:
        system[code.split(":")[0]][currency] += int(balance)
    taken: Counter[tuple[int, str]] = Counter()
    rows = await conn.execute(
        select(a.code, a.currency, func.sum(p.amount))
        .select_from(lt.postings.join(lt.journals, j.id == p.journal_id))
        .join(lt.accounts, a.id == p.account_id)
        .where(
            a.code.like("sim:%:balance:%"),
            j.client_id.like("fee:%")
            | j.client_id.like("arrears:%")
            | j.client_id.like("forfeit:%")
            | j.client_id.like("usage:%")
            | j.client_id.like("refund:%")  # approved: off the SIM …
            | j.client_id.like("refund-failed:%"),  # … and back when the provider refused
        )
        .group_by(a.code, a.currency)
    )
    for code, currency, amount in rows:
        taken[(int(code.split(":")[1]), currency)] += int(amount)
    fees_due: Counter[str] = Counter()
    arrears: Counter[str] = Counter()
    s, plan = st.sims.c, st.plans.c
    rows = await conn.execute(
        select(
            s.created_at, s.next_fee_on, s.arrears_minor, s.home_currency, plan.monthly_fee
        ).join(st.plans, plan.code == s.plan_code)
    )
    for row in rows:
        arrears[row.home_currency] += row.arrears_minor
        if row.next_fee_on is not None and row.monthly_fee:
            _, first = first_fee(row.created_at)
            months = (row.next_fee_on.year - first.year) * 12 + row.next_fee_on.month - first.month
            fees_due[row.home_currency] += months * row.monthly_fee
    return {
        "fee_revenue": system["retention_fee_revenue"],
        "forfeited": system["forfeited_balance"],
        "taken": taken,
        "fees_due": fees_due,
        "arrears": arrears,
    }
