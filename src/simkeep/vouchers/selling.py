"""Selling vouchers at an outlet's counter: the quote, the sale, the receipt's list.

Design overview
---------------
The POS calls these inside its own sale's transaction. ``quote_sale`` reads what the
vouchers are worth and refuses any that cannot be sold. ``sell`` moves them all
``generated → sold`` with one conditional update; if it moved fewer than asked (another
counter sold one a moment ago, it expired, it was blocked) it raises and the caller's
transaction rolls back, so a sale is all its vouchers or none. In the same transaction the
journal ``voucher_sale:<sale_id>`` takes the face value from the agent's float into the
vouchers-outstanding liability and accrues the agent's commission (the accounts:
``outlets.floats.float_accounts``). A float that cannot pay raises the ledger's
``InsufficientFunds``; the caller's transaction then rolls back, as for any refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.outlets import floats
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import (
    MixedCurrencies,
    SoldVoucher,
    UnknownVoucher,
    VoucherError,
    VoucherExpired,
    VoucherNotForSale,
    VoucherState,
    check_serials,
)

v = t.vouchers.c


async def quote_sale(conn: AsyncConnection, *, serials: Sequence[str], now: datetime) -> Money:
    """The total face value of these vouchers, refused unless every one can be sold now."""
    wanted = check_serials(list(serials))
    rows = (
        (
            await conn.execute(
                select(v.serial, v.face_minor, v.currency, v.state, v.expires_at).where(
                    v.serial.in_(wanted)
                )
            )
        )
        .mappings()
        .all()
    )
    found = {row["serial"]: row for row in rows}
    for serial in wanted:
        _check_sellable(serial, found.get(serial), now)
    return _total([found[serial] for serial in wanted])


def _check_sellable(serial: str, row: RowMapping | None, now: datetime) -> None:
    if row is None:
        raise UnknownVoucher(f"no voucher {serial}", field="serials")
    if row["state"] == VoucherState.EXPIRED or (
        row["state"] == VoucherState.GENERATED and row["expires_at"] <= now
    ):
        raise VoucherExpired(f"voucher {serial} has expired", field="serials")
    if row["state"] != VoucherState.GENERATED:
        raise VoucherNotForSale(f"voucher {serial} is {row['state']}", field="serials")


def _total(rows: Sequence[RowMapping]) -> Money:
    currencies = {row["currency"] for row in rows}
    if len(currencies) != 1:
        raise MixedCurrencies("one sale takes vouchers of one currency", field="serials")
    return Money(sum(int(row["face_minor"]) for row in rows), currencies.pop())


async def sell(
    conn: AsyncConnection,
    *,
    serials: Sequence[str],
    sale_id: int,
    agent_id: int,
    commission: Money,
    now: datetime,
) -> list[SoldVoucher]:
    """Sell these vouchers in sale ``sale_id``: all of them or none (raise, roll back)."""
    wanted = check_serials(list(serials))
    moved = (
        (
            await conn.execute(
                update(t.vouchers)
                .where(
                    v.serial.in_(wanted),
                    v.state == VoucherState.GENERATED.value,
                    v.expires_at > now,
                )
                .values(state=VoucherState.SOLD.value, sold_at=now, sale_id=sale_id)
                .returning(v.serial, v.face_minor, v.currency, v.expires_at)
            )
        )
        .mappings()
        .all()
    )
    if len(moved) != len(wanted):
        taken = {row["serial"] for row in moved}
        await quote_sale(conn, serials=[s for s in wanted if s not in taken], now=now)
        raise VoucherNotForSale("a voucher of this sale cannot be sold", field="serials")
    face = _total(moved)
    if commission.currency != face.currency or not 0 <= commission.minor <= face.minor:
        raise VoucherError("the commission must be in the vouchers' currency, at most their value")
    await _post_sale(conn, sale_id, agent_id, face, commission, now)
    order = {serial: place for place, serial in enumerate(wanted)}
    return sorted((_sold(row) for row in moved), key=lambda sold: order[sold.serial])


async def _post_sale(
    conn: AsyncConnection,
    sale_id: int,
    agent_id: int,
    face: Money,
    commission: Money,
    now: datetime,
) -> None:
    agent = await floats.float_accounts(conn, agent_id=agent_id, currency=face.currency, now=now)
    codes = [
        chart.system_code(System.VOUCHERS_OUTSTANDING, face.currency),
        chart.system_code(System.COMMISSION_EXPENSE, face.currency),
    ]
    ids = await ledger.account_ids(conn, codes=codes)
    await ledger.post_journal(
        conn,
        client_id=f"voucher_sale:{sale_id}",
        postings=rules.voucher_sale(
            agent_float=agent.float_id,
            vouchers_outstanding=ids[codes[0]],
            commission_expense=ids[codes[1]],
            commission_payable=agent.commission_id,
            face_value=face,
            commission=commission,
        ),
        now=now,
        description=f"Vouchers sold, outlet sale {sale_id}",
        metadata={"sale_id": str(sale_id)},
    )


async def vouchers_of_sale(conn: AsyncConnection, *, sale_id: int) -> list[SoldVoucher]:
    """The vouchers sale ``sale_id`` sold, in serial order (for its receipt)."""
    rows = (
        (
            await conn.execute(
                select(v.serial, v.face_minor, v.currency, v.expires_at)
                .where(v.sale_id == sale_id)
                .order_by(v.serial)
            )
        )
        .mappings()
        .all()
    )
    return [_sold(row) for row in rows]


def _sold(row: RowMapping) -> SoldVoucher:
    return SoldVoucher(
        serial=row["serial"],
        face=Money(int(row["face_minor"]), row["currency"]),
        expires_at=row["expires_at"],
    )
