"""Receipt use cases: the receipt of a credited order (for its owner), the public check of a
receipt by its signed link, and the PDF.

Design overview
---------------
A receipt exists once an order is credited: its number was issued in the crediting
transaction, and everything printed on it comes from the order (amounts, locked rate,
provider trade number, the validity it gave), the promotions it was granted, and the SIM
(masked holder, plan). The owner
reads it by order number; anyone holding the printed QR code reads a masked summary through
``/r/{receipt_no}/{signature}``, where a wrong signature and an unknown receipt look alike.
Rendering a PDF reads a large font file, so it runs in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import run_in_threadpool

from simkeep.db import Database
from simkeep.i18n import translations
from simkeep.phone import parse_number
from simkeep.promotions import service as promotions
from simkeep.receipts.model import (
    ReceiptView,
    receipt_signature,
    signature_matches,
    verification_path,
)
from simkeep.receipts.pdf import render_pdf
from simkeep.sims import service as sims
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderState


@dataclass(frozen=True, slots=True)
class ReceiptSigning:
    """How this server signs receipt links: its key, and where the links point."""

    key: bytes
    public_url: str

    def verify_url(self, receipt_no: str) -> str:
        path = verification_path(receipt_no, receipt_signature(self.key, receipt_no))
        return f"{self.public_url.rstrip('/')}{path}"


@dataclass(frozen=True, slots=True)
class Receipt:
    view: ReceiptView
    verify_url: str  # absolute: printed as a QR code
    state: OrderState  # credited, or refunded (in part) since
    masked_number: str  # for the public check: ``+852 9***4567``


async def receipt_for_order(
    db: Database, *, order_no: str, subscriber_id: int, signing: ReceiptSigning
) -> Receipt | None:
    """The receipt of one of the subscriber's credited orders; None otherwise."""

    async def read(conn: AsyncConnection) -> Receipt | None:
        order = await topups.get_order(conn, order_no=order_no, subscriber_id=subscriber_id)
        return await _receipt(conn, order, signing)

    return await db.transaction(read)


async def verify_receipt(
    db: Database, *, receipt_no: str, signature: str, signing: ReceiptSigning
) -> Receipt | None:
    """The receipt a signed link points to; None when the link is not genuine."""
    if not signature_matches(signing.key, receipt_no, signature):
        return None

    async def read(conn: AsyncConnection) -> Receipt | None:
        order = await topups.get_order_by_receipt(conn, receipt_no=receipt_no)
        return await _receipt(conn, order, signing)

    return await db.transaction(read)


async def receipt_pdf(receipt: Receipt, *, language: str) -> bytes:
    """The receipt as a PDF in ``language``."""
    return await run_in_threadpool(
        render_pdf,
        receipt.view,
        language=language,
        verify_url=receipt.verify_url,
        translations=translations(language),
    )


async def _receipt(
    conn: AsyncConnection, order: Order | None, signing: ReceiptSigning
) -> Receipt | None:
    if order is None or order.receipt_no is None or order.credited_at is None:
        return None
    sim = await sims.get_sim(conn, sim_id=order.sim_id)
    assert sim is not None  # an order's sim_id references its SIM
    view = ReceiptView(
        receipt_no=order.receipt_no,
        order_no=order.order_no,
        credited_at=order.credited_at,
        msisdn=order.msisdn,
        holder_masked=sim.holder_masked,
        plan=await sims.plan_of_sim(conn, sim_id=sim.id),
        credit=order.credit,
        pay=order.pay,
        fx_rate=order.fx_rate,
        provider=order.provider,
        provider_trade_no=order.provider_trade_no or "",
        validity_until=order.validity_until,
        promotions=tuple(await promotions.held_by_order(conn, order_no=order.order_no)),
    )
    masked = parse_number(order.msisdn).masked()
    return Receipt(view, signing.verify_url(order.receipt_no), order.state, masked)
