"""Top-up use cases: quote, create an order, credit it exactly once, expire it.

Design overview
---------------
* ``create_order`` is idempotent per (subscriber, ``Idempotency-Key``): the same key with the
  same request returns the same order, with another request raises ``IdempotencyConflict``.
  It applies the wrong-number guard (the number must be a live SIM; a number this subscriber
  never topped up must be typed twice) and locks the quote, FX rate included.
* ``credit_paid_order`` (``topups.crediting``) is the only way an order gets money.
* Placing an order is one read and one insert (``topups.statements``); its number is the
  Hong Kong date and its id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_hong_kong
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import PaymentStart
from simkeep.phone import parse_number
from simkeep.sims import service as sims
from simkeep.sims.model import Sim, SimState
from simkeep.topups import statements
from simkeep.topups import tables as t
from simkeep.topups.crediting import AmountMismatch, CreditResult, UnknownOrder, credit_paid_order
from simkeep.topups.followup import record_payment_start
from simkeep.topups.queries import (
    HistoryFilter,
    HistoryPage,
    by_idempotency_key,
    get_order,
    get_order_by_receipt,
    order_history,
)

__all__ = [
    "AmountMismatch",
    "CreditResult",
    "HistoryFilter",
    "HistoryPage",
    "Order",
    "UnknownOrder",
    "create_order",
    "credit_paid_order",
    "current_fx",
    "expire_orders",
    "get_order",
    "get_order_by_receipt",
    "order_history",
    "preview_number",
    "quote_topup",
    "record_payment_start",
    "set_fx_rate",
]
from simkeep.topups.model import (
    ORDER_TTL,
    ConfirmNumber,
    FxRate,
    IdempotencyConflict,
    NumberNotEligible,
    NumberPreview,
    Order,
    OrderState,
    Quote,
    QuoteChanged,
    TopupError,
    UnknownNumber,
    quote,
    request_hash,
)


async def set_fx_rate(
    conn: AsyncConnection,
    *,
    base: str,
    quote_currency: str,
    rate: Decimal,
    source: str,
    now: datetime,
) -> None:
    """Record the operator's rate; orders created from now on lock it."""
    if rate <= 0:
        raise TopupError("an exchange rate is positive")
    await conn.execute(
        t.fx_rates.insert().values(
            base=base, quote=quote_currency, rate=str(rate), source=source, set_at=now
        )
    )


async def current_fx(conn: AsyncConnection, *, base: str, quote_currency: str) -> FxRate | None:
    rate = (
        await conn.execute(
            select(t.fx_rates.c.rate)
            .where(t.fx_rates.c.base == base, t.fx_rates.c.quote == quote_currency)
            .order_by(t.fx_rates.c.id.desc())
            .limit(1)
        )
    ).scalar()
    return None if rate is None else FxRate(base, quote_currency, Decimal(rate))


async def create_order(
    conn: AsyncConnection,
    *,
    subscriber_id: int | None,
    idempotency_key: str | None,
    number: str,
    confirm_number: str | None,
    credit: Money,
    pay_currency: str,
    provider: Provider,
    channel: Channel,
    now: datetime,
    expected_pay: Money | None = None,
    open_trade: Callable[[Order], Awaitable[PaymentStart]] | None = None,
) -> Order:
    """Create (or find again, by idempotency key) an order to top up ``number``; with
    ``expected_pay`` (what the payer was shown), refuse if the price has changed since.
    ``open_trade`` opens the order's trade before it is written (a signed redirect, which
    asks the provider nothing): the order is then written awaiting payment, with its link.

    One read gathers what the checks need, one statement writes: the caller may run it
    outside a transaction (``Database.one_statement``)."""
    e164 = parse_number(number).e164
    fingerprint = request_hash(
        {
            "number": e164,
            "credit": [credit.minor, credit.currency],
            "pay": pay_currency,
            "provider": provider.value,
            "channel": channel.value,
        }
    )
    facts = await statements.gather(
        conn,
        subscriber_id=subscriber_id,
        idempotency_key=idempotency_key,
        e164=e164,
        credit_currency=credit.currency,
        pay_currency=pay_currency,
    )
    if facts.earlier_order:
        return await _replayed(conn, subscriber_id, idempotency_key, fingerprint)
    if facts.sim_id is None:
        raise UnknownNumber("no China–Hong Kong SIM has this number: check it")
    if facts.sim_state is SimState.RECYCLED:
        raise NumberNotEligible("this number was recycled and cannot be topped up")
    confirmed = confirm_number is not None and parse_number(confirm_number).e164 == e164
    if subscriber_id is not None and not confirmed and not facts.topped_up_before:
        raise ConfirmNumber("you have not topped up this number before: type it again")
    if credit.currency != facts.home_currency:
        raise TopupError(f"this SIM is topped up in {facts.home_currency}")
    priced = quote(credit=credit, pay_currency=pay_currency, fx=facts.fx)
    if expected_pay is not None and priced.pay != expected_pay:
        raise QuoteChanged(f"the price is now {priced.pay}, not {expected_pay}: check it again")
    order = Order(
        order_no=f"T{in_hong_kong(now):%Y%m%d}{facts.next_id:010d}",
        subscriber_id=subscriber_id,
        sim_id=facts.sim_id,
        msisdn=e164,
        credit=priced.credit,
        pay=priced.pay,
        fx_rate=priced.fx.rate if priced.fx else None,
        validity_days=priced.validity_days,
        provider=provider,
        channel=channel,
        state=OrderState.CREATED,
        created_at=now,
        expires_at=now + ORDER_TTL,
        receipt_no=None,
    )
    if open_trade is not None:
        start = await open_trade(order)
        order = replace(
            order,
            state=OrderState.AWAITING_PAYMENT,
            pay_url=start.redirect_url,
            pay_qr=start.qr_payload,
        )
    inserted = await statements.insert(
        conn,
        order,
        serial=facts.next_id,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        next_poll_at=now + timedelta(seconds=30),
    )
    if not inserted:  # the same key, inserted by a concurrent request meanwhile
        return await _replayed(conn, subscriber_id, idempotency_key, fingerprint)
    return order


async def _replayed(
    conn: AsyncConnection, subscriber_id: int | None, key: str | None, fingerprint: str
) -> Order:
    """The order made before with this key, if it was made by the same request."""
    existing = None
    if subscriber_id is not None and key is not None:
        existing = await by_idempotency_key(conn, subscriber_id=subscriber_id, key=key)
    if existing is None:
        raise IdempotencyConflict("this Idempotency-Key is being used right now")
    if existing[1] != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was used for another order")
    return existing[0]


async def preview_number(
    conn: AsyncConnection, *, subscriber_id: int | None, number: str
) -> NumberPreview:
    """The wrong-number guard's view of ``number``; refuses unknown and recycled numbers."""
    e164 = parse_number(number).e164
    sim = await _live_sim(conn, e164)
    plan = await sims.get_plan(conn, code=sim.plan_code)
    return NumberPreview(
        e164=e164,
        holder_masked=sim.holder_masked,
        plan_name=plan.name if plan else sim.plan_code,
        state=sim.state.value,
        home_currency=sim.home_currency,
        must_confirm=subscriber_id is not None
        and not await _topped_up_before(conn, subscriber_id, e164),
    )


async def quote_topup(
    conn: AsyncConnection, *, number: str, amount_minor: int, pay_currency: str
) -> Quote:
    """What topping ``number`` up by ``amount_minor`` of its home currency costs today."""
    sim = await _live_sim(conn, parse_number(number).e164)
    return await _price(conn, Money(amount_minor, sim.home_currency), pay_currency)


async def _price(conn: AsyncConnection, credit: Money, pay_currency: str) -> Quote:
    fx = None
    if pay_currency != credit.currency:
        fx = await current_fx(conn, base=credit.currency, quote_currency=pay_currency)
    return quote(credit=credit, pay_currency=pay_currency, fx=fx)


async def _live_sim(conn: AsyncConnection, e164: str) -> Sim:
    sim = await sims.find_by_number(conn, number=e164)
    if sim is None:
        raise UnknownNumber("no China–Hong Kong SIM has this number: check it")
    if sim.state is SimState.RECYCLED:
        raise NumberNotEligible("this number was recycled and cannot be topped up")
    return sim


async def _topped_up_before(conn: AsyncConnection, subscriber_id: int, e164: str) -> bool:
    found = (
        await conn.execute(
            select(t.orders.c.id)
            .where(
                t.orders.c.subscriber_id == subscriber_id,
                t.orders.c.msisdn == e164,
                t.orders.c.state == OrderState.CREDITED.value,
            )
            .limit(1)
        )
    ).first()
    return found is not None


async def expire_orders(conn: AsyncConnection, *, now: datetime) -> list[str]:
    """Orders nobody paid in time; their provider trades are to be closed by the caller."""
    rows = await conn.execute(
        update(t.orders)
        .where(
            t.orders.c.state.in_([OrderState.CREATED.value, OrderState.AWAITING_PAYMENT.value]),
            t.orders.c.expires_at <= now,
        )
        .values(state=OrderState.EXPIRED.value, close_due_at=now)
        .returning(t.orders.c.order_no)
    )
    return [row.order_no for row in rows]
