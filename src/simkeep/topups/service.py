"""Top-up use cases: price a top-up, place an order, credit it exactly once, expire it
(docs/topups.md).

Design overview
---------------
* Placing an order takes two steps with the payment provider in between
  (``payments.service.checkout``): ``prepare_order`` reads everything at once
  (``topups.statements.gather``), applies the wrong-number guard and prices the order with
  the rate locked (``model.check_order``), and numbers it — the Hong Kong date and its id;
  ``place_order`` writes it in one statement. A trade that asks the provider nothing (a
  signed redirect) is opened between the two, so the order is written awaiting payment.
  ``create_order`` does both when the trade is opened afterwards.
* Ordering is idempotent per (subscriber, ``Idempotency-Key``): the same key with the same
  request returns the first order whatever has changed since (price, the SIM's state); with
  another request it raises ``IdempotencyConflict``.
* ``preview_number`` and ``quote_topup`` show what the guard and the price would say, from
  the same facts and the same rules.
* Promotions: the draft carries those that apply (``promotions.service.offer``, the same
  decision the quote and the wizard show); placing the order reserves their budget and the
  SIM's cap in its transaction, and ``expire_orders`` gives back what orders that expired
  unpaid held (docs/promotions.md).
* ``credit_paid_order`` (``topups.crediting``) is the only way an order gets money.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_hong_kong
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.phone import parse_number
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Applied, SalesChannel
from simkeep.sims import service as sims
from simkeep.topups import statements
from simkeep.topups import tables as t
from simkeep.topups.crediting import AmountMismatch, CreditResult, UnknownOrder, credit_paid_order
from simkeep.topups.followup import record_payment_start
from simkeep.topups.model import (
    ORDER_TTL,
    IdempotencyConflict,
    NumberPreview,
    Order,
    OrderRequest,
    OrderState,
    Quote,
    TopupError,
    check_number,
    check_order,
    must_confirm,
    quote,
    sources,
)
from simkeep.topups.queries import (
    HistoryFilter,
    HistoryPage,
    by_idempotency_key,
    get_order,
    get_order_by_receipt,
    order_history,
)
from simkeep.topups.statements import current_fx

__all__ = [
    "AmountMismatch",
    "CreditResult",
    "Draft",
    "HistoryFilter",
    "HistoryPage",
    "Order",
    "OrderRequest",
    "UnknownOrder",
    "by_idempotency_key",
    "create_order",
    "credit_paid_order",
    "current_fx",
    "expire_orders",
    "get_order",
    "get_order_by_receipt",
    "move_for_refund",
    "order_history",
    "place_order",
    "prepare_order",
    "preview_number",
    "promotions_for",
    "quote_topup",
    "record_payment_start",
    "set_fx_rate",
]

REFUND_WAY = frozenset(  # what a refund moves an order between
    {OrderState.CREDITED, OrderState.REFUND_REQUESTED, OrderState.PARTIALLY_REFUNDED}
)
FIRST_POLL = timedelta(seconds=30)  # a notification usually comes first


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


@dataclass(frozen=True, slots=True)
class Draft:
    """An order checked, priced and numbered, not yet written."""

    order: Order
    serial: int  # the order's id
    idempotency_key: str | None
    fingerprint: str
    promotions: tuple[Applied, ...] = ()  # what applies, to be reserved with the order

    def started(
        self, *, pay_url: str | None, pay_qr: str | None, pay_form: Mapping[str, str] | None = None
    ) -> Draft:
        """The same order with its trade opened already: it awaits payment from its insert."""
        order = replace(
            self.order,
            state=OrderState.AWAITING_PAYMENT,
            pay_url=pay_url,
            pay_qr=pay_qr,
            pay_form=pay_form,
        )
        return replace(self, order=order)


async def prepare_order(
    conn: AsyncConnection, *, request: OrderRequest, now: datetime, ttl: timedelta = ORDER_TTL
) -> Order | Draft:
    """The order made before with this request's idempotency key (a replay), or a draft of
    a new one, to be paid within ``ttl``: guarded, priced with the rate locked, numbered.
    One read; nothing written."""
    facts = await statements.gather(
        conn,
        subscriber_id=request.subscriber_id,
        idempotency_key=request.idempotency_key,
        e164=request.number,
        pay_currency=request.pay_currency,
    )
    if facts.earlier_order:
        return await _replayed(conn, request)
    priced = check_order(facts.number, request)
    assert facts.number.sim_id is not None  # check_order refuses an unknown number
    order = Order(
        order_no=f"T{in_hong_kong(now):%Y%m%d}{facts.next_id:010d}",
        subscriber_id=request.subscriber_id,
        sim_id=facts.number.sim_id,
        msisdn=request.number,
        credit=priced.credit,
        pay=priced.pay,
        fx_rate=priced.fx.rate if priced.fx else None,
        validity_days=priced.validity_days,
        provider=request.provider,
        channel=request.channel,
        state=OrderState.CREATED,
        created_at=now,
        expires_at=now + ttl,
        receipt_no=None,
    )
    offered = await promotions.offer(
        conn,
        sim_id=order.sim_id,
        credit=order.credit,
        sales_channel=request.via,
        provider=request.provider,
        pay_channel=request.channel,
        now=now,
    )
    fingerprint = request.fingerprint()
    return Draft(order, facts.next_id, request.idempotency_key, fingerprint, tuple(offered))


async def place_order(conn: AsyncConnection, *, draft: Draft, now: datetime) -> Order:
    """Write the draft in one statement; a concurrent request with the same key that got
    there first wins, and its order is returned."""
    inserted = await statements.insert(
        conn,
        draft.order,
        serial=draft.serial,
        idempotency_key=draft.idempotency_key,
        request_hash=draft.fingerprint,
        next_poll_at=now + FIRST_POLL,
    )
    if not inserted:
        subscriber_id = draft.order.subscriber_id
        return await _replayed_key(conn, subscriber_id, draft.idempotency_key, draft.fingerprint)
    if draft.promotions:
        order = draft.order
        await promotions.reserve(
            conn, order_no=order.order_no, sim_id=order.sim_id, offered=draft.promotions, now=now
        )
    return draft.order


async def create_order(conn: AsyncConnection, *, request: OrderRequest, now: datetime) -> Order:
    """Prepare and place an order whose trade is opened afterwards (or a replay)."""
    prepared = await prepare_order(conn, request=request, now=now)
    if isinstance(prepared, Order):
        return prepared
    return await place_order(conn, draft=prepared, now=now)


async def _replayed(conn: AsyncConnection, request: OrderRequest) -> Order:
    return await _replayed_key(
        conn, request.subscriber_id, request.idempotency_key, request.fingerprint()
    )


async def _replayed_key(
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
    facts = await statements.look_up(
        conn, subscriber_id=subscriber_id, e164=e164, pay_currency=None
    )
    live = check_number(facts)
    return NumberPreview(
        e164=e164,
        holder_masked=live.holder_masked,
        plan=await sims.plan_of_sim(conn, sim_id=live.sim_id),
        state=live.sim_state.value,
        home_currency=live.home_currency,
        must_confirm=must_confirm(facts, subscriber_id=subscriber_id),
    )


async def quote_topup(
    conn: AsyncConnection,
    *,
    number: str,
    amount_minor: int,
    pay_currency: str,
    now: datetime,
    provider: Provider | None = None,
    channel: Channel | None = None,
) -> Quote:
    """What topping ``number`` up by ``amount_minor`` of its home currency costs today, and
    the promotions that apply to it through the API (paid with ``provider``, when known)."""
    e164 = parse_number(number).e164
    facts = await statements.look_up(conn, subscriber_id=None, e164=e164, pay_currency=pay_currency)
    live = check_number(facts)
    credit = Money(amount_minor, live.home_currency)
    priced = quote(credit=credit, pay_currency=pay_currency, fx=facts.fx)
    offered = await promotions.offer(
        conn,
        sim_id=live.sim_id,
        credit=credit,
        sales_channel=SalesChannel.API,
        provider=provider,
        pay_channel=channel,
        now=now,
    )
    return replace(priced, promotions=tuple(offered))


async def promotions_for(
    conn: AsyncConnection,
    *,
    number: str,
    credit: Money,
    via: SalesChannel,
    provider: Provider,
    channel: Channel,
    now: datetime,
) -> list[Applied]:
    """The promotions that apply to topping ``number`` up by ``credit`` this way, now."""
    facts = await statements.look_up(
        conn, subscriber_id=None, e164=parse_number(number).e164, pay_currency=None
    )
    live = check_number(facts)
    return await promotions.offer(
        conn,
        sim_id=live.sim_id,
        credit=credit,
        sales_channel=via,
        provider=provider,
        pay_channel=channel,
        now=now,
    )


async def expire_orders(conn: AsyncConnection, *, now: datetime) -> list[str]:
    """Orders nobody paid in time, their promotions given back; their provider trades are to
    be closed by the caller."""
    rows = await conn.execute(
        update(t.orders)
        .where(
            t.orders.c.state.in_([state.value for state in sources(OrderState.EXPIRED)]),
            t.orders.c.expires_at <= now,
        )
        .values(state=OrderState.EXPIRED.value, close_due_at=now)
        .returning(t.orders.c.order_no)
    )
    expired = [row.order_no for row in rows]
    await promotions.release(conn, order_nos=expired, now=now)
    return expired


async def move_for_refund(conn: AsyncConnection, *, order_no: str, to: OrderState) -> bool:
    """Move a credited order on its refund's way (asked, paid, or back where it was) by one
    conditional update; False if it was not in a state that moves there."""
    moved = await conn.execute(
        update(t.orders)
        .where(
            t.orders.c.order_no == order_no,
            t.orders.c.state.in_([state.value for state in sources(to) & REFUND_WAY]),
        )
        .values(state=to.value)
    )
    return moved.rowcount == 1
