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

A top-up made at a counter has no subscriber: its receipt is read through the sale
(``receipt_for_sale``, by whoever may read the sale's papers: ``counter.service.sale_for``)
and prints the outlet, the clerk and the payment besides. Vouchers sold at a counter have a
receipt of their own (``receipts.sales``), verified by the same signed link
(``verify_sale_receipt``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import run_in_threadpool

from simkeep.counter import service as counter
from simkeep.counter.service import SalePapers
from simkeep.db import Database
from simkeep.i18n import translations
from simkeep.payment_methods import Provider
from simkeep.phone import parse_number
from simkeep.promotions import service as promotions
from simkeep.receipts.model import (
    CounterSale,
    ReceiptView,
    receipt_signature,
    signature_matches,
    verification_path,
)
from simkeep.receipts.pdf import render_pdf
from simkeep.receipts.sales import (
    SaleReceipt,
    counter_sale,
    sale_receipt_pdf,
    voucher_receipt,
    z_report_pdf,
)
from simkeep.sims import service as sims
from simkeep.staff.service import StaffMember
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderState

__all__ = [
    "Receipt",
    "ReceiptSigning",
    "SaleReceipt",
    "receipt_for_order",
    "receipt_for_sale",
    "receipt_pdf",
    "sale_receipt_pdf",
    "verify_receipt",
    "verify_sale_receipt",
    "z_report_pdf",
]


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


async def receipt_for_sale(
    db: Database, *, sale_id: int, viewer: StaffMember, signing: ReceiptSigning
) -> Receipt | SaleReceipt | None:
    """The receipt of a counter sale — a top-up's or a voucher sale's — if ``viewer`` may
    read it."""
    papers = await counter.sale_for(db, sale_id=sale_id, viewer=viewer)
    if papers is None:
        return None
    return await db.transaction(lambda conn: _sale_receipt(conn, papers, signing))


async def verify_sale_receipt(
    db: Database, *, receipt_no: str, signature: str, signing: ReceiptSigning
) -> SaleReceipt | None:
    """The voucher sale a signed link points to; None when the link is not genuine."""
    if not signature_matches(signing.key, receipt_no, signature):
        return None

    async def read(conn: AsyncConnection) -> SaleReceipt | None:
        papers = await counter.papers_of(conn, receipt_no=receipt_no)
        if papers is None or papers.sale.order_no is not None:
            return None
        return await voucher_receipt(conn, papers, signing.verify_url(receipt_no))

    return await db.transaction(read)


async def _sale_receipt(
    conn: AsyncConnection, papers: SalePapers, signing: ReceiptSigning
) -> Receipt | SaleReceipt | None:
    if papers.sale.order_no is None:
        return await voucher_receipt(conn, papers, signing.verify_url(papers.sale.receipt_no))
    order = await topups.get_order(conn, order_no=papers.sale.order_no)
    return await _receipt(conn, order, signing)


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
        counter=await _counter(conn, order),
    )
    masked = parse_number(order.msisdn).masked()
    return Receipt(view, signing.verify_url(order.receipt_no), order.state, masked)


async def _counter(conn: AsyncConnection, order: Order) -> CounterSale | None:
    """Where and how an order paid at a counter was paid; None for any other order."""
    if order.provider is not Provider.OUTLET:
        return None
    papers = await counter.papers_of(conn, order_no=order.order_no)
    return None if papers is None else counter_sale(papers)
