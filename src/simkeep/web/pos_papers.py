"""The counter's papers as pages: a sale's receipt (``/pos/sales/{id}``, with its PDF), a
shift's Z-report (``/pos/shifts/{id}/z-report``, with its PDF), and whether the sale sent
with a key went through (``/pos/sales?key=…``).

Design overview
---------------
A receipt page is laid out for the 80 mm roll when printed (``@media print`` in
``pos.css``) with a Print button (``pos.js``), the PDF, and the QR code of the signed
verification link. The Z-report lists the shift's sales with totals by kind and payment
type and the close's figures. Both are read by whoever the counter's service lets read
them — the clerk, the outlet's agent, the operator's staff — and are 404 for anyone else.
``/pos/sales?key=…`` answers the POS's script in JSON (``{"found": …}``) and a person with a
page: done, with the receipt, or NOT done.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from simkeep.counter import service as counter
from simkeep.counter.service import ShiftReport
from simkeep.receipts import service as receipts
from simkeep.receipts.service import Receipt, SaleReceipt
from simkeep.services import Services, ServicesDep
from simkeep.web.formats import qr_svg
from simkeep.web.pages import PagesDep, RowId
from simkeep.web.pos_session import ClerkDep, PaperReaderDep, pos_page
from simkeep.web.staff_session import SignedInStaff

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/pos/sales")
async def sale_by_key(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    clerk: ClerkDep,
    key: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    sale = await counter.find_sale(services.db, clerk=clerk.member, key=key) if key else None
    if "application/json" in request.headers.get("accept", ""):
        if sale is None:
            return JSONResponse({"found": False}, status_code=404)
        url = f"/pos/sales/{sale.id}"
        return JSONResponse({"found": True, "receipt_no": sale.receipt_no, "url": url})
    status = 200 if sale is not None else 404
    return pos_page(
        pages, request, "pos/sale_status.html", clerk, {"sale": sale}, status_code=status
    )


@router.get("/pos/sales/{sale_id}")
async def sale_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: PaperReaderDep, sale_id: RowId
) -> Response:
    receipt = await _receipt(services, staff, sale_id)
    context = {
        "receipt": receipt,
        "vouchers": isinstance(receipt, SaleReceipt),
        "sale_id": sale_id,
        "new": request.query_params.get("new") == "1",
        "qr": qr_svg(receipt.verify_url, title=receipt.view.receipt_no),
    }
    return pos_page(pages, request, "pos/sale.html", staff, context)


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


async def _receipt(services: Services, staff: SignedInStaff, sale_id: int) -> Receipt | SaleReceipt:
    receipt = await receipts.receipt_for_sale(
        services.db, sale_id=sale_id, viewer=staff.member, signing=services.receipts
    )
    if receipt is None:
        raise HTTPException(404)
    return receipt


async def _report(services: Services, staff: SignedInStaff, shift_id: int) -> ShiftReport:
    report = await counter.shift_report(services.db, shift_id=shift_id, viewer=staff.member)
    if report is None:
        raise HTTPException(404)
    return report


def _pdf(pdf: bytes, name: str) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{name}.pdf"', "Cache-Control": "no-store"}
    return Response(pdf, media_type="application/pdf", headers=headers)
