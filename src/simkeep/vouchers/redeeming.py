"""Redeeming a PIN for any number: limits first, then one conditional update, then a top-up.

Design overview
---------------
``redeem_voucher`` runs in four steps, each its own transaction:

1. The number is looked at by the wrong-number guard (``topups.service.preview_number``):
   an unknown or recycled number, or one this subscriber must type twice and did not, is
   refused before any attempt is counted — no PIN was tried.
2. A replay: the same subscriber's ``Idempotency-Key`` whose order redeemed this PIN
   answers that order again; with another PIN it is a conflict. A twin request with the
   same key that loses the race in step 4 gets the winner's order the same way.
3. The attempt is counted — per address, per account (if signed in), per number (its SIM,
   so its two numbers share one counter) — each by one upsert (``statements``), committed
   before the PIN is looked at. The first counter past its limit refuses with
   ``TooManyAttempts`` and the end of its window; the later ones are not taken.
4. The PIN: its voucher is read (sold, not expired; its currency must be the SIM's home
   currency, else ``WrongCurrency``), the order is drafted (``Provider.VOUCHER``,
   ``Channel.VOUCHER``, the face value), and ``UPDATE vouchers SET state = 'redeemed' …
   WHERE pin_digest = :d AND state = 'sold' AND expires_at > :now`` moves it — of fifty
   concurrent redemptions of one PIN, one moves a row, the others find none and are
   refused. The order is placed and credited in the same transaction
   (``topups.service.credit_paid_order`` with the voucher's liability as its funding:
   validity, arrears, promotions, receipt and SMS as for any top-up), and the attempts just
   taken are given back: the counters count failures only.

A wrong PIN, and the PIN of a voucher not sold, expired, blocked or redeemed already, get
one answer, ``PinRefused``: nothing tells which PINs exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.phone import parse_number
from simkeep.promotions.model import SalesChannel
from simkeep.sims import service as sims
from simkeep.topups import service as topups
from simkeep.topups.model import ConfirmNumber, IdempotencyConflict, Order, OrderRequest
from simkeep.vouchers import statements
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import (
    PinLimits,
    PinRefused,
    Scope,
    TooManyAttempts,
    VoucherState,
    WrongCurrency,
    clean_pin,
    pin_digest,
)

v = t.vouchers.c
MAX_ADDRESS = 64


@dataclass(frozen=True, slots=True)
class Redeemer:
    """Who redeems: their account (if signed in), their address, how they came in, and the
    ``Idempotency-Key`` of an API request."""

    subscriber_id: int | None
    address: str
    via: SalesChannel
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Redemption:
    order: Order  # credited
    serial: str
    replayed: bool = False  # the answer to a request made before with the same key


@dataclass(frozen=True, slots=True)
class _Target:
    e164: str
    confirm: str | None
    sim_id: int
    currency: str


async def redeem_voucher(
    db: Database,
    *,
    pin: str,
    number: str,
    confirm_number: str | None,
    redeemer: Redeemer,
    key: bytes,
    limits: PinLimits,
    now: datetime,
) -> Redemption:
    """Redeem the voucher whose PIN is ``pin`` for ``number``, at most once ever."""
    digest = pin_digest(key, clean_pin(pin))
    target = await db.transaction(
        lambda conn: _target(conn, number, confirm_number, redeemer.subscriber_id)
    )
    replay = await db.transaction(lambda conn: _replay(conn, redeemer, digest))
    if replay is not None:
        return replay
    windows = await db.transaction(lambda conn: _take_attempts(conn, target, redeemer, limits, now))
    over = [window for window, limit in windows if window.attempts > limit]
    if over:
        raise TooManyAttempts("too many PINs were tried: try again later", over[0].ends_at)
    taken = [window for window, _ in windows]
    try:
        return await db.transaction(
            lambda conn: _redeem(conn, digest, target, redeemer, taken, now)
        )
    except PinRefused:  # a twin request with the same key may have redeemed it just now
        replay = await db.transaction(lambda conn: _replay(conn, redeemer, digest))
        if replay is None:
            raise
        return replay


async def _target(
    conn: AsyncConnection, number: str, confirm: str | None, subscriber_id: int | None
) -> _Target:
    """The number's SIM, past the wrong-number guard."""
    preview = await topups.preview_number(conn, subscriber_id=subscriber_id, number=number)
    confirmed = parse_number(confirm).e164 if confirm else None
    if preview.must_confirm and confirmed != preview.e164:
        raise ConfirmNumber("you have not topped up this number before: type it again")
    sim = await sims.find_by_number(conn, number=preview.e164)
    assert sim is not None  # the guard refuses an unknown number
    return _Target(preview.e164, confirmed, sim.id, preview.home_currency)


async def _replay(conn: AsyncConnection, redeemer: Redeemer, digest: str) -> Redemption | None:
    """The redemption made before with this request's key, if any; a conflict if that one
    redeemed another PIN."""
    if redeemer.subscriber_id is None or redeemer.idempotency_key is None:
        return None
    earlier = await topups.by_idempotency_key(
        conn, subscriber_id=redeemer.subscriber_id, key=redeemer.idempotency_key
    )
    if earlier is None:
        return None
    order = earlier[0]
    row = (
        await conn.execute(select(v.serial, v.pin_digest).where(v.order_no == order.order_no))
    ).first()
    if row is None or row.pin_digest != digest:
        raise IdempotencyConflict("this Idempotency-Key was used for another redemption")
    return Redemption(order, row.serial, replayed=True)


async def _take_attempts(
    conn: AsyncConnection,
    target: _Target,
    redeemer: Redeemer,
    limits: PinLimits,
    now: datetime,
) -> list[tuple[statements.Window, int]]:
    """Count the attempt per address, account and number, up to the first over its limit."""
    counters = [
        (Scope.ADDRESS, redeemer.address[:MAX_ADDRESS], limits.per_address, limits.address_window)
    ]
    if redeemer.subscriber_id is not None:
        counters.append(
            (Scope.ACCOUNT, str(redeemer.subscriber_id), limits.per_account, limits.account_window)
        )
    counters.append((Scope.NUMBER, f"sim:{target.sim_id}", limits.per_number, limits.number_window))
    taken = []
    for scope, key, limit, length in counters:
        window = await statements.take_attempt(conn, scope=scope, key=key, window=length, now=now)
        taken.append((window, limit))
        if window.attempts > limit:
            break
    return taken


async def _redeem(
    conn: AsyncConnection,
    digest: str,
    target: _Target,
    redeemer: Redeemer,
    taken: list[statements.Window],
    now: datetime,
) -> Redemption:
    live = v.pin_digest == digest, v.state == VoucherState.SOLD.value, v.expires_at > now
    row = (await conn.execute(select(v.serial, v.face_minor, v.currency).where(*live))).first()
    if row is None:
        raise PinRefused("this PIN cannot be used", field="pin")
    face = Money(int(row.face_minor), row.currency)
    if face.currency != target.currency:
        raise WrongCurrency(
            f"this voucher is in {face.currency}; this number's SIM is topped up in "
            f"{target.currency}",
            field="pin",
        )
    draft = await _draft(conn, target, redeemer, face, now)
    moved = await conn.execute(
        update(t.vouchers)
        .where(*live)
        .values(state=VoucherState.REDEEMED.value, redeemed_at=now, order_no=draft.order.order_no)
        .returning(v.id)
    )
    if moved.first() is None:
        raise PinRefused("this PIN cannot be used", field="pin")
    order = await _credit(conn, draft, row.serial, face, now)
    for window in taken:
        await statements.give_back(conn, window=window)
    return Redemption(order, row.serial)


async def _draft(
    conn: AsyncConnection, target: _Target, redeemer: Redeemer, face: Money, now: datetime
) -> topups.Draft:
    request = OrderRequest(
        subscriber_id=redeemer.subscriber_id,
        idempotency_key=redeemer.idempotency_key,
        number=target.e164,
        confirm_number=target.confirm,
        credit=face,
        pay_currency=face.currency,
        provider=Provider.VOUCHER,
        channel=Channel.VOUCHER,
        via=redeemer.via,
    )
    prepared = await topups.prepare_order(conn, request=request, now=now)
    if isinstance(prepared, Order):  # its key made an order a moment ago: see whose
        raise PinRefused("this PIN cannot be used", field="pin")
    return prepared


async def _credit(
    conn: AsyncConnection, draft: topups.Draft, serial: str, face: Money, now: datetime
) -> Order:
    """Place the drafted order and credit it from the vouchers-outstanding liability."""
    order = await topups.place_order(conn, draft=draft, now=now)
    if order.order_no != draft.order.order_no:  # a twin with its key placed one first
        raise PinRefused("this PIN cannot be used", field="pin")
    code = chart.system_code(System.VOUCHERS_OUTSTANDING, face.currency)
    outstanding = (await ledger.account_ids(conn, codes=[code]))[code]
    credited = await topups.credit_paid_order(
        conn,
        order_no=order.order_no,
        paid=face,
        provider_trade_no=serial,
        now=now,
        provider=Provider.VOUCHER,
        funding=lambda sim: rules.voucher_redemption(
            vouchers_outstanding=outstanding, sim_balance=sim, face_value=face
        ),
    )
    return credited.order
