"""Asking for a top-up's money back (``/topups/{order_no}/refund``), and a paid refund's
receipt (``/refunds/{refund_no}/receipt``, with its PDF).

Design overview
---------------
The page says what can come back now (``refunds.service.preview_refund``: the unused part,
the used bonus deducted, in the currency paid) and asks why; posting it asks for the refund
(``request_refund``) and goes back to the order's page, which lists its refunds and their
states. A wrong-number top-up nobody used is approved at once by the rule; others wait for
staff. A top-up made at an outlet may be asked back by a holder of the SIM it topped up (by
the order number on its receipt), who then sees that order's page as its payer would; its
refund is paid out at the agent's counters. A top-up that cannot be refunded (not credited,
one already asked for, nothing left unused) shows why instead of the form; a refused request
shows the form again with the reason (409), and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response

from simkeep.receipts import refunds as receipts
from simkeep.receipts.refunds import RefundReceipt
from simkeep.refunds import service as refunds
from simkeep.refunds.model import Amounts, Reason, RefundError, UnknownRefund
from simkeep.services import Services, ServicesDep
from simkeep.web.formats import qr_svg
from simkeep.web.forms import FieldError, FormState, read_form, see_other
from simkeep.web.pages import Pages, PagesDep
from simkeep.web.session import SignedIn, SignedInDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
RefundNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9]+$")]


@router.get("/topups/{order_no}/refund")
async def refund_page(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, order_no: str
) -> Response:
    return await _page(request, pages, services, me, order_no, FormState())


@router.post("/topups/{order_no}/refund")
async def ask_refund(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, order_no: str
) -> Response:
    form = await read_form(request, me.viewer)
    try:
        reason = Reason(form.text("reason"))
    except ValueError:
        form.fail("reason", FieldError("choose_reason"))
        return await _page(request, pages, services, me, order_no, form, status_code=400)
    try:
        refund = await services.db.transaction(
            lambda conn: refunds.request_refund(
                conn,
                order_no=order_no,
                asking=refunds.Asking(me.id),
                reason=reason,
                note=form.text("note"),
                asked=None,
                rule=services.settings.refund_rule,
                now=services.clock.now(),
            )
        )
    except UnknownRefund as error:
        raise HTTPException(404) from error
    except RefundError as error:
        form.fail("refund", error)
        return await _page(request, pages, services, me, order_no, form, status_code=409)
    return see_other(f"/topups/{refund.order_no}", refund=refund.refund_no)


@router.get("/refunds/{refund_no}/receipt")
async def receipt_page(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, refund_no: RefundNo
) -> Response:
    receipt = await _receipt(services, me.id, refund_no)
    context = {"receipt": receipt, "qr": qr_svg(receipt.verify_url, title=receipt.refund_no)}
    return pages.render(request, "receipts/refund.html", context, viewer=me.viewer)


@router.get("/refunds/{refund_no}/receipt.pdf")
async def receipt_pdf(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, refund_no: RefundNo
) -> Response:
    receipt = await _receipt(services, me.id, refund_no)
    pdf = await receipts.refund_receipt_pdf(receipt, language=pages.choose(request).language.code)
    disposition = f'inline; filename="{receipt.refund_no}.pdf"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return Response(pdf, media_type="application/pdf", headers=headers)


async def _receipt(services: Services, subscriber_id: int, refund_no: str) -> RefundReceipt:
    """The receipt of one of the subscriber's paid refunds; 404 for any other."""
    receipt = await receipts.refund_receipt(
        services.db, refund_no=refund_no, subscriber_id=subscriber_id, signing=services.receipts
    )
    if receipt is None:
        raise HTTPException(404)
    return receipt


async def _page(
    request: Request,
    pages: Pages,
    services: Services,
    me: SignedIn,
    order_no: str,
    form: FormState,
    *,
    status_code: int = 200,
) -> Response:
    amounts: Amounts | None = None
    refusal: RefundError | None = None
    try:
        amounts = await services.db.transaction(
            lambda conn: refunds.preview_refund(
                conn, order_no=order_no, asking=refunds.Asking(me.id), now=services.clock.now()
            )
        )
    except UnknownRefund as error:
        raise HTTPException(404) from error
    except RefundError as error:
        refusal = error
    context = {
        "order_no": order_no.strip().upper(),
        "amounts": amounts,
        "refusal": refusal,
        "form": form,
        "reasons": list(Reason),
    }
    return pages.render(
        request, "topups/refund.html", context, status_code=status_code, viewer=me.viewer
    )
