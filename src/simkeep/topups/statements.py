"""The statements every online top-up runs, written out (``simkeep.statements``).

Design overview
---------------
* ``gather``: one read with all that placing an order checks — an earlier order with the
  same idempotency key, the SIM behind the number and its state, whether this subscriber
  has topped the number up before, and the current FX rate. ``look_up`` reads the same
  facts to show them (the guard's page), and ``current_fx`` the same rate alone: one text
  for each rule.
  It also draws the order's id (PostgreSQL: from the sequence; SQLite, one writer: the next
  id), so the order number — ``T`` + the Hong Kong date + the id — is known, and never
  collides, before anything is written.
* ``insert``: the order in one statement; ``ON CONFLICT`` on the idempotency key writes
  nothing when a concurrent request with the same key got there first.
* ``mark_started``, ``mark_paid``, ``mark_credited``: the order's moves in the state machine
  (``topups.model``), each a conditional update that moves nothing if the order is not in
  the state the move starts from; their state lists come from ``model.TRANSITIONS``.
  ``mark_paid`` also reads what crediting needs of the SIM — on PostgreSQL under a lock on
  the SIM's row, so that two credits of the same SIM extend its validity one after the
  other, not both from the date before either — and the language of the SMS that tells of
  the credit (the rule ``subscribers.statements.READER_LANGUAGE``: the topped-up number's
  subscriber's, else the payer's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sims.model import Retention, SimState
from simkeep.sqltypes import as_utc
from simkeep.statements import Row, Statement
from simkeep.subscribers.statements import READER_LANGUAGE
from simkeep.topups.model import (
    PAYABLE,
    FxRate,
    NumberFacts,
    Order,
    OrderState,
    sources,
    sql_states,
)
from simkeep.topups.queries import order_from_row

# One rule, one text: the statements below that need the current rate or "topped up
# before" embed these.
_FX_RATE = """
    (SELECT f.rate FROM fx_rates f WHERE f.base = {base} AND f.quote = :pay_currency
      ORDER BY f.id DESC LIMIT 1)
"""
_TOPPED_UP = f"""
    EXISTS (SELECT 1 FROM topup_orders o
      WHERE o.msisdn = :e164 AND o.subscriber_id = :subscriber_id
        AND o.state = '{OrderState.CREDITED.value}')
"""  # noqa: S608 - a state of the model, not input
_GATHER = f"""
    SELECT
      (SELECT 1 FROM topup_orders e
        WHERE e.subscriber_id = :subscriber_id AND e.idempotency_key = :key) AS earlier,
      s.id AS sim_id, s.state AS sim_state, s.home_currency, s.holder_masked, s.plan_code,
      {_TOPPED_UP} AS topped_up,
      {_FX_RATE.format(base="s.home_currency")} AS fx_rate,
      {{next_id}} AS next_id
    FROM (SELECT 1 AS one) AS one
    LEFT JOIN sim_lines l ON l.e164 = :e164
    LEFT JOIN sims s ON s.id = l.sim_id
"""  # noqa: S608 - fragments of this module, not input
_GATHER_STATEMENT = Statement(
    _GATHER.format(next_id="nextval(pg_get_serial_sequence('topup_orders', 'id'))"),
    # one writer, and the caller's transaction holds the write lock until the insert
    sqlite=_GATHER.format(next_id="(SELECT ifnull(max(id), 0) + 1 FROM topup_orders)"),
)
_LOOK_UP = Statement(  # the same facts, to show them: no order id is drawn
    _GATHER.format(next_id="NULL")
)
_CURRENT_FX = Statement(f"SELECT {_FX_RATE.format(base=':base')} AS rate")

_INSERT = Statement(
    """
    INSERT INTO topup_orders (
      id, order_no, subscriber_id, idempotency_key, request_hash, sim_id, msisdn,
      credit_minor, credit_currency, pay_minor, pay_currency, fx_rate, validity_days,
      provider, channel, state, created_at, expires_at, next_poll_at, pay_url, pay_qr,
      pay_form)
    VALUES (
      :id, :order_no, :subscriber_id, :idempotency_key, :request_hash, :sim_id, :msisdn,
      :credit_minor, :credit_currency, :pay_minor, :pay_currency, :fx_rate, :validity_days,
      :provider, :channel, :state, :created_at, :expires_at, :next_poll_at, :pay_url, :pay_qr,
      :pay_form)
    ON CONFLICT (subscriber_id, idempotency_key) DO NOTHING
    RETURNING id
    """
)

_STARTED = Statement(
    f"""
    UPDATE topup_orders SET state = '{OrderState.AWAITING_PAYMENT.value}',
      pay_url = :pay_url, pay_qr = :pay_qr, pay_form = :pay_form
    WHERE order_no = :order_no
      AND state IN ({sql_states(sources(OrderState.AWAITING_PAYMENT))})
    RETURNING *
    """  # noqa: S608 - states of the model, not input
)

_SMS_LANGUAGE = READER_LANGUAGE.format(
    phone="topup_orders.msisdn",
    otherwise="(SELECT b.language FROM subscribers b WHERE b.id = topup_orders.subscriber_id)",
)
_PAID_SET = f"""
    UPDATE topup_orders SET state = '{OrderState.PAID.value}', paid_at = :now,
      provider_trade_no = :trade_no
"""  # noqa: S608 - a state of the model, not input
_PAID_WHERE = f"""
    topup_orders.order_no = :order_no
      AND topup_orders.provider = coalesce(:provider, topup_orders.provider)
      AND topup_orders.state IN ({sql_states(PAYABLE)})
      AND topup_orders.pay_minor = :pay_minor AND topup_orders.pay_currency = :pay_currency
"""
_PAID_EXTRAS = f"""
      (SELECT l.e164 FROM sim_lines l
        WHERE l.sim_id = topup_orders.sim_id AND l.region = 'HK') AS hk_number,
      {_SMS_LANGUAGE} AS sms_language
"""  # noqa: S608 - a fragment of ours, not input
# PostgreSQL: the SIM's row is locked before its state and validity are read, so a credit
# of another order of the same SIM that is in flight is waited for and built on, not written
# over (read without the lock, the later of two overlapping credits set the validity from
# what it read before the earlier committed). Only the SIM of a payable order is locked: a
# late duplicate waits for nothing.
# SQLite: one writer, whose transaction holds the write lock, so nothing moves the SIM
# meanwhile; and its RETURNING cannot name the tables of an UPDATE's FROM.
_PAID = Statement(
    f"""
    WITH sim AS MATERIALIZED (
      SELECT s.id, s.state, s.validity_until, s.plan_code FROM sims s
      WHERE s.id = (SELECT o.sim_id FROM topup_orders o
        WHERE o.order_no = :order_no AND o.state IN ({sql_states(PAYABLE)}))
      FOR UPDATE
    )
    {_PAID_SET}
    FROM sim
    WHERE topup_orders.sim_id = sim.id AND {_PAID_WHERE}
    RETURNING topup_orders.*, sim.state AS sim_state, sim.validity_until AS sim_validity_until,
      (SELECT p.retention FROM sim_plans p WHERE p.code = sim.plan_code) AS retention,
      {_PAID_EXTRAS}
    """,  # noqa: S608 - states of the model and fragments of ours, not input
    sqlite=f"""
    {_PAID_SET}
    WHERE {_PAID_WHERE}
    RETURNING *,
      (SELECT s.state FROM sims s WHERE s.id = topup_orders.sim_id) AS sim_state,
      (SELECT s.validity_until FROM sims s WHERE s.id = topup_orders.sim_id)
        AS sim_validity_until,
      (SELECT p.retention FROM sims s JOIN sim_plans p ON p.code = s.plan_code
        WHERE s.id = topup_orders.sim_id) AS retention,
      {_PAID_EXTRAS}
    """,  # noqa: S608 - states of the model and fragments of ours, not input
)

_CREDITED = Statement(
    f"""
    UPDATE topup_orders SET state = '{OrderState.CREDITED.value}', credited_at = :now,
      receipt_no = :receipt_no, validity_until = :validity_until
    WHERE order_no = :order_no AND state = '{OrderState.PAID.value}'
    """  # noqa: S608 - states of the model, not input
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What placing an order checks, read at once."""

    earlier_order: bool  # this subscriber used this idempotency key before
    number: NumberFacts
    next_id: int  # the id of the order, if one is placed


async def gather(
    conn: AsyncConnection,
    *,
    subscriber_id: int | None,
    idempotency_key: str | None,
    e164: str,
    pay_currency: str,
) -> Facts:
    """Everything placing an order checks, and the id it would get."""
    row = await _GATHER_STATEMENT.row(
        conn, subscriber_id=subscriber_id, key=idempotency_key, e164=e164, pay_currency=pay_currency
    )
    assert row is not None  # one row, always
    return Facts(row["earlier"] is not None, _number_facts(row, e164, pay_currency), row["next_id"])


async def look_up(
    conn: AsyncConnection, *, subscriber_id: int | None, e164: str, pay_currency: str | None
) -> NumberFacts:
    """What the guard knows of a number (and the rate to ``pay_currency``), to show it."""
    row = await _LOOK_UP.row(
        conn, subscriber_id=subscriber_id, key=None, e164=e164, pay_currency=pay_currency
    )
    assert row is not None  # one row, always
    return _number_facts(row, e164, pay_currency)


async def current_fx(conn: AsyncConnection, *, base: str, quote_currency: str) -> FxRate | None:
    """The operator's latest rate from ``base`` to ``quote_currency``, if any."""
    row = await _CURRENT_FX.row(conn, base=base, pay_currency=quote_currency)
    rate = row["rate"] if row is not None else None
    return FxRate(base, quote_currency, Decimal(rate)) if rate else None


def _number_facts(row: Row, e164: str, pay_currency: str | None) -> NumberFacts:
    rate, home = row["fx_rate"], row["home_currency"]
    return NumberFacts(
        e164=e164,
        sim_id=row["sim_id"],
        sim_state=SimState(row["sim_state"]) if row["sim_state"] else None,
        home_currency=home,
        holder_masked=row["holder_masked"],
        plan_code=row["plan_code"],
        topped_up_before=bool(row["topped_up"]),
        fx=FxRate(home, pay_currency, Decimal(rate)) if rate and pay_currency else None,
    )


async def insert(
    conn: AsyncConnection,
    order: Order,
    *,
    serial: int,
    idempotency_key: str | None,
    request_hash: str,
    next_poll_at: datetime,
) -> bool:
    """Write ``order`` with id ``serial``; False if its idempotency key is taken."""
    row = await _INSERT.row(
        conn,
        id=serial,
        order_no=order.order_no,
        subscriber_id=order.subscriber_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        sim_id=order.sim_id,
        msisdn=order.msisdn,
        credit_minor=order.credit.minor,
        credit_currency=order.credit.currency,
        pay_minor=order.pay.minor,
        pay_currency=order.pay.currency,
        fx_rate=str(order.fx_rate) if order.fx_rate is not None else None,
        validity_days=order.validity_days,
        provider=order.provider.value,
        channel=order.channel.value,
        state=order.state.value,
        created_at=order.created_at,
        expires_at=order.expires_at,
        next_poll_at=next_poll_at,
        pay_url=order.pay_url,
        pay_qr=order.pay_qr,
        pay_form=form_text(order.pay_form),
    )
    return row is not None


def form_text(form: Mapping[str, str] | None) -> str | None:
    """The fields a payer's browser posts to the gateway, as the JSON the order keeps."""
    return json.dumps(dict(form), ensure_ascii=False) if form else None


async def mark_started(
    conn: AsyncConnection,
    *,
    order_no: str,
    pay_url: str | None,
    pay_qr: str | None,
    pay_form: Mapping[str, str] | None = None,
) -> Order | None:
    """created → awaiting_payment, with where to pay; None if the order was not created."""
    row = await _STARTED.row(
        conn, order_no=order_no, pay_url=pay_url, pay_qr=pay_qr, pay_form=form_text(pay_form)
    )
    return order_from_row(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class PaidOrder:
    """An order just moved to paid, and the SIM it credits as it was."""

    order: Order
    serial: int  # the order's id
    sim_state: SimState
    sim_validity_until: datetime | None
    retention: Retention
    hk_number: str
    sms_language: str | None  # None: neither the number nor the payer has an account


async def mark_paid(
    conn: AsyncConnection,
    *,
    order_no: str,
    provider: str | None,
    paid_minor: int,
    paid_currency: str,
    trade_no: str,
    now: datetime,
) -> PaidOrder | None:
    """payable → paid, if the order is of ``provider`` (any, if None) and asks exactly the
    amount paid; None if it moved nothing."""
    row = await _PAID.row(
        conn,
        order_no=order_no,
        provider=provider,
        pay_minor=paid_minor,
        pay_currency=paid_currency,
        trade_no=trade_no,
        now=now,
    )
    if row is None:
        return None
    validity = row["sim_validity_until"]
    return PaidOrder(
        order=order_from_row(row),
        serial=row["id"],
        sim_state=SimState(row["sim_state"]),
        sim_validity_until=as_utc(validity) if validity is not None else None,
        retention=Retention(row["retention"]),
        hk_number=row["hk_number"],
        sms_language=row["sms_language"],
    )


async def mark_credited(
    conn: AsyncConnection,
    *,
    order_no: str,
    receipt_no: str,
    validity_until: datetime | None,
    now: datetime,
) -> None:
    """paid → credited, with its receipt number."""
    moved = await _CREDITED.execute(
        conn, order_no=order_no, receipt_no=receipt_no, validity_until=validity_until, now=now
    )
    if moved != 1:
        raise RuntimeError(f"order {order_no} was not paid when it was credited")
