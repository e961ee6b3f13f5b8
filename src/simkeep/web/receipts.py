"""Receipts as pages: the owner's receipt (``/topups/{order_no}/receipt``) with its PDF, and
the public check behind the receipt's QR code (``/r/{receipt_no}/{signature}``).

Design overview
---------------
Everything comes from ``receipts.service``: the owner's page and PDF show the whole receipt
(only for an order they placed and that was credited; any other is a 404), the public page
shows a masked summary to anyone holding a genuine link — of a top-up (with the outlet, if
made at a counter), of the vouchers a counter sold, or of a paid refund — and the same
"not genuine" page for a forged signature or an unknown receipt, so the page cannot be used
to guess receipts.
The PDF is in the visitor's language, like the page.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from simkeep.receipts import refunds as refund_receipts
from simkeep.receipts import service as receipts
from simkeep.receipts.service import Receipt
from simkeep.services import Services, ServicesDep
from simkeep.web.formats import qr_svg
from simkeep.web.pages import PagesDep
from simkeep.web.session import SignedInDep, ViewerDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/topups/{order_no}/receipt")
async def receipt_page(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, order_no: str
) -> HTMLResponse:
    receipt = await _owned(services, me.id, order_no)
    context = {
        "receipt": receipt,
        "qr": qr_svg(receipt.verify_url, title=receipt.view.receipt_no),
    }
    return pages.render(request, "receipts/receipt.html", context, viewer=me.viewer)


@router.get("/topups/{order_no}/receipt.pdf")
async def receipt_pdf(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, order_no: str
) -> Response:
    receipt = await _owned(services, me.id, order_no)
    language = pages.choose(request).language.code
    pdf = await receipts.receipt_pdf(receipt, language=language)
    disposition = f'inline; filename="{receipt.view.receipt_no}.pdf"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get("/r/{receipt_no}/{signature}")
async def verify_page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    viewer: ViewerDep,
    receipt_no: str,
    signature: str,
) -> HTMLResponse:
    receipt = await receipts.verify_receipt(
        services.db,
        receipt_no=receipt_no,
        signature=signature,
        signing=services.receipts,
    )
    sold = None
    if receipt is None:  # vouchers sold at a counter: a receipt of their own
        sold = await receipts.verify_sale_receipt(
            services.db, receipt_no=receipt_no, signature=signature, signing=services.receipts
        )
    refund = None
    if receipt is None and sold is None:  # a paid refund's receipt
        refund = await refund_receipts.verify_refund_receipt(
            services.db, refund_no=receipt_no, signature=signature, signing=services.receipts
        )
    status = 404 if receipt is None and sold is None and refund is None else 200
    context = {"receipt": receipt, "sold": sold, "refund": refund, "receipt_no": receipt_no[:40]}
    return pages.render(request, "receipts/verify.html", context, status_code=status, viewer=viewer)


async def _owned(services: Services, subscriber_id: int, order_no: str) -> Receipt:
    receipt = await receipts.receipt_for_order(
        services.db,
        order_no=order_no,
        subscriber_id=subscriber_id,
        signing=services.receipts,
    )
    if receipt is None:
        raise HTTPException(404)
    return receipt
