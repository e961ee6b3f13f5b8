"""Money the payers pushed (FPS): credited to the order it names, or held in review — never
guessed — and the providers' records split into trades and transfers.

Design overview
---------------
``GET /_sim/records`` has a key per provider (``trade_providers`` and ``push_providers``
split them by the registry's ``push``). A trade provider's record is the trade of one order.
A push provider's record is a transfer, keyed by the reference the payer's app carried (the
order's number, a typo, another text, or none) with its amount; a payer may push twice for
one order, or push for an order that does not exist.

simkeep keeps each transfer it heard of in ``incoming_payments`` (``read_pushed``): matched
(it credited the order it names, for exactly that order's amount, the first time), or in
review with its money booked to the ``unmatched_payments`` liability; polling the bank may
credit an order before its webhook comes. ``exactly_paid`` is the orders a transfer pays
exactly (its reference the order's number, its amount the order's): those simkeep owes a
credit, as it owes one for a paid trade; the rest of the money is held in review. The
figures (``pushed_figures``):

* pushed payments credited to an order they do not name — credited orders of a push
  provider that no transfer names with exactly their amount;
* pushed payments neither matched nor in review (``unaccounted``) — transfers, by reference
  and amount, for which simkeep holds neither an incoming payment nor a credited order;
* money in review − reviewed payments' amounts, per currency — the ledger's
  ``unmatched_payments`` against the incoming payments in review.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import tables as lt
from simkeep.ledger.chart import System
from simkeep.payment_methods import PROVIDERS, Provider
from simkeep.payments import tables as pt
from simkeep.topups import tables as tt

NAMES = frozenset(provider.value for provider in Provider)
PUSH = tuple(spec.provider.value for spec in PROVIDERS.values() if spec.push)
PUSH_CURRENCIES = sorted({c for spec in PROVIDERS.values() if spec.push for c in spec.currencies})
Key = tuple[str, str, int, str]  # provider, reference as the bank matches it, amount, currency


def trade_providers(records: dict[str, Any]) -> list[str]:
    """The providers in ``records`` whose records are trades of our orders."""
    return [key for key in records if key in NAMES and key not in PUSH]


def push_providers(records: dict[str, Any]) -> list[str]:
    """The providers in ``records`` whose records are transfers the payers pushed."""
    return [key for key in records if key in PUSH]


async def read_pushed(conn: AsyncConnection) -> dict[str, Any]:
    """The incoming payments, the push providers' orders, and the money in review."""
    o = tt.orders.c
    incoming = [dict(row._mapping) for row in await conn.execute(select(pt.incoming))]
    columns = (o.order_no, o.provider, o.state, o.pay_minor, o.pay_currency, o.provider_trade_no)
    rows = await conn.execute(select(*columns).where(o.provider.in_(PUSH)))
    orders = [dict(row._mapping) for row in rows]
    a, b = lt.accounts.c, lt.balances.c
    held = await conn.execute(
        select(a.currency, func.sum(b.balance))
        .join(lt.balances, b.account_id == a.id)
        .where(a.code.like(f"{System.UNMATCHED_PAYMENTS.value}:%"))
        .group_by(a.currency)
    )
    states = Counter(f"{row['provider']} {row['state']}" for row in incoming)
    return {
        "incoming": incoming,
        "orders": orders,
        "in_review_books": Counter({currency: int(amount) for currency, amount in held}),
        "states": states,
    }


def _key(provider: str, reference: str, amount: int, currency: str) -> Key:
    return provider, reference.strip().upper(), amount, currency


def _transfers(records: dict[str, Any]) -> Counter[Key]:
    """The paid transfers at the push providers, by what the bank matches them on."""
    return Counter(
        _key(provider, t["out_trade_no"], t["amount_minor"], t["currency"])
        for provider in push_providers(records)
        for t in records[provider]
        if t["paid"]
    )


def _order_key(order: dict[str, Any]) -> Key:
    return _key(order["provider"], order["order_no"], order["pay_minor"], order["pay_currency"])


def exactly_paid(records: dict[str, Any], pushed: dict[str, Any]) -> set[str]:
    """The push providers' orders that a paid transfer names with exactly their amount."""
    transfers = _transfers(records)
    return {order["order_no"] for order in pushed["orders"] if transfers[_order_key(order)]}


def in_review(pushed: dict[str, Any]) -> Counter[str]:
    """The money the books hold in review, per currency."""
    return Counter(pushed["in_review_books"])


def unaccounted(records: dict[str, Any], pushed: dict[str, Any]) -> int:
    """Paid transfers for which simkeep holds neither an incoming payment nor a credit."""
    held: Counter[Key] = Counter()
    heard = set()
    for row in pushed["incoming"]:
        held[_key(row["provider"], row["reference"], row["amount_minor"], row["currency"])] += 1
        heard.add((row["provider"], row["provider_trade_no"]))
    for order in pushed["orders"]:
        polled_only = (order["provider"], order["provider_trade_no"]) not in heard
        if order["state"] == "credited" and polled_only:
            held[_order_key(order)] += 1
    return sum(max(count - held[key], 0) for key, count in _transfers(records).items())


def pushed_figures(records: dict[str, Any], pushed: dict[str, Any]) -> list[tuple[str, int]]:
    transfers = _transfers(records)
    review: Counter[str] = Counter()
    for row in pushed["incoming"]:
        if row["state"] == "review":
            review[row["currency"]] += row["amount_minor"]
    books = in_review(pushed)
    return [
        (
            "pushed payments credited to an order they do not name",
            sum(
                1
                for order in pushed["orders"]
                if order["state"] == "credited" and not transfers[_order_key(order)]
            ),
        ),
        ("pushed payments neither matched nor in review", unaccounted(records, pushed)),
        *(
            (
                f"money in review − reviewed payments' amounts, {currency}",
                books[currency] - review[currency],
            )
            for currency in sorted(set(PUSH_CURRENCIES) | set(books) | set(review))
        ),
    ]
