"""Asking for a top-up's money back: ``/topups/{order_no}/refund``.

Design overview
---------------
The page says what can come back now (``refunds.service.preview_refund``: the unused part,
the used bonus deducted, in the currency paid) and asks why; posting it asks for the refund
(``request_refund``) and goes back to the order's page, which lists its refunds and their
states. A wrong-number top-up nobody used is approved at once by the rule; others wait for
staff. A top-up that cannot be refunded (not credited, one already asked for, nothing left
unused, paid at an outlet) shows why instead of the form; a refused request shows the form
again with the reason (409), and changes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from simkeep.refunds import service as refunds
from simkeep.refunds.model import Amounts, Reason, RefundError, UnknownRefund
from simkeep.services import Services, ServicesDep
from simkeep.web.forms import FieldError, FormState, read_form, see_other
from simkeep.web.pages import Pages, PagesDep
from simkeep.web.session import SignedIn, SignedInDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


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
