"""Sales at the counter: a top-up paid in cash or by card, vouchers sold (docs/outlets.md,
"The counter (POS)").

Design overview
---------------
A sale is one transaction: the ``outlet_sales`` row and everything it causes commit
together or not at all.

* A top-up is a top-up order (provider ``outlet``, channel ``counter``, sold through the
  ``outlet`` sales channel, so promotions for outlets apply) placed with
  ``topups.prepare_order`` / ``place_order`` and credited at once by
  ``topups.credit_paid_order`` — validity, arrears, promotions, receipt number and SMS are
  the online path's — with the journal funded from the agent's float
  (``rules.outlet_topup``: the float pays the SIM; the commission accrues to the agent).
  The sale's receipt number is the order's.
* Vouchers are quoted (``vouchers.service.quote_sale``) and sold (``vouchers.service.sell``:
  ``generated → sold`` and the voucher-sale journal from the float), with a receipt number
  of their own (``model.voucher_receipt_no``).
* Idempotency: the sale row goes in before the work, ``ON CONFLICT (outlet_id,
  idempotency_key) DO NOTHING``. A retry that finds the key taken — before, or by losing
  that insert to a concurrent request, which on PostgreSQL waits for the first to commit —
  gets the first sale back (``replayed``) if it asked the same (``request_hash``), and is
  refused (``idempotency_conflict``) if it asked anything else.
* Before anything is written: the outlet trades and takes that payment type, the clerk's
  shift is open (its row locked: ``shifts.lock_open_shift``), the agent is active, the SIM
  is live and of the outlet's currency, and the ID policy is met (``checks.recent_match``).
* A float that cannot pay makes the ledger refuse the journal (``InsufficientFunds``); the
  transaction rolls back — no order, no sale row, no journal — and the refusal is
  ``float_too_low``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import statements
from simkeep.counter import tables as t
from simkeep.counter.checks import live_sim, recent_match
from simkeep.counter.model import (
    FloatTooLow,
    IdCheckRequired,
    IdPolicy,
    KeyConflict,
    OutletNotSelling,
    Payer,
    Payment,
    SaleKind,
    TopUp,
    VoucherSale,
    WrongCurrency,
    check_key,
    check_topup_minor,
    topup_fingerprint,
    voucher_fingerprint,
    voucher_receipt_no,
)
from simkeep.counter.sale_rows import Sale, Till, sale_by_key
from simkeep.counter.shifts import Place, lock_open_shift, place_of, trading_outlet
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.model import InsufficientFunds
from simkeep.money import Money
from simkeep.outlets import floats
from simkeep.outlets import service as outlets
from simkeep.outlets.model import Agent, AgentState, Outlet, Service
from simkeep.payment_methods import Channel, Provider
from simkeep.phone import parse_number
from simkeep.promotions.model import SalesChannel
from simkeep.sims.model import Sim
from simkeep.staff.service import StaffMember
from simkeep.topups import service as topups
from simkeep.topups.model import OrderRequest, receipt_number
from simkeep.topups.service import Draft
from simkeep.vouchers import service as vouchers

T = TypeVar("T")


async def top_up(
    db: Database,
    *,
    clerk: StaffMember,
    device_id: int | None,
    request: TopUp,
    policy: IdPolicy,
    now: datetime,
) -> Sale:
    """Top a number up at the clerk's counter, once per key; the float pays."""
    till = Till(place_of(clerk), check_key(request.key), device_id, now)
    e164 = parse_number(request.number).e164
    return await _selling(db, lambda conn: _top_up(conn, till, e164, request, policy))


async def sell_vouchers(
    db: Database, *, clerk: StaffMember, device_id: int | None, request: VoucherSale, now: datetime
) -> Sale:
    """Sell vouchers at the clerk's counter, once per key; the float pays their face value."""
    till = Till(place_of(clerk), check_key(request.key), device_id, now)
    serials = [serial.strip() for serial in request.serials]
    return await _selling(db, lambda conn: _sell_vouchers(conn, till, serials, request.payer))


async def _top_up(
    conn: AsyncConnection, till: Till, e164: str, request: TopUp, policy: IdPolicy
) -> Sale:
    outlet = await trading_outlet(conn, till.place.outlet_id)
    amount = Money(request.amount_minor, outlet.currency)
    fingerprint = topup_fingerprint(e164=e164, amount=amount, payer=request.payer)
    earlier = await _earlier(conn, outlet.id, till.key, fingerprint)
    if earlier is not None:
        return earlier
    check_topup_minor(amount.minor, outlet.currency)
    agent, shift_id = await _ready(conn, till.place, outlet, request.payer, vouchers=False)
    sim = await live_sim(conn, e164, outlet.currency)
    await _check_id_policy(conn, policy, sim, amount, till.place.clerk_id, till.now)
    draft = await topups.prepare_order(conn, request=_order_request(e164, amount), now=till.now)
    assert isinstance(draft, Draft)  # no idempotency key: never a replay
    values = till.row(
        kind=SaleKind.TOPUP,
        receipt_no=receipt_number(draft.serial, till.now),
        order_no=draft.order.order_no,
        shift_id=shift_id,
        fingerprint=fingerprint,
        amount=amount,
        payer=request.payer,
        commission=floats.commission_for(amount, agent.commission_bp),
    )
    sale = await _insert(conn, values, await statements.next_sale_id(conn))
    if sale.replayed:
        return _same_request(sale, fingerprint)
    await _credit(conn, draft, outlet, sale, till.now)
    return sale


async def _sell_vouchers(
    conn: AsyncConnection, till: Till, serials: list[str], payer: Payer
) -> Sale:
    outlet = await trading_outlet(conn, till.place.outlet_id)
    fingerprint = voucher_fingerprint(serials=serials, payer=payer)
    earlier = await _earlier(conn, outlet.id, till.key, fingerprint)
    if earlier is not None:
        return earlier
    agent, shift_id = await _ready(conn, till.place, outlet, payer, vouchers=True)
    face = await vouchers.quote_sale(conn, serials=serials, now=till.now)
    if face.currency != outlet.currency:
        raise WrongCurrency(
            f"these vouchers are in {face.currency}; this counter sells {outlet.currency}",
            field="serials",
        )
    sale_id = await statements.next_sale_id(conn)
    commission = floats.commission_for(face, agent.commission_bp)
    values = till.row(
        kind=SaleKind.VOUCHER,
        receipt_no=voucher_receipt_no(sale_id, till.now),
        order_no=None,
        shift_id=shift_id,
        fingerprint=fingerprint,
        amount=face,
        payer=payer,
        commission=commission,
    )
    sale = await _insert(conn, values, sale_id)
    if sale.replayed:
        return _same_request(sale, fingerprint)
    await floats.float_accounts(conn, agent_id=agent.id, currency=face.currency, now=till.now)
    await vouchers.sell(
        conn,
        serials=serials,
        sale_id=sale.id,
        agent_id=agent.id,
        commission=commission,
        now=till.now,
    )
    return sale


async def _selling(db: Database, sell: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run a sale's transaction; a float that cannot pay leaves nothing behind."""
    try:
        return await db.transaction(sell)
    except InsufficientFunds as error:
        raise FloatTooLow(
            "the agent's float is too low for this sale: ask the agent to top the float up"
        ) from error


async def _earlier(
    conn: AsyncConnection, outlet_id: int, key: str, fingerprint: str
) -> Sale | None:
    """The sale made before with this key, if any (refused if it asked something else)."""
    earlier = await sale_by_key(conn, outlet_id=outlet_id, key=key)
    return None if earlier is None else _same_request(earlier, fingerprint)


def _same_request(sale: Sale, fingerprint: str) -> Sale:
    if sale.request_hash != fingerprint:
        raise KeyConflict("this Idempotency-Key was used for another sale")
    return replace(sale, replayed=True)


async def _ready(
    conn: AsyncConnection, place: Place, outlet: Outlet, payer: Payer, *, vouchers: bool
) -> tuple[Agent, int]:
    """Everything a sale needs before it writes: the outlet offers it and takes that payment,
    the clerk's shift is open (and locked), the agent is active. The agent and the shift."""
    needs = {Service.CASH if payer.payment is Payment.CASH else Service.CARD}
    if vouchers:
        needs.add(Service.VOUCHER_SALE)
    if not needs <= outlet.services:
        what = "vouchers" if Service.VOUCHER_SALE in needs - outlet.services else "this payment"
        raise OutletNotSelling(f"this outlet does not take {what}", field="payment")
    shift = await lock_open_shift(conn, clerk_id=place.clerk_id)
    agent = await outlets.get_agent(conn, agent_id=outlet.agent_id)
    if agent is None or agent.state is not AgentState.ACTIVE:
        raise OutletNotSelling("this outlet's agent is suspended: it sells nothing", field="shift")
    return agent, shift.id


async def _check_id_policy(
    conn: AsyncConnection, policy: IdPolicy, sim: Sim, amount: Money, clerk_id: int, now: datetime
) -> None:
    if not policy.needs_check(amount, sim.state):
        return
    since = now - policy.limits.match_valid
    if await recent_match(conn, sim_id=sim.id, clerk_id=clerk_id, since=since) is None:
        raise IdCheckRequired("check the holder's ID document first: this top-up needs it")


def _order_request(e164: str, amount: Money) -> OrderRequest:
    return OrderRequest(
        subscriber_id=None,
        idempotency_key=None,
        number=e164,
        confirm_number=None,
        credit=amount,
        pay_currency=amount.currency,
        provider=Provider.OUTLET,
        channel=Channel.COUNTER,
        via=SalesChannel.OUTLET,
    )


async def _insert(conn: AsyncConnection, values: dict[str, object], sale_id: int) -> Sale:
    """Write the sale with ``sale_id`` unless its key is taken; the taken key's sale, marked
    replayed, otherwise."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    written = await conn.execute(
        insert(t.sales)
        .values(id=sale_id, **values)
        .on_conflict_do_nothing(index_elements=["outlet_id", "idempotency_key"])
        .returning(t.sales)
    )
    row = written.mappings().first()
    if row is not None:
        return Sale.of_row(row)
    earlier = await sale_by_key(
        conn, outlet_id=int(str(values["outlet_id"])), key=str(values["idempotency_key"])
    )
    assert earlier is not None  # the key is taken by a committed sale
    return replace(earlier, replayed=True)


async def _credit(
    conn: AsyncConnection, draft: Draft, outlet: Outlet, sale: Sale, now: datetime
) -> None:
    """Place the order and credit it at once, the float paying and the commission accruing."""
    order = await topups.place_order(conn, draft=draft, now=now)
    accounts = await floats.float_accounts(
        conn, agent_id=outlet.agent_id, currency=sale.amount.currency, now=now
    )
    expense_code = chart.system_code(System.COMMISSION_EXPENSE, sale.amount.currency)
    expense = (await ledger.account_ids(conn, codes=[expense_code]))[expense_code]
    credited = await topups.credit_paid_order(
        conn,
        order_no=order.order_no,
        paid=sale.amount,
        provider_trade_no=f"{outlet.code}-{sale.id}",
        now=now,
        provider=Provider.OUTLET,
        funding=lambda sim_balance: rules.outlet_topup(
            agent_float=accounts.float_id,
            sim_balance=sim_balance,
            commission_expense=expense,
            commission_payable=accounts.commission_id,
            amount=sale.amount,
            commission=sale.commission,
        ),
    )
    assert credited.order.receipt_no == sale.receipt_no  # one receipt number, the order's
