"""The counter's papers as pages: a sale's receipt (``/pos/sales/{id}``, with its PDF), a
refund's (``/pos/refunds/{no}``, with its PDF), a shift's Z-report
(``/pos/shifts/{id}/z-report``, with its PDF), and whether the sale, refund or payout sent
with a key went through (``/pos/sales?key=…``, ``/pos/refunds?key=…``).

Design overview
---------------
A receipt page is laid out for the 80 mm roll when printed (``@media print`` in
``pos.css``) with a Print button (``pos.js``), the PDF, and the QR code of the signed
verification link. The Z-report lists the shift's sales with totals by kind and payment
type and the close's figures. All are read by whoever the counter's service lets read
them — the clerk, the outlet's agent, the operator's staff (``refunds.counter_papers`` for
a refund's) — and are 404 for anyone else. The questions by key answer the POS's script in
JSON (``{"found": …}``) and a person with a page: done, with the receipt, or NOT done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from simkeep.counter import service as counter
from simkeep.counter.service import ShiftReport
from simkeep.receipts import service as receipts
from simkeep.receipts.model import receipt_signature
from simkeep.receipts.refunds import RefundReceipt, refund_receipt_pdf, verify_refund_receipt
from simkeep.receipts.service import Receipt, SaleReceipt
from simkeep.refunds import counter_papers
from simkeep.refunds.counter_papers import RefundPapers
from simkeep.services import Services, ServicesDep
from simkeep.web.formats import qr_svg
from simkeep.web.pages import Pages, PagesDep, RowId
from simkeep.web.pos_answers import Paper, wants_json
from simkeep.web.pos_session import ClerkDep, PaperReaderDep, RefundNo, pos_page
from simkeep.web.staff_session import SignedInStaff

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
T = TypeVar("T")
Key = Annotated[str, Query(max_length=128)]


@router.get("/pos/sales")
async def sale_by_key(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep, key: Key = ""
) -> Response:
    sale = await counter.find_sale(services.db, clerk=clerk.member, key=key) if key else None
    paper = Paper.of_sale(sale) if sale is not None else None
    return _by_key(request, pages, clerk, paper, "pos/sale_status.html", {"sale": sale})


@router.get("/pos/refunds")
async def refund_by_key(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep, key: Key = ""
) -> Response:
    found = (
        await counter_papers.refund_by_key(services.db, clerk=clerk.member, key=key)
        if key
        else None
    )
    paper = Paper.of_refund(found) if found is not None else None
    return _by_key(request, pages, clerk, paper, "pos/refund_status.html", {"refund": found})


@router.get("/pos/sales/{sale_id}")
async def sale_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: PaperReaderDep, sale_id: RowId
) -> Response:
    receipt = await _receipt(services, staff, sale_id)
    context = {"receipt": receipt, "vouchers": isinstance(receipt, SaleReceipt), "sale_id": sale_id}
    number, verify_url = receipt.view.receipt_no, receipt.verify_url
    return _paper_page(
        request, pages, staff, "pos/sale.html", context, number=number, verify_url=verify_url
    )


@router.get("/pos/sales/{sale_id}/receipt.pdf")
async def sale_pdf(
    request: Request, pages: PagesDep, services: ServicesDep, staff: PaperReaderDep, sale_id: RowId
) -> Response:
    receipt = await _receipt(services, staff, sale_id)
    language = pages.choose(request).language.code
    if isinstance(receipt, SaleReceipt):
        pdf = await receipts.sale_receipt_pdf(receipt, language=language)
    else:
        pdf = await receipts.receipt_pdf(receipt, language=language)
    return _pdf(pdf, receipt.view.receipt_no)


@router.get("/pos/refunds/{refund_no}")
async def refund_paper(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: PaperReaderDep,
    refund_no: RefundNo,
) -> Response:
    papers = await _refund_papers(services, staff, refund_no)
    verify_url = services.receipts.verify_url(refund_no)
    context = {"papers": papers, "verify_url": verify_url}
    return _paper_page(
        request,
        pages,
        staff,
        "pos/refund_receipt.html",
        context,
        number=refund_no,
        verify_url=verify_url,
    )


@router.get("/pos/refunds/{refund_no}/receipt.pdf")
async def refund_pdf(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: PaperReaderDep,
    refund_no: RefundNo,
) -> Response:
    await _refund_papers(services, staff, refund_no)
    receipt = await _refund_receipt(services, refund_no)
    pdf = await refund_receipt_pdf(receipt, language=pages.choose(request).language.code)
    return _pdf(pdf, refund_no)


@router.get("/pos/shifts/{shift_id}/z-report")
async def z_report_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: PaperReaderDep, shift_id: RowId
) -> Response:
    report = await _report(services, staff, shift_id)
    return pos_page(pages, request, "pos/z_report.html", staff, {"report": report})


@router.get("/pos/shifts/{shift_id}/z-report.pdf")
async def z_report_pdf(
    request: Request, pages: PagesDep, services: ServicesDep, staff: PaperReaderDep, shift_id: RowId
) -> Response:
    report = await _report(services, staff, shift_id)
    language = pages.choose(request).language.code
    return _pdf(await receipts.z_report_pdf(report, language=language), f"z-report-{shift_id}")


def _by_key(
    request: Request,
    pages: Pages,
    clerk: SignedInStaff,
    paper: Paper | None,
    template: str,
    context: Mapping[str, Any],
) -> Response:
    """Whether what was sent with a key went through: JSON for the POS script, a page (done,
    or NOT done) for a person."""
    if wants_json(request):
        if paper is None:
            return JSONResponse({"found": False}, status_code=404)
        return JSONResponse({"found": True, "receipt_no": paper.number, "url": paper.url})
    status = 200 if paper is not None else 404
    return pos_page(pages, request, template, clerk, context, status_code=status)


def _paper_page(
    request: Request,
    pages: Pages,
    staff: SignedInStaff,
    template: str,
    context: Mapping[str, Any],
    *,
    number: str,
    verify_url: str,
) -> Response:
    """Paper ``number``'s page: the QR code of its ``verify_url``, and "done" just after it
    was made."""
    shown = {
        **context,
        "new": request.query_params.get("new") == "1",
        "qr": qr_svg(verify_url, title=number),
    }
    return pos_page(pages, request, template, staff, shown)


async def _receipt(services: Services, staff: SignedInStaff, sale_id: int) -> Receipt | SaleReceipt:
    receipt = await receipts.receipt_for_sale(
        services.db, sale_id=sale_id, viewer=staff.member, signing=services.receipts
    )
    if receipt is None:  # a union: ``_readable`` would widen it to ``object``
        raise HTTPException(404)
    return receipt


async def _refund_papers(services: Services, staff: SignedInStaff, refund_no: str) -> RefundPapers:
    return _readable(
        await counter_papers.papers(services.db, refund_no=refund_no, viewer=staff.member)
    )


async def _refund_receipt(services: Services, refund_no: str) -> RefundReceipt:
    """The refund's receipt as its public check reads it (the link this server signs)."""
    signing = services.receipts
    signature = receipt_signature(signing.key, refund_no)
    return _readable(
        await verify_refund_receipt(
            services.db, refund_no=refund_no, signature=signature, signing=signing
        )
    )


async def _report(services: Services, staff: SignedInStaff, shift_id: int) -> ShiftReport:
    return _readable(
        await counter.shift_report(services.db, shift_id=shift_id, viewer=staff.member)
    )


def _readable(paper: T | None) -> T:
    """A paper the reader may read; anyone else gets 404, as if it did not exist."""
    if paper is None:
        raise HTTPException(404)
    return paper


def _pdf(pdf: bytes, name: str) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{name}.pdf"', "Cache-Control": "no-store"}
    return Response(pdf, media_type="application/pdf", headers=headers)
