"""Outlet sales as rows: what a sale is, how it is written and read back.

Design overview
---------------
``Sale`` is one row of ``outlet_sales``: a top-up (its order's number and receipt number)
or vouchers (a receipt number of its own), with the payment, the amount, the commission it
earned and the idempotency key's request fingerprint. ``Till.row`` is the row a new sale
writes; the readers find a sale by its outlet and key (a retry), by id, by receipt number,
by order, or every sale of a shift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import tables as t
from simkeep.counter.model import Payer, Payment, SaleKind
from simkeep.counter.shifts import Place
from simkeep.money import Money

c = t.sales.c


@dataclass(frozen=True, slots=True)
class Sale:
    id: int
    receipt_no: str
    shift_id: int
    outlet_id: int
    agent_id: int
    clerk_id: int
    device_id: int | None
    kind: SaleKind
    order_no: str | None  # a top-up's order
    amount: Money
    payer: Payer
    commission: Money
    created_at: datetime
    request_hash: str
    replayed: bool = False  # the answer to a retry: this sale was made before

    @classmethod
    def of_row(cls, row: Any) -> Sale:
        currency = row["currency"]
        return cls(
            id=row["id"],
            receipt_no=row["receipt_no"],
            shift_id=row["shift_id"],
            outlet_id=row["outlet_id"],
            agent_id=row["agent_id"],
            clerk_id=row["clerk_id"],
            device_id=row["device_id"],
            kind=SaleKind(row["kind"]),
            order_no=row["order_no"],
            amount=Money(row["amount_minor"], currency),
            payer=Payer(Payment(row["payment"]), row["terminal_ref"]),
            commission=Money(row["commission_minor"], currency),
            created_at=row["created_at"],
            request_hash=row["request_hash"],
        )


@dataclass(frozen=True, slots=True)
class Till:
    """Who sells where, with which idempotency key and device, and when: what every row of a
    sale at this counter repeats."""

    place: Place
    key: str
    device_id: int | None
    now: datetime

    def row(
        self,
        *,
        kind: SaleKind,
        receipt_no: str,
        order_no: str | None,
        shift_id: int,
        fingerprint: str,
        amount: Money,
        payer: Payer,
        commission: Money,
    ) -> dict[str, object]:
        """The row of a new sale."""
        return {
            "receipt_no": receipt_no,
            "shift_id": shift_id,
            "outlet_id": self.place.outlet_id,
            "agent_id": self.place.agent_id,
            "clerk_id": self.place.clerk_id,
            "device_id": self.device_id,
            "kind": kind.value,
            "order_no": order_no,
            "idempotency_key": self.key,
            "request_hash": fingerprint,
            "amount_minor": amount.minor,
            "currency": amount.currency,
            "payment": payer.payment.value,
            "terminal_ref": payer.terminal_ref,
            "commission_minor": commission.minor,
            "created_at": self.now,
        }


async def sale_by_key(conn: AsyncConnection, *, outlet_id: int, key: str) -> Sale | None:
    """The outlet's sale made with this idempotency key, if any."""
    return await _one(conn, c.outlet_id == outlet_id, c.idempotency_key == key)


async def get_sale(conn: AsyncConnection, *, sale_id: int) -> Sale | None:
    return await _one(conn, c.id == sale_id)


async def sale_by_receipt(conn: AsyncConnection, *, receipt_no: str) -> Sale | None:
    return await _one(conn, c.receipt_no == receipt_no)


async def sale_of_order(conn: AsyncConnection, *, order_no: str) -> Sale | None:
    """The counter sale a top-up order was made by, if it was."""
    return await _one(conn, c.order_no == order_no)


async def sales_of_shift(conn: AsyncConnection, *, shift_id: int) -> list[Sale]:
    """A shift's sales, oldest first."""
    rows = await conn.execute(select(t.sales).where(c.shift_id == shift_id).order_by(c.id))
    return [Sale.of_row(row) for row in rows.mappings()]


async def _one(conn: AsyncConnection, *where: Any) -> Sale | None:
    row = (await conn.execute(select(t.sales).where(*where))).mappings().first()
    return None if row is None else Sale.of_row(row)
