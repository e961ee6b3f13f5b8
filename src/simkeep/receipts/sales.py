"""The receipts of sales at a counter: what a top-up's receipt adds, and the receipt of
vouchers sold; the PDFs of those and of a shift's Z-report.

Design overview
---------------
Everything comes from ``counter.service`` (the sale, its outlet, the clerk's name) and, for
vouchers, ``vouchers.service.vouchers_of_sale``. A top-up's receipt stays the order's
(``receipts.service``) with ``counter_sale`` added; a voucher sale's receipt is built here.
The PDFs are drawn in a worker thread (the font file is large), as a top-up's are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import run_in_threadpool

from simkeep.counter.service import SalePapers, ShiftReport
from simkeep.i18n import translations
from simkeep.receipts.counter_pdf import render_voucher_pdf, render_z_report_pdf
from simkeep.receipts.model import CounterSale, VoucherLine, VoucherReceiptView
from simkeep.vouchers import service as vouchers


@dataclass(frozen=True, slots=True)
class SaleReceipt:
    """The receipt of vouchers sold at a counter."""

    view: VoucherReceiptView
    verify_url: str  # absolute: printed as a QR code
    sale_id: int


def counter_sale(papers: SalePapers) -> CounterSale:
    """Where and how a counter sale was paid, as receipts print it."""
    payer = papers.sale.payer
    return CounterSale(
        papers.outlet.names, papers.clerk_name, payer.payment.value, payer.terminal_ref
    )


async def voucher_receipt(
    conn: AsyncConnection, papers: SalePapers, verify_url: str
) -> SaleReceipt:
    """The receipt of a voucher sale, listing its vouchers."""
    sold = await vouchers.vouchers_of_sale(conn, sale_id=papers.sale.id)
    view = VoucherReceiptView(
        receipt_no=papers.sale.receipt_no,
        sold_at=papers.sale.created_at,
        counter=counter_sale(papers),
        vouchers=tuple(VoucherLine(v.serial, v.face, v.expires_at) for v in sold),
        total=papers.sale.amount,
    )
    return SaleReceipt(view, verify_url, papers.sale.id)


async def sale_receipt_pdf(receipt: SaleReceipt, *, language: str) -> bytes:
    """A voucher sale's receipt as a PDF in ``language``."""
    return await run_in_threadpool(
        render_voucher_pdf,
        receipt.view,
        language=language,
        verify_url=receipt.verify_url,
        translations=translations(language),
    )


async def z_report_pdf(report: ShiftReport, *, language: str) -> bytes:
    """A shift's Z-report as a PDF in ``language``."""
    return await run_in_threadpool(
        render_z_report_pdf, report, language=language, translations=translations(language)
    )
