"""Redeeming a voucher on the web: ``/vouchers/redeem`` for anyone, signed in or not.

Design overview
---------------
The form takes the PIN (16 digits; spaces and dashes allowed) and the number to credit;
a signed-in subscriber who never topped that number up is asked to type it again
(``confirm_number``, shown once the service asks for it). One call to
``vouchers.service.redeem_voucher`` with the visitor's address, and the account if signed
in (whose limit then applies, and whose language the SMS is in when the number is nobody's
login). A refusal shows the form again, the field marked, the PIN never written back; too
many attempts answer 429 with the time to try again. A redemption answers with a 303 to
``/vouchers/redeemed/{receipt_no}/{signature}``, a page anyone holding the signed link may
read (the receipt's own signature: no guessing), showing what was credited.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from simkeep.errors import Refusal
from simkeep.payment_methods import Provider
from simkeep.promotions.model import SalesChannel
from simkeep.receipts import service as receipts
from simkeep.receipts.model import receipt_signature
from simkeep.services import ServicesDep
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import TooManyAttempts
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import Pages, PagesDep
from simkeep.web.session import Viewer, ViewerDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

# Which field a refusal belongs to, by its code; anything else marks the number.
FIELD_OF = {
    "invalid_pin": "pin",
    "pin_refused": "pin",
    "currency_mismatch": "pin",
    "too_many_attempts": "pin",
    "confirm_number": "confirm_number",
}


@router.get("/vouchers/redeem")
async def redeem_page(request: Request, pages: PagesDep, who: ViewerDep) -> HTMLResponse:
    form = FormState({"number": request.query_params.get("number", "")[:32]})
    return _show(request, pages, who, form)


@router.post("/vouchers/redeem")
async def redeem(
    request: Request, pages: PagesDep, services: ServicesDep, who: ViewerDep
) -> Response:
    form = await read_form(request, who)
    pin = form.values.pop("pin", "")[:64]
    redeemer = vouchers.Redeemer(
        subscriber_id=who.subscriber.id if who.subscriber else None,
        address=request.client.host if request.client else "unknown",
        via=SalesChannel.WEB,
    )
    try:
        done = await vouchers.redeem_voucher(
            services.db,
            pin=pin,
            number=form.text("number")[:32],
            confirm_number=form.text("confirm_number")[:32] or None,
            redeemer=redeemer,
            key=vouchers.pin_key(services.settings.secret_key),
            limits=services.pin_limits,
            now=services.clock.now(),
        )
    except TooManyAttempts as error:
        form.fail("pin", error)
        return _show(request, pages, who, form, retry_at=error.retry_at, status_code=429)
    except Refusal as error:
        return _show(request, pages, who, form.fail(FIELD_OF.get(error.code, "number"), error))
    receipt_no = done.order.receipt_no or ""
    signature = receipt_signature(services.receipts.key, receipt_no)
    return see_other(f"/vouchers/redeemed/{receipt_no}/{signature}")


@router.get("/vouchers/redeemed/{receipt_no}/{signature}")
async def redeemed_page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    who: ViewerDep,
    receipt_no: str,
    signature: str,
) -> HTMLResponse:
    receipt = await receipts.verify_receipt(
        services.db, receipt_no=receipt_no[:40], signature=signature[:64], signing=services.receipts
    )
    if receipt is not None and receipt.view.provider is not Provider.VOUCHER:
        receipt = None  # a genuine receipt of another kind of top-up: not this page's
    context = {"receipt": receipt, "receipt_no": receipt_no[:40]}
    status = 200 if receipt is not None else 404
    return pages.render(request, "vouchers/redeemed.html", context, status_code=status, viewer=who)


def _show(
    request: Request,
    pages: Pages,
    who: Viewer,
    form: FormState,
    *,
    retry_at: datetime | None = None,
    status_code: int | None = None,
) -> HTMLResponse:
    status = status_code or (200 if form.ok else 400)
    context = {
        "form": form,
        "asks_confirm": "confirm_number" in form.errors or bool(form.text("confirm_number")),
        "retry_at": retry_at,
    }
    return pages.render(request, "vouchers/redeem.html", context, status_code=status, viewer=who)
